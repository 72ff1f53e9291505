"""Verified work: a reported block or share counts only after we recompute it.

Checks run cheapest first and Argon2id last, so a forged report costs us a hash only when
everything else about it is right. Every refusal has a short, stable reason that ends up
on the stored block, in the log line and in the metric.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

from functions.models.market import Lease
from functions.models.workers import Worker
from protocol.addresses import to_checksum
from protocol.errors import ProtocolError
from protocol.messages import BlockFound, Share
from protocol.shares import SharePattern
from protocol.xenblocks import BlockKind, BlockRules, classify, compute_hash, validate_key

# Recomputing costs ``difficulty`` KiB of memory: refuse claims far above the network's.
MAX_DIFFICULTY_FACTOR = 4


@dataclass(frozen=True)
class Clock:
    """When the message reached us, and how far a rig's own timestamps may stray from it."""

    received_at: int
    max_age: int
    skew: int


@dataclass(frozen=True)
class BlockVerdict:
    verified: bool
    reason: str
    kind: BlockKind | None
    account: str  # the address the block counts for (the salt that applies)
    difficulty: int


@dataclass(frozen=True)
class ShareVerdict:
    verified: bool
    reason: str
    work: float = 0.0  # the expected hashes one share of the lease's pattern stands for


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def verify_block(
    report: BlockFound, *, worker: Worker, lease: Lease | None, rules: BlockRules, clock: Clock
) -> BlockVerdict:
    """Judge a block report. ``lease`` is the lease the report names (None if unknown or none).

    Under a lease the salt is the renter's address and the key must carry the lease's
    prefix; otherwise the salt is the owner's address.
    """
    account = lease.renter if lease is not None else worker.owner
    difficulty = report.difficulty or rules.difficulty
    try:
        if report.lease_id:
            _check_lease(lease, worker, report.timestamp, clock)
        elif lease is not None:
            raise _Refused("unknown_lease")
        _check_time(report.timestamp, clock)
        _check_account(report.account, account)
        _check_key(report.key, lease.prefix if lease else "")
        _check_difficulty(difficulty, rules)
        _check_hash(report.hash, report.key, account, difficulty)
    except _Refused as refused:
        return BlockVerdict(False, refused.reason, None, account, difficulty)
    found_at = datetime.fromtimestamp(report.timestamp, UTC)
    classification = classify(report.hash, found_at, rules)
    return BlockVerdict(
        classification.kind is not None,
        classification.reason,
        classification.kind,
        account,
        difficulty,
    )


def verify_share(
    report: Share, *, worker: Worker, lease: Lease | None, rules: BlockRules, clock: Clock
) -> ShareVerdict:
    """Judge a share: the lease's, at its prefix and salt, and matching its share pattern."""
    try:
        _check_lease(lease, worker, report.timestamp, clock)
        assert lease is not None  # _check_lease refuses a missing lease
        if not lease.is_active:
            raise _Refused("lease_not_active")
        _check_time(report.timestamp, clock)
        _check_account(report.account, lease.renter)
        _check_key(report.key, lease.prefix)
        _check_difficulty(report.difficulty, rules)
        pattern = SharePattern.parse(lease.share_pattern)
        if not pattern.matches(report.hash):
            raise _Refused("no_share_pattern")
        _check_hash(report.hash, report.key, lease.renter, report.difficulty)
    except _Refused as refused:
        return ShareVerdict(False, refused.reason)
    return ShareVerdict(True, "share", pattern.expected_hashes())


def _check_lease(lease: Lease | None, worker: Worker, found_at: int, clock: Clock) -> None:
    if lease is None or lease.worker_id != worker.worker_id:
        raise _Refused("unknown_lease")
    ended = lease.stopped_at if lease.stopped_at is not None else lease.ends_at
    if not lease.created_at - clock.skew <= found_at <= ended + clock.skew:
        raise _Refused("outside_lease")


def _check_time(found_at: int, clock: Clock) -> None:
    if found_at > clock.received_at + clock.skew:
        raise _Refused("from_the_future")
    if found_at < clock.received_at - clock.max_age:
        raise _Refused("too_old")


def _check_account(reported: str, expected: str) -> None:
    if to_checksum(reported) != expected:
        raise _Refused("wrong_account")


def _check_key(key: str, prefix: str) -> None:
    try:
        validate_key(key)
    except ProtocolError:
        raise _Refused("bad_key") from None
    if not key.startswith(prefix):
        raise _Refused("wrong_prefix")


def _check_difficulty(difficulty: int, rules: BlockRules) -> None:
    if difficulty < rules.difficulty:
        raise _Refused("below_difficulty")
    if difficulty > rules.difficulty * MAX_DIFFICULTY_FACTOR:
        raise _Refused("difficulty_too_high")


def _check_hash(reported: str, key: str, account: str, difficulty: int) -> None:
    expected = compute_hash(key, account, difficulty)
    if not hmac.compare_digest(expected.encode(), reported.encode()):
        raise _Refused("hash_mismatch")
