"""``/api/marketplace``: browse open listings, estimate a rental's cost, the price index."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from functions.api.auth import Context
from functions.api.market_schemas import ListingOut
from functions.api.schemas import ID_PATTERN, Cursor, Limit, PageOut
from functions.dal.pagination import clamp_limit
from functions.errors import InvalidInput, NotFound
from functions.logic.matcher import Criteria, Matcher, rank_key
from functions.logic.pricing import ALL_MODELS, ModelPrice
from functions.logic.proofs import lease_outlook
from functions.models.market import MIN_HASHRATE, ListingStatus, max_cost
from functions.models.money import fee_of

router = APIRouter(prefix="/api/marketplace", tags=["marketplace"])

GpuModel = Annotated[str | None, Query(min_length=1, max_length=64, description="GPU model")]
_DAY = 86_400


@router.get("")
def browse(
    context: Context,
    gpu: GpuModel = None,
    min_hashrate: Annotated[
        float | None, Query(ge=MIN_HASHRATE, le=1e12, description="H/s")
    ] = None,
    max_price: Annotated[
        int | None, Query(gt=0, le=10**15, description="Micro-credits per hour")
    ] = None,
    sort: Annotated[
        Literal["price_per_hs", "verified_value"],
        Query(
            description="price_per_hs: cheapest advertised price per H/s first (the index "
            "order, across pages); verified_value: within each page, by price per verified "
            "H/s (past delivery), reputation breaking ties"
        ),
    ] = "price_per_hs",
    limit: Limit = None,
    cursor: Cursor = None,
) -> PageOut[ListingOut]:
    """Open listings, cheapest per H/s first. With filters a page may hold fewer items
    than ``limit`` while ``next_cursor`` still leads to more."""
    page = context.listings.cheapest_open(
        limit=clamp_limit(limit),
        cursor=cursor,
        gpu_model=gpu,
        min_hashrate=min_hashrate,
        max_price_per_hour=max_price,
    )
    items = sorted(page.items, key=rank_key) if sort == "verified_value" else page.items
    online = {w.worker_id: w.online for w in context.workers.get_many([i.worker_id for i in items])}
    return PageOut[ListingOut](
        items=[ListingOut.of(i, online=online.get(i.worker_id, False)) for i in items],
        next_cursor=page.cursor,
    )


class Estimate(BaseModel):
    duration_sec: int
    hashrate: float = Field(description="H/s the estimate is for")
    max_cost: int | None = Field(
        description="What renting would escrow (micro-credits); None with no matching listing"
    )
    fee_included: int | None = Field(description="The platform fee inside max_cost")
    listing_id: str | None = Field(description="The listing priced (given, or the best match)")
    market_cost: int | None = Field(
        description="The same hashrate and time at the price index median, for comparison"
    )
    price_index_per_khs_hour: float | None
    network_difficulty: int = Field(
        description="The network's current difficulty (KiB), which the block odds assume"
    )
    hashrate_at_difficulty: float = Field(
        description="H/s the blocks are estimated for: the listing's rig's last measured "
        "work (H/s × the difficulty it mined at) at network_difficulty; without a "
        "measurement, hashrate"
    )
    block_pattern: str = Field(description="What a hash must contain to be a block")
    block_probability: float | None = Field(
        description="The chance that one hash is a block; None when not estimated"
    )
    expected_hashes: float = Field(description="hashrate_at_difficulty × duration_sec")
    expected_blocks: float | None = Field(
        description="Blocks the lease may find on average: expected_hashes × block_probability"
    )
    expected_blocks_uncertainty: float | None = Field(
        description="Relative standard deviation of the block count (1/sqrt(expected_blocks)); "
        "None when no block is expected"
    )


@router.get("/estimate")
def estimate(
    context: Context,
    duration_sec: Annotated[int, Query(ge=60, le=90 * _DAY, description="Seconds")],
    listing_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    hashrate: Annotated[
        float | None, Query(ge=MIN_HASHRATE, le=1e12, description="H/s wanted")
    ] = None,
    gpu: GpuModel = None,
) -> Estimate:
    """What a rental would cost: a given listing, or the best match for a hashrate; and the
    blocks it may find at the network's current difficulty."""
    if (listing_id is None) == (hashrate is None):
        raise InvalidInput("give either listing_id or hashrate")
    now = context.clock()
    if listing_id is not None:
        listing = context.listings.get(listing_id)
        if listing is None or listing.status is ListingStatus.DELISTED:
            raise NotFound(f"listing {listing_id} not found")
    else:
        criteria = Criteria(duration_sec=duration_sec, gpu_model=gpu, min_hashrate=hashrate)
        found = Matcher(context.listings, context.workers).candidates(criteria, renter="")
        listing = found[0] if found else None
    wanted = listing.advertised_hashrate if listing is not None else float(hashrate or 0)
    index = context.prices.latest(now)
    market = index.for_model(listing.gpu_model if listing else gpu) if index else None
    cost = max_cost(listing.price_per_hour, duration_sec) if listing else None
    difficulty = context.network.difficulty()
    block_pattern = context.settings.rules.block_pattern
    outlook = lease_outlook(
        wanted,
        context.workers.get(listing.worker_id) if listing is not None else None,
        difficulty=difficulty,
        duration_s=duration_sec,
        block_pattern=block_pattern,
    )
    return Estimate(
        duration_sec=duration_sec,
        hashrate=wanted,
        max_cost=cost,
        fee_included=fee_of(cost, context.settings.fee_bp) if cost is not None else None,
        listing_id=listing.listing_id if listing else None,
        market_cost=round(market.median * wanted / 1000 * duration_sec / 3600) if market else None,
        price_index_per_khs_hour=round(market.median, 3) if market else None,
        network_difficulty=difficulty,
        hashrate_at_difficulty=outlook.hashrate_hs,
        block_pattern=block_pattern,
        block_probability=outlook.block_probability,
        expected_hashes=outlook.expected_hashes,
        expected_blocks=outlook.expected_blocks,
        expected_blocks_uncertainty=outlook.uncertainty,
    )


