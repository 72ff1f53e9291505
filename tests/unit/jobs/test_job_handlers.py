"""The scheduled jobs' Lambda entry points: an EventBridge event in, the job run for the
event's time, a summary back and its counts published as metrics."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from functions.dal.accounts import AccountRepository
from functions.dal.leases import LeaseRepository
from functions.dal.telemetry import TelemetryRepository
from functions.dal.workers import WorkerRepository
from functions.handlers import jobs as handlers
from functions.local.lambda_context import LocalLambdaContext
from functions.logic.jobs import Jobs
from functions.logic.pricing import PRICE_INDEX_SERIES
from functions.models.market import LeaseStatus
from functions.observability import current_correlation_id
from functions.ports.devices import RecordingPublisher
from functions.settings import Settings
from protocol.topics import Downlink, topic
from tests.factories import (
    NOW,
    RENTER,
    enrolled_worker,
    heartbeat,
    lease_for,
    open_listing,
    register_online,
)

SCHEDULED_AT = NOW + 2400  # 2025-11-21T05:20:00Z


def scheduled_event(when: str | None = "2025-11-21T05:20:00Z") -> dict[str, Any]:
    """What an EventBridge schedule hands the Lambda."""
    event: dict[str, Any] = {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/settle"],
        "detail": {},
    }
    if when is not None:
        event["time"] = when
    return event


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def configured(settings: Settings, tables, publisher, monkeypatch) -> Iterator[None]:
    # Metrics on, so each invocation flushes (and clears) what it counted.
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    handlers.metrics.clear_metrics()
    handlers.configure(Jobs(settings, tables, publisher))
    yield
    handlers.configure(None)


def context(name: str) -> LocalLambdaContext:
    return LocalLambdaContext(function_name=name)


def emitted(out: str) -> dict[str, float]:
    """The metric values of the EMF documents printed to stdout."""
    values: dict[str, float] = {}
    for line in out.splitlines():
        if not line.startswith("{"):
            continue
        document = json.loads(line)
        if "_aws" not in document:
            continue  # a log line
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = document[metric["Name"]]
                values[metric["Name"]] = sum(value) if isinstance(value, list) else value
    return values


def test_settle_handler_settles_what_was_due_at_the_scheduled_time(
    configured, tables, publisher, capsys
):
    listing = open_listing(tables)
    AccountRepository(tables).deposit(RENTER, 10**8, entry_id="fund", now=NOW)
    due = LeaseRepository(tables).create(lease_for(listing, duration_sec=1800), listing)
    later = open_listing(tables)
    # Ends at the scheduled time itself: within the grace, so it waits for the next run.
    running = LeaseRepository(tables).create(
        lease_for(later, duration_sec=2400, lease_id="running"), later
    )

    result = handlers.settle_handler(scheduled_event(), context("settle"))

    assert result == {"settled": 1, "already": 0, "retry_later": 0}
    leases = LeaseRepository(tables)
    assert leases.require(due.lease_id).settled_at == SCHEDULED_AT
    assert leases.require(running.lease_id).status is LeaseStatus.ACTIVE
    assert [sent[0] for sent in publisher.sent] == [topic(due.worker_id, Downlink.TASK)]
    assert emitted(capsys.readouterr().out) == {"LeasesSettled": 1, "LeasesSettleRetry": 0}

    again = handlers.settle_handler(scheduled_event(), context("settle"))
    assert again == {"settled": 0, "already": 0, "retry_later": 0}


def test_a_run_logs_and_commands_under_its_event_s_id(configured, tables, publisher, caplog):
    listing = open_listing(tables)
    AccountRepository(tables).deposit(RENTER, 10**8, entry_id="fund", now=NOW)
    lease = LeaseRepository(tables).create(lease_for(listing, duration_sec=1800), listing)
    event_id = scheduled_event()["id"]

    handlers.settle_handler(scheduled_event(), context("settle"))

    release = json.loads(publisher.sent[-1][1])
    assert (release["lease_id"], release["correlation_id"]) == (lease.lease_id, event_id)
    ran = {r.getMessage(): getattr(r, "correlation_id", None) for r in caplog.records}
    assert ran["lease settled"] == ran["settlement run"] == event_id
    assert current_correlation_id() is None  # over with the run


def test_a_run_without_an_event_id_gets_one_of_its_own(configured, caplog):
    handlers.settle_handler(scheduled_event() | {"id": None}, context("settle"))
    handlers.settle_handler(scheduled_event() | {"id": "not an id!"}, context("settle"))

    runs = [r.correlation_id for r in caplog.records if r.getMessage() == "settlement run"]
    assert len(runs) == 2
    assert all(re.fullmatch(r"[0-9a-f]{32}", run) for run in runs)
    assert runs[0] != runs[1]


def test_pricing_handler_stores_the_index_at_the_scheduled_time(configured, tables, capsys):
    open_listing(tables, price_per_hour=2_000_000)
    open_listing(tables, price_per_hour=1_000_000, gpu="RTX 3090")

    result = handlers.pricing_handler(scheduled_event(), context("pricing"))

    assert result == {"models": ["*", "RTX 3090", "RTX 4090"]}
    point = TelemetryRepository(tables).latest(PRICE_INDEX_SERIES, since=NOW)
    assert point is not None
    assert point.ts == SCHEDULED_AT
    assert emitted(capsys.readouterr().out) == {"PriceIndexModels": 3}


def test_pricing_handler_on_an_empty_market(configured, tables):
    assert handlers.pricing_handler(scheduled_event(), context("pricing")) == {"models": []}
    assert TelemetryRepository(tables).latest(PRICE_INDEX_SERIES, since=0) is None


def test_reputation_handler_refreshes_the_online_workers(configured, settings, tables, capsys):
    online = enrolled_worker(tables)
    register_online(tables, online.worker_id)
    offline = enrolled_worker(tables)

    result = handlers.reputation_handler(scheduled_event(), context("reputation"))

    assert result == {"refreshed": 1}
    workers = WorkerRepository(tables)
    reputation = workers.require(online.worker_id).reputation
    assert reputation is not None
    assert reputation.updated_at == SCHEDULED_AT
    assert workers.require(offline.worker_id).reputation is None
    assert emitted(capsys.readouterr().out) == {"ReputationsRefreshed": 1}


def test_fleet_sweep_marks_silent_workers_offline_and_counts_the_rest(
    configured, settings, tables, capsys
):
    silent = enrolled_worker(tables)
    register_online(tables, silent.worker_id)  # at NOW, 40 minutes before the run
    speaking = enrolled_worker(tables)
    register_online(tables, speaking.worker_id)
    heartbeat(tables, speaking.worker_id, hashrate=500.0, now=SCHEDULED_AT - 30)

    result = handlers.fleet_stats_handler(scheduled_event(), context("fleet_stats"))

    assert result == {
        "ts": SCHEDULED_AT - SCHEDULED_AT % 60,
        "online_workers": 1.0,
        "checked": 2,
        "marked_offline": 1,
    }
    workers = WorkerRepository(tables)
    assert not workers.require(silent.worker_id).online
    assert workers.require(speaking.worker_id).online
    assert emitted(capsys.readouterr().out) == {"FleetOnlineWorkers": 1, "WorkersMarkedOffline": 1}


@pytest.mark.parametrize("when", [None, "not a time"], ids=["no-time", "unreadable-time"])
def test_an_event_without_a_readable_time_runs_for_the_clock(configured, tables, when):
    open_listing(tables)
    before = int(time.time())

    handlers.pricing_handler(scheduled_event(when), context("pricing"))

    point = TelemetryRepository(tables).latest(PRICE_INDEX_SERIES, since=0)
    assert point is not None
    assert before <= point.ts <= int(time.time())
