"""Finding real blocks and shares by brute force, at the tiny test difficulty."""

from __future__ import annotations

from collections.abc import Callable

from protocol.xenblocks import compute_hash, generate_key

MAX_TRIES = 200_000


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
