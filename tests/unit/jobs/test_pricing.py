"""The price index: figures per GPU model and for the whole market, stored and read back."""

from __future__ import annotations

import statistics
from typing import Any

import pytest

from functions.dal import codec
from functions.dal.accounts import AccountRepository
from functions.dal.leases import LeaseRepository
from functions.dal.listings import ListingRepository, listing_item
from functions.dal.pagination import Page
from functions.dal.specs import LISTINGS
from functions.dal.tables import Tables
from functions.dal.telemetry import TelemetryRepository
from functions.logic.pricing import (
    ALL_MODELS,
    ModelPrice,
    PriceIndex,
    PriceIndexService,
    compute_index,
    price_per_khs_hour,
)
from functions.models.market import Lease, Listing
from tests.factories import NOW, RENTER, address, lease_for, open_listing

HOUR = 3600
HOUR_START = NOW - NOW % HOUR  # NOW is 40 minutes into its hour


def listing(price: int, *, hashrate: float = 1000.0, gpu: str | None = "RTX 4090") -> Listing:
    """An offer (not stored); at 1,000 H/s its price per kH/s-hour is its hourly price."""
    return Listing(
        listing_id=f"l-{price}-{gpu}",
        worker_id="w",
        provider=address(1),
        gpu_model=gpu,
        price_per_hour=price,
        advertised_hashrate=hashrate,
        created_at=NOW,
        updated_at=NOW,
    )


def lease(price: int, *, hashrate: float = 1000.0, gpu: str | None = "RTX 4090") -> Lease:
    return lease_for(listing(price, hashrate=hashrate, gpu=gpu)).model_copy(
        update={"gpu_model": gpu}
    )


def test_the_unit_is_micro_credits_per_khs_hour():
    assert price_per_khs_hour(3_000_000, 1000.0) == 3_000_000
    assert price_per_khs_hour(3_000_000, 2000.0) == 1_500_000
    assert price_per_khs_hour(1_000, 250.0) == 4_000


def test_the_index_gives_median_and_quartiles_per_model_and_for_the_market():
    offers = [listing(p) for p in (1_000_000, 2_000_000, 3_000_000, 4_000_000)]
    offers.append(listing(1_000_000, hashrate=2000.0, gpu="RTX 3090"))  # 500,000 per kH/s
    offers.append(listing(6_000_000, gpu=None))  # unknown model: the market only
    trades = [lease(5_000_000)]

    index = compute_index(offers, trades, NOW)

    assert index.ts == NOW
    assert index.models == {
        "RTX 4090": ModelPrice("RTX 4090", 3_000_000, 2_000_000, 4_000_000, 4, 1),
        "RTX 3090": ModelPrice("RTX 3090", 500_000, 500_000, 500_000, 1, 0),
        ALL_MODELS: ModelPrice(ALL_MODELS, 3_000_000, 1_500_000, 4_500_000, 6, 1),
    }


def test_the_quartiles_interpolate_like_numpy():
    prices = [3.0, 10.0, 1.0, 7.0, 4.0, 100.0, 12.0, 8.0]
    index = compute_index([listing(int(p * 1000), hashrate=1000.0) for p in prices], [], NOW)
    expected = statistics.quantiles([p * 1000 for p in prices], n=4, method="inclusive")
    market = index.models[ALL_MODELS]
    assert [market.p25, market.median, market.p75] == pytest.approx(expected)


def test_leases_alone_make_an_index_and_an_empty_market_none():
    index = compute_index([], [lease(2_000_000), lease(4_000_000)], NOW)
    assert index.models["RTX 4090"] == ModelPrice("RTX 4090", 3_000_000, 2_500_000, 3_500_000, 0, 2)
    assert compute_index([], [], NOW).models == {}


def test_a_model_without_prices_falls_back_to_the_whole_market():
    index = compute_index([listing(1_000_000), listing(3_000_000, gpu="H100")], [], NOW)
    assert index.for_model("H100") == index.models["H100"]
    assert index.for_model("RTX 5090") == index.models[ALL_MODELS]
    assert index.for_model(None) == index.models[ALL_MODELS]
    assert PriceIndex(ts=NOW, models={}).for_model("H100") is None


def test_an_index_survives_its_telemetry_point():
    index = compute_index(
        [listing(1_234_567, hashrate=777.7, gpu="RTX 4090 Ti (24 GB)"), listing(3_333_333)],
        [lease(2_000_001, hashrate=333.3)],
        NOW,
    )
    point = index.to_point(expires_at=NOW + 86_400)
    assert (point.ts, point.expires_at) == (NOW, NOW + 86_400)
    assert PriceIndex.from_point(point) == index


# -- the job: refresh, latest, history ----------------------------------------------------


def service_for(tables: Tables, **bounds: int) -> PriceIndexService:
    return PriceIndexService(
        ListingRepository(tables), LeaseRepository(tables), TelemetryRepository(tables), **bounds
    )


