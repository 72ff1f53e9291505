"""``/api/listings`` and ``/api/marketplace``: list a rig, change it, browse, estimate."""

from __future__ import annotations

import pytest

from functions.dal.workers import WorkerRepository
from functions.logic.jobs import Jobs
from tests.api_client import auth
from tests.factories import NOW, PROVIDER, RENTER, address, enrolled_worker, online_worker


def create(client, worker_id, owner=PROVIDER, **terms):
    body = {"worker_id": worker_id, "price_per_hour": 3_600_000, **terms}
    return client.post("/api/listings", json=body, headers=auth(owner))


def test_a_provider_lists_its_worker_at_its_measured_hashrate(client, tables):
    worker = online_worker(tables, hashrate=2500.0)

    response = create(client, worker.worker_id)

    assert response.status_code == 201, response.text
    listing = response.json()
    assert listing["advertised_hashrate"] == 2500.0
    assert listing["gpu_model"] == "RTX 4090"
    assert listing["status"] == "open"
    assert listing["price_per_khs_hour"] == pytest.approx(3_600_000 * 1000 / 2500)
    assert WorkerRepository(tables).require(worker.worker_id).listing_id == listing["listing_id"]


def test_listing_needs_a_hashrate_when_none_was_measured(client, tables):
    worker = enrolled_worker(tables)

    refused = create(client, worker.worker_id)
    given = create(client, worker.worker_id, advertised_hashrate=900.0)

    assert refused.status_code == 422
    assert "advertised_hashrate" in refused.json()["error"]["message"]
    assert given.status_code == 201


def test_another_providers_worker_cannot_be_listed(client, tables):
    worker = online_worker(tables, owner=address(77))

    response = create(client, worker.worker_id)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_worker_is_listed_once(client, tables):
    worker = online_worker(tables)
    assert create(client, worker.worker_id).status_code == 201

    again = create(client, worker.worker_id)

    assert again.status_code == 409
    assert again.json()["error"]["code"] == "worker_already_listed"


@pytest.mark.parametrize(
    "terms",
    [
        {"price_per_hour": 0},
        {"price_per_hour": 1.5},
        {"price_per_hour": "100"},
        {"min_duration_sec": 7200, "max_duration_sec": 3600},
        {"advertised_hashrate": -1},
        {"surprise": True},
    ],
)
def test_bad_terms_are_refused_in_the_one_format(client, tables, terms):
    worker = online_worker(tables)

    response = create(client, worker.worker_id, **terms)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_input"


def test_reprice_pause_resume_and_delist(client, tables):
    worker = online_worker(tables)
    listing_id = create(client, worker.worker_id).json()["listing_id"]
    url = f"/api/listings/{listing_id}"

    repriced = client.patch(url, json={"price_per_hour": 7_200_000}, headers=auth(PROVIDER))
    paused = client.patch(url, json={"status": "paused"}, headers=auth(PROVIDER))
    browse_paused = client.get("/api/marketplace").json()["items"]
    resumed = client.patch(url, json={"status": "open"}, headers=auth(PROVIDER))
    browse_open = client.get("/api/marketplace").json()["items"]
    delisted = client.delete(url, headers=auth(PROVIDER))

    assert repriced.json()["price_per_hour"] == 7_200_000
    assert paused.json()["status"] == "paused"
    assert browse_paused == []
    assert resumed.json()["status"] == "open"
    assert [i["listing_id"] for i in browse_open] == [listing_id]
    assert delisted.json()["status"] == "delisted"
    assert client.get(url).status_code == 404
    # The worker is free to be listed again.
    assert create(client, worker.worker_id).status_code == 201


def test_a_stale_version_is_refused(client, tables):
    worker = online_worker(tables)
    listing = create(client, worker.worker_id).json()
    url = f"/api/listings/{listing['listing_id']}"
    client.patch(url, json={"price_per_hour": 5_000_000}, headers=auth(PROVIDER))

    stale = client.patch(
        url,
        params={"version": listing["version"]},
        json={"price_per_hour": 1},
        headers=auth(PROVIDER),
    )

    assert stale.status_code == 409


def test_only_the_provider_changes_a_listing(client, tables):
    worker = online_worker(tables)
    listing_id = create(client, worker.worker_id).json()["listing_id"]
    url = f"/api/listings/{listing_id}"

    patched = client.patch(url, json={"price_per_hour": 1}, headers=auth(RENTER))
    deleted = client.delete(url, headers=auth(RENTER))

    assert (patched.status_code, deleted.status_code) == (404, 404)
    assert client.get(url).json()["price_per_hour"] == 3_600_000


