"""What the devices look for, and finding it in a batch of raw hashes.

A ``Job`` says for whom and how to hash: the address (salt), the lease's key prefix and
share pattern when leased, the difficulty and the deployment's block rules. ``scan`` turns
a batch of raw hashes into ``Find``s: blocks (by ``protocol.xenblocks.classify``) and,
under a lease, shares. It is built for GPU rates: the whole batch is base64-encoded in one
call and searched with one regular expression, and only the few hits are judged one by one.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property

import numpy as np

from miner.backends.base import KeyRange, new_stem
from protocol.addresses import salt_bytes, to_checksum
from protocol.shares import HASH_CHARS, SharePattern
from protocol.xenblocks import HASH_LENGTH, BlockKind, BlockRules, classify

# Each 64-byte hash is padded to 66 bytes so it encodes to exactly 88 characters on its
# own; the first 86 are its base64 and the last two (padding) are blanked with a
# character outside base64, so no pattern matches across two hashes.
_PADDED_BYTES = 66
_ENCODED_CHARS = 88
_BLANK = ord(".")


class FindKind(StrEnum):
    BLOCK = "block"
    SHARE = "share"


@dataclass(frozen=True)
class Job:
    """What to mine. ``lease_id`` empty means self-mining for the owner's address."""

    address: str
    difficulty: int
    rules: BlockRules
    lease_id: str = ""
    prefix: str = ""
    share_pattern: SharePattern | None = None
    # Makes every job distinct even when its fields repeat (a lease re-assigned).
    stem: str = field(default="")

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", to_checksum(self.address))
        if not self.stem:
            object.__setattr__(self, "stem", new_stem(self.prefix))
        if self.prefix and not self.stem.startswith(self.prefix):
            raise ValueError("the stem must start with the lease's prefix")

    @cached_property
    def salt(self) -> bytes:
        return salt_bytes(self.address)

    @property
    def leased(self) -> bool:
        return bool(self.lease_id)

    def with_difficulty(self, difficulty: int) -> Job:
        return Job(
            address=self.address,
            difficulty=difficulty,
            rules=self.rules.model_copy(update={"difficulty": difficulty}),
            lease_id=self.lease_id,
            prefix=self.prefix,
            share_pattern=self.share_pattern,
            stem=self.stem,
        )

    @cached_property
    def search_regex(self) -> re.Pattern[str]:
        """Anything that may be a block or a share; ``scan`` judges each hit exactly."""
        alternatives = [re.escape(self.rules.block_pattern), self.rules.xuni_pattern]
        if self.share_pattern is not None and self.leased:
            alternatives.append(_share_regex(self.share_pattern))
        return re.compile("|".join(f"(?:{alternative})" for alternative in alternatives))


@dataclass(frozen=True)
class Find:
    job: Job
    kind: FindKind
    key: str
    hash_b64: str
    raw: bytes
    found_at: datetime
    block_kind: BlockKind | None = None  # for blocks


def _share_regex(pattern: SharePattern) -> str:
    tail = f"[{re.escape(pattern.char_set)}]" if pattern.char_set else ""
    return re.escape(pattern.literal) + tail


def encode_batch(raw: bytes) -> str:
    """The base64 of every hash, 88 characters each (86 of hash, then two blanks)."""
    count, remainder = divmod(len(raw), HASH_LENGTH)
    if remainder:
        raise ValueError("not a whole number of hashes")
    padded = np.zeros((count, _PADDED_BYTES), dtype=np.uint8)
    padded[:, :HASH_LENGTH] = np.frombuffer(raw, dtype=np.uint8).reshape(count, HASH_LENGTH)
    encoded = np.frombuffer(base64.b64encode(padded.tobytes()), dtype=np.uint8).copy()
    encoded = encoded.reshape(count, _ENCODED_CHARS)
    encoded[:, HASH_CHARS:] = _BLANK
    return encoded.tobytes().decode("ascii")


def scan(job: Job, keys: KeyRange, raw: bytes, now: datetime | None = None) -> list[Find]:
    """The blocks and shares among the hashes of ``keys`` (``raw`` in key order)."""
    found_at = now or datetime.now(UTC)
    text = encode_batch(raw)
    finds: list[Find] = []
    seen: set[int] = set()
    for match in job.search_regex.finditer(text):
        index = match.start() // _ENCODED_CHARS
        if index in seen:
            continue
        seen.add(index)
        offset = index * _ENCODED_CHARS
        hash_b64 = text[offset : offset + HASH_CHARS]
        hash_raw = raw[index * HASH_LENGTH : (index + 1) * HASH_LENGTH]
        key = keys.key(index)
        verdict = classify(hash_b64, found_at, job.rules)
        if verdict.kind is not None:
            finds.append(Find(job, FindKind.BLOCK, key, hash_b64, hash_raw, found_at, verdict.kind))
        # A block that also matches the share pattern is a share too: it proves the work.
        if job.leased and job.share_pattern is not None and job.share_pattern.matches(hash_b64):
            finds.append(Find(job, FindKind.SHARE, key, hash_b64, hash_raw, found_at))
    return finds
