"""The XenBlocks rules as code: the Argon2id reference hash, keys, block classification.

Difficulty is the Argon2 memory cost in KiB and is published by the network; a local or
test deployment configures a smaller one (and an easier block pattern) in ``BlockRules``.
"""

import base64
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from typing import Annotated

from argon2.low_level import Type, hash_secret_raw
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from protocol.addresses import salt_bytes
from protocol.errors import ProtocolError

KEY_LENGTH = 64  # hex characters
PREFIX_LENGTH = 16  # hex characters a lease reserves at the start of every key
HASH_LENGTH = 64  # raw Argon2 output bytes (86 base64 characters)
MIN_DIFFICULTY = 8  # Argon2's minimum memory cost in KiB for parallelism 1
ARGON2_VERSION = 19  # v1.3
BASE64_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

MAX_NODE_KEY_LENGTH = 128  # the node takes any hex key up to this long
_KEY = re.compile(r"[0-9a-f]{64}")
_NODE_KEY = re.compile(r"[0-9a-fA-F]{1,128}")
_PREFIX = re.compile(r"[0-9a-f]{16}")


def argon2_raw(key: str, salt: bytes, memory_cost: int) -> bytes:
    """The raw 64-byte Argon2id v1.3 hash (t=1, p=1) of ``key`` at ``memory_cost`` KiB."""
    if memory_cost < MIN_DIFFICULTY:
        raise ProtocolError(f"must be at least {MIN_DIFFICULTY}", field="difficulty")
    return hash_secret_raw(
        secret=key.encode("ascii"),
        salt=salt,
        time_cost=1,
        memory_cost=memory_cost,
        parallelism=1,
        hash_len=HASH_LENGTH,
        type=Type.ID,
        version=ARGON2_VERSION,
    )


def b64_nopad(raw: bytes) -> str:
    """Standard-alphabet base64 without ``=`` padding, as Argon2's encoded form writes it."""
    return base64.b64encode(raw).decode("ascii").rstrip("=")


def compute_hash(key: str, address: str, memory_cost: int) -> str:
    """The XenBlocks hash of ``key`` mined for ``address``: what blocks are judged on."""
    return b64_nopad(argon2_raw(key, salt_bytes(address), memory_cost))


def encoded_hash(raw: bytes, salt: bytes, memory_cost: int) -> str:
    """The PHC-encoded form the network's ``/verify`` takes as ``hash_to_verify``."""
    params = f"v={ARGON2_VERSION}$m={memory_cost},t=1,p=1"
    return f"$argon2id${params}${b64_nopad(salt)}${b64_nopad(raw)}"


class BlockKind(StrEnum):
    NORMAL = "normal"
    SUPER = "super"
    XUNI = "xuni"


class BlockRules(BaseModel):
    """What a deployment counts as a block.

    The defaults are the main network's patterns. ``difficulty`` defaults to a typical
    network value only so the model is usable as is; real deployments set what the
    network's ``GET /difficulty`` publishes.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    difficulty: int = Field(default=1727, ge=MIN_DIFFICULTY)
    block_pattern: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]{1,16}$")] = "XEN11"
    superblock_min_uppercase: int = Field(default=50, ge=1)
    xuni_pattern: Annotated[str, StringConstraints(min_length=1, max_length=64)] = r"XUNI[0-9]"
    xuni_windows: tuple[tuple[int, int], ...] = ((0, 4), (55, 59))

    @field_validator("xuni_pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as error:  # not a ValueError, so pydantic would not report it
            raise ValueError(f"not a regular expression: {error}") from None
        return pattern

    @field_validator("xuni_windows")
    @classmethod
    def _minute_ranges(cls, windows: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
        if not all(0 <= first <= last <= 59 for first, last in windows):
            raise ValueError("each window is (first, last) minute with 0 <= first <= last <= 59")
        return windows

    @cached_property
    def xuni_regex(self) -> re.Pattern[str]:
        return re.compile(self.xuni_pattern)


@dataclass(frozen=True)
class Classification:
    """``kind`` is None when the hash is no block; ``reason`` says why either way."""

    kind: BlockKind | None
    reason: str


def in_xuni_window(found_at: datetime, rules: BlockRules) -> bool:
    minute = _as_utc(found_at).minute
    return any(first <= minute <= last for first, last in rules.xuni_windows)


def classify(hash_b64: str, arrived_at: datetime, rules: BlockRules) -> Classification:
    """Judge a base64 hash as the node does when it ``arrived_at`` the node.

    The node's order: a hash containing the XUNI pattern is XUNI, kept only when it arrives
    inside a XUNI window and refused otherwise, even if it also holds the block pattern;
    else the block pattern makes a block, a superblock with enough uppercase letters.
    """
    arrived_at = _as_utc(arrived_at)
    if rules.xuni_regex.search(hash_b64):
        if in_xuni_window(arrived_at, rules):
            return Classification(BlockKind.XUNI, "xuni")
        return Classification(None, "xuni_outside_window")
    if rules.block_pattern in hash_b64:
        # Count ASCII only: str.isupper() would also count letters outside base64.
        uppercase = sum(1 for char in hash_b64 if "A" <= char <= "Z")
        if uppercase >= rules.superblock_min_uppercase:
            return Classification(BlockKind.SUPER, "super")
        return Classification(BlockKind.NORMAL, "normal")
    return Classification(None, "no_block_pattern")


def _as_utc(moment: datetime) -> datetime:
    # A naive time would silently be read as the server's local time.
    if moment.utcoffset() is None:
        raise ProtocolError("must be timezone-aware", field="found_at")
    return moment.astimezone(UTC)


def validate_prefix(prefix: str) -> str:
    if not _PREFIX.fullmatch(prefix):
        raise ProtocolError(f"must be {PREFIX_LENGTH} lowercase hex characters", field="prefix")
    return prefix


def validate_key(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise ProtocolError(f"must be {KEY_LENGTH} lowercase hex characters", field="key")
    return key


def validate_node_key(key: str) -> str:
    """A key as the node takes it (any rig's, not only ours): 1-128 hex characters, either
    case. The key is hashed as the text it is, so its case is part of the work."""
    if not _NODE_KEY.fullmatch(key):
        raise ProtocolError(f"must be 1-{MAX_NODE_KEY_LENGTH} hex characters", field="key")
    return key


def key_has_prefix(key: str, prefix: str) -> bool:
    """Whether a (rig-reported) key was mined under the lease's (trusted) ``prefix``."""
    return key.startswith(validate_prefix(prefix))


def new_prefix() -> str:
    return secrets.token_hex(PREFIX_LENGTH // 2)


def generate_key(prefix: str = "") -> str:
    """A random key; under a lease it starts with the lease's prefix."""
    if prefix:
        validate_prefix(prefix)
    return prefix + secrets.token_hex((KEY_LENGTH - len(prefix)) // 2)
