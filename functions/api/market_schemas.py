"""Bodies the marketplace routers share: a listing and a lease as the API shows them."""

from __future__ import annotations

from pydantic import BaseModel, Field

from functions.logic.pricing import price_per_khs_hour
from functions.logic.proofs import uncertainty
from functions.models.market import Lease, LeaseStatus, Listing, ListingStatus
from protocol.downlink import MeasuredBy
from protocol.shares import SharePattern


class ListingOut(BaseModel):
    listing_id: str
    worker_id: str
    provider: str
    gpu_model: str | None
    measured_by: MeasuredBy = Field(
        description="What a lease counts as delivered work: the rig's verified shares, or "
        "(a rig that sends none) its verified blocks"
    )
    hourly_uncertainty: float | None = Field(
        description="Relative standard deviation of an hour's delivered-work estimate at "
        "the advertised hashrate, when measured by blocks (1.0 = ±100%)"
    )
    price_per_hour: int = Field(description="Micro-credits per hour")
    advertised_hashrate: float = Field(description="H/s")
    price_per_khs_hour: float = Field(description="Micro-credits per hour per 1,000 H/s")
    min_duration_sec: int
    max_duration_sec: int
    status: ListingStatus
    lease_id: str | None
    after_lease: ListingStatus | None
    reputation_score: float | None
    delivery_ratio: float | None = Field(
        description="Delivered / advertised hashrate on past leases (verified shares)"
    )
    online: bool | None = Field(default=None, description="The worker's state, where read")
    created_at: int
    updated_at: int
    version: int

    @classmethod
    def of(cls, listing: Listing, *, online: bool | None = None) -> ListingOut:
        return cls(
            **listing.model_dump(exclude={"unit_price"}),
            price_per_khs_hour=round(
                price_per_khs_hour(listing.price_per_hour, listing.advertised_hashrate), 3
            ),
            online=online,
            hourly_uncertainty=_hourly_uncertainty(listing),
        )


def _hourly_uncertainty(listing: Listing) -> float | None:
    if listing.measured_by != "blocks":
        return None  # shares come about once a minute: a lease's estimate is close
    blocks = SharePattern("XEN11")  # the network's block pattern
    return round(uncertainty(blocks, listing.advertised_hashrate, 3600), 3)


class LeaseOut(BaseModel):
    lease_id: str
    listing_id: str
    worker_id: str
    provider: str
    renter: str
    gpu_model: str | None
    status: LeaseStatus
    prefix: str = Field(description="Every key mined for this lease starts with it")
    share_pattern: str
    measured_by: MeasuredBy = Field(description="Verified shares, or verified blocks")
    price_per_hour: int
    advertised_hashrate: float
    delivered_hashrate: float = Field(description="H/s proven by verified shares so far")
    fee_bp: int
    duration_sec: int
    created_at: int
    ends_at: int
    stopped_at: int | None
    settled_at: int | None
    max_cost: int
    escrow: int
    shares: int
    blocks: int
    payout: int
    fee: int
    refund: int

    @classmethod
    def of(cls, lease: Lease, *, now: int | None = None) -> LeaseOut:
        # While a lease runs, delivery so far is shares over the time elapsed so far.
        delivered = lease.delivered_hashrate
        if lease.is_active and now is not None and now < lease.ends_at:
            elapsed = max(now - lease.created_at, 1)
            delivered = lease.share_work / elapsed
        return cls(
            **lease.model_dump(exclude={"share_work"}),
            delivered_hashrate=round(delivered, 3),
        )
