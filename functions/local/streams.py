"""DynamoDB Streams for the local stack: moto's table changes, delivered like Lambda's.

In AWS an event source mapping reads each table's stream and invokes the live Lambda with
batches of records. Locally, ``StreamTap`` hooks moto where it appends a stream record and
hands the record, in the Lambda event's shape, to a dispatcher thread that calls the same
handler logic in batches. Tapped tables keep no records in moto (a long-running stack would
otherwise keep every heartbeat ever written in memory).
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

log = logging.getLogger(__name__)

ACCOUNT = "123456789012"  # moto's default account
Deliver = Callable[[list[dict[str, Any]]], object]

_TAPS: dict[str, Callable[[dict[str, Any]], None]] = {}
_TAPS_LOCK = threading.Lock()
_MARK = "_xenblocks_tapped"


def stream_arn(table_name: str, region: str) -> str:
    return f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{table_name}/stream/local"


def lambda_record(record: Mapping[str, Any], table_name: str, region: str) -> dict[str, Any]:
    """A stream record as an event source mapping passes it to Lambda: the source ARN
    added, the creation time in epoch seconds (boto3 and moto give a datetime)."""
    converted = dict(record)
    dynamodb = dict(converted.get("dynamodb", {}))
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime.datetime):
        if created.tzinfo is None:  # moto's utcnow() is naive UTC
            created = created.replace(tzinfo=datetime.UTC)
        dynamodb["ApproximateCreationDateTime"] = created.timestamp()
    converted["dynamodb"] = dynamodb
    converted["eventSourceARN"] = stream_arn(table_name, region)
    converted.setdefault("awsRegion", region)
    return converted


def _install_moto_hook() -> None:
    """Route new stream records of tapped tables to their tap (idempotent)."""
    from moto.dynamodb.models.table import StreamRecord, StreamShard

    if getattr(StreamShard, _MARK, False):
        return
    original = StreamShard.add

    def add(self: Any, old: Any, new: Any) -> None:
        tap = _TAPS.get(self.table.name)
        if tap is None:
            original(self, old, new)
            return
        name = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
        view = self.table.stream_specification["StreamViewType"]
        tap(StreamRecord(self.table, view, name, old, new, 0).to_json())

    StreamShard.add = add  # type: ignore[method-assign]
    setattr(StreamShard, _MARK, True)


class StreamTap:
    """Batches the stream records of ``table_names`` and hands them to ``deliver``.

    Like an event source mapping: a batch is sent once ``batch_window`` seconds have passed
    since its first record, or when it holds ``batch_size`` records. ``deliver`` runs on
    the tap's own thread; an exception there is logged and the batch dropped (live updates
    are best effort)."""

    def __init__(
        self,
        table_names: Iterable[str],
        deliver: Deliver,
        *,
        region: str,
        batch_size: int = 100,
        batch_window: float = 0.05,
    ) -> None:
        self.table_names = tuple(table_names)
        self.region = region
        self._deliver = deliver
        self._batch_size = batch_size
        self._batch_window = batch_window
        self._queue: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="stream-tap", daemon=True)
        self.delivered = 0
        self.failed_batches = 0

    def start(self) -> None:
        _install_moto_hook()
        with _TAPS_LOCK:
            for name in self.table_names:
                _TAPS[name] = self._make_receiver(name)
        self._thread.start()

    def stop(self) -> None:
        with _TAPS_LOCK:
            for name in self.table_names:
                _TAPS.pop(name, None)
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _make_receiver(self, table_name: str) -> Callable[[dict[str, Any]], None]:
        def receive(record: dict[str, Any]) -> None:
            # Runs inside moto's request: only hand the record over.
            self._queue.put(lambda_record(record, table_name, self.region))

        return receive

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            deadline = time.monotonic() + self._batch_window
            stopping = False
            while len(batch) < self._batch_size:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                with contextlib.suppress(queue.Empty):
                    record = self._queue.get(timeout=remaining)
                    if record is None:
                        stopping = True
                        break
                    batch.append(record)
            self._send(batch)
            if stopping:
                return

    def _send(self, batch: list[dict[str, Any]]) -> None:
        try:
            self._deliver(batch)
        except Exception:
            self.failed_batches += 1
            log.exception("live fan-out of %d stream records failed", len(batch))
        else:
            self.delivered += len(batch)
