"""The local stand-in for the IoT topic rules: broker topics → the ingest handler.

It subscribes (as the platform's service identity) to every route of
``functions.routing.ROUTES`` and turns each message into exactly the event the IoT rule's
SQL produces, then invokes the same Lambda handler. Like Lambda's asynchronous invocation,
a failed invocation is retried with backoff, and an event that still fails is appended to
a dead-letter file (the SQS dead-letter queue of the AWS stack) instead of being lost.
Messages of one worker are handled in order (one lane per worker, by hash).

Batched routes (heartbeats) go where the IoT rule's Kinesis action puts them: into a local
stream that is read every ``batch_seconds`` into the batch handler, as Lambda's Kinesis
event source does. A batch reporting failed records is retried from the first of them; what
still fails after the retries is dead-lettered like any other event.
"""

from __future__ import annotations

import base64
import json
import logging
import queue
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from functions.local.lambda_context import LocalLambdaContext
from functions.local.mqtt_client import ServiceClient
from functions.routing import ROUTES, IngestEvent, route_for_topic
from protocol.errors import ProtocolError

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Any], Any]
RETRY_DELAYS = (0.2, 1.0)  # Lambda retries an async event twice
BATCH_SIZE = 1000
_STOP = object()
_STREAM_ARN = "arn:aws:kinesis:local:000000000000:stream/xenblocks-local-heartbeats"


def kinesis_event(datas: list[bytes], first_sequence: int = 0) -> dict[str, Any]:
    """The event Lambda's Kinesis event source delivers for records holding ``datas``."""
    records = []
    for n, data in enumerate(datas):
        sequence = f"{first_sequence + n:021d}"
        records.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "local",
                    "sequenceNumber": sequence,
                    "data": base64.b64encode(data).decode(),
                    "approximateArrivalTimestamp": time.time(),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:{sequence}",
                "eventName": "aws:kinesis:record",
                "eventSourceARN": _STREAM_ARN,
                "awsRegion": "local",
            }
        )
    return {"Records": records}


class RuleBridge:
    def __init__(
        self,
        client: ServiceClient,
        handler: Handler,
        *,
        dead_letter_path: Path,
        batch_handler: Handler | None = None,
        batch_seconds: float = 1.0,
        lanes: int = 4,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._handler = handler
        self._dead_letter_path = dead_letter_path
        self._retry_delays = retry_delays
        self._clock = clock
        self._lanes: list[queue.Queue[object]] = [queue.Queue() for _ in range(lanes)]
        self._threads = [
            threading.Thread(target=self._run_lane, args=(q,), name=f"rule-bridge-{i}", daemon=True)
            for i, q in enumerate(self._lanes)
        ]
        self._idle = threading.Condition()
        self._pending = 0
        self.dead_letters = 0
        self._batch_handler = batch_handler
        self._batch_seconds = batch_seconds
        self._stream: list[bytes] = []
        self._sequence = 0
        self._stopping = threading.Event()
        if batch_handler is not None:
            self._threads.append(
                threading.Thread(target=self._run_stream, name="rule-bridge-stream", daemon=True)
            )

    def start(self) -> None:
        for thread in self._threads:
            thread.start()
        for route in ROUTES:
            self._client.subscribe(route.topic_filter, self._on_message, qos=1)

    def stop(self) -> None:
        self._stopping.set()
        for lane in self._lanes:
            lane.put(_STOP)
        for thread in self._threads:
            thread.join(timeout=10)

    def wait_idle(self, timeout: float) -> bool:
        """True once every message received so far has been handled (tests, benches)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)

    def _on_message(self, topic: str, payload: bytes) -> None:
        try:
            route, worker_id = route_for_topic(topic)
        except ProtocolError:
            log.warning("rule bridge: ignoring a message on %s (no route)", topic)
            return
        received_at_ms = int(self._clock() * 1000)
        event = IngestEvent(route, worker_id, payload, received_at_ms).to_event()
        with self._idle:
            self._pending += 1
            if route.batched and self._batch_handler is not None:
                self._stream.append(json.dumps(event).encode())
                return
        self._lanes[zlib.crc32(worker_id.encode()) % len(self._lanes)].put(event)

    def _run_lane(self, lane: queue.Queue[object]) -> None:
        while True:
            event = lane.get()
            if event is _STOP:
                return
            assert isinstance(event, dict)
            try:
                self._invoke(event)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _run_stream(self) -> None:
        """Read the stream every ``batch_seconds`` (and once more on stop)."""
        while True:
            stopping = self._stopping.wait(self._batch_seconds)
            while True:
                with self._idle:
                    batch, self._stream = self._stream[:BATCH_SIZE], self._stream[BATCH_SIZE:]
                if not batch:
                    break
                try:
                    self._invoke_batch(batch)
                finally:
                    with self._idle:
                        self._pending -= len(batch)
                        self._idle.notify_all()
            if stopping:
                return

    def _invoke_batch(self, batch: list[bytes]) -> None:
        assert self._batch_handler is not None
        for attempt, delay in enumerate((*self._retry_delays, None)):
            event = kinesis_event(batch, self._sequence)
            self._sequence += len(batch)
            try:
                response = self._batch_handler(event, LocalLambdaContext(function_name="ingest"))
                failures = [f["itemIdentifier"] for f in response.get("batchItemFailures", [])]
            except Exception:
                log.exception("ingest batch handler failed (attempt %d)", attempt + 1)
                failures = [event["Records"][0]["kinesis"]["sequenceNumber"]]
            if not failures:
                return
            # Like Lambda: retry from the first failed record (the ones after it too).
            sequences = [r["kinesis"]["sequenceNumber"] for r in event["Records"]]
            failed = [sequences.index(f) for f in failures if f in sequences] or [0]
            batch = batch[min(failed) :]
            if delay is None:
                break
            time.sleep(delay)
        for data in batch:
            self._dead_letter(json.loads(data))

    def _invoke(self, event: dict[str, Any]) -> None:
        for attempt, delay in enumerate((*self._retry_delays, None)):
            try:
                self._handler(event, LocalLambdaContext(function_name="ingest"))
                return
            except Exception:
                log.exception("ingest handler failed (attempt %d)", attempt + 1)
                if delay is None:
                    break
                time.sleep(delay)
        self._dead_letter(event)

    def _dead_letter(self, event: dict[str, Any]) -> None:
        self.dead_letters += 1
        self._dead_letter_path.parent.mkdir(parents=True, exist_ok=True)
        with self._dead_letter_path.open("a") as out:
            out.write(json.dumps(event) + "\n")
        log.error("ingest event dead-lettered to %s", self._dead_letter_path)
