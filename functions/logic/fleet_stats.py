"""The fleet sweep (the ``fleet_stats`` job) and the totals the dashboards read.

``aggregate_fleet`` runs on a schedule (once per summary slot: the figures it reads only
move that often). It pages through the online workers (the sparse ``by_liveness`` index,
KEYS_ONLY, then BatchGetItem; never a full read of the table), marks the ones silent for
longer than the allowance offline (conditionally: one that spoke meanwhile stays online),
and writes one telemetry point to the ``fleet`` series and one to each owner's
``owner#<address>`` series. A point's key is (series, minute slot), so a run retried in
the same minute overwrites its own points instead of adding to them.

Reading every online worker each run is what makes offline detection cost nothing per
heartbeat: the liveness index's keys never move while a worker stays online.

The other functions derive what the monitoring and overview API shows from repositories:
whether a worker is live, an owner's totals, verified blocks over a window, and history
points averaged into buckets.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

from functions.dal.blocks import BlockRepository
from functions.dal.leases import LeaseRepository
from functions.dal.listings import ListingRepository
from functions.dal.pagination import Page
from functions.dal.tables import Tables
from functions.dal.telemetry import TelemetryRepository
from functions.dal.workers import WorkerRepository
from functions.logic.heartbeat_schedule import silence_allowance
from functions.models.blocks import Block
from functions.models.market import ListingStatus
from functions.models.telemetry import FLEET_SERIES, TelemetryPoint, owner_series
from functions.models.views import FleetWorker
from functions.models.workers import Worker
from functions.settings import Settings

T = TypeVar("T")

SLOT_SECONDS = 60
# How often the deployed sweep runs (infra/schedules.py schedules it from this).
SWEEP_SECONDS = 300
DAY_SECONDS = 86_400
# Keys read per Query of the liveness index (KEYS_ONLY items are tiny).
_LIVENESS_PAGE = 500
# A fleet point names at most this many GPU models; the rest (and unsafe names) are "other".
MAX_MODELS = 32
OTHER_MODEL = "other"
UNKNOWN_MODEL = "unknown"
# A model name becomes part of a value key ("model.<name>.hashrate"): no dots, short.
_SAFE_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _()+-]{0,63}")
# Bounded reads behind the API's totals.
MAX_OWNER_WORKERS = 5_000
MAX_BLOCKS_READ = 2_000
MAX_OPEN_LISTINGS = 2_000
# 30 days of one point a minute (the owner series) fits.
MAX_HISTORY_POINTS = 50_000
ACTIVE_LEASES_READ = 200
_SERIES_PAGE = 1_000
_READ_PAGE = 200


def is_live(worker: Worker, *, now: int, offline_after: int) -> bool:
    """Online and heard from recently: a rig silent for ``offline_after`` seconds counts as
    offline even before the fleet sweep has marked it so."""
    return (
        worker.online
        and not worker.revoked
        and worker.last_seen is not None
        and now - worker.last_seen <= offline_after
    )


def fleet_worker(
    worker: Worker, *, now: int, offline_after: int, lease_id: str | None
) -> FleetWorker:
    """A worker as its fleet's dashboard shows it (the HTTP API and the live frames)."""
    return FleetWorker(
        worker_id=worker.worker_id,
        name=worker.name,
        state=worker.state,
        online=worker.online,
        offline=not is_live(worker, now=now, offline_after=offline_after),
        last_seen=worker.last_seen,
        seconds_silent=None if worker.last_seen is None else max(now - worker.last_seen, 0),
        hashrate=worker.hashrate,
        active_gpus=worker.active_gpus,
        gpu_model=worker.gpu_model,
        gpus=worker.gpus,
        telemetry=worker.telemetry,
        accepted_blocks=worker.accepted_blocks,
        listing_id=worker.listing_id,
        lease_id=lease_id,
    )


def model_name(gpu_model: str | None) -> str:
    """The name a GPU model goes by in value keys: itself if safe, else ``other``."""
    if not gpu_model:
        return UNKNOWN_MODEL
    return gpu_model if _SAFE_MODEL.fullmatch(gpu_model) else OTHER_MODEL


