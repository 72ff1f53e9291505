"""``GET /api/marketplace/estimate``: the blocks a lease may find at the network's current
difficulty (hashes × the chance a hash contains the block pattern)."""

from __future__ import annotations

import math

import pytest

from functions.dal.network import NetworkRepository
from functions.dal.workers import WorkerRepository
from functions.logic.network import observe
from functions.logic.proofs import block_outlook
from functions.logic.work import hashrate_at
from tests.api_client import auth
from tests.factories import NOW, PROVIDER, online_worker

# The tests' block pattern is "XEN": 3 of 64 base64 characters, at any of 86 - 3 + 1 = 84
# places of a hash, so a hash is a block with a chance of about 84 / 64**3 = 84 / 262,144.
XEN_ODDS = 84 / 64**3


def listed(client, tables, *, hashrate: float = 1000.0) -> tuple[str, str]:
    worker = online_worker(tables, hashrate=hashrate)
    body = {"worker_id": worker.worker_id, "price_per_hour": 3_600_000}
    response = client.post("/api/listings", json=body, headers=auth(PROVIDER))
    assert response.status_code == 201, response.text
    return worker.worker_id, response.json()["listing_id"]


def estimate(client, **params):
    response = client.get("/api/marketplace/estimate", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_estimate_adds_the_expected_blocks_of_a_listing(client, tables):
    _, listing_id = listed(client, tables)

    result = estimate(client, listing_id=listing_id, duration_sec=1800)

    # The rig measured 1,000 H/s at difficulty 8, the network's: 1.8 million hashes.
    assert result["max_cost"] == 1_800_000  # the existing fields stay
    assert result["network_difficulty"] == 8
    assert result["block_pattern"] == "XEN"
    assert result["hashrate_at_difficulty"] == 1000.0
    assert result["expected_hashes"] == 1_800_000
    assert result["block_probability"] == pytest.approx(XEN_ODDS, rel=1e-3)
    assert result["expected_blocks"] == pytest.approx(1_800_000 * XEN_ODDS, rel=1e-3)
    assert result["expected_blocks_uncertainty"] == pytest.approx(
        1 / math.sqrt(result["expected_blocks"])
    )


def test_a_harder_network_means_fewer_hashes_for_the_same_work(client, tables):
    worker_id, listing_id = listed(client, tables)
    # The network moved from 8 to 16 KiB since the rig measured 1,000 H/s: half the hashes.
    NetworkRepository(tables).save_state(observe(None, 16, NOW, fallback=8), expected_version=None)

    result = estimate(client, listing_id=listing_id, duration_sec=3600)

    assert result["network_difficulty"] == 16
    assert result["hashrate"] == 1000.0  # the listing's advertised figure, as before
    assert result["hashrate_at_difficulty"] == 500.0
    assert result["expected_blocks"] == pytest.approx(500 * 3600 * XEN_ODDS, rel=1e-3)
    # Its next heartbeat, at 16 KiB: 600 H/s measured there is its pace.
    WorkerRepository(tables).record_heartbeat(
        worker_id,
        hashrate=600.0,
        active_gpus=1,
        accepted_blocks=0,
        difficulty=16,
        uptime_sec=60,
        telemetry=None,
        now=NOW,
    )
    again = estimate(client, listing_id=listing_id, duration_sec=3600)
    assert again["hashrate_at_difficulty"] == 600.0
    assert again["expected_hashes"] == 600 * 3600


def test_a_hashrate_estimate_without_a_listing_still_has_its_blocks(client):
    result = estimate(client, hashrate=2000, duration_sec=600)

    assert result["listing_id"] is None
    assert result["max_cost"] is None
    assert result["expected_hashes"] == 1_200_000
    assert result["expected_blocks"] == pytest.approx(1_200_000 * XEN_ODDS, rel=1e-3)


def test_block_outlook_reuses_the_share_odds():
    xen11 = block_outlook(3000.0, 3600, "XEN11")

    # XEN11 on the network: 82 places, 64**-5 each.
    assert xen11.block_probability == pytest.approx(82 / 64**5, rel=1e-6)
    assert xen11.expected_blocks == pytest.approx(3000 * 3600 * 82 / 64**5, rel=1e-6)
    assert xen11.uncertainty == pytest.approx(1 / math.sqrt(xen11.expected_blocks or 0))
    # Only a test deployment's pattern can be longer than a share literal: not estimated.
    long = block_outlook(3000.0, 3600, "XEN11XEN11")
    assert (long.block_probability, long.expected_blocks, long.uncertainty) == (None, None, None)
    assert block_outlook(0.0, 3600, "XEN").uncertainty is None


def test_hashrate_moves_with_difficulty_by_work():
    assert hashrate_at(1000.0, 8, 16) == 500.0
    assert hashrate_at(1000.0, None, 16) == 1000.0
    assert hashrate_at(1000.0, 0, 16) == 1000.0
