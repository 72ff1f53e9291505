"""The fleet aggregation job and the figures the monitoring/overview API derives."""

from __future__ import annotations

from typing import Any

import pytest

from functions.dal.accounts import AccountRepository
from functions.dal.blocks import BlockRepository
from functions.dal.leases import LeaseRepository
from functions.dal.telemetry import TelemetryRepository
from functions.dal.workers import WorkerRepository
from functions.logic import fleet_stats
from functions.logic.fleet_stats import aggregate_fleet, count_verified_blocks, downsample
from functions.models.telemetry import FLEET_SERIES, TelemetryPoint, owner_series
from tests.factories import (
    NOW,
    PROVIDER,
    RENTER,
    address,
    bring_online,
    enrolled_worker,
    lease_for,
    mined_block,
    online_worker,
    open_listing,
)

OTHER = address(0x0DD)
SLOT = NOW - NOW % 60


def points(tables: Any, series: str) -> list[TelemetryPoint]:
    return TelemetryRepository(tables).history(series, 0, NOW + 10**6, limit=100).items


def test_aggregation_totals_the_live_fleet_per_model_and_owner(tables, settings):
    online_worker(tables, hashrate=1000.0, gpus=2)
    online_worker(tables, hashrate=500.0, gpu="NVIDIA H100")
    online_worker(tables, owner=OTHER, hashrate=250.0)
    enrolled_worker(tables)  # never spoke: offline
    online_worker(tables, now=NOW - 1000)  # online flag set but silent too long
    revoked = online_worker(tables)
    WorkerRepository(tables).revoke(revoked.worker_id, now=NOW)
    listing = open_listing(tables, owner=OTHER)
    bring_online(tables, listing.worker_id, hashrate=100.0)
    AccountRepository(tables).deposit(RENTER, 10**9, entry_id="d", now=NOW)
    LeaseRepository(tables).create(lease_for(listing), listing)

    totals = aggregate_fleet(tables, settings, NOW)

    assert totals.ts == SLOT
    assert (totals.fleet.workers, totals.fleet.hashrate, totals.fleet.gpus) == (4, 1850.0, 5)
    assert totals.fleet.leased == 1
    [fleet] = points(tables, FLEET_SERIES)
    assert fleet.ts == SLOT
    assert fleet.expires_at == SLOT + settings.telemetry_retention_days * 86_400
    assert fleet.values["online_workers"] == 4
    assert fleet.values["hashrate"] == 1850.0
    assert fleet.values["leased_workers"] == 1
    assert fleet.values["owners"] == 2
    assert fleet.values["model.RTX 4090.hashrate"] == 1350.0
    assert fleet.values["model.RTX 4090.workers"] == 3
    assert fleet.values["model.NVIDIA H100.hashrate"] == 500.0
    [mine] = points(tables, owner_series(PROVIDER))
    assert (mine.values["online_workers"], mine.values["hashrate"]) == (2, 1500.0)
    assert mine.values["leased_workers"] == 0
    [theirs] = points(tables, owner_series(OTHER))
    assert (theirs.values["online_workers"], theirs.values["leased_workers"]) == (2, 1)


def test_aggregation_is_idempotent_within_a_minute_slot(tables, settings):
    worker = online_worker(tables, hashrate=1000.0)
    aggregate_fleet(tables, settings, SLOT + 5)
    bring_online(tables, worker.worker_id, hashrate=2000.0, now=SLOT + 30)
    aggregate_fleet(tables, settings, SLOT + 35)

    [fleet] = points(tables, FLEET_SERIES)
    assert fleet.values["hashrate"] == 2000.0  # the retry overwrote the slot's point
    assert len(points(tables, owner_series(PROVIDER))) == 1

    aggregate_fleet(tables, settings, SLOT + 65)
    assert [p.ts for p in points(tables, FLEET_SERIES)] == [SLOT, SLOT + 60]


def test_aggregation_pages_through_the_liveness_index(tables, settings, monkeypatch):
    monkeypatch.setattr(fleet_stats, "_LIVENESS_PAGE", 2)
    for _ in range(5):
        online_worker(tables, hashrate=10.0)
    assert aggregate_fleet(tables, settings, NOW).fleet.workers == 5


def test_an_empty_fleet_still_writes_a_zero_point(tables, settings):
    totals = aggregate_fleet(tables, settings, NOW)
    assert totals.fleet.workers == 0
    [fleet] = points(tables, FLEET_SERIES)
    assert (fleet.values["online_workers"], fleet.values["hashrate"]) == (0, 0)


def test_unsafe_and_surplus_model_names_fold_into_other(tables, settings, monkeypatch):
    monkeypatch.setattr(fleet_stats, "MAX_MODELS", 3)
    online_worker(tables, gpu="GPU.with.dots", hashrate=1.0)
    for n, rate in enumerate((100.0, 90.0, 80.0)):
        online_worker(tables, gpu=f"Model {n}", hashrate=rate)

    values = aggregate_fleet(tables, settings, NOW).fleet_values()

    models = {k for k in values if k.startswith("model.") and k.endswith(".hashrate")}
    assert models == {"model.Model 0.hashrate", "model.Model 1.hashrate", "model.other.hashrate"}
    assert values["model.other.hashrate"] == 81.0
    assert values["model.other.workers"] == 2


@pytest.mark.parametrize(
    ("name", "expected"),
    [("RTX 4090", "RTX 4090"), (None, "unknown"), ("a.b", "other"), ("x" * 80, "other")],
)
def test_model_name(name, expected):
    assert fleet_stats.model_name(name) == expected


def test_downsample_averages_each_value_over_the_points_that_have_it():
    def point(ts: int, **values: float) -> TelemetryPoint:
        return TelemetryPoint(series="s", ts=ts, values=values, expires_at=ts + 1)

    buckets = downsample(
        [point(0, hashrate=10, temp=50), point(60, hashrate=20), point(600, hashrate=5)], 300
    )

    assert [(b.ts, b.samples) for b in buckets] == [(0, 2), (600, 1)]
    assert buckets[0].values == {"hashrate": 15.0, "temp": 50.0}


def test_counting_blocks_stops_at_the_window_and_at_the_bound(tables):
    repo = BlockRepository(tables)
    for n in range(6):
        repo.record(mined_block(n, recorded_at=NOW - n * 3600))
    repo.record(mined_block(10, owner=OTHER, recorded_at=NOW - 60))
    repo.record(mined_block(11, recorded_at=NOW - 2 * 86_400))

    count = count_verified_blocks(repo, now=NOW, since=NOW - 86_400)
    assert (count.count, count.complete) == (7, True)
    mine = count_verified_blocks(
        repo, now=NOW, since=NOW - 86_400, keep=lambda b: b.owner == PROVIDER
    )
    assert mine.count == 6
    bounded = count_verified_blocks(repo, now=NOW, since=NOW - 86_400, max_read=3)
    assert (bounded.count, bounded.complete) == (3, False)


def test_owner_points_come_once_per_summary_slot(tables, settings):
    slow = settings.model_copy(update={"heartbeat_write_seconds": 600})
    worker = online_worker(tables, hashrate=1000.0)
    ten = NOW - NOW % 600
    for sweep in range(4):  # the deployed cadence: a sweep every 5 minutes
        at = ten + fleet_stats.SWEEP_SECONDS * sweep + 1
        bring_online(tables, worker.worker_id, now=at - 30)
        aggregate_fleet(tables, slow, at)
    assert len(points(tables, FLEET_SERIES)) == 4
    assert [p.ts for p in points(tables, owner_series(PROVIDER))] == [ten, ten + 600]
