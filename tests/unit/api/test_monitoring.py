"""``/api/monitoring``: the caller's fleet, totals and history; recent blocks."""

from __future__ import annotations

from typing import Any

import pytest

from functions.dal.accounts import AccountRepository
from functions.dal.blocks import BlockRepository
from functions.dal.leases import LeaseRepository
from functions.dal.telemetry import TelemetryRepository
from functions.dal.workers import WorkerRepository
from functions.logic.fleet_stats import aggregate_fleet
from functions.models.blocks import Block
from functions.models.telemetry import TelemetryPoint, owner_series, worker_series
from functions.models.workers import Worker
from protocol.messages import GpuTelemetry
from tests.api_client import api_context, auth, client_for
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
ADMIN = address(1)
DAY = 86_400


@pytest.fixture
def client(settings, tables):
    context = api_context(settings.model_copy(update={"admin_addresses": (ADMIN,)}), tables)
    return client_for(context)


def leased_worker(tables: Any, *, owner: str = PROVIDER) -> tuple[Worker, str]:
    listing = open_listing(tables, owner=owner)
    worker = bring_online(tables, listing.worker_id)
    AccountRepository(tables).deposit(RENTER, 10**9, entry_id=f"d-{listing.listing_id}", now=NOW)
    lease = LeaseRepository(tables).create(lease_for(listing), listing)
    return worker, lease.lease_id


def record_block(
    tables: Any,
    n: int,
    *,
    owner: str = PROVIDER,
    account: str | None = None,
    recorded_at: int = NOW,
) -> Block:
    """Block ``n``, mined by a rig of ``owner``'s for ``account`` (``owner`` by default)."""
    block = mined_block(
        n,
        owner=owner,
        account=account or owner,
        worker_id=f"w-{owner[-4:]}",
        recorded_at=recorded_at,
    )
    assert BlockRepository(tables).record(block)
    return block


def put_point(tables: Any, series: str, ts: int, hashrate: float) -> None:
    point = TelemetryPoint(series=series, ts=ts, values={"hashrate": hashrate}, expires_at=ts + DAY)
    TelemetryRepository(tables).put(point)


# -- /fleet ---------------------------------------------------------------------------------


def test_fleet_lists_the_callers_workers_with_live_figures_and_lease(client, tables):
    live = online_worker(
        tables,
        hashrate=1234.5,
        telemetry=[GpuTelemetry(index=0, hashrate=1234.5, temperature_c=61.0)],
    )
    silent = online_worker(tables, now=NOW - 600)
    leased, lease_id = leased_worker(tables)
    online_worker(tables, owner=OTHER)
    revoked = enrolled_worker(tables)
    WorkerRepository(tables).revoke(revoked.worker_id, now=NOW)

    response = client.get("/api/monitoring/fleet", headers=auth(PROVIDER))

    assert response.status_code == 200, response.text
    items = {w["worker_id"]: w for w in response.json()["items"]}
    assert set(items) == {live.worker_id, silent.worker_id, leased.worker_id}
    assert items[live.worker_id]["hashrate"] == 1234.5
    assert items[live.worker_id]["offline"] is False
    assert items[live.worker_id]["telemetry"][0]["temperature_c"] == 61.0
    assert items[live.worker_id]["gpu_model"] == "RTX 4090"
    assert items[live.worker_id]["lease_id"] is None
    assert (items[silent.worker_id]["online"], items[silent.worker_id]["offline"]) == (True, True)
    assert items[silent.worker_id]["seconds_silent"] == 600
    assert items[leased.worker_id]["lease_id"] == lease_id


def test_fleet_pages_with_a_cursor(client, tables):
    ids = {online_worker(tables).worker_id for _ in range(5)}
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/monitoring/fleet", params=params, headers=auth(PROVIDER)).json()
        assert len(body["items"]) <= 2
        seen += [w["worker_id"] for w in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids)


def test_fleet_needs_a_signed_in_caller(client):
    response = client.get("/api/monitoring/fleet")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_only_admins_may_name_another_owner(client, tables):
    theirs = online_worker(tables, owner=OTHER)
    refused = client.get("/api/monitoring/fleet", params={"owner": OTHER}, headers=auth(PROVIDER))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    allowed = client.get("/api/monitoring/fleet", params={"owner": OTHER}, headers=auth(ADMIN))
    assert [w["worker_id"] for w in allowed.json()["items"]] == [theirs.worker_id]
    mine = client.get("/api/monitoring/fleet", params={"owner": PROVIDER}, headers=auth(PROVIDER))
    assert mine.status_code == 200
    bad = client.get("/api/monitoring/fleet", params={"owner": "0x123"}, headers=auth(ADMIN))
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_input"


# -- /stats ---------------------------------------------------------------------------------


def test_stats_totals_the_callers_fleet(client, tables):
    online_worker(tables, hashrate=1000.0)
    online_worker(tables, hashrate=500.0, now=NOW - 600)  # silent: counted offline
    enrolled_worker(tables)
    leased_worker(tables)
    online_worker(tables, owner=OTHER, hashrate=9999.0)
    record_block(tables, 1, recorded_at=NOW - 60)
    record_block(tables, 2, owner=OTHER, account=PROVIDER)  # mined for us, not by our rigs
    record_block(tables, 3, recorded_at=NOW - 2 * DAY)  # too old
    record_block(tables, 4, owner=OTHER)

    body = client.get("/api/monitoring/stats", headers=auth(PROVIDER)).json()

    assert body["owner"] == PROVIDER
    assert (body["workers_total"], body["workers_online"], body["workers_offline"]) == (4, 2, 2)
    assert body["hashrate"] == 2000.0
    assert (body["gpus"], body["online_gpus"]) == (3, 2)
    assert body["leased_now"] == 1
    assert body["verified_blocks_24h"] == 1
    assert body["complete"] is True