# -- the aggregation job ------------------------------------------------------------------


@dataclass
class Tally:
    """Online workers, their hashrate, GPUs and how many are leased."""

    workers: int = 0
    hashrate: float = 0.0
    gpus: int = 0
    active_gpus: int = 0
    leased: int = 0

    def add(self, worker: Worker, *, leased: bool) -> None:
        self.workers += 1
        self.hashrate += worker.hashrate
        self.gpus += len(worker.gpus)
        self.active_gpus += worker.active_gpus
        self.leased += int(leased)

    def values(self) -> dict[str, float]:
        return {
            "online_workers": float(self.workers),
            "hashrate": self.hashrate,
            "gpus": float(self.gpus),
            "active_gpus": float(self.active_gpus),
            "leased_workers": float(self.leased),
        }


@dataclass
class FleetTotals:
    """What one aggregation run counted, for its minute slot ``ts``."""

    ts: int
    checked: int = 0  # online workers read
    marked_offline: int = 0  # of them, silent for longer than the allowance
    fleet: Tally = field(default_factory=Tally)
    models: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    owners: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))

    def fleet_values(self) -> dict[str, float]:
        values = {**self.fleet.values(), "owners": float(len(self.owners))}
        for name, tally in _top_models(self.models).items():
            values[f"model.{name}.hashrate"] = tally.hashrate
            values[f"model.{name}.workers"] = float(tally.workers)
        return values


def _top_models(models: Mapping[str, Tally]) -> dict[str, Tally]:
    """At most MAX_MODELS names (the highest hashrate first), the rest folded into other."""
    ranked = sorted(models.items(), key=lambda kv: (-kv[1].hashrate, kv[0]))
    kept: dict[str, Tally] = {}
    other = Tally()
    for name, tally in ranked:
        if name != OTHER_MODEL and len(kept) < MAX_MODELS - 1:
            kept[name] = tally
            continue
        other.workers += tally.workers
        other.hashrate += tally.hashrate
    if other.workers:
        kept[OTHER_MODEL] = other
    return kept


class _OnlineFleet:
    """The job's reads: every online worker, a page at a time, and which listings are leased."""

    def __init__(self, tables: Tables) -> None:
        self.workers = WorkerRepository(tables)
        self._listings = ListingRepository(tables)

    def pages(self) -> Iterable[list[Worker]]:
        cursor: str | None = None
        while True:
            page = self.workers.online_ids(limit=_LIVENESS_PAGE, cursor=cursor)
            if page.items:
                yield self.workers.get_many(page.items)
            cursor = page.cursor
            if cursor is None:
                return

    def leased_listings(self, workers: list[Worker]) -> set[str]:
        ids = [w.listing_id for w in workers if w.listing_id]
        listings = self._listings.get_many(ids)
        return {li.listing_id for li in listings if li.status is ListingStatus.LEASED}


