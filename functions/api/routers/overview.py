"""``/api/overview``: public platform figures and a feed of recent events (no sign-in).

The figures come from the ``fleet`` series the aggregation job writes once a minute, so
answers may be cached briefly (``Cache-Control``) without going stale in any way that
matters.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from functions.api.auth import Context
from functions.logic import fleet_stats
from functions.logic.fleet_stats import ActivityType
from functions.models.telemetry import FLEET_SERIES

router = APIRouter(prefix="/api/overview", tags=["overview"])

SPARKLINE_SECONDS = 86_400
SPARKLINE_BUCKET_SECONDS = 900
MAX_ACTIVITY = 100
_CACHE = "public, max-age=30"


class ModelFigures(BaseModel):
    model: str = Field(description="GPU model (unknown: not registered; other: the rest)")
    workers: int
    hashrate: float


class SparkPoint(BaseModel):
    ts: int = Field(description="Bucket start, epoch seconds")
    hashrate: float = Field(description="Mean fleet hashrate over the bucket, H/s")


class OverviewStats(BaseModel):
    as_of: int | None = Field(
        description="Epoch seconds of the fleet figures; null before the first aggregation"
    )
    online_workers: int
    hashrate: float = Field(description="Fleet hashrate, H/s")
    gpus: int = Field(description="GPUs of the online workers")
    leased_workers: int
    owners: int = Field(description="Providers with a worker online")
    models: list[ModelFigures] = Field(description="Hashrate by GPU model, highest first")
    open_listings: int
    blocks_24h: int = Field(description="Verified blocks in the last 24 hours")
    complete: bool = Field(
        description="False when a bounded count stopped early: the counts are lower bounds"
    )
    sparkline: list[SparkPoint] = Field(description="Fleet hashrate over the last 24 hours")


def _models(values: dict[str, float]) -> list[ModelFigures]:
    names = {key[6:-9] for key in values if key.startswith("model.") and key.endswith(".hashrate")}
    figures = [
        ModelFigures(
            model=name,
            workers=int(values.get(f"model.{name}.workers", 0)),
            hashrate=values[f"model.{name}.hashrate"],
        )
        for name in names
    ]
    return sorted(figures, key=lambda m: (-m.hashrate, m.model))


@router.get("/stats")
def overview_stats(context: Context, response: Response) -> OverviewStats:
    """Platform totals: the latest fleet figures, open listings, blocks and a sparkline."""
    now = context.clock()
    since = now - SPARKLINE_SECONDS
    latest = context.telemetry.latest(FLEET_SERIES, since=since)
    values = latest.values if latest else {}
    points, series_complete = fleet_stats.read_series(context.telemetry, FLEET_SERIES, since, now)
    buckets = fleet_stats.downsample(points, SPARKLINE_BUCKET_SECONDS)
    open_listings, listings_complete = fleet_stats.count_open_listings(context.listings)
    blocks = fleet_stats.count_verified_blocks(context.blocks, now=now, since=since)
    response.headers["Cache-Control"] = _CACHE
    return OverviewStats(
        as_of=latest.ts if latest else None,
        online_workers=int(values.get("online_workers", 0)),
        hashrate=values.get("hashrate", 0.0),
        gpus=int(values.get("gpus", 0)),
        leased_workers=int(values.get("leased_workers", 0)),
        owners=int(values.get("owners", 0)),
        models=_models(values),
        open_listings=open_listings,
        blocks_24h=blocks.count,
        complete=series_complete and listings_complete and blocks.complete,
        sparkline=[SparkPoint(ts=b.ts, hashrate=b.values.get("hashrate", 0.0)) for b in buckets],
    )


class ActivityItem(BaseModel):
    type: ActivityType = Field(description="block: a verified block; lease: a lease started")
    ts: int = Field(description="Epoch seconds")
    summary: str = Field(description="One line for a feed")
    ids: dict[str, str] = Field(description="What it is about: hash, worker_id, lease_id")


class Activity(BaseModel):
    items: list[ActivityItem] = Field(description="Newest first")


@router.get("/activity")
def activity(
    context: Context,
    response: Response,
    limit: Annotated[
        int, Query(ge=1, le=MAX_ACTIVITY, description="How many events (default 20)")
    ] = 20,
) -> Activity:
    """Recent platform events, newest first: verified blocks and lease starts."""
    events = fleet_stats.recent_activity(
        context.blocks, context.leases, now=context.clock(), limit=limit
    )
    response.headers["Cache-Control"] = _CACHE
    return Activity(
        items=[ActivityItem(type=e.type, ts=e.ts, summary=e.summary, ids=e.ids) for e in events]
    )
