"""Renting hashpower: a listing by id, or the matcher's pick; stopping a lease early.

Creation is the repository's one transaction (escrow the maximum cost, mark the listing
leased, create the lease); only then is the rig told, with ``assign_task``. If that publish
fails the lease still stands: the rig gets its task again when it next registers.
"""

from __future__ import annotations

import hashlib
import secrets

from functions.dal.leases import LeaseRepository
from functions.dal.listings import ListingRepository
from functions.dal.workers import WorkerRepository
from functions.errors import (
    AlreadyExists,
    Conflict,
    InvalidInput,
    ListingUnavailable,
    NoMatch,
    NotFound,
)
from functions.logic.ingest import assign_task_for
from functions.logic.matcher import Criteria, Matcher
from functions.logic.network import NetworkView
from functions.logic.proofs import lease_pattern, measured_by
from functions.models.market import Lease, Listing, ListingStatus, new_lease
from functions.observability import logger
from functions.ports.devices import DeviceCommands
from functions.settings import Settings
from protocol.downlink import Release

# How many of the matcher's best candidates a rent tries when others win the race.
_MATCH_ATTEMPTS = 3


def lease_id_for(renter: str, idempotency_key: str | None) -> str:
    """A fresh id, or one derived from the client's idempotency key so a retried request
    collides with the lease it already made instead of renting twice."""
    if idempotency_key is None:
        return f"lse-{secrets.token_hex(8)}"
    digest = hashlib.sha256(f"{renter}\n{idempotency_key}".encode()).hexdigest()
    return f"lse-{digest[:16]}"


class LeaseService:
    def __init__(
        self,
        *,
        settings: Settings,
        leases: LeaseRepository,
        listings: ListingRepository,
        workers: WorkerRepository,
        commands: DeviceCommands,
        network: NetworkView | None = None,
    ) -> None:
        self._settings = settings
        # The network's current difficulty for assign_task (None: rules.difficulty).
        self._network = network
        self._leases = leases
        self._listings = listings
        self._workers = workers
        self._commands = commands
        self.matcher = Matcher(listings, workers)

    # -- renting ------------------------------------------------------------------------

    def rent_listing(
        self,
        renter: str,
        listing_id: str,
        duration_sec: int,
        *,
        now: int,
        idempotency_key: str | None = None,
    ) -> Lease:
        lease_id = lease_id_for(renter, idempotency_key)
        replay = self._replayed(lease_id, renter) if idempotency_key else None
        if replay is not None:
            return replay
        listing = self._listings.get(listing_id)
        if listing is None:
            raise NotFound(f"listing {listing_id} not found")
        self._check_rentable(listing, renter, duration_sec)
        return self._create(listing, renter, duration_sec, lease_id, now)

    def rent_matching(
        self, renter: str, criteria: Criteria, *, now: int, idempotency_key: str | None = None
    ) -> Lease:
        lease_id = lease_id_for(renter, idempotency_key)
        replay = self._replayed(lease_id, renter) if idempotency_key else None
        if replay is not None:
            return replay
        candidates = self.matcher.candidates(criteria, renter=renter)
        for listing in candidates[:_MATCH_ATTEMPTS]:
            try:
                return self._create(listing, renter, criteria.duration_sec, lease_id, now)
            except ListingUnavailable:
                continue  # another renter won this one: take the next best
        raise NoMatch("no available listing matches these criteria")

    def _check_rentable(self, listing: Listing, renter: str, duration_sec: int) -> None:
        if listing.provider == renter:
            raise Conflict("you cannot rent your own listing")
        if listing.status is not ListingStatus.OPEN:
            raise ListingUnavailable(f"listing {listing.listing_id} is {listing.status}")
        if not listing.min_duration_sec <= duration_sec <= listing.max_duration_sec:
            raise InvalidInput(
                f"duration_sec must be within {listing.min_duration_sec}"
                f"..{listing.max_duration_sec} for this listing"
            )
        worker = self._workers.get(listing.worker_id)
        if worker is None or worker.revoked or not worker.online:
            raise ListingUnavailable(f"worker {listing.worker_id} is offline")

    def _create(
        self, listing: Listing, renter: str, duration_sec: int, lease_id: str, now: int
    ) -> Lease:
        worker = self._workers.get(listing.worker_id)
        share_mode = worker.share_mode if worker is not None else None
        pattern = lease_pattern(
            share_mode,
            listing.advertised_hashrate,
            self._settings.share_interval_seconds,
            self._settings.rules.block_pattern,
        )
        lease = new_lease(
            listing,
            lease_id=lease_id,
            renter=renter,
            share_pattern=str(pattern),
            measured_by=measured_by(share_mode),
            fee_bp=self._settings.fee_bp,
            duration_sec=duration_sec,
            now=now,
        )
        try:
            self._leases.create(lease, listing)
        except AlreadyExists:
            # The same idempotency key raced with itself: the first one made the lease.
            existing = self._replayed(lease_id, renter)
            if existing is None:
                raise
            return existing
        self._tell_rig(lease, now)
        return lease

    def _replayed(self, lease_id: str, renter: str) -> Lease | None:
        existing = self._leases.get(lease_id)
        if existing is not None and existing.renter != renter:
            raise Conflict("idempotency key already used")  # astronomically unlikely
        return existing

    def _tell_rig(self, lease: Lease, now: int) -> None:
        difficulty = (
            self._network.difficulty()
            if self._network is not None
            else self._settings.rules.difficulty
        )
        task = assign_task_for(lease, difficulty, now)
        try:
            self._commands.task(lease.worker_id, task)
        except Exception:
            logger.warning(
                "assign_task not published; the rig gets it on its next register",
                extra={"lease_id": lease.lease_id, "worker_id": lease.worker_id},
                exc_info=True,
            )

    # -- reading and stopping -----------------------------------------------------------

    def visible(self, lease_id: str, caller: str, *, is_admin: bool = False) -> Lease:
        """The lease if the caller is its renter or provider (or an admin): anyone else is
        told it does not exist."""
        lease = self._leases.get(lease_id)
        if lease is None or not (is_admin or caller in (lease.renter, lease.provider)):
            raise NotFound(f"lease {lease_id} not found")
        return lease

    def stop(self, lease_id: str, renter: str, *, now: int) -> Lease:
        """End an active lease now; the settlement job settles it on its next run."""
        lease = self._leases.get(lease_id)
        if lease is None or lease.renter != renter:
            raise NotFound(f"lease {lease_id} not found")
        stopped = self._leases.stop(lease_id, renter=renter, now=now)
        try:
            self._commands.task(lease.worker_id, Release(lease_id=lease_id))
        except Exception:
            logger.warning(
                "release not published",
                extra={"lease_id": lease_id, "worker_id": lease.worker_id},
                exc_info=True,
            )
        return stopped
