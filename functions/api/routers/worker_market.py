"""A worker's market standing: its reputation breakdown and a price suggestion."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from functions.api.auth import Context, CurrentPrincipal
from functions.api.schemas import WorkerId
from functions.errors import InvalidInput, NotFound
from functions.logic.listings import ListingService
from functions.logic.reputation import WEIGHTS, parts_of
from functions.models.market import MIN_HASHRATE

router = APIRouter(prefix="/api/workers", tags=["workers"])


class ReputationPart(BaseModel):
    name: str
    value: float = Field(description="0..1")
    weight: float = Field(description="Points this part is worth at 1")
    points: float


class ReputationOut(BaseModel):
    worker_id: str
    score: float | None = Field(description="0..100; None until first computed")
    parts: list[ReputationPart]
    verified_blocks: int
    completed_leases: int
    uptime: float = Field(description="Share of the last 24 h with heartbeats")
    delivery: float | None = Field(description="Delivered / advertised hashrate on leases")
    age_days: float
    updated_at: int | None


@router.get("/{worker_id}/reputation")
def reputation(worker_id: WorkerId, context: Context) -> ReputationOut:
    """Public: how the score is made, part by part (renters read it before renting)."""
    worker = context.workers.get(worker_id)
    if worker is None or worker.revoked:
        raise NotFound(f"worker {worker_id} not found")
    rep = worker.reputation
    if rep is None:
        return ReputationOut(
            worker_id=worker_id,
            score=None,
            parts=[],
            verified_blocks=0,
            completed_leases=0,
            uptime=0.0,
            delivery=None,
            age_days=round((context.clock() - worker.created_at) / 86_400, 3),
            updated_at=None,
        )
    parts = parts_of(rep)
    return ReputationOut(
        worker_id=worker_id,
        score=rep.score,
        parts=[
            ReputationPart(
                name=name,
                value=round(getattr(parts, name), 4),
                weight=weight,
                points=round(weight * getattr(parts, name), 2),
            )
            for name, weight in WEIGHTS.items()
        ],
        verified_blocks=rep.verified_blocks,
        completed_leases=rep.completed_leases,
        uptime=rep.uptime,
        delivery=rep.delivery,
        age_days=rep.age_days,
        updated_at=rep.updated_at,
    )


class PriceSuggestion(BaseModel):
    worker_id: str
    gpu_model: str | None
    hashrate: float = Field(description="H/s the suggestion is for")
    suggested_price_per_hour: int | None = Field(
        description="Micro-credits per hour: the market median for this GPU model (or the "
        "whole market) at this hashrate; None while the market has no prices"
    )
    low_price_per_hour: int | None = Field(description="At the 25th percentile: rents fast")
    high_price_per_hour: int | None = Field(description="At the 75th percentile")
    basis: str = Field(description='"gpu_model", "market" or "none"')
    index_ts: int | None


@router.get("/{worker_id}/pricing/suggest")
def suggest_price(
    worker_id: WorkerId,
    principal: CurrentPrincipal,
    context: Context,
    hashrate: Annotated[
        float | None,
        Query(ge=MIN_HASHRATE, le=1e12, description="H/s; defaults to the measured rate"),
    ] = None,
) -> PriceSuggestion:
    """For your own worker: what to ask per hour, from the market price index."""
    worker = ListingService(context.listings, context.workers).owned_worker(
        principal.address, worker_id
    )
    rate = hashrate or worker.hashrate
    if rate <= 0:
        raise InvalidInput("the worker has no measured hashrate yet: pass ?hashrate=")
    now = context.clock()
    index = context.prices.latest(now)
    price = index.for_model(worker.gpu_model) if index else None
    if price is None:
        basis = "none"
    else:
        basis = "gpu_model" if price.scope == worker.gpu_model else "market"

    def at(per_khs: float) -> int:
        return max(round(per_khs * rate / 1000), 1)

    return PriceSuggestion(
        worker_id=worker_id,
        gpu_model=worker.gpu_model,
        hashrate=rate,
        suggested_price_per_hour=at(price.median) if price else None,
        low_price_per_hour=at(price.p25) if price else None,
        high_price_per_hour=at(price.p75) if price else None,
        basis=basis,
        index_ts=index.ts if index else None,
    )
