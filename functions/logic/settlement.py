"""Settling leases that have ended: pay for verified delivery, take the fee, refund the rest.

The job runs every minute and reads only leases that are due (the sparse ``due`` index,
ordered by end time). Each settlement is one transaction that can succeed once, so the job
is idempotent and resumable: a crash leaves each lease either settled or still due.

What a lease costs. ``accrued`` is the time it ran at its hourly price (rounded up to the
micro-credit, at most the escrow). The verified shares are the only evidence of work: a
rig at its advertised rate finds ``expected = advertised × elapsed / hashes_per_share``
shares on average (about one a minute), and ``k`` shares prove ``ratio = k / expected`` of
the advertised work (``delivered_ratio``). One rule, with ``z = 2`` and the threshold
``θ = delivery_threshold_bp`` (90 %), ``T = θ × expected``:

    charge = accrued                          if k ≥ expected, or if k ≥ z² and
                                                 k ≥ T − z·√T      (benefit of the doubt)
    charge = floor(accrued × min(ratio, 1))   otherwise           (pro rata: a shortfall)

- The benefit of the doubt: shares are random (Poisson), so an honest rig at exactly its
  advertised rate sends fewer than expected about half the time. A count within ``z``
  standard deviations (√T) of what the threshold rate would produce is no proof of a
  shortfall, and is paid in full; so at large counts an honest rig is practically never
  docked (an hour: 60 expected, docked below 39.3 shares, chance 0.25 %).
- It needs evidence: fewer than ``z² = 4`` shares measure the rate no better than ±50 %
  (a count's relative error is 1/√k), which cannot tell a full-rate rig from a half-rate
  one. Below that the renter pays only for what the shares prove, pro
  rata, and zero shares prove nothing: a lease that ran and proved no share costs nothing,
  however short (the 2σ test alone forgave zero shares on leases up to 4.4 minutes).
- Consequences, worked out in the tests: the rule is monotone in ``k``; on a lease of at
  most ``z²`` expected shares it is exactly pro rata, so no rig, idle or slow, is paid more
  on average than it delivers; the price is that an honest rig is paid less than in full
  on average on very short leases (about 80 % at 4 minutes, against 99.2 % at 10 and
  99.9 % at an hour), which is why listings default to a 10-minute minimum.
Money stays integer: the only float is the ratio, applied to ``accrued`` and floored (in the
renter's favour); then ``0 ≤ charge ≤ accrued ≤ escrow``, ``payout + fee = charge`` and
``refund = escrow − charge``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from functions.dal.leases import LeaseRepository
from functions.errors import AlreadySettled, ConcurrentUpdate
from functions.models.market import Lease
from functions.models.money import BASIS_POINTS, fee_of
from functions.observability import logger
from functions.ports.devices import DeviceCommands
from protocol.downlink import Release
from protocol.shares import SharePattern

ALREADY = "already"
RETRY = "retry"
_Z = 2.0  # standard deviations of share-count noise tolerated before a shortfall counts
# The fewest shares that earn the benefit of the doubt: below z² a count's z-sigma band
# is as wide as the count itself (z·√k ≥ k), so it measures nothing.
MIN_EVIDENCE = _Z**2
# Relative slack when comparing a share count with the (float) expected count, so that a
# rig that sent exactly the expected number is not docked a micro-credit by rounding.
_EXPECTED_SLACK = 1e-9


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
    # Zero shares prove nothing, whatever ``share_work`` says: the charge is then zero.
    proven = min(ratio, 1.0) if lease.shares > 0 else 0.0
    charge = math.floor(accrued * proven) if shortfall else accrued
    fee = fee_of(charge, lease.fee_bp)
    return Split(
        charge=charge,
        payout=charge - fee,
        fee=fee,
        refund=lease.escrow - charge,
        delivered_ratio=ratio,
        shortfall=shortfall,
    )


def expected_shares(lease: Lease) -> float:
    """How many shares a rig at the advertised rate finds on average in the time it ran."""
    per_share = SharePattern.parse(lease.share_pattern).expected_hashes()
    return lease.advertised_hashrate * lease.elapsed_sec / per_share


def _is_shortfall(lease: Lease, threshold_bp: int) -> bool:
    """Whether the lease is charged pro rata (see the module docstring for the rule)."""
    shares = lease.shares
    expected = expected_shares(lease)
    if shares >= expected * (1 - _EXPECTED_SLACK):
        return False  # proved at least the advertised work
    if shares < MIN_EVIDENCE:
        return True  # too few shares to give the benefit of the doubt (zero: none at all)
    at_threshold = expected * threshold_bp / BASIS_POINTS
    return shares < at_threshold - _Z * math.sqrt(at_threshold)


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
            logger.warning(
                "concurrent update: the lease settles on a later run",
                extra={"lease_id": lease.lease_id},
            )
            return RETRY
        logger.info(
            "lease settled",
            extra={
                "lease_id": lease.lease_id,
                "charge": split.charge,
                "payout": split.payout,
                "fee": split.fee,
                "refund": split.refund,
                "delivered_pct": round(split.delivered_ratio * 100, 1),
                "shortfall": split.shortfall,
            },
        )
        try:
            self._commands.task(lease.worker_id, Release(lease_id=lease.lease_id))
        except Exception:
            logger.warning(
                "release not published",
                extra={"lease_id": lease.lease_id, "worker_id": lease.worker_id},
                exc_info=True,
            )
        return split
