"""Each rig's accepted and refused reports, as a pool shows accepted and rejected shares.

- **Blocks**, counted when the owner looks (``block_counts``): the rig's stored block
  reports (a month of them, the newest ``MAX_COUNTED_BLOCKS``), verified or refused by
  the platform, and of the verified ones those the network accepted (a duplicate counts:
  the node took it on an earlier try) or refused. Blocks are rare and views rarer, so
  counting at read time costs less than a counter written with every block and verdict.
- **Shares**, counted as they arrive (``ReportTally``): verified or refused (a forgery, a
  wrong prefix, one after its lease ended: a stale share). Shares come every minute while
  a rig is leased, and refused ones are stored nowhere, so ingest's warm process counts
  them and adds them to the worker item once per rig every ``FLUSH_SECONDS`` at most (the
  first at once). A process that dies loses at most that long of counts; counts of a rig
  that falls silent are written with the next report this process handles once due.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass

from functions.dal.blocks import BlockRepository
from functions.dal.network import NetworkRepository
from functions.dal.workers import WorkerRepository
from functions.errors import NotFound
from functions.observability import logger

FLUSH_SECONDS = 900
MAX_COUNTED_BLOCKS = 1000
_PAGE = 100
# Reports that say nothing of the rig's work: no worker to count on, or a repeat.
_UNCOUNTED = frozenset({"unknown_worker", "duplicate"})


def counter_for(kind: str, accepted: bool, reason: str) -> str | None:
    """The worker counter an ingest outcome adds to (None: it counts nowhere)."""
    if kind != "share" or reason in _UNCOUNTED:
        return None
    return "shares_verified" if accepted else "shares_refused"


@dataclass(frozen=True)
class BlockCounts:
    verified: int = 0
    refused: int = 0
    network_accepted: int = 0
    network_refused: int = 0
    complete: bool = True  # False: more than MAX_COUNTED_BLOCKS stored, the newest counted


def block_counts(
    blocks: BlockRepository, network: NetworkRepository, worker_id: str
) -> BlockCounts:
    """The rig's stored block reports, counted (one Query and one BatchGetItem per 100)."""
    counts = Counter[str]()
    cursor: str | None = None
    seen = 0
    while seen < MAX_COUNTED_BLOCKS:
        page = blocks.by_worker(worker_id, limit=_PAGE, cursor=cursor)
        seen += len(page.items)
        for block in network.attach(page.items):
            counts["verified" if block.verified else "refused"] += 1
            if block.network_accepted is True:
                counts["network_accepted"] += 1
            elif block.network_accepted is False:
                counts["network_refused"] += 1
        cursor = page.cursor
        if cursor is None:
            break
    return BlockCounts(**counts, complete=cursor is None)


class ReportTally:
    def __init__(self, workers: WorkerRepository, *, flush_seconds: int = FLUSH_SECONDS) -> None:
        self._workers = workers
        self._flush_seconds = flush_seconds
        # Worker → (when its oldest unwritten count was taken, the counts), oldest first.
        self._pending: OrderedDict[str, tuple[int, Counter[str]]] = OrderedDict()
        self._written: dict[str, int] = {}

    def count(self, worker_id: str, counter: str, now: int) -> None:
        if worker_id not in self._pending:
            self._pending[worker_id] = (now, Counter())
        self._pending[worker_id][1][counter] += 1
        if now - self._written.get(worker_id, -(10**12)) >= self._flush_seconds:
            self._flush(worker_id, now)  # the first count in a while goes out at once
        self.flush_due(now)

    def flush_due(self, now: int) -> None:
        """Write the counts held longer than the flush interval (oldest first)."""
        while self._pending:
            worker_id, (since, _) = next(iter(self._pending.items()))
            if now - since < self._flush_seconds:
                return
            self._flush(worker_id, now)

    def pending(self, worker_id: str) -> Counter[str]:
        entry = self._pending.get(worker_id)
        return Counter() if entry is None else Counter(entry[1])

    def _flush(self, worker_id: str, now: int) -> None:
        _, counts = self._pending.pop(worker_id)
        self._written[worker_id] = now
        if len(self._written) > 200_000:
            self._written.clear()  # a bounded memory: forgetting costs an early write
        try:
            self._workers.add_report_counts(worker_id, counts)
        except NotFound:
            pass  # revoked or gone meanwhile: nothing to count on
        except Exception:
            # Counts are a monitor's figures: a failed write is logged, never raised.
            logger.exception("report counts not written", extra={"worker_id": worker_id})
