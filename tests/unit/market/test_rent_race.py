"""50 renters race for one listing: exactly one lease, 49 clean 409s, losers untouched."""

from __future__ import annotations

import threading
from collections import Counter

from functions.dal.accounts import AccountRepository
from functions.dal.listings import ListingRepository
from tests.api_client import auth
from tests.factories import address, online_worker
from tests.unit.market.conftest import fund

RENTERS = [address(0x1000 + n) for n in range(50)]
FUNDS = 100_000_000


def test_fifty_concurrent_rents_of_one_listing_make_exactly_one_lease(client, tables):
    worker = online_worker(tables)
    listing = client.post(
        "/api/listings",
        json={"worker_id": worker.worker_id, "price_per_hour": 3_600_000},
        headers=auth(worker.owner),
    ).json()
    for renter in RENTERS:
        fund(tables, renter, FUNDS)
    start = threading.Barrier(len(RENTERS))
    responses: dict[str, object] = {}

    def attempt(renter: str) -> None:
        start.wait()
        responses[renter] = client.post(
            "/api/leases",
            json={"listing_id": listing["listing_id"], "duration_sec": 3600},
            headers=auth(renter),
        )

    threads = [threading.Thread(target=attempt, args=(r,)) for r in RENTERS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    statuses = Counter(r.status_code for r in responses.values())  # type: ignore[attr-defined]
    assert statuses == {201: 1, 409: 49}
    winner = next(r for r, resp in responses.items() if resp.status_code == 201)  # type: ignore[attr-defined]
    codes = {resp.json()["error"]["code"] for resp in responses.values() if resp.status_code == 409}  # type: ignore[attr-defined]
    assert codes == {"listing_unavailable"}
    accounts = AccountRepository(tables)
    for renter in RENTERS:
        expected = FUNDS - 3_600_000 if renter == winner else FUNDS
        assert accounts.get(renter).balance == expected
    stored = ListingRepository(tables).require(listing["listing_id"])
    assert stored.status == "leased"
    assert stored.lease_id == responses[winner].json()["lease_id"]  # type: ignore[attr-defined]
