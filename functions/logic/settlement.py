"""Settling leases that have ended: pay for verified delivery, take the fee, refund the rest.

The job runs every minute and reads only leases that are due (the sparse ``due`` index,
ordered by end time). Each settlement is one transaction that can succeed once, so the job
is idempotent and resumable: a crash leaves each lease either settled or still due.

What a lease costs:
- the time it ran at its hourly price (rounded up to the micro-credit, at most the escrow);
- unless the verified shares show a shortfall: when the delivered hashrate is clearly under
  ``delivery_threshold_bp`` of the advertised one, the renter pays only for what the
  shares prove. "Clearly": shares are random (Poisson), so an honest rig at exactly its
  advertised rate sends fewer than expected about half the time; a shortfall counts only
  when the share count is more than two standard deviations below what the threshold
  rate would produce, so an honest provider is almost never docked.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

from functions.dal.leases import LeaseRepository
from functions.errors import AlreadySettled, ConcurrentUpdate
from functions.models.market import Lease
from functions.models.money import BASIS_POINTS, fee_of
from functions.ports.devices import DeviceCommands
from protocol.downlink import Release
from protocol.shares import SharePattern

logger = logging.getLogger(__name__)

ALREADY = "already"
RETRY = "retry"
_Z = 2.0  # standard deviations of share-count noise tolerated before a shortfall counts


@dataclass(frozen=True)
class Split:
    charge: int  # what the renter pays: payout + fee
    payout: int
    fee: int
    refund: int
    delivered_ratio: float  # delivered / advertised hashrate (from verified shares)
    shortfall: bool


def split_for(lease: Lease, *, threshold_bp: int) -> Split:
    elapsed = lease.elapsed_sec
    accrued = min(lease.escrow, -(-lease.price_per_hour * elapsed // 3600))
    ratio = lease.delivered_hashrate / lease.advertised_hashrate if elapsed else 0.0
    shortfall = elapsed > 0 and _is_shortfall(lease, threshold_bp)
    charge = math.floor(accrued * min(ratio, 1.0)) if shortfall else accrued
    fee = fee_of(charge, lease.fee_bp)
    return Split(
        charge=charge,
        payout=charge - fee,
        fee=fee,
        refund=lease.escrow - charge,
        delivered_ratio=ratio,
        shortfall=shortfall,
    )


def _is_shortfall(lease: Lease, threshold_bp: int) -> bool:
    per_share = SharePattern.parse(lease.share_pattern).expected_hashes()
    expected_at_threshold = (
        lease.advertised_hashrate * lease.elapsed_sec * threshold_bp / BASIS_POINTS / per_share
    )
    tolerance = _Z * math.sqrt(expected_at_threshold)
    return lease.shares < expected_at_threshold - tolerance


@dataclass
class SettlementRun:
    settled: int = 0
    already: int = 0
    retry_later: int = 0
    charged: int = 0
    refunded: int = 0
    lease_ids: list[str] = field(default_factory=list)


class SettlementService:
    def __init__(
        self,
        leases: LeaseRepository,
        commands: DeviceCommands,
        *,
        threshold_bp: int,
        grace_seconds: int = 30,
        batch: int = 100,
    ) -> None:
        self._leases = leases
        self._commands = commands
        self._threshold_bp = threshold_bp
        # Shares found just before the end may still be in flight: wait before settling.
        self._grace = grace_seconds
        self._batch = batch

    def settle_due(self, now: int, *, max_leases: int = 10_000) -> SettlementRun:
        """Settle every lease that ended at least ``grace_seconds`` ago (oldest first).

        The due index is walked once with a cursor: a lease left for later (it changed
        while being settled) does not hold up the ones behind it, and a lease just settled
        is not read again even if the index lags.
        """
        run = SettlementRun()
        cursor: str | None = None
        while run.settled + run.already + run.retry_later < max_leases:
            page = self._leases.due_page(now - self._grace, limit=self._batch, cursor=cursor)
            for lease in page.items:
                outcome = self.settle(lease, now)
                if isinstance(outcome, Split):
                    run.settled += 1
                    run.lease_ids.append(lease.lease_id)
                    run.charged += outcome.charge
                    run.refunded += outcome.refund
                elif outcome == RETRY:
                    run.retry_later += 1
                else:
                    run.already += 1
            cursor = page.cursor
            if cursor is None:
                break
        return run

    def settle(self, lease: Lease, now: int) -> Split | str:
        """Settle one lease: its Split, or ALREADY (someone settled it) or RETRY."""
        split = split_for(lease, threshold_bp=self._threshold_bp)
        try:
            self._leases.settle(
                lease, payout=split.payout, fee=split.fee, refund=split.refund, now=now
            )
        except AlreadySettled:
            return ALREADY
        except ConcurrentUpdate:
            logger.warning("lease %s: concurrent update, settling on a later run", lease.lease_id)
            return RETRY
        logger.info(
            "lease %s settled: charge %d (payout %d, fee %d), refund %d, delivered %.1f%%%s",
            lease.lease_id,
            split.charge,
            split.payout,
            split.fee,
            split.refund,
            split.delivered_ratio * 100,
            " (shortfall)" if split.shortfall else "",
        )
        try:
            self._commands.task(lease.worker_id, Release(lease_id=lease.lease_id))
        except Exception:
            logger.warning("release of lease %s not published", lease.lease_id, exc_info=True)
        return split
