"""Finding real blocks and shares by brute force, at the tiny test difficulty."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from protocol.xenblocks import BlockKind, BlockRules, classify, compute_hash, generate_key

MAX_TRIES = 200_000


def is_normal_block(hash_b64: str, pattern: str = "XEN") -> bool:
    """A block and not a superblock (about 1 in 2,000 pattern hits has 50+ capitals)."""
    rules = BlockRules(difficulty=8, block_pattern=pattern)
    return classify(hash_b64, datetime.now(UTC), rules).kind is BlockKind.NORMAL


def mine(
    address: str,
    difficulty: int,
    accept: Callable[[str], bool],
    *,
    prefix: str = "",
) -> tuple[str, str]:
    """A (key, hash) mined for ``address`` whose hash ``accept`` likes."""
    for _ in range(MAX_TRIES):
        key = generate_key(prefix)
        hash_b64 = compute_hash(key, address, difficulty)
        if accept(hash_b64):
            return key, hash_b64
    raise AssertionError("no hash found; is the pattern too hard for a test?")
