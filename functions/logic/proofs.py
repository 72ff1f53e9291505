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
from dataclasses import dataclass

from functions.logic.work import hashrate_at
from functions.models.market import Lease
from functions.models.workers import Worker
from protocol.messages import MeasuredBy, ShareMode
from protocol.shares import MAX_LITERAL, SharePattern, block_literal_for, share_pattern_for

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


@dataclass(frozen=True)
class BlockOutlook:
    """What a lease of ``duration_s`` at ``hashrate_hs`` may find: its hashes times the
    chance that one hash contains the block pattern (the same odds a share pattern has)."""

    hashrate_hs: float
    expected_hashes: float
    block_probability: float | None  # None: a pattern longer than the odds are known for
    expected_blocks: float | None
    uncertainty: float | None  # relative standard deviation (Poisson); None: no block expected


def block_outlook(hashrate_hs: float, duration_s: int, block_pattern: str) -> BlockOutlook:
    """Expected blocks = hashes × P(a hash contains ``block_pattern``).

    XUNI hashes (which the node counts before blocks) and superblocks change the count by
    far less than its own noise. Only a test deployment's block pattern can be longer than
    a share pattern's literal; its odds are then not estimated (None).
    """
    hashes = max(hashrate_hs, 0.0) * max(duration_s, 0)
    if len(block_pattern) > MAX_LITERAL:
        return BlockOutlook(hashrate_hs, hashes, None, None, None)
    pattern = SharePattern(block_pattern)
    spread = uncertainty(pattern, hashrate_hs, duration_s) if hashes > 0 else math.inf
    return BlockOutlook(
        hashrate_hs=hashrate_hs,
        expected_hashes=hashes,
        block_probability=pattern.probability(),
        expected_blocks=hashes * pattern.probability(),
        uncertainty=spread if math.isfinite(spread) else None,
    )


def lease_outlook(
    hashrate_hs: float,
    rig: Worker | None,
    *,
    difficulty: int,
    duration_s: int,
    block_pattern: str,
) -> BlockOutlook:
    """The blocks a lease of ``duration_s`` may find at the network's ``difficulty``.

    A rig that reported a hashrate and the difficulty it mined at does the same work at the
    network's difficulty (``work.hashrate_at``): its pace there. Otherwise ``hashrate_hs``
    (the listing's advertised hashrate, or the one asked for) is taken as it is.
    """
    if rig is not None and rig.hashrate > 0 and rig.difficulty:
        hashrate_hs = hashrate_at(rig.hashrate, rig.difficulty, difficulty)
    return block_outlook(hashrate_hs, duration_s, block_pattern)
