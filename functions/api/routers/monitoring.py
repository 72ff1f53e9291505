"""``/api/monitoring``: a provider's live fleet, its totals and history; recent blocks.

Everything but ``/blocks/recent`` is about the caller's own workers; an admin may look at
another owner's with ``?owner=``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from functions.api.auth import Context, CurrentPrincipal, current_principal
from functions.api.schemas import Cursor, Limit, PageOut
from functions.dal.pagination import clamp_limit
from functions.errors import Forbidden, InvalidInput, NotFound
from functions.logic import fleet_stats
from functions.logic.heartbeat_schedule import silence_allowance
from functions.logic.tokens import Principal
from functions.models.telemetry import owner_series, worker_series
from functions.models.views import FleetWorker, RecentBlock
from protocol.addresses import to_checksum
from protocol.errors import ProtocolError
from protocol.topics import WORKER_ID_PATTERN

router = APIRouter(prefix="/api/monitoring", tags=["monitoring"])

DEFAULT_WINDOW_SECONDS = 86_400
MAX_WINDOW_SECONDS = 30 * 86_400

Owner = Annotated[
    str | None,
    Query(max_length=42, description="Admins only: whose fleet (a 0x address); default yours"),
]
# /blocks/recent is public: a token is read only for ?mine=true.
_optional_bearer = HTTPBearer(auto_error=False)


def _scope(principal: Principal, owner: str | None) -> str:
    """Whose workers the caller asks about: its own, or, for an admin, anyone's."""
    if owner is None:
        return principal.address
    try:
        address = to_checksum(owner)
    except ProtocolError as error:
        raise InvalidInput(f"owner: {error}") from None
    if address != principal.address and not principal.is_admin:
        raise Forbidden("only admins may look at another owner's fleet")
    return address


@router.get("/fleet")
def fleet(
    principal: CurrentPrincipal,
    context: Context,
    owner: Owner = None,
    limit: Limit = None,
    cursor: Cursor = None,
) -> PageOut[FleetWorker]:
    """The caller's enrolled workers with their live figures, a page at a time.

    Revoked workers are left out, so a page may hold fewer than ``limit`` items.
    """
    scope = _scope(principal, owner)
    page = context.workers.list_by_owner(scope, limit=clamp_limit(limit), cursor=cursor)
    workers = [w for w in page.items if not w.revoked]
    leases = fleet_stats.active_lease_ids(context.leases, workers)
    now = context.clock()
    offline_after = silence_allowance(context.settings)
    items = [
        fleet_stats.fleet_worker(
            w, now=now, offline_after=offline_after, lease_id=leases.get(w.worker_id)
        )
        for w in workers
    ]
    return PageOut[FleetWorker](items=items, next_cursor=page.cursor)


class FleetStats(BaseModel):
    owner: str
    as_of: int = Field(description="Epoch seconds the figures were read at")
    workers_total: int = Field(description="Enrolled, not revoked")
    workers_online: int = Field(description="Online and heard from recently")
    workers_offline: int
    hashrate: float = Field(description="Sum over the online workers, H/s")
    gpus: int = Field(description="GPUs in the inventory of every enrolled worker")
    online_gpus: int = Field(description="GPUs of the online workers")
    leased_now: int = Field(description="Workers whose listing is leased now")
    verified_blocks_24h: int = Field(description="Verified blocks the workers found in 24 h")
    complete: bool = Field(
        description="False when a bounded read stopped early (very large fleets): "
        "the figures are then lower bounds"
    )


@router.get("/stats")
def stats(principal: CurrentPrincipal, context: Context, owner: Owner = None) -> FleetStats:
    """Totals over the caller's fleet right now."""
    scope = _scope(principal, owner)
    now = context.clock()
    totals = fleet_stats.owner_stats(
        scope,
        workers=context.workers,
        listings=context.listings,
        blocks=context.blocks,
        now=now,
        offline_after=silence_allowance(context.settings),
    )
    return FleetStats(
        owner=scope,
        as_of=now,
        workers_total=totals.workers,
        workers_online=totals.online,
        workers_offline=totals.offline,
        hashrate=totals.hashrate,
        gpus=totals.gpus,
        online_gpus=totals.online_gpus,
        leased_now=totals.leased,
        verified_blocks_24h=totals.blocks_24h,
        complete=totals.complete,
    )


