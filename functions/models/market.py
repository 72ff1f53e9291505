"""Listings (offers of a worker's hashpower) and leases (rentals of a listing)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StrictInt, model_validator

from functions.models.base import Record
from functions.models.money import BasisPoints, Micro
from protocol.downlink import MeasuredBy
from protocol.xenblocks import new_prefix

# H/s; a floor keeps prices per H/s (a Decimal sort key) finite and DynamoDB-storable.
MIN_HASHRATE = 0.001
PositiveHashrate = Annotated[float, Field(ge=MIN_HASHRATE, le=1e12)]
Seconds = Annotated[StrictInt, Field(gt=0)]


class ListingStatus(StrEnum):
    OPEN = "open"
    LEASED = "leased"
    PAUSED = "paused"
    DELISTED = "delisted"


class Listing(Record):
    listing_id: str
    worker_id: str
    provider: str
    gpu_model: str | None = None
    # What a lease on it counts as delivered work (logic/proofs.py), from the rig's register.
    measured_by: MeasuredBy = "shares"
    price_per_hour: Annotated[Micro, Field(gt=0)]
    advertised_hashrate: PositiveHashrate
    min_duration_sec: Seconds = 600
    max_duration_sec: Seconds = 7 * 24 * 3600
    status: ListingStatus = ListingStatus.OPEN
    lease_id: str | None = None
    # A pause or delist asked for while leased, applied when the lease is settled.
    after_lease: ListingStatus | None = None
    created_at: StrictInt
    updated_at: StrictInt
    # Bumped by every write, so a change based on a stale read is refused.
    version: StrictInt = 0
    # Copied from the worker's reputation by the reputation job (no version bump: it does
    # not change the terms a renter agreed to). The matcher ranks by them.
    reputation_score: Annotated[float, Field(ge=0, le=100)] | None = None
    delivery_ratio: Annotated[float, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _durations_ordered(self) -> Listing:
        if self.min_duration_sec > self.max_duration_sec:
            raise ValueError("min_duration_sec must not exceed max_duration_sec")
        return self

    @property
    def unit_price(self) -> Decimal:
        """Micro-credits per hour per H/s: the marketplace's sort key (not an amount)."""
        price = Decimal(self.price_per_hour) / Decimal(repr(self.advertised_hashrate))
        return price.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


class LeaseStatus(StrEnum):
    ACTIVE = "active"
    SETTLED = "settled"


class Lease(Record):
    lease_id: str
    listing_id: str
    worker_id: str
    provider: str
    renter: str
    gpu_model: str | None = None  # the listing's, for the price index
    prefix: str
    share_pattern: str
    price_per_hour: Micro
    advertised_hashrate: PositiveHashrate
    fee_bp: BasisPoints
    duration_sec: Seconds
    created_at: StrictInt
    ends_at: StrictInt
    # What the renter put in escrow (the maximum cost) and what is still held.
    max_cost: Micro
    escrow: Micro
    status: LeaseStatus = LeaseStatus.ACTIVE
    stopped_at: StrictInt | None = None
    settled_at: StrictInt | None = None
    # Verified delivery: shares and the hashes they stand for (expected value).
    shares: StrictInt = 0
    share_work: Annotated[float, Field(ge=0)] = 0.0
    # What counts as the rig's proofs (logic/proofs.py): shares, or its verified blocks.
    measured_by: MeasuredBy = "shares"
    blocks: StrictInt = 0
    # The split of the escrow at settlement.
    payout: Micro = 0
    fee: Micro = 0
    refund: Micro = 0

    @property
    def is_active(self) -> bool:
        return self.status is LeaseStatus.ACTIVE

    def is_running(self, now: int) -> bool:
        """Whether the rig should be mining for it now: active, not stopped, not past its
        end (a stopped or ended lease stays active until the settle job settles it)."""
        return self.is_active and self.stopped_at is None and now < self.ends_at

    @property
    def elapsed_sec(self) -> int:
        """How long the lease ran (to its end, or to when it was stopped)."""
        return max(self.ends_at - self.created_at, 0)

    @property
    def delivered_hashrate(self) -> float:
        """Hashes per second proven by verified shares over the time the lease ran."""
        return self.share_work / self.elapsed_sec if self.elapsed_sec else 0.0


def max_cost(price_per_hour: int, duration_sec: int) -> int:
    """What a lease can cost at most, rounded up to the micro-credit."""
    return -(-price_per_hour * duration_sec // 3600)


def new_lease(
    listing: Listing,
    *,
    lease_id: str,
    renter: str,
    share_pattern: str,
    fee_bp: int,
    duration_sec: int,
    now: int,
    measured_by: MeasuredBy = "shares",
) -> Lease:
    """A lease of ``listing`` on its current terms, from ``now`` for ``duration_sec``, under
    a new prefix, its maximum cost held in escrow: what renting creates."""
    cost = max_cost(listing.price_per_hour, duration_sec)
    return Lease(
        lease_id=lease_id,
        listing_id=listing.listing_id,
        worker_id=listing.worker_id,
        provider=listing.provider,
        renter=renter,
        gpu_model=listing.gpu_model,
        prefix=new_prefix(),
        share_pattern=share_pattern,
        measured_by=measured_by,
        price_per_hour=listing.price_per_hour,
        advertised_hashrate=listing.advertised_hashrate,
        fee_bp=fee_bp,
        duration_sec=duration_sec,
        created_at=now,
        ends_at=now + duration_sec,
        max_cost=cost,
        escrow=cost,
    )
