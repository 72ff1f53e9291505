"""Builders for the alerts tests: rigs in any state, rules, a job with a recording sender."""

from __future__ import annotations

import itertools

import pytest

from functions.dal.alerts import AlertRepository
from functions.dal.telemetry import TelemetryRepository
from functions.dal.workers import WorkerRepository
from functions.logic.alert_rules import AlertRuleService, RuleDraft
from functions.logic.alerts import AlertJob
from functions.models.alerts import AlertKind, AlertRule
from functions.models.telemetry import TelemetryPoint, worker_series
from functions.models.workers import Worker
from functions.ports.webhooks import RecordingWebhookSender
from protocol.messages import GpuTelemetry
from tests.factories import NOW, PROVIDER

_ids = itertools.count(1)
HOOK = "https://hooks.example.com/xenblocks"


@pytest.fixture
def alerts(tables):
    return AlertRepository(tables)


@pytest.fixture
def sender():
    return RecordingWebhookSender()


@pytest.fixture
def job(settings, tables, alerts, sender):
    return AlertJob(settings, alerts, WorkerRepository(tables), TelemetryRepository(tables), sender)


@pytest.fixture
def rules(settings, tables, alerts):
    return AlertRuleService(settings, alerts, WorkerRepository(tables))


@pytest.fixture
def rig(tables):
    """A worker as the ingest path would have left it."""

    def make(
        *,
        owner: str = PROVIDER,
        online: bool = True,
        last_seen: int | None = NOW,
        hashrate: float = 1000.0,
        temperatures: tuple[float | None, ...] = (),
        revoked: bool = False,
    ) -> Worker:
        telemetry = [
            GpuTelemetry(index=i, hashrate=hashrate, temperature_c=t)
            for i, t in enumerate(temperatures)
        ]
        worker = Worker(
            worker_id=f"alert-rig-{next(_ids)}",
            owner=owner,
            created_at=NOW - 86_400,
            online=online,
            last_seen=last_seen,
            hashrate=hashrate,
            telemetry=telemetry,
            revoked_at=NOW - 10 if revoked else None,
        )
        return WorkerRepository(tables).create(worker)

    return make


@pytest.fixture
def history(tables):
    """Hashrate history points of a worker at ``NOW - age`` for each (age, hashrate)."""

    def write(worker: Worker, points: list[tuple[int, float]]) -> None:
        TelemetryRepository(tables).put_many(
            TelemetryPoint(
                series=worker_series(worker.worker_id),
                ts=NOW - age,
                values={"hashrate": rate},
                expires_at=NOW + 86_400,
            )
            for age, rate in points
        )

    return write


@pytest.fixture
def rule(rules):
    def make(
        kind: AlertKind,
        threshold: float,
        *,
        worker: Worker | None = None,
        owner: str = PROVIDER,
        webhook_url: str | None = HOOK,
        cooldown_seconds: int | None = 600,
    ) -> AlertRule:
        draft = RuleDraft(
            name=f"{kind} rule",
            kind=kind,
            threshold=threshold,
            worker_id=worker.worker_id if worker else None,
            webhook_url=webhook_url,
            cooldown_seconds=cooldown_seconds,
        )
        return rules.create(owner, draft, now=NOW - 3600).rule

    return make
