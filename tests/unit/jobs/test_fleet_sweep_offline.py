"""The fleet sweep marks online workers silent for longer than the allowance offline."""

from __future__ import annotations

from typing import Any

import pytest

from functions.dal.reads import get_item
from functions.dal.specs import WORKERS
from functions.dal.tables import Tables
from functions.dal.workers import WorkerRepository
from functions.logic.fleet_stats import aggregate_fleet
from functions.logic.heartbeat_schedule import silence_allowance
from functions.models.workers import Worker
from protocol.messages import WorkerState
from tests.factories import NOW, enrolled_worker, heartbeat, register_online


@pytest.fixture
def workers(tables) -> WorkerRepository:
    return WorkerRepository(tables)


def registered(tables: Tables, *, at: int = NOW) -> Worker:
    """An enrolled rig that registered at ``at``, as ingest writes it."""
    return register_online(tables, enrolled_worker(tables).worker_id, now=at)


def stored_item(tables: Tables, worker_id: str) -> dict[str, Any]:
    """The raw item, index attributes included (the record leaves them out)."""
    item = get_item(tables, WORKERS, {"worker_id": worker_id})
    assert item is not None
    return item


def test_the_allowance_is_the_offline_delay_plus_a_summary_slot(settings):
    assert silence_allowance(settings) == 90 + 60 + 30


def test_a_silent_worker_is_marked_offline_and_leaves_the_index(tables, settings, workers):
    worker = registered(tables)
    now = NOW + 1000

    totals = aggregate_fleet(tables, settings, now)

    assert (totals.checked, totals.marked_offline, totals.fleet.workers) == (1, 1, 0)
    stored = workers.require(worker.worker_id)
    assert (stored.online, stored.state) == (False, WorkerState.OFFLINE)
    item = stored_item(tables, worker.worker_id)
    assert item["offline_at"] == now
    assert "live_shard" not in item
    assert workers.online_ids(limit=10).items == []
    assert aggregate_fleet(tables, settings, now + 300).checked == 0


def test_a_worker_that_speaks_again_is_back_in_the_index(tables, settings, workers):
    worker = registered(tables)
    aggregate_fleet(tables, settings, NOW + 1000)

    heartbeat(tables, worker.worker_id, now=NOW + 1100)

    assert workers.online_ids(limit=10).items == [worker.worker_id]
    assert aggregate_fleet(tables, settings, NOW + 1130).fleet.workers == 1


@pytest.mark.parametrize(("silent_for", "offline"), [(180, False), (181, True)])
def test_silence_counts_from_the_allowance_exactly(tables, settings, workers, silent_for, offline):
    worker = registered(tables)
    now = NOW + 1000
    heartbeat(tables, worker.worker_id, now=now - silent_for)

    totals = aggregate_fleet(tables, settings, now)

    assert totals.marked_offline == int(offline)
    assert totals.fleet.workers == int(not offline)
    assert workers.require(worker.worker_id).online is not offline


def test_a_worker_that_spoke_after_the_read_stays_online(tables, settings, workers, monkeypatch):
    worker = registered(tables)
    now = NOW + 1000
    read = WorkerRepository.get_many

    def read_then_hear_it(self: WorkerRepository, ids: list[str]) -> list[Worker]:
        page = read(self, ids)
        heartbeat(tables, worker.worker_id, now=now)  # between the sweep's read and its write
        return page

    monkeypatch.setattr(WorkerRepository, "get_many", read_then_hear_it)
    totals = aggregate_fleet(tables, settings, now)

    assert totals.marked_offline == 0
    assert workers.require(worker.worker_id).online


def test_heartbeats_never_write_the_liveness_index(tables, workers):
    worker = registered(tables)
    before = stored_item(tables, worker.worker_id)["live_shard"]
    for at in range(NOW, NOW + 3600, 30):
        heartbeat(tables, worker.worker_id, now=at)
    # The index key is the same value (no index write) for as long as the rig speaks.
    assert stored_item(tables, worker.worker_id)["live_shard"] == before


def test_a_sweep_over_many_pages_visits_each_worker_once(tables, settings, workers, monkeypatch):
    monkeypatch.setattr("functions.logic.fleet_stats._LIVENESS_PAGE", 2)
    silent = [registered(tables) for _ in range(5)]
    talkative = [registered(tables) for _ in range(3)]
    now = NOW + 1000
    for worker in talkative:
        heartbeat(tables, worker.worker_id, now=now - 5)

    totals = aggregate_fleet(tables, settings, now)

    assert (totals.checked, totals.marked_offline, totals.fleet.workers) == (8, 5, 3)
    assert not any(workers.require(w.worker_id).online for w in silent)
    assert all(workers.require(w.worker_id).online for w in talkative)


def test_revoked_workers_are_not_visited(tables, settings, workers):
    worker = registered(tables)
    workers.revoke(worker.worker_id, now=NOW + 10)

    assert aggregate_fleet(tables, settings, NOW + 1000).checked == 0
    stored = workers.require(worker.worker_id)
    assert (stored.revoked_at, stored.online) == (NOW + 10, False)
    assert "offline_at" not in stored_item(tables, worker.worker_id)
