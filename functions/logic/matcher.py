"""Auto-match: the best verified value among available listings that meet a renter's criteria.

Candidates come from the price-ordered sparse index (cheapest advertised price per H/s
first), so the read cost is bounded by ``max_pages`` pages of ``page_size`` whatever the
size of the market: never a Scan. Among the first ``shortlist`` candidates the rank is the
*verified* price per H/s, the advertised price divided by the share of the advertised
hashrate the worker actually delivered on past leases; reputation breaks ties.

A listing whose worker has no settled lease yet (``delivery_ratio`` None, set by the
reputation job) has proved nothing: its advertised hashrate is only a claim, so it is
ranked as if it delivered ``UNPROVEN_TRUST`` of it, the same "unknown is neither good nor
bad" 0.5 the reputation score uses. An unproven rig thus wins only by being cheaper per
advertised H/s by more than half, or against proven rigs that delivered under half; its
first settled lease replaces the guess with what its shares proved.
"""

from __future__ import annotations

from dataclasses import dataclass

from functions.dal.listings import ListingRepository
from functions.dal.workers import WorkerRepository
from functions.logic.reputation import UNKNOWN_DELIVERY
from functions.models.market import Listing, ListingStatus

# The delivery assumed for a listing that no settled lease has measured yet.
UNPROVEN_TRUST = UNKNOWN_DELIVERY


@dataclass(frozen=True)
class Criteria:
    duration_sec: int
    gpu_model: str | None = None
    min_hashrate: float | None = None
    max_price_per_hour: int | None = None


def expected_delivery(listing: Listing) -> float:
    """The share of its advertised hashrate a renter can expect the listing to deliver:
    what it delivered on past leases, capped at 100% (the lease pays the advertised rate
    at most) and floored at 1%; ``UNPROVEN_TRUST`` while nothing is proven."""
    if listing.delivery_ratio is None:
        return UNPROVEN_TRUST
    return min(max(listing.delivery_ratio, 0.01), 1.0)


def verified_unit_price(listing: Listing) -> float:
    """Micro-credits per hour per H/s the renter can expect to get, not just what is
    advertised: a worker that delivered 80% on past leases costs 1/0.8 as much per H/s,
    an unproven one 1/UNPROVEN_TRUST as much."""
    return listing.price_per_hour / (listing.advertised_hashrate * expected_delivery(listing))


def rank_key(listing: Listing) -> tuple[float, float, str]:
    return (verified_unit_price(listing), -(listing.reputation_score or 0.0), listing.listing_id)


class Matcher:
    def __init__(
        self,
        listings: ListingRepository,
        workers: WorkerRepository,
        *,
        page_size: int = 50,
        max_pages: int = 4,
        shortlist: int = 20,
    ) -> None:
        self._listings = listings
        self._workers = workers
        self._page_size = page_size
        self._max_pages = max_pages
        self._shortlist = shortlist

    def candidates(self, criteria: Criteria, *, renter: str) -> list[Listing]:
        """Rentable listings meeting ``criteria``, best first (at most ``shortlist``)."""
        found: list[Listing] = []
        cursor: str | None = None
        for _ in range(self._max_pages):
            page = self._listings.cheapest_open(
                limit=self._page_size,
                cursor=cursor,
                gpu_model=criteria.gpu_model,
                min_hashrate=criteria.min_hashrate,
                max_price_per_hour=criteria.max_price_per_hour,
            )
            found += [listing for listing in page.items if _fits(listing, criteria, renter)]
            cursor = page.cursor
            if cursor is None or len(found) >= self._shortlist:
                break
        found = found[: self._shortlist]
        online = {
            w.worker_id
            for w in self._workers.get_many([listing.worker_id for listing in found])
            if w.online and not w.revoked
        }
        return sorted((lst for lst in found if lst.worker_id in online), key=rank_key)


def _fits(listing: Listing, criteria: Criteria, renter: str) -> bool:
    return (
        listing.status is ListingStatus.OPEN
        and listing.provider != renter
        and listing.min_duration_sec <= criteria.duration_sec <= listing.max_duration_sec
    )