class HistoryPoint(BaseModel):
    ts: int = Field(description="Epoch seconds: the point's time, or its bucket's start")
    hashrate: float | None = Field(description="H/s (the bucket's mean when downsampled)")
    values: dict[str, float] = Field(
        description="Every figure of the point: owner series online_workers, hashrate, gpus…; "
        "worker series hashrate, gpu<i>.temperature_c…"
    )
    samples: int = Field(default=1, description="Points averaged into this one")


class HashrateHistory(BaseModel):
    owner: str
    worker_id: str | None = Field(description="Set when the history is one worker's")
    start: int
    end: int
    resolution: int | None = Field(description="Bucket length in seconds, when downsampled")
    points: list[HistoryPoint] = Field(description="Oldest first")
    next_cursor: str | None = Field(
        default=None, description="More raw points follow: pass it as ?cursor="
    )
    complete: bool = Field(
        default=True, description="False when a downsampled read hit its size bound"
    )


@router.get("/hashrate-history")
def hashrate_history(
    principal: CurrentPrincipal,
    context: Context,
    owner: Owner = None,
    worker_id: Annotated[
        str | None,
        Query(pattern=WORKER_ID_PATTERN, description="One of your workers; default: all of them"),
    ] = None,
    start: Annotated[
        int | None, Query(ge=0, description="Epoch seconds; default end - 24 h")
    ] = None,
    end: Annotated[int | None, Query(ge=0, description="Epoch seconds; default now")] = None,
    resolution: Annotated[
        int | None,
        Query(ge=60, le=86_400, description="Average into buckets of this many seconds"),
    ] = None,
    limit: Limit = None,
    cursor: Cursor = None,
) -> HashrateHistory:
    """Hashrate over time for the caller's whole fleet (the per-minute owner series) or for
    one of its workers (a point every few minutes). At most 30 days per request.

    Raw points come a page at a time; with ``resolution`` the whole window is averaged into
    buckets in one answer. A minute with no owner point had no online worker.
    """
    scope = _scope(principal, owner)
    end = context.clock() if end is None else end
    start = end - DEFAULT_WINDOW_SECONDS if start is None else start
    if end < start:
        raise InvalidInput("end must not be before start")
    if end - start > MAX_WINDOW_SECONDS:
        raise InvalidInput(f"the window may span at most {MAX_WINDOW_SECONDS // 86_400} days")
    if resolution is not None and cursor is not None:
        raise InvalidInput("cursor pages raw points; a downsampled answer is whole")
    series = owner_series(scope)
    if worker_id is not None:
        worker = context.workers.get(worker_id)
        # An admin naming no owner may look at any worker; everyone else at their own.
        if principal.is_admin and owner is None and worker is not None:
            scope = worker.owner
        if worker is None or worker.revoked or worker.owner != scope:
            raise NotFound(f"worker {worker_id} not found")
        series = worker_series(worker_id)
    next_cursor: str | None = None
    complete = True
    if resolution is None:
        page = context.telemetry.history(
            series, start, end, limit=clamp_limit(limit), cursor=cursor
        )
        points = [
            HistoryPoint(ts=p.ts, hashrate=p.values.get("hashrate"), values=p.values)
            for p in page.items
        ]
        next_cursor = page.cursor
    else:
        raw, complete = fleet_stats.read_series(context.telemetry, series, start, end)
        points = [
            HistoryPoint(
                ts=b.ts, hashrate=b.values.get("hashrate"), values=b.values, samples=b.samples
            )
            for b in fleet_stats.downsample(raw, resolution)
        ]
    return HashrateHistory(
        owner=scope,
        worker_id=worker_id,
        start=start,
        end=end,
        resolution=resolution,
        points=points,
        next_cursor=next_cursor,
        complete=complete,
    )


@router.get("/blocks/recent")
def recent_blocks(
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_optional_bearer)],
    mine: Annotated[
        bool,
        Query(description="Signed in: only blocks your workers found or that were mined for you"),
    ] = False,
    limit: Limit = None,
    cursor: Cursor = None,
) -> PageOut[RecentBlock]:
    """Verified blocks across the platform, newest first (the last 30 days).

    With ``mine=true`` the page is filtered to the caller's, so it may hold fewer than
    ``limit`` items while a cursor still follows.
    """
    page = context.blocks.recent(now=context.clock(), limit=clamp_limit(limit), cursor=cursor)
    blocks = page.items
    if mine:
        caller = current_principal(context, credentials).address
        blocks = [b for b in blocks if caller in (b.owner, b.account)]
    blocks = context.verdicts.attach(blocks)
    return PageOut[RecentBlock](items=[RecentBlock.of(b) for b in blocks], next_cursor=page.cursor)
