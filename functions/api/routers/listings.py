"""``/api/listings``: a provider offers an enrolled rig's hashpower, reprices, pauses, delists."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import Field, StrictInt, model_validator

from functions.api.auth import Context, CurrentPrincipal
from functions.api.market_schemas import ListingOut
from functions.api.schemas import ID_PATTERN, Body, Cursor, Limit, PageOut
from functions.dal.pagination import clamp_limit
from functions.errors import Conflict, NotFound
from functions.logic.listings import ListingService, ListingTerms
from functions.models.market import MIN_HASHRATE, ListingStatus
from protocol.topics import WORKER_ID_PATTERN

router = APIRouter(prefix="/api/listings", tags=["listings"])

ListingId = Annotated[str, Path(pattern=ID_PATTERN)]
Price = Annotated[StrictInt, Field(gt=0, le=10**15, description="Micro-credits per hour")]
Hashrate = Annotated[float, Field(ge=MIN_HASHRATE, le=1e12, description="H/s")]
Duration = Annotated[StrictInt, Field(ge=60, le=90 * 86_400, description="Seconds")]


class CreateListing(Body):
    worker_id: str = Field(pattern=WORKER_ID_PATTERN, description="One of your enrolled rigs")
    price_per_hour: Price
    advertised_hashrate: Hashrate | None = Field(
        default=None, description="Defaults to the rig's measured hashrate"
    )
    min_duration_sec: Duration = 600
    max_duration_sec: Duration = 7 * 86_400

    @model_validator(mode="after")
    def _ordered(self) -> CreateListing:
        if self.min_duration_sec > self.max_duration_sec:
            raise ValueError("min_duration_sec must not exceed max_duration_sec")
        return self


class ChangeListing(Body):
    """Any subset: new terms (not while leased) and/or a status. ``open`` resumes a paused
    listing; pause or delist while leased takes effect when the lease ends."""

    price_per_hour: Price | None = None
    advertised_hashrate: Hashrate | None = None
    min_duration_sec: Duration | None = None
    max_duration_sec: Duration | None = None
    status: Literal["open", "paused", "delisted"] | None = None


def _service(context: Context) -> ListingService:
    return ListingService(context.listings, context.workers)


@router.post("", status_code=201)
def create_listing(
    body: CreateListing, principal: CurrentPrincipal, context: Context
) -> ListingOut:
    terms = ListingTerms(
        price_per_hour=body.price_per_hour,
        advertised_hashrate=body.advertised_hashrate,
        min_duration_sec=body.min_duration_sec,
        max_duration_sec=body.max_duration_sec,
    )
    listing = _service(context).create(
        principal.address, body.worker_id, terms, now=context.clock()
    )
    return ListingOut.of(listing)


@router.get("")
def list_my_listings(
    principal: CurrentPrincipal, context: Context, limit: Limit = None, cursor: Cursor = None
) -> PageOut[ListingOut]:
    """Your listings, newest first (to browse the market use ``/api/marketplace``)."""
    page = context.listings.list_by_provider(
        principal.address, limit=clamp_limit(limit), cursor=cursor
    )
    return PageOut[ListingOut].of(page, ListingOut.of)


@router.get("/{listing_id}")
def get_listing(listing_id: ListingId, context: Context) -> ListingOut:
    listing = context.listings.get(listing_id)
    if listing is None or listing.status is ListingStatus.DELISTED:
        raise NotFound(f"listing {listing_id} not found")
    return ListingOut.of(listing)


@router.patch("/{listing_id}")
def change_listing(
    listing_id: ListingId,
    body: ChangeListing,
    principal: CurrentPrincipal,
    context: Context,
    version: Annotated[
        int | None,
        Query(ge=0, description="Refuse the change unless the listing is at this version"),
    ] = None,
) -> ListingOut:
    service = _service(context)
    listing = service.owned(principal.address, listing_id, is_admin=principal.is_admin)
    if version is not None and version != listing.version:
        raise Conflict(f"listing is at version {listing.version}, not {version}")
    terms = body.model_dump(exclude_none=True, exclude={"status"})
    status = ListingStatus(body.status) if body.status else None
    changed = service.change(listing, now=context.clock(), status=status, terms=terms)
    return ListingOut.of(changed)


@router.delete("/{listing_id}")
def delist(listing_id: ListingId, principal: CurrentPrincipal, context: Context) -> ListingOut:
    """Delist now, or when the running lease ends (``after_lease``)."""
    service = _service(context)
    listing = service.owned(principal.address, listing_id, is_admin=principal.is_admin)
    changed = service.change(listing, now=context.clock(), status=ListingStatus.DELISTED)
    return ListingOut.of(changed)
