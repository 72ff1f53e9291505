"""Health: online workers silent for longer than the allowance go offline; others wait."""

from __future__ import annotations

from typing import Any

import pytest

from functions.dal.reads import get_item
from functions.dal.specs import WORKERS
from functions.dal.tables import Tables
from functions.dal.workers import WorkerRepository
from functions.logic.health import HealthRun, HealthService
from functions.logic.heartbeat_schedule import HeartbeatSchedule, schedule_for
from functions.models.workers import Worker
from protocol.messages import GpuInfo, WorkerState
from tests.factories import NOW, enrolled_worker


@pytest.fixture
def schedule(settings) -> HeartbeatSchedule:
    return schedule_for(settings)


@pytest.fixture
def workers(tables) -> WorkerRepository:
    return WorkerRepository(tables)


@pytest.fixture
def health(workers, schedule) -> HealthService:
    return HealthService(workers, schedule)


def registered(tables: Tables, schedule: HeartbeatSchedule, *, at: int = NOW) -> Worker:
    """An enrolled rig that registered at ``at``, as ingest writes it."""
    worker_id = enrolled_worker(tables).worker_id
    return WorkerRepository(tables).record_registration(
        worker_id,
        version="1.0",
        gpus=[GpuInfo(index=0, name="RTX 4090", memory_gb=24, bus_id=1)],
        total_memory_gb=24,
        state=WorkerState.AVAILABLE,
        now=at,
        check_at=schedule.check_at(worker_id, at),
    )


def heartbeat(workers: WorkerRepository, worker_id: str, at: int) -> Worker:
    """A heartbeat in a slot that does not move the liveness key (most of them)."""
    return workers.record_heartbeat(
        worker_id,
        hashrate=1000.0,
        active_gpus=1,
        accepted_blocks=0,
        difficulty=8,
        uptime_sec=60,
        telemetry=None,
        now=at,
    )


def stored_item(tables: Tables, worker_id: str) -> dict[str, Any]:
    """The raw item, index attributes included (the record leaves them out)."""
    item = get_item(tables, WORKERS, {"worker_id": worker_id})
    assert item is not None
    return item


def test_the_allowance_is_the_offline_delay_plus_a_summary_slot(schedule):
    assert schedule.silence_allowance == 90 + 60


def test_a_silent_worker_is_marked_offline(tables, workers, schedule, health):
    worker = registered(tables, schedule)
    now = schedule.check_at(worker.worker_id, NOW)
    assert workers.due_for_liveness_check(now - 1, limit=10) == []

    run = health.sweep(now)

    assert run == HealthRun(checked=1, marked_offline=1, postponed=0)
    stored = workers.require(worker.worker_id)
    assert (stored.online, stored.state) == (False, WorkerState.OFFLINE)
    item = stored_item(tables, worker.worker_id)
    assert item["offline_at"] == now
    assert {"live_shard", "check_at"}.isdisjoint(item)
    assert workers.due_for_liveness_check(now + 86_400, limit=10) == []
    assert workers.online_ids(limit=10).items == []


def test_a_worker_that_spoke_recently_is_postponed_and_stays_online(
    tables, workers, schedule, health
):
    worker = registered(tables, schedule)
    now = schedule.check_at(worker.worker_id, NOW)
    heartbeat(workers, worker.worker_id, now - 10)

    run = health.sweep(now)

    assert run == HealthRun(checked=1, marked_offline=0, postponed=1)
    assert workers.require(worker.worker_id).online
    next_check = schedule.check_at(worker.worker_id, now)
    assert next_check > now
    assert stored_item(tables, worker.worker_id)["check_at"] == next_check
    assert workers.due_for_liveness_check(next_check - 1, limit=10) == []
    assert workers.due_for_liveness_check(next_check, limit=10) == [worker.worker_id]
    assert health.sweep(now) == HealthRun()


@pytest.mark.parametrize(("silent_for", "offline"), [(150, False), (151, True)])
def test_silence_counts_from_the_allowance_exactly(
    tables, workers, schedule, health, silent_for, offline
):
    worker = registered(tables, schedule)
    now = schedule.check_at(worker.worker_id, NOW)
    heartbeat(workers, worker.worker_id, now - silent_for)

    run = health.sweep(now)

    assert run.marked_offline == int(offline)
    assert workers.require(worker.worker_id).online is not offline


def test_nobody_is_checked_before_their_time(tables, workers, schedule, health):
    worker = registered(tables, schedule)
    assert health.sweep(schedule.check_at(worker.worker_id, NOW) - 1) == HealthRun()
    assert workers.require(worker.worker_id).online


def test_a_sweep_over_many_workers_ends_with_each_visited_once(tables, workers, schedule):
    silent = [registered(tables, schedule) for _ in range(5)]
    talkative = [registered(tables, schedule) for _ in range(3)]
    now = NOW + 1000  # past every check_at (at most a slot and the allowance away)
    for worker in talkative:
        heartbeat(workers, worker.worker_id, now - 5)
    health = HealthService(workers, schedule, batch=2)

    run = health.sweep(now)

    assert run == HealthRun(checked=8, marked_offline=5, postponed=3)
    assert not any(workers.require(w.worker_id).online for w in silent)
    assert all(workers.require(w.worker_id).online for w in talkative)
    assert health.sweep(now) == HealthRun()


def test_a_sweep_is_bounded(tables, workers, schedule):
    for _ in range(5):
        registered(tables, schedule)
    health = HealthService(workers, schedule, batch=2)

    first = health.sweep(NOW + 1000, max_workers=2)
    rest = health.sweep(NOW + 1000)

    assert (first.checked, rest.checked) == (2, 3)


def test_revoked_workers_are_not_visited(tables, workers, schedule, health):
    worker = registered(tables, schedule)
    workers.revoke(worker.worker_id, now=NOW + 10)

    assert health.sweep(NOW + 1000) == HealthRun()
    stored = workers.require(worker.worker_id)
    assert (stored.revoked_at, stored.online) == (NOW + 10, False)
    assert "offline_at" not in stored_item(tables, worker.worker_id)
