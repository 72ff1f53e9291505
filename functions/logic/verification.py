"""Verified work: a reported block or share counts only after we recompute it.

Checks run cheapest first and Argon2id last, so a forged report costs us a hash only when
everything else about it is right. Every refusal has a short, stable reason that ends up
on the stored block, in the log line and in the metric.

Difficulty is judged as the node judges it, against the network's recent history
(``functions.logic.network.DifficultyRule``): the memory cost must be at least the
difficulty in effect when the hash was found (the previous value still counting for a
grace after a change) and at most a sanity cap far above it. Shares mined below the
network's difficulty never count as delivered work. A block is classified as the node
classifies it when it arrives: at our ``received_at``, not the rig's timestamp (XUNI is
only XUNI inside its window at arrival).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

from functions.logic.network import DifficultyRule
from functions.models.market import Lease
from functions.models.workers import Worker
from protocol.addresses import to_checksum
from protocol.errors import ProtocolError
from protocol.messages import BlockFound, Share
from protocol.shares import SharePattern
from protocol.xenblocks import (
    BlockKind,
    BlockRules,
    classify,
    compute_hash,
    validate_node_key,
)


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
    report: BlockFound,
    *,
    worker: Worker,
    lease: Lease | None,
    rules: BlockRules,
    clock: Clock,
    network: DifficultyRule | None = None,
) -> BlockVerdict:
    """Judge a block report. ``lease`` is the lease the report names (None if unknown or none).

    Under a lease the salt is the renter's address and the key must carry the lease's
    prefix; otherwise the salt is the owner's address. ``network`` is the difficulty's
    recent history (None: ``rules.difficulty`` pinned). A report without a difficulty was
    mined at the one in effect when it was found.
    """
    network = network or DifficultyRule.pinned(rules.difficulty)
    account = lease.renter if lease is not None else worker.owner
    difficulty = report.difficulty or network.in_effect(report.timestamp)
    try:
        if report.lease_id:
            _check_lease(lease, worker, report.timestamp, clock)
        elif lease is not None:
            raise _Refused("unknown_lease")
        _check_time(report.timestamp, clock)
        _check_account(report.account, account)
        _check_key(report.key, lease.prefix if lease else "")
        _check_difficulty(difficulty, network, report.timestamp)
        _check_hash(report.hash, report.key, account, difficulty)
    except _Refused as refused:
        return BlockVerdict(False, refused.reason, None, account, difficulty)
    arrived_at = datetime.fromtimestamp(clock.received_at, UTC)
    classification = classify(report.hash, arrived_at, rules)
    return BlockVerdict(
        classification.kind is not None,
        classification.reason,
        classification.kind,
        account,
        difficulty,
    )


def verify_share(
    report: Share,
    *,
    worker: Worker,
    lease: Lease | None,
    rules: BlockRules,
    clock: Clock,
    network: DifficultyRule | None = None,
) -> ShareVerdict:
    """Judge a share: the lease's, at its prefix and salt, matching its share pattern, and
    mined at no less than the network's difficulty when it was found."""
    network = network or DifficultyRule.pinned(rules.difficulty)
    try:
        _check_lease(lease, worker, report.timestamp, clock)
        assert lease is not None  # _check_lease refuses a missing lease
        if not lease.is_active:
            raise _Refused("lease_not_active")
        _check_time(report.timestamp, clock)
        _check_account(report.account, lease.renter)
        _check_key(report.key, lease.prefix)
        _check_difficulty(report.difficulty, network, report.timestamp)
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
        validate_node_key(key)  # what the node takes, so the C++ rigs' keys count too
    except ProtocolError:
        raise _Refused("bad_key") from None
    if not key.startswith(prefix):
        raise _Refused("wrong_prefix")


def _check_difficulty(difficulty: int, network: DifficultyRule, found_at: int) -> None:
    if difficulty < network.required(found_at):
        raise _Refused("below_difficulty")
    if difficulty > network.cap:
        raise _Refused("difficulty_too_high")


def _check_hash(reported: str, key: str, account: str, difficulty: int) -> None:
    expected = compute_hash(key, account, difficulty)
    if not hmac.compare_digest(expected.encode(), reported.encode()):
        raise _Refused("hash_mismatch")
