"""Webhook delivery over real HTTP: a receiver on 127.0.0.1 in a thread, then a dead port."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from functions.dal.alerts import AlertRepository
from functions.dal.telemetry import TelemetryRepository
from functions.dal.workers import WorkerRepository
from functions.logic.alerts import AlertJob, AlertRuleService, RuleDraft
from functions.models.alerts import AlertKind, DeliveryStatus
from functions.models.workers import Worker
from functions.ports.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    UrllibWebhookSender,
    verify,
)
from functions.settings import Settings
from tests.factories import NOW, PROVIDER

SECRET = "whsec_integration"
BODY = b'{"type":"alert","event":{"n":1}}'


class Receiver(ThreadingHTTPServer):
    """Answers POSTs with scripted statuses (200 once the script runs out), keeps requests."""

    def __init__(self, statuses: list[int]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.statuses = list(statuses)
        self.requests: list[tuple[dict[str, str], bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append((dict(self.headers), body))
        status = self.server.statuses.pop(0) if self.server.statuses else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output quiet


@pytest.fixture
def receiver(request) -> Iterator[Receiver]:
    server = Receiver(getattr(request, "param", []))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def dead_url() -> str:
    """A loopback port nothing listens on: connections are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def make_sender(sleeps: list[float], attempts: int = 3) -> UrllibWebhookSender:
    return UrllibWebhookSender(timeout_seconds=5, attempts=attempts, sleep=sleeps.append)


def test_the_receiver_verifies_the_signature(receiver):
    sleeps: list[float] = []
    result = make_sender(sleeps).send(receiver.url, SECRET, BODY, timestamp=NOW)

    assert (result.ok, result.attempts, result.status) == (True, 1, 200)
    ((headers, body),) = receiver.requests
    assert body == BODY
    assert headers[TIMESTAMP_HEADER] == str(NOW)
    assert verify(SECRET, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER], now=NOW)
    assert not verify(
        "whsec_wrong", headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER], now=NOW
    )


@pytest.mark.parametrize("receiver", [[500]], indirect=True)
def test_a_500_then_a_200_is_retried_once(receiver):
    sleeps: list[float] = []
    result = make_sender(sleeps).send(receiver.url, SECRET, BODY, timestamp=NOW)

    assert (result.ok, result.attempts, result.status) == (True, 2, 200)
    assert len(receiver.requests) == 2
    assert receiver.requests[0][1] == receiver.requests[1][1] == BODY
    assert sleeps == [1.0]


def test_a_dead_url_gives_up_after_the_attempts():
    sleeps: list[float] = []
    result = make_sender(sleeps, attempts=3).send(dead_url(), SECRET, BODY, timestamp=NOW)

    assert (result.ok, result.attempts, result.status) == (False, 3, None)
    assert result.error
    assert sleeps == [1.0, 2.0]


# -- through the alerts job, on moto ---------------------------------------------------------


@pytest.fixture
def settings() -> Settings:
    # The local stage: http:// webhooks to loopback receivers are allowed.
    return Settings(stage="local", webhook_attempts=3, webhook_timeout_seconds=5)


def _fire_one(settings, tables, url: str, sleeps: list[float]):  # type: ignore[no-untyped-def]
    workers = WorkerRepository(tables)
    worker = workers.create(
        Worker(
            worker_id="rig-hook", owner=PROVIDER, created_at=NOW, online=False, last_seen=NOW - 3600
        )
    )
    alerts = AlertRepository(tables)
    created = AlertRuleService(settings, alerts, workers).create(
        PROVIDER,
        RuleDraft(
            name="down",
            kind=AlertKind.OFFLINE,
            threshold=5,
            worker_id=worker.worker_id,
            webhook_url=url,
        ),
        now=NOW,
    )
    job = AlertJob(
        settings,
        alerts,
        workers,
        TelemetryRepository(tables),
        UrllibWebhookSender(
            timeout_seconds=settings.webhook_timeout_seconds,
            attempts=settings.webhook_attempts,
            sleep=sleeps.append,
        ),
    )
    summary = job.run(NOW)
    (event,) = alerts.list_events(PROVIDER, limit=5).items
    return created, summary, event


def test_the_job_delivers_a_signed_event_to_a_live_receiver(settings, tables, receiver):
    created, summary, event = _fire_one(settings, tables, receiver.url, [])

    assert (summary.events_fired, summary.deliveries_ok) == (1, 1)
    assert (event.delivery, event.attempts, event.delivered_at) == (
        DeliveryStatus.DELIVERED,
        1,
        NOW,
    )
    ((headers, body),) = receiver.requests
    assert verify(
        created.webhook_secret, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER], now=NOW
    )
    assert json.loads(body)["event"]["event_id"] == event.event_id


def test_the_job_records_a_dead_webhook_as_failed(settings, tables):
    sleeps: list[float] = []
    _, summary, event = _fire_one(settings, tables, dead_url(), sleeps)

    assert (summary.events_fired, summary.deliveries_ok, summary.deliveries_failed) == (1, 0, 1)
    assert event.delivery is DeliveryStatus.FAILED
    assert event.attempts == settings.webhook_attempts
    assert event.delivery_error
    assert event.delivered_at is None
    assert sleeps == [1.0, 2.0]