def rent(tables: Tables, offer: Listing, *, duration: int = HOUR) -> Lease:
    AccountRepository(tables).deposit(RENTER, 10**9, entry_id=f"fund-{offer.listing_id}", now=NOW)
    return LeaseRepository(tables).create(
        lease_for(offer, duration_sec=duration).model_copy(update={"gpu_model": offer.gpu_model}),
        offer,
    )


def test_refresh_stores_the_index_that_latest_reads_back(tables):
    for price in (1_000_000, 2_000_000, 3_000_000):
        open_listing(tables, price_per_hour=price)
    open_listing(tables, price_per_hour=800_000, hashrate=500.0, gpu="RTX 3090")
    rent(tables, open_listing(tables, price_per_hour=5_000_000))
    service = service_for(tables)

    index = service.refresh(NOW)

    assert index.models["RTX 4090"] == ModelPrice("RTX 4090", 2_500_000, 1_750_000, 3_500_000, 3, 1)
    assert index.models["RTX 3090"].median == 1_600_000
    assert (index.models[ALL_MODELS].listings, index.models[ALL_MODELS].leases) == (4, 1)
    assert service.latest(NOW + 60) == index


def test_latest_is_the_newest_refresh_and_none_once_too_old(tables):
    open_listing(tables, price_per_hour=1_000_000)
    service = service_for(tables)
    service.refresh(NOW)
    open_listing(tables, price_per_hour=3_000_000)
    newer = service.refresh(NOW + 300)

    assert service.latest(NOW + 301) == newer
    assert service.latest(NOW + 300 + 3600, max_age=3599) is None


def test_an_empty_market_stores_nothing(tables):
    service = service_for(tables)
    assert service.refresh(NOW).models == {}
    assert service.latest(NOW) is None
    assert service.history(NOW - 86_400, NOW + 86_400) == []


def test_history_keeps_the_last_index_of_each_hour_oldest_first(tables):
    service = service_for(tables)
    open_listing(tables, price_per_hour=1_000_000)
    service.refresh(NOW)
    open_listing(tables, price_per_hour=2_000_000)
    same_hour = service.refresh(NOW + 600)  # overwrites the hour's point
    open_listing(tables, price_per_hour=3_000_000)
    next_hour = service.refresh(NOW + HOUR)
    later = service.refresh(NOW + 2 * HOUR)

    history = service.history(HOUR_START, NOW + 2 * HOUR)

    assert [x.ts for x in history] == [HOUR_START, HOUR_START + HOUR, HOUR_START + 2 * HOUR]
    assert [x.models for x in history] == [same_hour.models, next_hour.models, later.models]
    assert [x.models[ALL_MODELS].listings for x in history] == [2, 3, 3]
    assert [x.ts for x in service.history(HOUR_START, NOW + 2 * HOUR, max_points=2)] == [
        HOUR_START,
        HOUR_START + HOUR,
    ]
    assert service.history(NOW + 3 * HOUR, NOW + 4 * HOUR) == []


def put_open_listing(tables: Tables, offer: Listing) -> None:
    """Store an open listing as ListingRepository does, minus the claim on a worker: a
    single put, where moto makes every transaction copy its tables (slow in bulk)."""
    tables.client.put_item(TableName=tables.name(LISTINGS), Item=codec.to_item(listing_item(offer)))


class CountingListings(ListingRepository):
    """Records the page sizes asked of ``cheapest_open``."""

    def __init__(self, tables: Tables) -> None:
        super().__init__(tables)
        self.limits: list[int] = []

    def cheapest_open(self, **query: Any) -> Page[Listing]:  # type: ignore[override]
        self.limits.append(query["limit"])
        return super().cheapest_open(**query)


def test_reads_are_bounded_whatever_the_market_size(tables):
    prices = [1_000_000 + 10_000 * i for i in range(130)]
    for price in reversed(prices):
        put_open_listing(tables, listing(price))
    for hours, price in enumerate((9_000_000, 9_100_000, 9_200_000), start=1):
        rent(tables, open_listing(tables, price_per_hour=price), duration=hours * HOUR)

    counting = CountingListings(tables)
    bounded = PriceIndexService(
        counting,
        LeaseRepository(tables),
        TelemetryRepository(tables),
        max_listings=50,
        max_leases=2,
    ).refresh(NOW)

    assert sum(counting.limits) <= 50
    market = bounded.models[ALL_MODELS]
    assert (market.listings, market.leases) == (50, 2)
    # The cheapest 50 offers and the two leases ending last.
    assert market.median == statistics.median([*prices[:50], 9_100_000, 9_200_000])

    whole = service_for(tables).refresh(NOW + 60).models[ALL_MODELS]
    assert (whole.listings, whole.leases) == (130, 3)  # more than one page of 100
