"""The job over every enabled rule: cooldowns, concurrent runs, webhook delivery, summary."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from functions.dal.telemetry import TelemetryRepository
from functions.dal.workers import WorkerRepository
from functions.logic.alerts import AlertJob
from functions.models.alerts import AlertKind, DeliveryStatus
from functions.ports.webhooks import RecordingWebhookSender, verify
from tests.factories import NOW, PROVIDER


def test_cooldown_suppresses_a_second_firing_until_it_has_passed(job, rig, rule, alerts):
    worker = rig(online=False, last_seen=NOW - 3600)
    down = rule(AlertKind.OFFLINE, 10, worker=worker, cooldown_seconds=600)

    first = job.run(NOW)
    within = job.run(NOW + 599)
    after = job.run(NOW + 600)

    assert (first.events_fired, first.suppressed) == (1, 0)
    assert (within.events_fired, within.suppressed) == (0, 1)
    assert (after.events_fired, after.suppressed) == (1, 0)
    events = alerts.list_events(PROVIDER, limit=10).items
    assert [e.ts for e in events] == [NOW + 600, NOW]
    assert {e.rule_id for e in events} == {down.rule_id}


def test_cooldown_is_per_worker(job, rig, rule, alerts):
    early = rig(online=False, last_seen=NOW - 3600)
    later = rig(online=False, last_seen=NOW - 480)  # down 10 minutes at NOW + 120
    rule(AlertKind.OFFLINE, 10)

    first = job.run(NOW)
    second = job.run(NOW + 120)

    assert (first.events_fired, first.suppressed) == (1, 0)
    assert (second.events_fired, second.suppressed) == (1, 1)
    events = alerts.list_events(PROVIDER, limit=10).items
    assert [e.worker_id for e in events] == [later.worker_id, early.worker_id]


def test_concurrent_evaluations_fire_one_event(settings, tables, alerts, rig, rule):
    worker = rig(online=False, last_seen=NOW - 3600)
    offline = rule(AlertKind.OFFLINE, 10, worker=worker)
    runs = 8
    barrier = threading.Barrier(runs)

    def evaluate(_: int) -> int:
        job = AlertJob(
            settings,
            alerts,
            WorkerRepository(tables),
            TelemetryRepository(tables),
            RecordingWebhookSender(),
        )
        barrier.wait()
        return len(job.evaluate(offline, NOW))

    with ThreadPoolExecutor(max_workers=runs) as pool:
        counts = list(pool.map(evaluate, range(runs)))

    assert sum(counts) == 1
    assert len(alerts.list_events(PROVIDER, limit=50).items) == 1


def test_delivery_posts_the_signed_event_and_records_it(job, rig, rule, alerts, sender):
    worker = rig(temperatures=(90.0,))
    created = rule(AlertKind.TEMPERATURE, 80, worker=worker)
    secret = alerts.get_rule(PROVIDER, created.rule_id).webhook_secret.get_secret_value()

    summary = job.run(NOW)

    assert (summary.events_fired, summary.deliveries_ok, summary.deliveries_failed) == (1, 1, 0)
    ((url, used_secret, body, timestamp),) = sender.sent
    assert (url, used_secret, timestamp) == (created.webhook_url, secret, NOW)
    payload = json.loads(body)
    assert payload["type"] == "alert"
    assert payload["event"]["worker_id"] == worker.worker_id
    assert payload["event"]["value"] == 90.0
    assert "delivery" not in payload["event"]
    (event,) = alerts.list_events(PROVIDER, limit=5).items
    assert (event.delivery, event.attempts, event.delivered_at) == (
        DeliveryStatus.DELIVERED,
        1,
        NOW,
    )


def test_a_failed_delivery_is_recorded_on_the_event(settings, tables, alerts, rig, rule):
    failing = RecordingWebhookSender(ok=False, attempts=3)
    job = AlertJob(settings, alerts, WorkerRepository(tables), TelemetryRepository(tables), failing)
    rule(AlertKind.TEMPERATURE, 80, worker=rig(temperatures=(90.0,)))

    summary = job.run(NOW)

    assert (summary.deliveries_ok, summary.deliveries_failed) == (0, 1)
    (event,) = alerts.list_events(PROVIDER, limit=5).items
    assert event.delivery is DeliveryStatus.FAILED
    assert event.attempts == 3
    assert event.delivery_error == "refused by the test"
    assert event.delivered_at is None


def test_events_without_a_webhook_are_not_sent(job, rig, rule, sender, alerts):
    rule(AlertKind.TEMPERATURE, 80, worker=rig(temperatures=(90.0,)), webhook_url=None)
    summary = job.run(NOW)
    assert (summary.events_fired, summary.deliveries_ok, summary.deliveries_failed) == (1, 0, 0)
    assert sender.sent == []
    assert alerts.list_events(PROVIDER, limit=5).items[0].delivery is DeliveryStatus.NONE


def test_only_enabled_rules_are_evaluated(job, rig, rule, rules):
    worker = rig(temperatures=(90.0,))
    hot = rule(AlertKind.TEMPERATURE, 80, worker=worker)
    rules.update(PROVIDER, hot.rule_id, {"enabled": False}, now=NOW)
    assert job.run(NOW).rules_evaluated == 0
    rules.update(PROVIDER, hot.rule_id, {"enabled": True}, now=NOW)
    summary = job.run(NOW)
    assert (summary.rules_evaluated, summary.workers_checked, summary.events_fired) == (1, 1, 1)


def test_the_job_pages_through_every_enabled_rule(job, rig, rule, monkeypatch):
    import functions.logic.alerts as logic

    monkeypatch.setattr(logic, "_PAGE", 2)
    for _ in range(5):
        rule(AlertKind.TEMPERATURE, 80, worker=rig(temperatures=(90.0,)))
    summary = job.run(NOW)
    assert (summary.rules_evaluated, summary.events_fired) == (5, 5)


def test_one_failing_rule_does_not_stop_the_others(job, rig, rule, monkeypatch):
    broken = rule(AlertKind.TEMPERATURE, 80, worker=rig(temperatures=(90.0,)))
    rule(AlertKind.TEMPERATURE, 80, worker=rig(temperatures=(90.0,)))
    real = job._check

    def check(r, worker, now):
        if r.rule_id == broken.rule_id:
            raise RuntimeError("throttled")
        return real(r, worker, now)

    monkeypatch.setattr(job, "_check", check)
    summary = job.run(NOW)
    assert (summary.rules_evaluated, summary.rule_errors, summary.events_fired) == (2, 1, 1)


def test_a_worker_rule_skips_a_worker_that_is_not_the_rule_owners(job, rig, rule, alerts):
    from functions.models.alerts import AlertRule

    stranger = rig(owner="0x" + "9" * 40, temperatures=(99.0,))
    mine = rule(AlertKind.TEMPERATURE, 80, worker=rig(temperatures=(10.0,)))
    # A rule pointing at someone else's worker can only come from a bad write; still ignored.
    forged = AlertRule.model_validate(
        {**mine.model_dump(), "worker_id": stranger.worker_id, "rule_id": "rule-forged"}
    )
    assert job.evaluate(forged, NOW) == []


@pytest.mark.parametrize("valid", [True, False])
def test_the_recorded_signature_verifies_only_with_the_rule_secret(
    job, rig, rule, alerts, sender, valid
):
    created = rule(AlertKind.TEMPERATURE, 80, worker=rig(temperatures=(90.0,)))
    job.run(NOW)
    ((_, secret, body, timestamp),) = sender.sent
    from functions.ports.webhooks import sign

    header = sign(secret, timestamp, body)
    key = alerts.get_rule(PROVIDER, created.rule_id).webhook_secret.get_secret_value()
    assert verify(key if valid else "whsec_other", str(timestamp), body, header, now=NOW) is valid
