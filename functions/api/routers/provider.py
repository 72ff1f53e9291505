"""``/api/provider``: a provider's dashboard (rigs, listings, active leases) and earnings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from functions.api.auth import Context, CurrentPrincipal
from functions.logic.provider import MAX_EARNINGS_DAYS, dashboard, earnings
from functions.models.market import LeaseStatus, ListingStatus
from protocol.messages import WorkerState

router = APIRouter(prefix="/api/provider", tags=["provider"])


class WorkerSummary(BaseModel):
    worker_id: str
    name: str
    online: bool
    state: WorkerState
    gpu_model: str | None
    hashrate: float = Field(description="Last reported hashrate, H/s")
    last_seen: int | None
    listing_id: str | None


class ListingSummary(BaseModel):
    listing_id: str
    worker_id: str
    status: ListingStatus
    gpu_model: str | None
    price_per_hour: int = Field(description="Micro-credits per hour")
    advertised_hashrate: float
    lease_id: str | None


class LeaseSummary(BaseModel):
    lease_id: str
    worker_id: str
    renter: str
    status: LeaseStatus
    price_per_hour: int
    advertised_hashrate: float
    created_at: int
    ends_at: int
    max_cost: int = Field(description="Micro-credits in escrow for this lease")
    shares: int
    blocks: int


class Totals(BaseModel):
    workers_online: int
    hashrate_online: float = Field(description="Sum reported by the online rigs, H/s")
    hashrate_listed: float = Field(description="Advertised by listings open or leased, H/s")
    hashrate_leased: float = Field(description="Advertised by listings under an active lease")
    earnings_to_date: int = Field(description="Micro-credits paid out to you so far")
    earnings_complete: bool = Field(
        description="False when the ledger had more entries than one request reads: "
        "earnings_to_date is then a lower bound"
    )


class DashboardOut(BaseModel):
    workers: list[WorkerSummary] = Field(description="First page of your rigs")
    listings: list[ListingSummary] = Field(description="Your newest listings")
    active_leases: list[LeaseSummary] = Field(description="Active among your newest leases")
    totals: Totals
    more_workers: bool = Field(description="More rigs than shown: see GET /api/devices")
    more_listings: bool
    more_leases: bool


class DayOut(BaseModel):
    day: str = Field(description="UTC date, YYYY-MM-DD")
    payout: int = Field(description="Micro-credits paid to you that day")
    fee: int = Field(description="Micro-credits the platform withheld from those leases")
    leases: int = Field(description="Leases settled that day with a payout to you")


class EarningsOut(BaseModel):
    days: list[DayOut] = Field(description="Every day of the window, oldest first")
    total: int
    fee_withheld: int
    since: int = Field(description="Window start: UTC midnight, epoch seconds")
    complete: bool = Field(description="False when the window held more entries than one read")


@router.get("/dashboard")
def provider_dashboard(principal: CurrentPrincipal, context: Context) -> DashboardOut:
    board = dashboard(
        principal.address,
        workers=context.workers,
        listings=context.listings,
        leases=context.leases,
        ledger=context.ledger,
    )
    return DashboardOut(
        workers=[WorkerSummary.model_validate(w.model_dump()) for w in board.workers],
        listings=[ListingSummary.model_validate(x.model_dump()) for x in board.listings],
        active_leases=[LeaseSummary.model_validate(x.model_dump()) for x in board.active_leases],
        totals=Totals(
            workers_online=board.workers_online,
            hashrate_online=board.hashrate_online,
            hashrate_listed=board.hashrate_listed,
            hashrate_leased=board.hashrate_leased,
            earnings_to_date=board.earnings_to_date,
            earnings_complete=board.earnings_complete,
        ),
        more_workers=board.more_workers,
        more_listings=board.more_listings,
        more_leases=board.more_leases,
    )


@router.get("/earnings")
def provider_earnings(
    principal: CurrentPrincipal,
    context: Context,
    days: Annotated[
        int, Query(ge=1, le=MAX_EARNINGS_DAYS, description="Window in UTC days, today included")
    ] = 30,
) -> EarningsOut:
    """Payouts to you per UTC day, with the fees withheld, newest window of ``days`` days."""
    result = earnings(
        principal.address,
        now=context.clock(),
        days=days,
        ledger=context.ledger,
        leases=context.leases,
    )
    return EarningsOut(
        days=[DayOut.model_validate(d, from_attributes=True) for d in result.days],
        total=result.total,
        fee_withheld=result.fee_withheld,
        since=result.since,
        complete=result.complete,
    )
