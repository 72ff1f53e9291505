"""The fleet-intelligence alert kinds (anomaly, gpu_lost, fan_failure, back_online) and a
rule's automatic action, within its daily allowance."""

from __future__ import annotations

import itertools
import json

import pytest

from functions.dal.insights import InsightsRepository
from functions.dal.telemetry import TelemetryRepository
from functions.dal.workers import WorkerRepository
from functions.handlers.ingest import build_service, process
from functions.logic.alert_rules import RuleDraft
from functions.logic.alerts import AlertJob
from functions.models.alerts import AlertKind, AutoAction
from functions.models.insights import AnomalyFinding
from functions.models.workers import Worker
from functions.ports.devices import DeviceCommands, RecordingPublisher
from protocol.messages import GpuInfo
from tests.factories import NOW, PROVIDER
from tests.unit.ingest.test_ingest import event, register_payload

_ids = itertools.count(1)


@pytest.fixture
def publisher():
    return RecordingPublisher()


@pytest.fixture
def fleet_job(settings, tables, alerts, sender, publisher):
    return AlertJob(
        settings,
        alerts,
        WorkerRepository(tables),
        TelemetryRepository(tables),
        sender,
        insights=InsightsRepository(tables),
        commands=DeviceCommands(publisher),
    )


def make_rig(tables, *, gpus: int = 2, active: int = 2, **fields) -> Worker:
    inventory = [GpuInfo(index=i, name="RTX 3090", memory_gb=24, bus_id=i + 1) for i in range(gpus)]
    base = {
        "worker_id": f"fleet-rig-{next(_ids)}",
        "owner": PROVIDER,
        "created_at": NOW - 86_400,
        "online": True,
        "last_seen": NOW - 10,
        "hashrate": 2000.0,
        "gpus": inventory,
        "active_gpus": active,
    }
    worker = Worker(**(base | fields))
    return WorkerRepository(tables).create(worker)


def open_finding(tables, worker: Worker, reason: str, score: float, gpu: int | None = 1):
    finding = AnomalyFinding(
        worker_id=worker.worker_id,
        owner=worker.owner,
        reason=reason,
        gpu=gpu,
        opened_at=NOW - 300,
        last_seen=NOW - 30,
        score=score,
        message=f"GPU {gpu}: {reason}",
    )
    InsightsRepository(tables).open_finding(finding)
    WorkerRepository(tables).count_anomalies(worker.worker_id, +1)  # as the watch does


def fired(job: AlertJob, rule, now: int = NOW) -> list:
    return job.evaluate(rule, now)


def test_an_anomaly_rule_fires_on_an_open_finding_above_its_score(tables, rule, fleet_job):
    worker = make_rig(tables)
    open_finding(tables, worker, "thermal_throttling", score=6.5)
    strict = rule(AlertKind.ANOMALY, 8, worker=worker)
    loose = rule(AlertKind.ANOMALY, 4, worker=worker)

    assert fired(fleet_job, strict) == []
    [alert] = fired(fleet_job, loose)
    assert (alert.kind, alert.value) == (AlertKind.ANOMALY, 6.5)
    assert alert.message.endswith("GPU 1: thermal_throttling")


def test_a_reason_rule_fires_only_on_its_reason(tables, rule, fleet_job):
    worker = make_rig(tables)
    open_finding(tables, worker, "thermal_throttling", score=9)
    fan = rule(AlertKind.FAN_FAILURE, 0, worker=worker)
    assert fired(fleet_job, fan) == []
    open_finding(tables, worker, "fan_failure", score=5, gpu=0)
    [alert] = fired(fleet_job, fan)
    assert alert.message.endswith("GPU 0: fan_failure")


def test_findings_are_read_only_for_rigs_the_watch_counted_some_on(tables, rule, fleet_job):
    worker = make_rig(tables)
    finding = AnomalyFinding(
        worker_id=worker.worker_id,
        owner=PROVIDER,
        reason="fan_failure",
        gpu=0,
        opened_at=NOW - 300,
        last_seen=NOW,
        score=9.0,
        message="uncounted",
    )
    InsightsRepository(tables).open_finding(finding)  # no count on the worker
    assert fired(fleet_job, rule(AlertKind.ANOMALY, 0, worker=worker)) == []


def test_a_gpu_lost_rule_also_counts_gpus_for_a_rig_without_a_baseline(tables, rule, fleet_job):
    short = make_rig(tables, gpus=4, active=3)
    whole = make_rig(tables, gpus=4, active=4)
    assert fired(fleet_job, rule(AlertKind.GPU_LOST, 0, worker=whole)) == []
    [alert] = fired(fleet_job, rule(AlertKind.GPU_LOST, 0, worker=short))
    assert alert.value == 1
    assert alert.message.endswith("3 of its 4 GPUs at work")