def aggregate_fleet(tables: Tables, settings: Settings, now: int) -> FleetTotals:
    """Mark silent workers offline, count the rest and write this minute's ``fleet`` point
    and each owner's ``owner#`` point."""
    totals = FleetTotals(ts=now - now % SLOT_SECONDS)
    allowance = silence_allowance(settings)
    reader = _OnlineFleet(tables)
    for page in reader.pages():
        totals.checked += len(page)
        live: list[Worker] = []
        for worker in page:
            if is_live(worker, now=now, offline_after=allowance):
                live.append(worker)
            elif (
                worker.online
                and not worker.revoked
                and reader.workers.mark_offline(
                    worker.worker_id, silent_since=now - allowance, now=now
                )
            ):
                totals.marked_offline += 1
        leased = reader.leased_listings(live)
        for worker in live:
            is_leased = worker.listing_id in leased
            totals.fleet.add(worker, leased=is_leased)
            totals.models[model_name(worker.gpu_model)].add(worker, leased=is_leased)
            totals.owners[worker.owner].add(worker, leased=is_leased)
    expires_at = totals.ts + settings.telemetry_retention_days * DAY_SECONDS
    points = [
        TelemetryPoint(
            series=FLEET_SERIES, ts=totals.ts, values=totals.fleet_values(), expires_at=expires_at
        )
    ]
    # An owner's figures only move when its workers' summaries are written, so its series
    # gets a point from one run per summary slot (rounded up to whole sweeps), not each.
    sweeps = -(-settings.heartbeat_write_seconds // SWEEP_SECONDS)
    if totals.ts % (SWEEP_SECONDS * max(1, sweeps)) < SWEEP_SECONDS:
        points += [
            TelemetryPoint(
                series=owner_series(owner),
                ts=totals.ts,
                values=tally.values(),
                expires_at=expires_at,
            )
            for owner, tally in totals.owners.items()
        ]
    TelemetryRepository(tables).put_many(points)
    return totals


# -- what the API derives -----------------------------------------------------------------


@dataclass(frozen=True)
class BlockCount:
    count: int
    complete: bool  # False when the bounded read stopped before the window's start


def count_verified_blocks(
    blocks: BlockRepository,
    *,
    now: int,
    since: int,
    keep: Callable[[Block], bool] | None = None,
    max_read: int = MAX_BLOCKS_READ,
) -> BlockCount:
    """Verified blocks recorded since ``since`` (that ``keep`` accepts), newest first,
    reading at most ``max_read`` of them."""
    count = read = 0
    cursor: str | None = None
    while True:
        page = blocks.recent(now=now, limit=min(_READ_PAGE, max_read - read), cursor=cursor)
        for block in page.items:
            if block.recorded_at < since:
                return BlockCount(count, complete=True)
            read += 1
            count += int(keep is None or keep(block))
        if page.cursor is None:
            return BlockCount(count, complete=True)
        if read >= max_read:
            return BlockCount(count, complete=False)
        cursor = page.cursor


@dataclass(frozen=True)
class OwnerStats:
    workers: int
    online: int
    hashrate: float
    gpus: int
    online_gpus: int
    leased: int
    blocks_24h: int
    complete: bool  # False when a bounded read stopped early (a very large fleet)

    @property
    def offline(self) -> int:
        return self.workers - self.online


def owner_stats(
    owner: str,
    *,
    workers: WorkerRepository,
    listings: ListingRepository,
    blocks: BlockRepository,
    now: int,
    offline_after: int,
) -> OwnerStats:
    """An owner's fleet right now: enrolled (not revoked) workers, live ones, leased ones,
    and the verified blocks their workers found in the last 24 hours."""
    enrolled, all_workers = _all_pages(workers.list_by_owner, owner)
    mine = [w for w in enrolled if not w.revoked]
    live = [w for w in mine if is_live(w, now=now, offline_after=offline_after)]
    owned, all_listings = _all_pages(listings.list_by_provider, owner)
    found = count_verified_blocks(
        blocks, now=now, since=now - DAY_SECONDS, keep=lambda b: b.owner == owner
    )
    return OwnerStats(
        workers=len(mine),
        online=len(live),
        hashrate=sum(w.hashrate for w in live),
        gpus=sum(len(w.gpus) for w in mine),
        online_gpus=sum(len(w.gpus) for w in live),
        leased=sum(1 for li in owned if li.status is ListingStatus.LEASED),
        blocks_24h=found.count,
        complete=all_workers and all_listings and found.complete,
    )


def _all_pages(
    list_page: Callable[..., Page[T]], owner: str, *, cap: int = MAX_OWNER_WORKERS
) -> tuple[list[T], bool]:
    """Every item of an owner's listing up to ``cap``, and whether that was all of them."""
    items: list[T] = []
    cursor: str | None = None
    while len(items) < cap:
        page = list_page(owner, limit=min(_READ_PAGE, cap - len(items)), cursor=cursor)
        items += page.items
        if page.cursor is None:
            return items, True
        cursor = page.cursor
    return items, False


@dataclass(frozen=True)
class Bucket:
    """The mean of each value over the points of one ``resolution``-long bucket."""

    ts: int
    values: dict[str, float]
    samples: int


def downsample(points: Iterable[TelemetryPoint], resolution: int) -> list[Bucket]:
    """Average points into buckets starting at multiples of ``resolution``, oldest first.

    A value missing from some points is averaged over the points that have it.
    """
    sums: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    samples: dict[int, int] = defaultdict(int)
    for point in points:
        start = point.ts - point.ts % resolution
        samples[start] += 1
        for name, value in point.values.items():
            sums[start][name] += value
            counts[start][name] += 1
    return [
        Bucket(
            ts=start,
            values={name: total / counts[start][name] for name, total in sums[start].items()},
            samples=samples[start],
        )
        for start in sorted(samples)
    ]


def read_series(
    telemetry: TelemetryRepository,
    series: str,
    start: int,
    end: int,
    *,
    max_points: int = MAX_HISTORY_POINTS,
) -> tuple[list[TelemetryPoint], bool]:
    """The series' points in ``[start, end]``, oldest first, at most ``max_points`` of them,
    and whether that was all of them."""
    points: list[TelemetryPoint] = []
    cursor: str | None = None
    while len(points) < max_points:
        page = telemetry.history(
            series, start, end, limit=min(_SERIES_PAGE, max_points - len(points)), cursor=cursor
        )
        points += page.items
        if page.cursor is None:
            return points, True
        cursor = page.cursor
    return points, False


def count_open_listings(
    listings: ListingRepository, *, max_read: int = MAX_OPEN_LISTINGS
) -> tuple[int, bool]:
    """How many listings are open (reading at most ``max_read``), and whether that was all."""
    count = 0
    cursor: str | None = None
    while count < max_read:
        page = listings.cheapest_open(limit=min(_READ_PAGE, max_read - count), cursor=cursor)
        count += len(page.items)
        if page.cursor is None:
            return count, True
        cursor = page.cursor
    return count, False


def active_lease_ids(leases: LeaseRepository, workers: Iterable[Worker]) -> dict[str, str]:
    """worker id → its active lease's id. Only a listed worker can be leased, so unlisted
    ones cost no read."""
    found: dict[str, str] = {}
    for worker in workers:
        if worker.listing_id is None:
            continue
        lease = leases.active_for_worker(worker.worker_id)
        if lease is not None:
            found[worker.worker_id] = lease.lease_id
    return found


class ActivityType(StrEnum):
    BLOCK = "block"
    LEASE = "lease"


@dataclass(frozen=True)
class Activity:
    type: ActivityType
    ts: int
    summary: str
    ids: dict[str, str]


def recent_activity(
    blocks: BlockRepository, leases: LeaseRepository, *, now: int, limit: int
) -> list[Activity]:
    """The platform's latest events, newest first: verified blocks and lease starts.

    Lease starts come from the active leases ending last (the sparse ``due`` index), so a
    lease that already ended, or a short new one on a platform with more than
    ``ACTIVE_LEASES_READ`` active leases, may not show.
    """
    events = [_block_event(b) for b in blocks.recent(now=now, limit=limit).items]
    events += [
        Activity(
            type=ActivityType.LEASE,
            ts=lease.created_at,
            summary=f"Worker {lease.worker_id} leased for {_duration(lease.duration_sec)}",
            ids={"lease_id": lease.lease_id, "worker_id": lease.worker_id},
        )
        for lease in leases.active(limit=ACTIVE_LEASES_READ)
    ]
    events.sort(key=lambda e: (e.ts, e.type, sorted(e.ids.items())), reverse=True)
    return events[:limit]


def _block_event(block: Block) -> Activity:
    kind = block.kind.value if block.kind else "verified"
    return Activity(
        type=ActivityType.BLOCK,
        ts=block.recorded_at,
        summary=f"{kind.capitalize()} block found by worker {block.worker_id}",
        ids={"hash": block.hash, "worker_id": block.worker_id},
    )


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"
