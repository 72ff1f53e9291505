"""What the XenBlocks network says, as the platform keeps it: the difficulty it publishes
with its recent changes, and the node's verdict on each block our rigs submitted."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictInt, model_validator

from functions.models.base import Record
from functions.models.blocks import NetworkStatus, Timestamp
from protocol.xenblocks import MIN_DIFFICULTY

# The node's difficulty is an Argon2 memory cost in KiB: Argon2's minimum to a 32-bit int.
MAX_NETWORK_DIFFICULTY = 2**32 - 1
Difficulty = Annotated[StrictInt, Field(ge=MIN_DIFFICULTY, le=MAX_NETWORK_DIFFICULTY)]

# How many changes the state keeps (newest first). At the reference node's fastest (a step
# every 5 minutes) that is over 2.5 hours; older times fall back on ``floor``.
HISTORY = 32


class DifficultyChange(Record):
    """One value the network published and when it held.

    ``since`` is the earliest it may have taken effect (the last read that still saw the
    value before it); ``seen_at`` when the platform first read it.
    """

    difficulty: Difficulty
    since: Timestamp
    seen_at: Timestamp

    @model_validator(mode="after")
    def _ordered(self) -> DifficultyChange:
        if self.since > self.seen_at:
            raise ValueError("since is never after seen_at")
        return self


class NetworkState(Record):
    """The one ``network`` item the job keeps and ingest and the API read.

    ``changes`` is newest first: ``changes[0]`` is the current difficulty. ``floor`` is the
    lowest difficulty among the changes dropped off the end of the history (None while
    nothing was dropped): blocks found before the oldest change kept need at least the
    lower of it and the oldest change.
    """

    changes: tuple[DifficultyChange, ...] = Field(min_length=1, max_length=HISTORY)
    floor: Difficulty | None = None
    checked_at: Timestamp | None = None  # the last successful read
    failures: Annotated[StrictInt, Field(ge=0)] = 0  # consecutive failed reads
    last_error: str | None = None
    failed_at: Timestamp | None = None
    version: Annotated[StrictInt, Field(ge=0)] = 0  # for conditional writes

    @property
    def difficulty(self) -> int:
        return self.changes[0].difficulty

    @model_validator(mode="after")
    def _newest_first(self) -> NetworkState:
        times = [change.seen_at for change in self.changes]
        if times != sorted(times, reverse=True):
            raise ValueError("changes are newest first")
        return self


class Verdict(Record):
    """The network's answer on one verified block (kept apart from the block, keyed by hash).

    ``source`` says who told us: ``rig`` (the rig relayed the node's answer to its
    ``/verify``) or ``node`` (the network job found the block with the node's read API).
    """

    hash: str
    worker_id: str
    lease_id: str | None = None
    status: NetworkStatus
    reason: str | None = None  # the node's message on a refusal
    http_status: int | None = None
    difficulty: int | None = None  # the memory cost the rig submitted at
    network_difficulty: int | None = None  # what the node published, as the rig last read
    source: str = "rig"
    at: Timestamp  # when the platform recorded it

    @model_validator(mode="after")
    def _a_real_answer(self) -> Verdict:
        if self.status is NetworkStatus.UNCONFIRMED:
            raise ValueError("a verdict is an answer: unconfirmed is the lack of one")
        return self
