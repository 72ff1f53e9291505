"""Blocks a rig reported (verified or rejected) and the shares it proved work with."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StrictInt, computed_field, model_validator

from functions.models.base import Record
from protocol.xenblocks import BlockKind

# Epoch seconds. Never negative: they are written zero-padded into sort keys (``ts_key``).
Timestamp = Annotated[StrictInt, Field(ge=0)]


class NetworkStatus(StrEnum):
    """What the XenBlocks network made of a block.

    ``unconfirmed`` until an answer is recorded: the rig relays the node's answer to its
    ``/verify`` (``accepted``; ``duplicate``, saved earlier, counts as accepted; ``refused``
    with the node's reason; ``unreachable`` when the rig gave up), or the network job finds
    the block with the node's read API.
    """

    UNCONFIRMED = "unconfirmed"
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REFUSED = "refused"
    UNREACHABLE = "unreachable"

    @property
    def final(self) -> bool:
        """An answer no later report changes (``unreachable`` may still become one)."""
        return self in (NetworkStatus.ACCEPTED, NetworkStatus.DUPLICATE, NetworkStatus.REFUSED)


# The fields a block gets from its verdict when read (stored apart, never on the block item).
NETWORK_FIELDS = frozenset({"network_status", "network_reason", "network_at"})


def ts_key_of(ts: int, hash_b64: str) -> str:
    """A sort key that orders by time, then by hash (unique), as a string index key."""
    return f"{ts:012d}#{hash_b64}"


class Block(Record):
    """One reported block, kept whatever the verdict: ``reason`` says why it did or didn't count."""

    hash: str
    worker_id: str
    owner: str  # the worker's provider address
    lease_id: str | None = None
    account: str  # the address it was mined for (the salt)
    key: str
    difficulty: Annotated[StrictInt, Field(gt=0)]
    attempts: Annotated[StrictInt, Field(ge=0)]
    reported_hashrate: Annotated[float, Field(ge=0)]
    kind: BlockKind | None = None
    verified: bool
    reason: str  # e.g. "super", "wrong_prefix", "below_difficulty"
    found_at: Timestamp  # the rig's clock
    recorded_at: Timestamp  # ours
    # The network's answer, joined from its verdict (``VerdictRepository.attach``).
    network_status: NetworkStatus = NetworkStatus.UNCONFIRMED
    network_reason: str | None = None
    network_at: Timestamp | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def network_accepted(self) -> bool | None:
        """True when the network holds the block (accepted, or a duplicate of one it had),
        False when it refused it, None while unknown."""
        if self.network_status in (NetworkStatus.ACCEPTED, NetworkStatus.DUPLICATE):
            return True
        if self.network_status is NetworkStatus.REFUSED:
            return False
        return None

    @model_validator(mode="after")
    def _verified_has_kind(self) -> Block:
        if self.verified and self.kind is None:
            raise ValueError("a verified block has a kind")
        return self

    @property
    def ts_key(self) -> str:
        return ts_key_of(self.recorded_at, self.hash)


class Share(Record):
    """A verified proof-of-work share of a lease."""

    hash: str
    lease_id: str
    worker_id: str
    key: str
    difficulty: Annotated[StrictInt, Field(gt=0)]
    work: Annotated[float, Field(ge=0)]  # the expected hashes the share stands for
    found_at: Timestamp
    recorded_at: Timestamp
    expires_at: Timestamp

    @property
    def ts_key(self) -> str:
        return ts_key_of(self.found_at, self.hash)
