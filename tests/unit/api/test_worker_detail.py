"""``GET /api/workers/{id}``: public figures for anyone signed in, more for the owner."""

from __future__ import annotations

import pytest

from functions.dal.accounts import AccountRepository
from functions.dal.leases import LeaseRepository
from functions.dal.workers import WorkerRepository
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
    open_listing,
)

ADMIN = address(1)
STRANGER = address(0x5EE)


@pytest.fixture
def client(settings, tables):
    context = api_context(settings.model_copy(update={"admin_addresses": (ADMIN,)}), tables)
    return client_for(context)


def heartbeat(tables, worker_id: str, *, now: int = NOW - 20) -> None:
    telemetry = [GpuTelemetry(index=0, hashrate=4321.0, temperature_c=66.0, power_w=310.0)]
    bring_online(
        tables,
        worker_id,
        version="2.1.0",
        hashrate=4321.0,
        accepted_blocks=7,
        uptime_sec=3600,
        telemetry=telemetry,
        now=now,
    )


def test_anyone_signed_in_sees_the_public_part(client, tables):
    worker = enrolled_worker(tables)
    heartbeat(tables, worker.worker_id)

    response = client.get(f"/api/workers/{worker.worker_id}", headers=auth(STRANGER))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["owner_view"] is None
    assert (body["online"], body["state"], body["hashrate"]) == (True, "AVAILABLE", 4321.0)
    assert body["gpus"] == [{"index": 0, "name": "RTX 4090", "memory_gb": 24, "bus_id": 1}]
    assert (body["accepted_blocks"], body["created_at"]) == (7, NOW)
    assert "telemetry" not in body
    assert "last_seen" not in body


@pytest.mark.parametrize("viewer", [PROVIDER, ADMIN])
def test_the_owner_and_admins_also_see_telemetry_and_the_active_lease(client, tables, viewer):
    listing = open_listing(tables)
    heartbeat(tables, listing.worker_id)
    AccountRepository(tables).deposit(RENTER, 10**9, entry_id="d", now=NOW)
    lease = LeaseRepository(tables).create(lease_for(listing), listing)

    body = client.get(f"/api/workers/{listing.worker_id}", headers=auth(viewer)).json()

    assert body["listing_id"] == listing.listing_id
    view = body["owner_view"]
    assert (view["last_seen"], view["seconds_silent"], view["offline"]) == (NOW - 20, 20, False)
    assert view["telemetry"][0]["power_w"] == 310.0
    assert view["version"] == "2.1.0"
    assert view["active_lease"]["lease_id"] == lease.lease_id
    assert view["active_lease"]["renter"] == RENTER


def test_an_owner_without_a_lease_sees_none(client, tables):
    worker = enrolled_worker(tables)
    body = client.get(f"/api/workers/{worker.worker_id}", headers=auth(PROVIDER)).json()
    assert body["owner_view"]["active_lease"] is None
    assert body["owner_view"]["offline"] is True
    assert body["owner_view"]["last_seen"] is None


def test_unknown_and_revoked_workers_are_not_found(client, tables):
    worker = enrolled_worker(tables)
    WorkerRepository(tables).revoke(worker.worker_id, now=NOW)
    for worker_id in ("no-such-worker", worker.worker_id):
        response = client.get(f"/api/workers/{worker_id}", headers=auth(PROVIDER))
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_worker_detail_needs_sign_in_and_a_valid_id(client, tables):
    worker = enrolled_worker(tables)
    assert client.get(f"/api/workers/{worker.worker_id}").status_code == 401
    bad = client.get("/api/workers/bad%20id", headers=auth(PROVIDER))
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_input"
