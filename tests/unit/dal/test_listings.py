from __future__ import annotations

import pytest

from functions.dal.listings import ListingRepository
from functions.dal.workers import WorkerRepository
from functions.errors import Conflict, InvalidInput, WorkerAlreadyListed
from functions.models.market import Listing, ListingStatus
from tests.factories import NOW, PROVIDER, RENTER, enrolled_worker, listing_of, open_listing


@pytest.fixture
def listings(tables):
    return ListingRepository(tables)


def _listing(worker_id: str, owner: str = PROVIDER, listing_id: str = "lst") -> Listing:
    return listing_of(
        worker_id, owner=owner, listing_id=listing_id, price_per_hour=1_000_000, hashrate=500.0
    )


def test_a_worker_is_listed_once_and_only_by_its_owner(tables, listings):
    worker = enrolled_worker(tables)
    with pytest.raises(WorkerAlreadyListed):
        listings.create(_listing(worker.worker_id, owner=RENTER))
    listings.create(_listing(worker.worker_id))
    with pytest.raises(WorkerAlreadyListed):
        listings.create(_listing(worker.worker_id, listing_id="second"))
    assert listings.get("second") is None
    assert WorkerRepository(tables).require(worker.worker_id).listing_id == "lst"


def test_cheapest_open_orders_by_price_per_hashrate_and_filters(tables, listings):
    pricey = open_listing(tables, price_per_hour=2_000_000, hashrate=1000.0)
    cheap = open_listing(tables, price_per_hour=3_000_000, hashrate=3000.0)
    other_gpu = open_listing(tables, price_per_hour=100_000, hashrate=1000.0, gpu="H100")
    all_open = listings.cheapest_open(limit=10).items
    assert [x.listing_id for x in all_open] == [
        other_gpu.listing_id,
        cheap.listing_id,
        pricey.listing_id,
    ]
    rtx = listings.cheapest_open(limit=10, gpu_model="RTX 4090").items
    assert [x.listing_id for x in rtx] == [cheap.listing_id, pricey.listing_id]
    strong = listings.cheapest_open(limit=10, min_hashrate=2000).items
    assert [x.listing_id for x in strong] == [cheap.listing_id]
    affordable = listings.cheapest_open(limit=10, max_price_per_hour=2_500_000).items
    assert [x.listing_id for x in affordable] == [other_gpu.listing_id, pricey.listing_id]


def test_cheapest_open_pages_with_cursor(tables, listings):
    made = [open_listing(tables, price_per_hour=1_000_000 + i) for i in range(5)]
    ids, cursor = [], None
    while True:
        page = listings.cheapest_open(limit=2, cursor=cursor)
        ids += [x.listing_id for x in page.items]
        if page.cursor is None:
            break
        cursor = page.cursor
    assert ids == [x.listing_id for x in made]
    with pytest.raises(InvalidInput):
        listings.cheapest_open(limit=2, cursor="not-a-cursor")


def test_pause_resume_and_delist_move_the_listing_in_and_out_of_the_market(tables, listings):
    listing = open_listing(tables)
    paused = listings.set_status(listing, ListingStatus.PAUSED, now=NOW + 1)
    assert listings.cheapest_open(limit=10).items == []
    resumed = listings.set_status(paused, ListingStatus.OPEN, now=NOW + 2)
    assert [x.listing_id for x in listings.cheapest_open(limit=10).items] == [listing.listing_id]
    listings.set_status(resumed, ListingStatus.DELISTED, now=NOW + 3)
    assert listings.cheapest_open(limit=10).items == []
    assert WorkerRepository(tables).require(listing.worker_id).listing_id is None


def test_a_stale_write_is_refused(tables, listings):
    listing = open_listing(tables)
    listings.update_terms(listing, now=NOW + 1, price_per_hour=5_000_000)
    with pytest.raises(Conflict):
        listings.set_status(listing, ListingStatus.PAUSED, now=NOW + 2)  # read before the change
    stored = listings.require(listing.listing_id)
    assert (stored.status, stored.price_per_hour, stored.version) == (
        ListingStatus.OPEN,
        5_000_000,
        1,
    )


def test_terms_change_reorders_the_market(tables, listings):
    a = open_listing(tables, price_per_hour=1_000_000)
    b = open_listing(tables, price_per_hour=2_000_000)
    listings.update_terms(a, now=NOW + 1, price_per_hour=3_000_000)
    assert [x.listing_id for x in listings.cheapest_open(limit=10).items] == [
        b.listing_id,
        a.listing_id,
    ]
    with pytest.raises(InvalidInput):
        listings.update_terms(b, now=NOW, status="leased")
