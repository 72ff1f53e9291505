"""Each rig's accepted and refused reports, counted in the warm process and added to its
worker item in one write per rig at most every ``FLUSH_SECONDS``.

What a rig sees on its owner's page, as a pool shows accepted and rejected shares:

- ``blocks_verified`` / ``blocks_refused``: block reports the platform verified or refused
  (a forged or malformed hash, a wrong key or account, too low a difficulty, a flood
  refused by the rate limit; a re-sent block already recorded counts neither way);
- ``network_accepted`` / ``network_refused``: the node's answers the rig relayed (a
  duplicate counts as accepted, as the node took the block on an earlier try);
- ``shares_verified`` / ``shares_refused``: the same for lease shares (one arriving after
  its lease ended is refused, as a pool counts a stale share).

Counting costs no write per report: a rig sending a share a minute is written once every
15 minutes. A process that dies loses at most that long of counts (the blocks, shares and
verdicts themselves are stored as always); counts of a rig that falls silent are written
with the next report of any rig this process handles once they are due.
"""

from __future__ import annotations

from collections import Counter, OrderedDict

from functions.dal.workers import WorkerRepository
from functions.errors import NotFound
from functions.observability import logger

FLUSH_SECONDS = 900
COUNTERS = (
    "blocks_verified",
    "blocks_refused",
    "network_accepted",
    "network_refused",
    "shares_verified",
    "shares_refused",
)
# Reports that say nothing of the rig's work: no worker to count on, or a repeat.
_UNCOUNTED = frozenset({"unknown_worker", "duplicate"})


def counter_for(kind: str, accepted: bool, reason: str) -> str | None:
    """The counter an ingest outcome adds to (None: it counts nowhere)."""
    match kind:
        case "block" | "share" if reason in _UNCOUNTED:
            return None
        case "block":
            return "blocks_verified" if accepted else "blocks_refused"
        case "share":
            return "shares_verified" if accepted else "shares_refused"
        case "verdict" if accepted and reason in ("accepted", "duplicate"):
            return "network_accepted"
        case "verdict" if accepted and reason == "refused":
            return "network_refused"
    return None


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
