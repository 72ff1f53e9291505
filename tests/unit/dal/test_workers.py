from __future__ import annotations

import pytest

from functions.dal.workers import WorkerRepository
from functions.errors import AlreadyExists, Conflict, NotFound
from functions.models.workers import Worker
from protocol.messages import GpuInfo, GpuTelemetry, WorkerState
from tests.factories import NOW, PROVIDER, RENTER, enrolled_worker


@pytest.fixture
def workers(tables):
    return WorkerRepository(tables)


def _heartbeat(workers, worker_id, now, telemetry=None, **extra):
    return workers.record_heartbeat(
        worker_id,
        hashrate=1250.75,
        active_gpus=1,
        accepted_blocks=3,
        difficulty=1727,
        uptime_sec=60,
        telemetry=telemetry,
        now=now,
        **extra,
    )


def test_create_is_once_per_id(tables, workers):
    worker = enrolled_worker(tables)
    with pytest.raises(AlreadyExists):
        workers.create(worker)


def test_registration_and_heartbeat_update_the_summary(tables, workers):
    worker = enrolled_worker(tables)
    gpus = [GpuInfo(index=0, name="NVIDIA H100", memory_gb=80, bus_id=1)]
    registered = workers.record_registration(
        worker.worker_id,
        version="2.0.0",
        gpus=gpus,
        total_memory_gb=80,
        state=WorkerState.AVAILABLE,
        now=NOW,
    )
    assert (registered.gpu_model, registered.online, registered.state) == (
        "NVIDIA H100",
        True,
        WorkerState.AVAILABLE,
    )
    telemetry = [
        GpuTelemetry(index=0, hashrate=1250.75, temperature_c=61.5, fan_pct=40, power_w=300)
    ]
    beat = _heartbeat(workers, worker.worker_id, NOW + 31, telemetry=telemetry)
    assert beat.hashrate == 1250.75
    assert beat.last_seen == NOW + 31
    assert beat.telemetry == telemetry
    assert workers.require(worker.worker_id) == beat


def test_unknown_or_revoked_workers_cannot_report(tables, workers):
    with pytest.raises(NotFound):
        _heartbeat(workers, "ghost", NOW)
    assert workers.get("ghost") is None  # the update did not create an item
    worker = enrolled_worker(tables)
    workers.revoke(worker.worker_id, now=NOW)
    with pytest.raises(NotFound):
        _heartbeat(workers, worker.worker_id, NOW + 1)
    assert workers.require(worker.worker_id).revoked


def test_a_providers_workers_page_by_owner(tables, workers):
    mine = [enrolled_worker(tables).worker_id for _ in range(5)]
    enrolled_worker(tables, owner=RENTER)
    ids, cursor = [], None
    while True:
        page = workers.list_by_owner(PROVIDER, limit=2, cursor=cursor)
        ids += [w.worker_id for w in page.items]
        if page.cursor is None:
            break
        cursor = page.cursor
    assert sorted(ids) == sorted(mine)


def test_state_transitions_can_be_guarded(tables, workers):
    worker = enrolled_worker(tables)
    workers.set_state(worker.worker_id, WorkerState.AVAILABLE, now=NOW)
    moved = workers.set_state(
        worker.worker_id, WorkerState.LEASED, now=NOW, allowed_from={WorkerState.AVAILABLE}
    )
    assert moved.state is WorkerState.LEASED
    with pytest.raises(Conflict):
        workers.set_state(
            worker.worker_id, WorkerState.MINING, now=NOW, allowed_from={WorkerState.IDLE}
        )
    assert workers.require(worker.worker_id).state is WorkerState.LEASED


def test_silent_workers_go_offline_but_not_talking_ones(tables, workers):
    quiet, chatty = enrolled_worker(tables), enrolled_worker(tables)
    for w in (quiet, chatty):
        _heartbeat(workers, w.worker_id, NOW)
    assert sorted(workers.online_ids(limit=10).items) == sorted([quiet.worker_id, chatty.worker_id])
    _heartbeat(workers, chatty.worker_id, NOW + 80)  # spoke after the sweep read it

    cutoff = NOW + 1
    assert workers.mark_offline(quiet.worker_id, silent_since=cutoff, now=NOW + 90)
    assert not workers.mark_offline(chatty.worker_id, silent_since=cutoff, now=NOW + 90)

    assert workers.online_ids(limit=10).items == [chatty.worker_id]
    offline = workers.require(quiet.worker_id)
    assert (offline.online, offline.state) == (False, WorkerState.OFFLINE)
    assert workers.require(chatty.worker_id).online


def test_get_many_keeps_order_and_skips_missing(tables, workers):
    a, b = enrolled_worker(tables), enrolled_worker(tables)
    found = workers.get_many([b.worker_id, "missing", a.worker_id])
    assert [w.worker_id for w in found] == [b.worker_id, a.worker_id]
    assert all(isinstance(w, Worker) for w in found)
