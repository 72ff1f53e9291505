"""The scheduled job's Lambda entry on moto: settings from the environment, metrics, summary."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime

import pytest

from functions.handlers import alerts as handler_module
from functions.handlers import schedule
from functions.local.lambda_context import LocalLambdaContext
from functions.logic.alert_channels import ChannelSenders
from functions.models.alerts import AlertKind, DeliveryStatus
from functions.observability import current_correlation_id
from functions.ports.devices import RecordingPublisher
from functions.ports.webhooks import NOT_PUBLIC, DeliveryResult, RecordingWebhookSender
from functions.settings import load_settings
from tests.factories import NOW, PROVIDER

SCHEDULED_EVENT = {
    "version": "0",
    "source": "aws.events",
    "detail-type": "Scheduled Event",
    "time": datetime.fromtimestamp(NOW, UTC).isoformat().replace("+00:00", "Z"),
    "detail": {},
}


@pytest.fixture
def environment(monkeypatch, tables):
    # The handler reads its settings from the environment, as in Lambda (stage "test"
    # names the same moto tables the fixture made).
    monkeypatch.setenv("XENBLOCKS_STAGE", "test")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.setattr(handler_module, "_deps", None)
    load_settings.cache_clear()
    yield
    load_settings.cache_clear()


def test_the_handler_runs_the_job_and_reports_metrics(environment, rig, rule, alerts, capsys):
    rule(AlertKind.OFFLINE, 10, worker=rig(online=False, last_seen=NOW - 3600), webhook_url=None)
    rule(AlertKind.TEMPERATURE, 80, worker=rig(temperatures=(60.0,)), webhook_url=None)

    summary = handler_module.handler(SCHEDULED_EVENT, LocalLambdaContext(function_name="alerts"))

    assert summary["rules_evaluated"] == 2
    assert summary["events_fired"] == 1
    assert (summary["deliveries_ok"], summary["deliveries_failed"]) == (0, 0)
    (event,) = alerts.list_events(PROVIDER, limit=5).items
    assert (event.kind, event.delivery) == (AlertKind.OFFLINE, DeliveryStatus.NONE)
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line]
    metrics = {
        m: doc[m] for doc in emf for m in ("AlertEventsFired", "AlertRulesEvaluated") if m in doc
    }
    assert metrics == {"AlertEventsFired": [1.0], "AlertRulesEvaluated": [2.0]}


def test_run_alerts_is_the_plain_entry_the_local_stack_calls(settings, tables, rig, rule, alerts):
    sender = RecordingWebhookSender()
    rule(AlertKind.TEMPERATURE, 80, worker=rig(temperatures=(90.0,)))

    summary = handler_module.run_alerts(settings, tables, sender, NOW)

    assert (summary.events_fired, summary.deliveries_ok) == (1, 1)
    assert len(sender.sent) == 1
    assert alerts.list_events(PROVIDER, limit=5).items[0].delivery is DeliveryStatus.DELIVERED


class CorrelatedSender(RecordingWebhookSender):
    """Notes the correlation id each delivery runs under (on the job's delivery threads)."""

    def __init__(self) -> None:
        super().__init__()
        self.under: list[str | None] = []

    def send(self, url: str, secret: str, body: bytes, *, timestamp: int) -> DeliveryResult:
        self.under.append(current_correlation_id())
        return super().send(url, secret, body, timestamp=timestamp)


def test_deliveries_run_under_the_run_s_correlation_id(settings, tables, rig, rule, monkeypatch):
    sender = CorrelatedSender()
    deps = (settings, tables, sender, ChannelSenders(), RecordingPublisher())
    monkeypatch.setattr(handler_module, "_deps", deps)
    rule(AlertKind.TEMPERATURE, 80, worker=rig(temperatures=(90.0,)))
    rule(AlertKind.TEMPERATURE, 70, worker=rig(temperatures=(95.0,)))

    event = {**SCHEDULED_EVENT, "id": "run-7"}
    handler_module.handler(event, LocalLambdaContext(function_name="alerts"))

    assert sender.under == ["run-7", "run-7"]


@pytest.mark.parametrize("event", [{}, {"time": "yesterday"}, None])
def test_without_a_readable_schedule_time_the_clock_is_used(event, monkeypatch):
    monkeypatch.setattr(schedule.time, "time", lambda: 1234.9)
    assert schedule.scheduled_time(event) == 1234


def test_the_schedule_time_is_the_runs_now():
    assert schedule.scheduled_time(SCHEDULED_EVENT) == NOW


def test_a_webhook_resolving_to_the_metadata_service_is_blocked_and_counted(
    environment, rig, rule, alerts, capsys, monkeypatch
):
    # The rule's name resolves, at send time, to the instance metadata address.
    def getaddrinfo(host, port, *args, **kwargs):
        assert host == "hooks.example.com"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    rule(AlertKind.OFFLINE, 10, worker=rig(online=False, last_seen=NOW - 3600))

    summary = handler_module.handler(SCHEDULED_EVENT, LocalLambdaContext(function_name="alerts"))

    assert (summary["events_fired"], summary["deliveries_failed"]) == (1, 1)
    (event,) = alerts.list_events(PROVIDER, limit=5).items
    assert (event.delivery, event.attempts) == (DeliveryStatus.FAILED, 0)
    assert event.delivery_error == NOT_PUBLIC
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line]
    blocked = [doc[handler_module.BLOCKED_METRIC] for doc in emf if "AlertWebhooksBlocked" in doc]
    assert blocked == [[1.0]]