def test_my_listings_page_with_a_cursor(client, tables):
    for _ in range(3):
        create(client, online_worker(tables).worker_id)

    first = client.get("/api/listings", params={"limit": 2}, headers=auth(PROVIDER)).json()
    second = client.get(
        "/api/listings", params={"limit": 2, "cursor": first["next_cursor"]}, headers=auth(PROVIDER)
    ).json()

    assert len(first["items"]) == 2
    assert len(second["items"]) == 1
    assert client.get("/api/listings", headers=auth(RENTER)).json()["items"] == []


def test_the_marketplace_is_cheapest_per_hs_first_and_filters(client, tables):
    cheap = online_worker(tables, hashrate=2000.0, gpu="H100")
    dear = online_worker(tables, hashrate=1000.0)
    small = online_worker(tables, hashrate=100.0)
    ids = {
        "cheap": create(client, cheap.worker_id).json()["listing_id"],
        "dear": create(client, dear.worker_id).json()["listing_id"],
        "small": create(client, small.worker_id, price_per_hour=100_000).json()["listing_id"],
    }

    everything = client.get("/api/marketplace").json()["items"]
    h100 = client.get("/api/marketplace", params={"gpu": "H100"}).json()["items"]
    big = client.get("/api/marketplace", params={"min_hashrate": 500}).json()["items"]
    affordable = client.get("/api/marketplace", params={"max_price": 200_000}).json()["items"]

    assert [i["listing_id"] for i in everything] == [ids["small"], ids["cheap"], ids["dear"]]
    assert all(i["online"] for i in everything)
    assert [i["listing_id"] for i in h100] == [ids["cheap"]]
    assert [i["listing_id"] for i in big] == [ids["cheap"], ids["dear"]]
    assert [i["listing_id"] for i in affordable] == [ids["small"]]


def test_estimate_for_a_listing_and_for_a_hashrate(client, tables):
    worker = online_worker(tables, hashrate=1000.0)
    listing_id = create(client, worker.worker_id).json()["listing_id"]

    for_listing = client.get(
        "/api/marketplace/estimate", params={"listing_id": listing_id, "duration_sec": 1800}
    ).json()
    matched = client.get(
        "/api/marketplace/estimate", params={"hashrate": 500, "duration_sec": 3600}
    ).json()
    neither = client.get("/api/marketplace/estimate", params={"duration_sec": 3600})

    assert for_listing["max_cost"] == 1_800_000
    assert for_listing["fee_included"] == 90_000  # 500 bp
    assert matched["listing_id"] == listing_id
    assert matched["max_cost"] == 3_600_000
    assert neither.status_code == 422


def test_price_index_and_suggestion_follow_the_market(client, tables, settings, publisher, clock):
    for hashrate, price in ((1000.0, 3_000_000), (1000.0, 4_000_000), (1000.0, 5_000_000)):
        worker = online_worker(tables, hashrate=hashrate, owner=address(90))
        create(client, worker.worker_id, owner=address(90), price_per_hour=price)
    mine = online_worker(tables, hashrate=2000.0)

    before = client.get(f"/api/workers/{mine.worker_id}/pricing/suggest", headers=auth(PROVIDER))
    Jobs(settings, tables, publisher).refresh_prices(NOW)
    index = client.get("/api/marketplace/price-index").json()
    after = client.get(f"/api/workers/{mine.worker_id}/pricing/suggest", headers=auth(PROVIDER))
    other = client.get(f"/api/workers/{mine.worker_id}/pricing/suggest", headers=auth(RENTER))

    assert before.json()["basis"] == "none"
    models = {m["gpu_model"]: m for m in index["models"]}
    assert models["RTX 4090"]["median"] == 4_000_000
    assert models["*"]["listings"] == 3
    assert index["history"][0]["median"] == 4_000_000
    suggestion = after.json()
    assert suggestion["basis"] == "gpu_model"
    assert suggestion["suggested_price_per_hour"] == 8_000_000  # 2 kH/s at 4 M per kH/s-hour
    assert other.status_code == 404


def test_reputation_is_public_and_broken_down(client, tables, settings, publisher):
    worker = online_worker(tables)

    unknown = client.get(f"/api/workers/{worker.worker_id}/reputation").json()
    Jobs(settings, tables, publisher).refresh_reputation(NOW + 86_400)
    known = client.get(f"/api/workers/{worker.worker_id}/reputation").json()

    assert unknown["score"] is None
    assert {p["name"] for p in known["parts"]} == {"delivery", "uptime", "leases", "blocks", "age"}
    assert known["score"] == pytest.approx(sum(p["points"] for p in known["parts"]), abs=0.05)
    assert client.get("/api/workers/nobody/reputation").status_code == 404
