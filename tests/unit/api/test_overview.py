"""``/api/overview``: public platform figures and the activity feed, no sign-in."""

from __future__ import annotations

from typing import Any

import pytest

from functions.dal.accounts import AccountRepository
from functions.dal.blocks import BlockRepository
from functions.dal.leases import LeaseRepository
from functions.dal.telemetry import TelemetryRepository
from functions.logic.fleet_stats import aggregate_fleet
from functions.models.telemetry import FLEET_SERIES, TelemetryPoint
from protocol.xenblocks import BlockKind
from tests.factories import NOW, RENTER, lease_for, mined_block, online_worker, open_listing

DAY = 86_400


def record_block(
    tables: Any, n: int, *, recorded_at: int, kind: BlockKind = BlockKind.NORMAL
) -> None:
    block = mined_block(n, recorded_at=recorded_at, kind=kind, reason=kind.value)
    assert BlockRepository(tables).record(block)


def test_stats_are_public_and_come_from_the_latest_fleet_point(client, tables, settings):
    online_worker(tables, gpu="RTX 4090", hashrate=1000.0)
    online_worker(tables, gpu="NVIDIA H100", hashrate=3000.0)
    for _ in range(2):
        open_listing(tables)  # open, their workers offline
    # an older fleet point for the sparkline, then the job's point for now
    TelemetryRepository(tables).put(
        TelemetryPoint(
            series=FLEET_SERIES, ts=NOW - 7200, values={"hashrate": 10.0}, expires_at=NOW + DAY
        )
    )
    aggregate_fleet(tables, settings, NOW)
    record_block(tables, 1, recorded_at=NOW - 60)
    record_block(tables, 2, recorded_at=NOW - 2 * DAY)

    response = client.get("/api/overview/stats")

    assert response.status_code == 200, response.text
    assert "max-age" in response.headers["cache-control"]
    body = response.json()
    assert body["as_of"] == NOW - NOW % 60
    assert (body["online_workers"], body["hashrate"], body["gpus"]) == (2, 4000.0, 2)
    assert body["owners"] == 1
    assert body["models"] == [
        {"model": "NVIDIA H100", "workers": 1, "hashrate": 3000.0},
        {"model": "RTX 4090", "workers": 1, "hashrate": 1000.0},
    ]
    assert body["open_listings"] == 2
    assert body["blocks_24h"] == 1
    assert body["complete"] is True
    assert [p["hashrate"] for p in body["sparkline"]] == [10.0, 4000.0]
    assert body["sparkline"][0]["ts"] < body["sparkline"][1]["ts"]


def test_stats_before_any_aggregation_are_zero(client):
    body = client.get("/api/overview/stats").json()
    assert body["as_of"] is None
    assert (body["online_workers"], body["hashrate"], body["open_listings"]) == (0, 0.0, 0)
    assert (body["models"], body["sparkline"]) == ([], [])


def test_activity_merges_blocks_and_lease_starts_newest_first(client, tables):
    record_block(tables, 1, recorded_at=NOW - 300)
    record_block(tables, 2, recorded_at=NOW - 100, kind=BlockKind.SUPER)
    listing = open_listing(tables)
    AccountRepository(tables).deposit(RENTER, 10**9, entry_id="d", now=NOW)
    lease = LeaseRepository(tables).create(lease_for(listing, now=NOW - 200), listing)

    response = client.get("/api/overview/activity")

    assert response.status_code == 200
    items = response.json()["items"]
    assert [(i["type"], i["ts"]) for i in items] == [
        ("block", NOW - 100),
        ("lease", NOW - 200),
        ("block", NOW - 300),
    ]
    assert items[0]["summary"] == "Super block found by worker w-blocks"
    assert items[0]["ids"] == {"hash": "h0002XEN11abc", "worker_id": "w-blocks"}
    assert items[1]["ids"] == {"lease_id": lease.lease_id, "worker_id": listing.worker_id}
    assert "1 h" in items[1]["summary"]
    assert RENTER not in str(items)

    limited = client.get("/api/overview/activity", params={"limit": 2}).json()["items"]
    assert [i["ts"] for i in limited] == [NOW - 100, NOW - 200]


@pytest.mark.parametrize("limit", [0, 101, "many"])
def test_activity_limit_is_bounded(client, limit):
    response = client.get("/api/overview/activity", params={"limit": limit})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_input"