def test_back_online_after_long_enough_down(tables, rule, fleet_job):
    back = make_rig(tables, back_online_at=NOW - 60, down_seconds=1800)
    assert fired(fleet_job, rule(AlertKind.BACK_ONLINE, 60, worker=back)) == []
    [alert] = fired(fleet_job, rule(AlertKind.BACK_ONLINE, 20, worker=back))
    assert alert.message.endswith("is back online after 30 minutes")
    old_news = make_rig(tables, back_online_at=NOW - 3600, down_seconds=1800)
    assert fired(fleet_job, rule(AlertKind.BACK_ONLINE, 20, worker=old_news)) == []


def test_a_rig_registering_after_time_offline_is_back(settings, tables):
    worker = make_rig(tables, online=False)  # last heard at NOW - 10
    service = build_service(settings, tables, RecordingPublisher())
    now = NOW + 3600
    payload = register_payload(worker.worker_id)
    assert process(event("register", worker.worker_id, payload, now), service).accepted
    stored = WorkerRepository(tables).require(worker.worker_id)
    assert (stored.back_online_at, stored.down_seconds) == (now, 3610)
    # Registering again while online is no return.
    process(event("register", worker.worker_id, payload, now + 30), service)
    assert WorkerRepository(tables).require(worker.worker_id).back_online_at == now


def controls(publisher: RecordingPublisher) -> list[str]:
    return [json.loads(p)["action"] for t, p, _ in publisher.sent if t.endswith("/control")]


def test_an_automatic_restart_is_sent_at_most_n_times_a_day(
    tables, rules, alerts, fleet_job, publisher
):
    worker = make_rig(tables, gpus=2, active=1, last_seen=NOW + 86_400)  # heard all along
    draft = RuleDraft(
        name="restart a rig that lost a GPU",
        kind=AlertKind.GPU_LOST,
        threshold=0,
        worker_id=worker.worker_id,
        cooldown_seconds=60,
        action=AutoAction.RESTART,
        max_actions_per_day=2,
    )
    rule = rules.create(PROVIDER, draft, now=NOW - 3600).rule
    results = []
    for minute in range(3):
        [alert] = fired(fleet_job, rule, NOW + 61 * minute)
        results.append(alert.action_result)

    assert results == ["sent", "sent", "daily_limit"]
    assert controls(publisher) == ["pause", "resume", "pause", "resume"]
    stored = alerts.list_events(PROVIDER, limit=10).items
    assert sorted(e.action_result for e in stored) == ["daily_limit", "sent", "sent"]
    assert {e.action for e in stored} == {AutoAction.RESTART}
    # A new UTC day, a new allowance.
    [alert] = fired(fleet_job, rule, NOW + 86_400)
    assert alert.action_result == "sent"


def test_a_pause_without_a_publisher_is_recorded_as_failed(tables, rules, settings, alerts, sender):
    job = AlertJob(settings, alerts, WorkerRepository(tables), TelemetryRepository(tables), sender)
    worker = make_rig(tables, gpus=2, active=1)
    draft = RuleDraft(
        name="pause",
        kind=AlertKind.GPU_LOST,
        threshold=0,
        worker_id=worker.worker_id,
        action=AutoAction.PAUSE,
    )
    rule = rules.create(PROVIDER, draft, now=NOW - 3600).rule
    [alert] = job.evaluate(rule, NOW)
    assert alert.action_result == "failed"


def test_the_rules_api_takes_the_new_kinds_and_an_action(settings, tables):
    from tests.api_client import api_context, auth, client_for

    client = client_for(api_context(settings, tables))
    body = {
        "name": "a fan stops",
        "kind": "fan_failure",
        "threshold": 4,
        "action": "pause",
        "max_actions_per_day": 2,
    }
    created = client.post("/api/alerts/rules", json=body, headers=auth(PROVIDER))
    assert created.status_code == 201, created.text
    rule = created.json()
    assert (rule["kind"], rule["action"], rule["max_actions_per_day"]) == (
        "fan_failure",
        "pause",
        2,
    )
    rule_id = rule["rule_id"]
    changed = client.patch(
        f"/api/alerts/rules/{rule_id}", json={"action": None}, headers=auth(PROVIDER)
    )
    assert changed.json()["action"] is None
    for bad in (
        {"action": "reboot"},
        {"max_actions_per_day": 11},
        {"kind": "back_online", "threshold": 0},
    ):
        response = client.post("/api/alerts/rules", json=body | bad, headers=auth(PROVIDER))
        assert response.status_code == 422, (bad, response.text)
