"""The market price index: what hashpower costs, per GPU model, in micro-credits per kH/s-hour.

Computed every few minutes from the cheapest open listings (the offer side) and the active
leases (what renters actually pay), and stored as one point of the telemetry series
``price-index``, so the latest index is one Query and its history a range Query. Reads are
bounded: at most ``max_listings`` offers and ``max_leases`` leases whatever the market size.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from functions.dal.leases import LeaseRepository
from functions.dal.listings import ListingRepository
from functions.dal.telemetry import TelemetryRepository
from functions.models.market import Lease, Listing
from functions.models.telemetry import TelemetryPoint

PRICE_INDEX_SERIES = "price-index"
# The last index of each hour, for charts over days (a handful of points instead of
# thousands); refreshes within the hour overwrite it.
PRICE_INDEX_HOURLY = "price-index-hourly"
_HOUR = 3600
ALL_MODELS = "*"  # the scope of the whole market
_SEP = "|"  # value keys are "<scope>|<figure>"; GPU model names never contain it
_FIGURES = ("median", "p25", "p75", "listings", "leases")
_RETENTION_SECONDS = 90 * 86_400


def price_per_khs_hour(price_per_hour: int, hashrate: float) -> float:
    """Micro-credits per hour for 1,000 H/s: the unit the index and suggestions use."""
    return price_per_hour * 1000.0 / hashrate


@dataclass(frozen=True)
class ModelPrice:
    scope: str  # a GPU model, or "*" for the whole market
    median: float
    p25: float
    p75: float
    listings: int
    leases: int


@dataclass(frozen=True)
class PriceIndex:
    ts: int
    models: dict[str, ModelPrice]

    def for_model(self, gpu_model: str | None) -> ModelPrice | None:
        """The model's prices, or the whole market's when the model has none."""
        if gpu_model and gpu_model in self.models:
            return self.models[gpu_model]
        return self.models.get(ALL_MODELS)

    def to_point(self, expires_at: int) -> TelemetryPoint:
        values: dict[str, float] = {}
        for scope, price in self.models.items():
            for figure in _FIGURES:
                values[f"{scope}{_SEP}{figure}"] = float(getattr(price, figure))
        return TelemetryPoint(
            series=PRICE_INDEX_SERIES, ts=self.ts, values=values, expires_at=expires_at
        )

    @classmethod
    def from_point(cls, point: TelemetryPoint) -> PriceIndex:
        figures: dict[str, dict[str, float]] = defaultdict(dict)
        for key, value in point.values.items():
            scope, _, figure = key.rpartition(_SEP)
            figures[scope][figure] = value
        models = {
            scope: ModelPrice(
                scope=scope,
                median=f["median"],
                p25=f["p25"],
                p75=f["p75"],
                listings=int(f["listings"]),
                leases=int(f["leases"]),
            )
            for scope, f in figures.items()
            if set(_FIGURES) <= set(f)
        }
        return cls(ts=point.ts, models=models)


def compute_index(listings: Iterable[Listing], leases: Iterable[Lease], now: int) -> PriceIndex:
    offers: dict[str, list[float]] = defaultdict(list)
    trades: dict[str, list[float]] = defaultdict(list)
    for listing in listings:
        price = price_per_khs_hour(listing.price_per_hour, listing.advertised_hashrate)
        offers[ALL_MODELS].append(price)
        if listing.gpu_model:
            offers[listing.gpu_model].append(price)
    for lease in leases:
        price = price_per_khs_hour(lease.price_per_hour, lease.advertised_hashrate)
        trades[ALL_MODELS].append(price)
        if lease.gpu_model:
            trades[lease.gpu_model].append(price)
    models = {}
    for scope in set(offers) | set(trades):
        prices = sorted(offers[scope] + trades[scope])
        models[scope] = ModelPrice(
            scope=scope,
            median=statistics.median(prices),
            p25=_quantile(prices, 0.25),
            p75=_quantile(prices, 0.75),
            listings=len(offers[scope]),
            leases=len(trades[scope]),
        )
    return PriceIndex(ts=now, models=models)


def _quantile(ordered: list[float], q: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default method)."""
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class PriceIndexService:
    def __init__(
        self,
        listings: ListingRepository,
        leases: LeaseRepository,
        telemetry: TelemetryRepository,
        *,
        max_listings: int = 500,
        max_leases: int = 500,
    ) -> None:
        self._listings = listings
        self._leases = leases
        self._telemetry = telemetry
        self._max_listings = max_listings
        self._max_leases = max_leases

    def refresh(self, now: int) -> PriceIndex:
        """Compute the index from the market as it is and store it as the latest point."""
        offers: list[Listing] = []
        cursor: str | None = None
        while len(offers) < self._max_listings:
            page = self._listings.cheapest_open(
                limit=min(100, self._max_listings - len(offers)), cursor=cursor
            )
            offers += page.items
            cursor = page.cursor
            if cursor is None:
                break
        leases = self._leases.active(limit=self._max_leases)
        index = compute_index(offers, leases, now)
        if index.models:
            point = index.to_point(expires_at=now + _RETENTION_SECONDS)
            hourly = point.model_copy(
                update={"series": PRICE_INDEX_HOURLY, "ts": now - now % _HOUR}
            )
            self._telemetry.put_many([point, hourly])
        return index

    def latest(self, now: int, *, max_age: int = 86_400) -> PriceIndex | None:
        point = self._telemetry.latest(PRICE_INDEX_SERIES, since=now - max_age)
        return PriceIndex.from_point(point) if point is not None else None

    def history(self, start: int, end: int, *, max_points: int = 24 * 90) -> list[PriceIndex]:
        """Hourly indexes between ``start`` and ``end``, oldest first."""
        points: list[TelemetryPoint] = []
        cursor: str | None = None
        while len(points) < max_points:
            page = self._telemetry.history(
                PRICE_INDEX_HOURLY,
                start,
                end,
                limit=min(200, max_points - len(points)),
                cursor=cursor,
            )
            points += page.items
            cursor = page.cursor
            if cursor is None:
                break
        return [PriceIndex.from_point(p) for p in points]