# -- /hashrate-history ----------------------------------------------------------------------


def test_history_of_the_callers_fleet_defaults_to_the_last_day(client, tables, settings):
    online_worker(tables, hashrate=700.0)
    aggregate_fleet(tables, settings, NOW)
    put_point(tables, owner_series(PROVIDER), NOW - 2 * DAY, 1.0)  # outside the default window
    put_point(tables, owner_series(OTHER), NOW - 60, 5.0)

    body = client.get("/api/monitoring/hashrate-history", headers=auth(PROVIDER)).json()

    assert (body["start"], body["end"], body["owner"]) == (NOW - DAY, NOW, PROVIDER)
    assert [p["hashrate"] for p in body["points"]] == [700.0]
    assert body["points"][0]["values"]["online_workers"] == 1


def test_history_of_one_worker_pages_and_downsamples(client, tables):
    worker = online_worker(tables)
    stamps = [NOW - 3000 + i * 300 for i in range(6)]
    for i, ts in enumerate(stamps):
        put_point(tables, worker_series(worker.worker_id), ts, 100.0 * (i + 1))
    url = "/api/monitoring/hashrate-history"
    params: dict[str, Any] = {"worker_id": worker.worker_id, "start": NOW - 3600, "end": NOW}

    first = client.get(url, params={**params, "limit": 4}, headers=auth(PROVIDER)).json()
    assert len(first["points"]) == 4
    assert first["worker_id"] == worker.worker_id
    rest = client.get(
        url, params={**params, "limit": 4, "cursor": first["next_cursor"]}, headers=auth(PROVIDER)
    ).json()
    assert [p["hashrate"] for p in rest["points"]] == [500.0, 600.0]
    assert rest["next_cursor"] is None

    buckets = client.get(url, params={**params, "resolution": 3600}, headers=auth(PROVIDER)).json()
    hour = NOW - NOW % 3600
    assert stamps[0] < hour < stamps[-1]  # the window spans two hour buckets
    earlier = [ts for ts in stamps if ts < hour]
    assert [(b["ts"], b["samples"]) for b in buckets["points"]] == [
        (hour - 3600, len(earlier)),
        (hour, 6 - len(earlier)),
    ]
    assert sum(b["hashrate"] * b["samples"] for b in buckets["points"]) == 2100.0
    assert buckets["points"][0]["hashrate"] == 100.0 * (len(earlier) + 1) / 2


def test_another_owners_worker_history_is_not_found(client, tables):
    theirs = online_worker(tables, owner=OTHER)
    put_point(tables, worker_series(theirs.worker_id), NOW - 60, 5.0)
    response = client.get(
        "/api/monitoring/hashrate-history",
        params={"worker_id": theirs.worker_id},
        headers=auth(PROVIDER),
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    by_admin = client.get(
        "/api/monitoring/hashrate-history",
        params={"worker_id": theirs.worker_id},
        headers=auth(ADMIN),
    )
    assert [p["hashrate"] for p in by_admin.json()["points"]] == [5.0]


@pytest.mark.parametrize(
    "params",
    [
        {"start": NOW, "end": NOW - 1},
        {"start": NOW - 31 * DAY, "end": NOW},
        {"start": -1},
        {"resolution": 10},
        {"resolution": 300, "cursor": "abc"},
        {"worker_id": "bad id!"},
        {"cursor": "not-a-cursor"},
    ],
)
def test_history_refuses_bad_ranges(client, params):
    response = client.get("/api/monitoring/hashrate-history", params=params, headers=auth(PROVIDER))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_input"


# -- /blocks/recent -------------------------------------------------------------------------


def test_recent_blocks_are_public_newest_first_and_paged(client, tables):
    for n in range(5):
        record_block(tables, n, recorded_at=NOW - 100 * n)

    first = client.get("/api/monitoring/blocks/recent", params={"limit": 3})
    assert first.status_code == 200
    body = first.json()
    assert [b["hash"] for b in body["items"]] == [f"h{n:04d}XEN11abc" for n in range(3)]
    assert "key" not in body["items"][0]
    rest = client.get(
        "/api/monitoring/blocks/recent", params={"limit": 3, "cursor": body["next_cursor"]}
    ).json()
    assert [b["hash"] for b in rest["items"]] == ["h0003XEN11abc", "h0004XEN11abc"]


def test_my_recent_blocks_need_sign_in_and_are_mine(client, tables):
    record_block(tables, 1)
    record_block(tables, 2, owner=OTHER, account=PROVIDER)
    record_block(tables, 3, owner=OTHER)

    assert client.get("/api/monitoring/blocks/recent", params={"mine": True}).status_code == 401
    body = client.get(
        "/api/monitoring/blocks/recent", params={"mine": True}, headers=auth(PROVIDER)
    ).json()
    assert sorted(b["hash"] for b in body["items"]) == ["h0001XEN11abc", "h0002XEN11abc"]
