"""``/api/leases``: rent hashpower (a listing, or the matcher's pick), follow it, stop it."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query
from pydantic import Field, StrictInt, model_validator

from functions.api.auth import Context, CurrentPrincipal
from functions.api.market_schemas import LeaseOut
from functions.api.schemas import ID_PATTERN, Body, Cursor, Limit, PageOut
from functions.dal.pagination import clamp_limit
from functions.logic.leasing import LeaseService
from functions.logic.matcher import Criteria
from functions.models.blocks import Block
from functions.models.market import MIN_HASHRATE

router = APIRouter(prefix="/api/leases", tags=["leases"])

LeaseId = Annotated[str, Path(pattern=ID_PATTERN)]


class MatchCriteria(Body):
    gpu_model: str | None = Field(default=None, min_length=1, max_length=64)
    min_hashrate: float | None = Field(default=None, ge=MIN_HASHRATE, le=1e12, description="H/s")
    max_price_per_hour: StrictInt | None = Field(
        default=None, gt=0, le=10**15, description="Micro-credits per hour"
    )


class RentRequest(Body):
    """Either ``listing_id`` (rent that listing) or ``criteria`` (rent the best verified
    price per H/s among available listings meeting them)."""

    listing_id: str | None = Field(default=None, pattern=ID_PATTERN)
    criteria: MatchCriteria | None = None
    duration_sec: StrictInt = Field(ge=60, le=90 * 86_400, description="Seconds")

    @model_validator(mode="after")
    def _one_way(self) -> RentRequest:
        if (self.listing_id is None) == (self.criteria is None):
            raise ValueError("give either listing_id or criteria")
        return self


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description="Retries with the same key return the same lease instead of renting twice",
    ),
]


def service(context: Context) -> LeaseService:
    return LeaseService(
        settings=context.settings,
        leases=context.leases,
        listings=context.listings,
        workers=context.workers,
        commands=context.commands,
        network=context.network,
    )


@router.post("", status_code=201)
def rent(
    body: RentRequest,
    principal: CurrentPrincipal,
    context: Context,
    idempotency_key: IdempotencyKey = None,
) -> LeaseOut:
    """Escrows the maximum cost, marks the listing leased and sends the rig its task, in one
    step: 409 if the listing was taken or changed, 402 without the funds, 404 no match."""
    now = context.clock()
    leasing = service(context)
    if body.listing_id is not None:
        lease = leasing.rent_listing(
            principal.address,
            body.listing_id,
            body.duration_sec,
            now=now,
            idempotency_key=idempotency_key,
        )
    else:
        assert body.criteria is not None  # the validator's guarantee
        criteria = Criteria(duration_sec=body.duration_sec, **body.criteria.model_dump())
        lease = leasing.rent_matching(
            principal.address, criteria, now=now, idempotency_key=idempotency_key
        )
    return LeaseOut.of(lease, now=now)


@router.get("")
def list_leases(
    principal: CurrentPrincipal,
    context: Context,
    role: Annotated[
        Literal["renter", "provider"],
        Query(description="Leases you rent, or leases of your rigs"),
    ] = "renter",
    limit: Limit = None,
    cursor: Cursor = None,
) -> PageOut[LeaseOut]:
    """Your leases, newest first."""
    repository = context.leases
    lister = repository.list_by_renter if role == "renter" else repository.list_by_provider
    page = lister(principal.address, limit=clamp_limit(limit), cursor=cursor)
    now = context.clock()
    return PageOut[LeaseOut].of(page, lambda lease: LeaseOut.of(lease, now=now))


@router.get("/{lease_id}")
def get_lease(lease_id: LeaseId, principal: CurrentPrincipal, context: Context) -> LeaseOut:
    lease = service(context).visible(lease_id, principal.address, is_admin=principal.is_admin)
    return LeaseOut.of(lease, now=context.clock())


@router.post("/{lease_id}/stop")
def stop_lease(lease_id: LeaseId, principal: CurrentPrincipal, context: Context) -> LeaseOut:
    """End the lease now (renter only): it settles on the settlement job's next run."""
    now = context.clock()
    return LeaseOut.of(service(context).stop(lease_id, principal.address, now=now), now=now)


@router.get("/{lease_id}/blocks")
def lease_blocks(
    lease_id: LeaseId,
    principal: CurrentPrincipal,
    context: Context,
    limit: Limit = None,
    cursor: Cursor = None,
) -> PageOut[Block]:
    """Every block reported under the lease, newest first: our verdict (``verified``,
    ``reason``) and the XenBlocks network's (``network_status``: unconfirmed, accepted,
    duplicate (counts as accepted), refused with ``network_reason``, or unreachable)."""
    service(context).visible(lease_id, principal.address, is_admin=principal.is_admin)
    page = context.blocks.by_lease(lease_id, limit=clamp_limit(limit), cursor=cursor)
    return PageOut[Block](items=context.verdicts.attach(page.items), next_cursor=page.cursor)
