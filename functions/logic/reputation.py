"""Reputation: a 0-100 score per worker from what the platform verified about it.

Parts (each 0..1) and their weights:
- delivery (35): delivered / advertised hashrate on its settled leases, from verified shares
  (0.5 until a lease has settled: unknown is neither good nor bad);
- uptime (25): the share of the last 24 h with a heartbeat history point;
- completed leases (15): saturates at 20;
- verified blocks (15): logarithmic, saturates at 1,000;
- age (10): saturates at 30 days since enrolment.
The job recomputes online workers every few minutes and copies score and delivery onto the
worker's listing, where the matcher reads them.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

from functions.dal.blocks import BlockRepository
from functions.dal.leases import LeaseRepository
from functions.dal.listings import ListingRepository
from functions.dal.telemetry import TelemetryRepository
from functions.dal.workers import WorkerRepository
from functions.errors import NotFound
from functions.models.market import LeaseStatus
from functions.models.telemetry import worker_series
from functions.models.workers import Reputation, Worker

WEIGHTS = {"delivery": 35.0, "uptime": 25.0, "leases": 15.0, "blocks": 15.0, "age": 10.0}
UNKNOWN_DELIVERY = 0.5
_DAY = 86_400
_LEASES_READ = 50  # the most recent leases considered for delivery
_FULL_LEASES = 20
_FULL_BLOCKS = 1000
_FULL_AGE_DAYS = 30


@dataclass(frozen=True)
class ReputationParts:
    delivery: float
    uptime: float
    leases: float
    blocks: float
    age: float

    @property
    def score(self) -> float:
        total: float = sum(WEIGHTS[name] * float(getattr(self, name)) for name in WEIGHTS)
        return round(min(max(total, 0.0), 100.0), 2)


def parts_of(reputation: Reputation) -> ReputationParts:
    delivery = UNKNOWN_DELIVERY if reputation.delivery is None else min(reputation.delivery, 1)
    return ReputationParts(
        delivery=delivery,
        uptime=reputation.uptime,
        leases=min(reputation.completed_leases / _FULL_LEASES, 1.0),
        blocks=min(math.log10(1 + reputation.verified_blocks) / math.log10(1 + _FULL_BLOCKS), 1),
        age=min(reputation.age_days / _FULL_AGE_DAYS, 1.0),
    )


# A stored reputation is rewritten at least this often, changed or not (its age moves).
_REWRITE_SECONDS = _DAY


def _unchanged(old: Reputation, new: Reputation) -> bool:
    """Whether ``new`` shows a renter nothing ``old`` does not (score to a tenth)."""
    if new.updated_at - old.updated_at >= _REWRITE_SECONDS:
        return False
    return (
        round(old.score, 1) == round(new.score, 1)
        and old.verified_blocks == new.verified_blocks
        and old.completed_leases == new.completed_leases
        and round(old.uptime, 3) == round(new.uptime, 3)
        and old.delivery == new.delivery
    )


class ReputationService:
    def __init__(
        self,
        *,
        workers: WorkerRepository,
        listings: ListingRepository,
        leases: LeaseRepository,
        blocks: BlockRepository,
        telemetry: TelemetryRepository,
        history_seconds: int,
    ) -> None:
        self._workers = workers
        self._listings = listings
        self._leases = leases
        self._blocks = blocks
        self._telemetry = telemetry
        self._history_seconds = history_seconds

    def compute(self, worker: Worker, now: int) -> Reputation:
        settled = [
            lease
            for lease in self._leases.list_by_worker(worker.worker_id, limit=_LEASES_READ).items
            if lease.status is LeaseStatus.SETTLED and lease.elapsed_sec > 0
        ]
        delivery = (
            sum(lease.delivered_hashrate / lease.advertised_hashrate for lease in settled)
            / len(settled)
            if settled
            else None
        )
        age = max(now - worker.created_at, 0)
        window = min(_DAY, age)
        points = self._telemetry.history(
            worker_series(worker.worker_id), now - window, now, limit=_DAY // 60
        ).items
        expected = window / self._history_seconds
        uptime = min(len(points) / expected, 1.0) if expected >= 1 else float(worker.online)
        partial = Reputation(
            score=0,
            verified_blocks=self._blocks.count_verified_by_worker(worker.worker_id),
            completed_leases=len(settled),
            uptime=uptime,
            delivery=round(delivery, 4) if delivery is not None else None,
            age_days=round(age / _DAY, 3),
            updated_at=now,
        )
        return partial.model_copy(update={"score": parts_of(partial).score})

    def refresh(self, worker: Worker, now: int) -> Reputation:
        reputation = self.compute(worker, now)
        if worker.reputation is not None and _unchanged(worker.reputation, reputation):
            return worker.reputation  # no write: what a renter sees has not moved
        self._workers.set_reputation(worker.worker_id, reputation)
        if worker.listing_id:
            with contextlib.suppress(NotFound):  # delisted meanwhile
                self._listings.set_reputation(
                    worker.listing_id, score=reputation.score, delivery_ratio=reputation.delivery
                )
        return reputation

    def refresh_online(self, now: int, *, max_workers: int = 100_000) -> int:
        """Recompute every online worker (one page of ids at a time); returns how many."""
        done = 0
        cursor: str | None = None
        while done < max_workers:
            page = self._workers.online_ids(limit=100, cursor=cursor)
            for worker in self._workers.get_many(page.items):
                if not worker.revoked:
                    self.refresh(worker, now)
                    done += 1
            cursor = page.cursor
            if cursor is None:
                break
        return done