class ModelPriceOut(BaseModel):
    gpu_model: str = Field(description='A GPU model, or "*" for the whole market')
    median: float = Field(description="Micro-credits per hour per 1,000 H/s")
    p25: float
    p75: float
    listings: int
    leases: int

    @classmethod
    def of(cls, price: ModelPrice) -> ModelPriceOut:
        return cls(
            gpu_model=price.scope,
            median=round(price.median, 3),
            p25=round(price.p25, 3),
            p75=round(price.p75, 3),
            listings=price.listings,
            leases=price.leases,
        )


class PricePoint(BaseModel):
    ts: int
    median: float


class PriceIndexOut(BaseModel):
    ts: int | None = Field(description="When the latest index was computed")
    models: list[ModelPriceOut]
    history: list[PricePoint] = Field(description="The median over time for ``gpu`` (or all)")


@router.get("/price-index")
def price_index(
    context: Context,
    gpu: GpuModel = None,
    days: Annotated[int, Query(ge=1, le=90)] = 7,
) -> PriceIndexOut:
    """Per GPU model: price per kH/s-hour of open listings and active leases."""
    now = context.clock()
    service = context.prices
    latest = service.latest(now)
    scope = gpu or ALL_MODELS
    history = [
        PricePoint(ts=index.ts, median=round(index.models[scope].median, 3))
        for index in service.history(now - days * _DAY, now)
        if scope in index.models
    ]
    models = sorted(latest.models.values(), key=lambda m: m.scope) if latest else []
    return PriceIndexOut(
        ts=latest.ts if latest else None,
        models=[ModelPriceOut.of(m) for m in models],
        history=history,
    )
