"""Providers offer their enrolled rigs' hashpower: create, reprice, pause, resume, delist.

Ownership is checked here; the repository's transactions keep a worker listed at most once
and refuse changes made on a stale read.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from functions.dal.listings import ListingRepository
from functions.dal.workers import WorkerRepository
from functions.errors import Conflict, InvalidInput, NotFound
from functions.logic.proofs import measured_by
from functions.models.market import Listing, ListingStatus
from functions.models.workers import Worker


def new_listing_id() -> str:
    return f"lst-{secrets.token_hex(8)}"


@dataclass(frozen=True)
class ListingTerms:
    price_per_hour: int
    advertised_hashrate: float | None = None  # None: the worker's measured hashrate
    min_duration_sec: int = 600
    max_duration_sec: int = 7 * 24 * 3600


class ListingService:
    def __init__(self, listings: ListingRepository, workers: WorkerRepository) -> None:
        self._listings = listings
        self._workers = workers

    def create(self, provider: str, worker_id: str, terms: ListingTerms, *, now: int) -> Listing:
        worker = self.owned_worker(provider, worker_id)
        if worker.revoked:
            raise Conflict(f"worker {worker_id} was revoked")
        hashrate = terms.advertised_hashrate
        if hashrate is None:
            if worker.hashrate <= 0:
                raise InvalidInput(
                    f"worker {worker_id} has no measured hashrate yet: give advertised_hashrate"
                )
            hashrate = worker.hashrate
        listing = Listing(
            listing_id=new_listing_id(),
            worker_id=worker_id,
            provider=provider,
            gpu_model=worker.gpu_model,
            measured_by=measured_by(worker.share_mode),
            price_per_hour=terms.price_per_hour,
            advertised_hashrate=hashrate,
            min_duration_sec=terms.min_duration_sec,
            max_duration_sec=terms.max_duration_sec,
            created_at=now,
            updated_at=now,
        )
        return self._listings.create(listing)

    def owned(self, provider: str, listing_id: str, *, is_admin: bool = False) -> Listing:
        """The listing if ``provider`` owns it; another's listing is "not found" to them."""
        listing = self._listings.get(listing_id)
        if listing is None or (listing.provider != provider and not is_admin):
            raise NotFound(f"listing {listing_id} not found")
        return listing

    def owned_worker(self, provider: str, worker_id: str) -> Worker:
        worker = self._workers.get(worker_id)
        if worker is None or worker.owner != provider:
            raise NotFound(f"worker {worker_id} not found")
        return worker

    def change(
        self,
        listing: Listing,
        *,
        now: int,
        status: ListingStatus | None = None,
        terms: dict[str, object] | None = None,
    ) -> Listing:
        """New terms and/or a new status (pause, resume = open, delist)."""
        if terms:
            listing = self._listings.update_terms(listing, now=now, **terms)
        if status is not None and status is not listing.status:
            listing = self._listings.set_status(listing, status, now=now)
        return listing
