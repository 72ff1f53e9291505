"""What every hash backend offers: Argon2id (t=1, p=1, 64-byte output) over a range of keys.

Keys are never shipped one by one. A ``KeyRange`` names ``count`` consecutive keys
``stem + counter`` (48 hex characters of stem, then the counter as 16 lowercase hex
characters), so a GPU derives every key itself and the host uploads nothing per hash.
Under a lease the stem starts with the lease's 16-character prefix.

A backend hashes asynchronously: ``start`` launches a batch and returns at once, ``result``
waits for its raw hashes (``count`` × 64 bytes, in key order). The mining loop keeps two
batches in flight, so the device computes one while the host checks the other.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from protocol.xenblocks import HASH_LENGTH, KEY_LENGTH, MIN_DIFFICULTY, validate_prefix

COUNTER_LENGTH = 16  # hex characters at the end of every key
STEM_LENGTH = KEY_LENGTH - COUNTER_LENGTH  # 48
MAX_COUNTER = 16**COUNTER_LENGTH - 1
_STEM = re.compile(r"[0-9a-f]{48}")


class BackendError(RuntimeError):
    """A backend could not be set up or failed to hash (no GPU, CUDA error, dead pool)."""


@dataclass(frozen=True)
class KeyRange:
    """The keys ``stem + f"{counter:016x}"`` for counter in [start, start + count)."""

    stem: str
    start: int
    count: int

    def __post_init__(self) -> None:
        if not _STEM.fullmatch(self.stem):
            raise ValueError(f"stem must be {STEM_LENGTH} lowercase hex characters")
        if self.count < 1 or self.start < 0 or self.start + self.count - 1 > MAX_COUNTER:
            raise ValueError("counter range out of bounds")

    def key(self, index: int) -> str:
        """The ``index``-th key of the range (0-based)."""
        if not 0 <= index < self.count:
            raise IndexError(index)
        return f"{self.stem}{self.start + index:016x}"

    def all_keys(self) -> list[str]:
        return [self.key(index) for index in range(self.count)]

    def following(self, count: int) -> KeyRange:
        """The next ``count`` keys after this range, same stem."""
        return KeyRange(self.stem, self.start + self.count, count)


def new_stem(prefix: str = "") -> str:
    """A random stem; under a lease it starts with the lease's key prefix."""
    if prefix:
        validate_prefix(prefix)
    return prefix + secrets.token_hex((STEM_LENGTH - len(prefix)) // 2)


def check_difficulty(difficulty: int) -> int:
    if difficulty < MIN_DIFFICULTY:
        raise ValueError(f"difficulty must be at least {MIN_DIFFICULTY}")
    return difficulty


class PendingBatch(Protocol):
    def result(self) -> bytes:
        """Block until done; the raw hashes, ``count`` × 64 bytes in key order."""
        ...


class HashBackend(Protocol):
    """One hashing device (a GPU, or the CPU's cores together)."""

    name: str  # "cpu" or "cupy"

    @property
    def device(self) -> str:
        """A human description, e.g. ``NVIDIA H100 80GB HBM3 #0`` or ``cpu × 16``."""
        ...

    def batch_size(self, difficulty: int) -> int:
        """How many keys one ``start`` should hash at ``difficulty`` to keep it busy."""
        ...

    def start(self, keys: KeyRange, salt: bytes, difficulty: int) -> PendingBatch:
        """Launch hashing of ``keys`` with ``salt`` (20 bytes) at ``difficulty`` KiB."""
        ...

    def hash_keys(self, keys: Sequence[str], salt: bytes, difficulty: int) -> list[bytes]:
        """Hash arbitrary 64-hex-character keys (debugging and tests); blocking."""
        ...

    def close(self) -> None:
        """Release the device, processes and memory; safe to call twice."""
        ...


def split_hashes(raw: bytes) -> list[bytes]:
    """``count`` × 64 bytes → a list of 64-byte hashes."""
    if len(raw) % HASH_LENGTH:
        raise ValueError("not a whole number of hashes")
    return [raw[offset : offset + HASH_LENGTH] for offset in range(0, len(raw), HASH_LENGTH)]
