"""How a lease measures the work a rig delivers, by what the rig can prove.

Every rig is paid for verified work only (logic/settlement.py), counted as shares of the
lease's pattern; which pattern depends on the rig (its register's ``share_mode``):

- ``pattern`` (this platform's miner): any pattern, about one share per
  ``share_interval_seconds`` at the advertised hashrate;
- ``block_pattern`` (XenblocksMiner rigs behind the bridge): the start of the block
  pattern (XEN11), which the bridge sets as the rig's block pattern, so the rig's block
  reports double as shares and no real block is missed; at least
  ``BLOCK_PATTERN_INTERVAL`` apart, as the rig submits each one to the node too;
- none (a rig that sends no shares): the block pattern, the blocks themselves. A verified
  block under such a lease counts as a share; the estimate is honest but coarse (see
  ``uncertainty``).
"""

from __future__ import annotations

import math

from functions.models.market import Lease
from protocol.messages import MeasuredBy, ShareMode
from protocol.shares import SharePattern, block_literal_for, share_pattern_for

BLOCK_PATTERN_INTERVAL = 30.0  # seconds between a C++ rig's pattern hits, at least


def measured_by(share_mode: ShareMode | None) -> MeasuredBy:
    return "blocks" if share_mode is None else "shares"


def lease_pattern(
    share_mode: ShareMode | None,
    hashrate_hs: float,
    share_interval_s: float,
    block_pattern: str = "XEN11",
) -> SharePattern:
    """The share pattern of a new lease on a rig of ``share_mode`` at ``hashrate_hs``."""
    if share_mode is ShareMode.PATTERN:
        return share_pattern_for(hashrate_hs, share_interval_s)
    interval = max(share_interval_s, BLOCK_PATTERN_INTERVAL)
    if share_mode is ShareMode.BLOCK_PATTERN:
        return block_literal_for(hashrate_hs, interval, block_pattern)
    return SharePattern(block_pattern[:8])


def block_counts_as_share(lease: Lease, hash_b64: str) -> bool:
    """Whether a verified block under ``lease`` is also its share: only where blocks are the
    measure (a rig that sends shares reports the same hash as a share itself)."""
    return lease.measured_by == "blocks" and SharePattern.parse(lease.share_pattern).matches(
        hash_b64
    )


def uncertainty(pattern: SharePattern, hashrate_hs: float, duration_s: int) -> float:
    """The relative standard deviation of the delivered-work estimate of a lease of
    ``duration_s`` at ``hashrate_hs`` (Poisson: 1/sqrt(expected proofs)); inf for none."""
    expected = hashrate_hs * duration_s / pattern.expected_hashes()
    return 1 / math.sqrt(expected) if expected > 0 else math.inf
