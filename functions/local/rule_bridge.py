"""The local stand-in for the IoT topic rules: broker topics → the ingest handler.

It subscribes (as the platform's service identity) to every route of
``functions.routing.ROUTES`` and turns each message into exactly the event the IoT rule's
SQL produces, then invokes the same Lambda handler. Like Lambda's asynchronous invocation,
a failed invocation is retried with backoff, and an event that still fails is appended to
a dead-letter file (the SQS dead-letter queue of the AWS stack) instead of being lost.
Messages of one worker are handled in order (one lane per worker, by hash).
"""

from __future__ import annotations

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
_STOP = object()


class RuleBridge:
    def __init__(
        self,
        client: ServiceClient,
        handler: Handler,
        *,
        dead_letter_path: Path,
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

    def start(self) -> None:
        for thread in self._threads:
            thread.start()
        for route in ROUTES:
            self._client.subscribe(route.topic_filter, self._on_message, qos=1)

    def stop(self) -> None:
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
