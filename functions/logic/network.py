"""Following the XenBlocks network: its difficulty, when each value held, and its verdicts.

The network publishes its difficulty at ``GET {node}/difficulty`` and moves it every few
minutes; the node accepts a block when its memory cost ``m`` is at least the difficulty at
the moment the block arrives (no upper limit). The platform follows it so that:

- ``register_ack`` and ``assign_task`` carry the value the network publishes now;
- verification accepts a block or share when ``m`` is at least the difficulty in effect when
  it was found (the rig's timestamp against the recent changes), the previous value still
  counting for a grace after each change, and ``m`` under a sanity cap;
- the node's own answer on each block is recorded next to ours (``Verdict``).

The ``network`` job (``NetworkFollower.run``, every minute in AWS) reads the node and keeps
the current value and its last ``HISTORY`` changes in one item. When the value rises it
pushes ``set_config`` to the rigs under an active lease, and to no other: every rig polls
the node itself at least once a minute (and re-reads it on a 401 naming ``m=``), so the
push is only the belt to those braces for the rigs whose work is being paid for, where a
rig still mining below the network would see its blocks refused. A drop is not pushed: a
block mined above the network's difficulty stays valid (the node has no upper limit) and
the rig's own poll brings it down within a minute. At 10,000 rigs a push per change per
online rig would cost more than the rest of the platform's IoT bill (see ``xenblocks
cost``). Then the job confirms recent unconfirmed leased blocks against the node's read API
(``GET /get_block?key=``).

``follow_network=False`` pins ``rules.difficulty``: no reads, no pushes, one value forever.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from functions.dal.blocks import BlockRepository
from functions.dal.leases import LeaseRepository
from functions.dal.network import NetworkRepository
from functions.errors import Conflict
from functions.models.blocks import Block, NetworkStatus
from functions.models.network import HISTORY, DifficultyChange, NetworkState, Verdict
from functions.observability import logger
from functions.ports.devices import DeviceCommands
from functions.ports.xenblocks_node import NodeError, XenBlocksNode
from functions.settings import Settings
from protocol.downlink import Control, SetConfig

# A block's memory cost may be at most this many times the highest difficulty of the recent
# history: recomputing it costs ``m`` KiB and its time, and no honest rig mines far above
# the network (the node has no upper limit, but a block 4x over it is 4x slower to find).
MAX_DIFFICULTY_FACTOR = 4
# Whatever the network says, never recompute above this (KiB): half the verify function's
# 1 GiB (infra/device_plane.py), so a hostile report cannot run it out of memory.
MAX_VERIFY_DIFFICULTY = 512 * 1024
# The most leases one rise is pushed to (one Query page of the lease index, then reads).
MAX_PUSHED_LEASES = 5000
# Leased blocks are confirmed against the node's read API once they are this old (their
# rig's own verdict had time to come) and once more an hour later; each run looks at the
# blocks recorded in the ``CONFIRM_SLOT`` seconds before each of those ages.
CONFIRM_AFTER_SECONDS = (300, 3600)
CONFIRM_SLOT = 60
CONFIRM_READS = 200  # node reads per run at most
CONFIRM_SECONDS = 30.0  # and for at most this long (the job's Lambda runs a minute)


def pinned_state(difficulty: int) -> NetworkState:
    """One value for all time: a pinned deployment, or the fallback before any read."""
    return NetworkState(changes=(DifficultyChange(difficulty=difficulty, since=0, seen_at=0),))


def observe(state: NetworkState | None, value: int, now: int, *, fallback: int) -> NetworkState:
    """The state after a successful read of ``value`` at ``now``.

    A new value is a change that may have happened any time since the last read that still
    saw the old one (``since``); the first value ever read applies from that read on, with
    ``fallback`` (the pinned value the platform used before following) as the floor of
    earlier times.
    """
    if state is None:
        first = DifficultyChange(difficulty=value, since=now, seen_at=now)
        return NetworkState(changes=(first,), floor=fallback, checked_at=now, version=1)
    common = {"checked_at": now, "failures": 0, "version": state.version + 1}
    if value == state.difficulty:
        return state.model_copy(update=common)
    since = state.checked_at if state.checked_at is not None else now
    change = DifficultyChange(difficulty=value, since=min(since, now), seen_at=now)
    changes = (change, *state.changes)
    kept, dropped = changes[:HISTORY], changes[HISTORY:]
    floor = state.floor
    for old in dropped:
        floor = old.difficulty if floor is None else min(floor, old.difficulty)
    return state.model_copy(update={**common, "changes": kept, "floor": floor})


def failed(state: NetworkState | None, error: str, now: int, *, fallback: int) -> NetworkState:
    """The state after a failed read: the value stays, the failure is counted."""
    base = state or pinned_state(fallback)
    return base.model_copy(
        update={
            "failures": base.failures + 1,
            "last_error": error[:300],
            "failed_at": now,
            "version": base.version + 1,
        }
    )


@dataclass(frozen=True)
class DifficultyRule:
    """What a found hash's memory cost must be, from the network's recent changes."""

    state: NetworkState
    grace: int

    def in_effect(self, found_at: int) -> int:
        """The value the network published at ``found_at``, as the platform read it (the
        latest change seen by then): the memory cost a report without one was mined at."""
        for change in self.state.changes:
            if change.seen_at <= found_at:
                return change.difficulty
        return self.state.changes[-1].difficulty

    def required(self, found_at: int) -> int:
        """The lowest memory cost accepted for a hash found at ``found_at``.

        Each change holds from its ``since`` until the platform saw the next one plus the
        grace; where two overlap (the minutes around a change) the lower counts. Before the
        oldest change kept: the lower of it and the history's floor.
        """
        changes = self.state.changes
        values = []
        end: int | None = None  # the newest change holds for ever
        for change in changes:
            if change.since <= found_at and (end is None or found_at < end):
                values.append(change.difficulty)
            end = change.seen_at + self.grace
        oldest = changes[-1]
        if found_at < oldest.since:
            values.append(oldest.difficulty)
            if self.state.floor is not None:
                values.append(self.state.floor)
        return min(values)

    @property
    def cap(self) -> int:
        """The highest memory cost we recompute: ``MAX_DIFFICULTY_FACTOR`` times the highest
        recent value, and never above ``MAX_VERIFY_DIFFICULTY``."""
        highest = max(change.difficulty for change in self.state.changes)
        return min(highest * MAX_DIFFICULTY_FACTOR, MAX_VERIFY_DIFFICULTY)

    @classmethod
    def pinned(cls, difficulty: int) -> DifficultyRule:
        return cls(pinned_state(difficulty), grace=0)


class NetworkView:
    """The network state as ingest and the API read it: one GetItem per ``ttl`` seconds
    (a warm process keeps it), the pinned value where the deployment pins."""

    def __init__(
        self,
        settings: Settings,
        repository: NetworkRepository,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._repository = repository
        self._clock = clock
        self._cached: NetworkState | None = None
        self._read_at: float | None = None

    @property
    def following(self) -> bool:
        return self._settings.follow_network

    def state(self, *, fresh: bool = False) -> NetworkState:
        fallback = self._settings.rules.difficulty
        if not self.following:
            return pinned_state(fallback)
        now = self._clock()
        stale = self._read_at is None or now - self._read_at >= self._settings.network_cache_seconds
        if fresh or stale or self._cached is None:
            self._cached = self._repository.state() or pinned_state(fallback)
            self._read_at = now
        return self._cached

    def difficulty(self) -> int:
        """What the network publishes now (``register_ack``, ``assign_task``)."""
        return self.state().difficulty

    def rule(self, *, fresh: bool = False) -> DifficultyRule:
        return DifficultyRule(self.state(fresh=fresh), grace=self._settings.network_grace_seconds)

    def age(self) -> float | None:
        """Seconds since the cached state was read (None: never)."""
        return None if self._read_at is None else self._clock() - self._read_at


@dataclass
class NetworkRun:
    """What one run of the network job did."""

    status: str  # "pinned", "no_node", "unchanged", "changed", "failed", "raced"
    difficulty: int | None = None
    previous: int | None = None
    error: str | None = None
    pushed: int = 0
    push_failures: int = 0
    confirmed: int = 0
    confirm_missing: int = 0
    confirm_failures: int = 0
    notes: list[str] = field(default_factory=list)


class NetworkFollower:
    """The ``network`` job: read the node, keep the state, push changes, confirm blocks."""

    def __init__(
        self,
        *,
        settings: Settings,
        network: NetworkRepository,
        leases: LeaseRepository,
        blocks: BlockRepository,
        commands: DeviceCommands,
        node: XenBlocksNode | None,
    ) -> None:
        self._settings = settings
        self._network = network
        self._leases = leases
        self._blocks = blocks
        self._commands = commands
        self._node = node

    def run(self, now: int) -> NetworkRun:
        if not self._settings.follow_network:
            return NetworkRun("pinned", difficulty=self._settings.rules.difficulty)
        if self._node is None:
            return NetworkRun("no_node", error="no network_url: nothing to follow")
        run = self._follow(now)
        if run.status in ("unchanged", "changed"):
            self._confirm(now, run)
        return run

    def _follow(self, now: int) -> NetworkRun:
        assert self._node is not None
        fallback = self._settings.rules.difficulty
        state = self._network.state(consistent=True)
        expected = state.version if state is not None else None
        try:
            value = self._node.difficulty()
        except NodeError as error:
            logger.warning(
                "network difficulty not read; keeping the last value", extra={"error": str(error)}
            )
            try:
                self._network.save_state(
                    failed(state, str(error), now, fallback=fallback), expected_version=expected
                )
            except Conflict:
                return NetworkRun("raced", error=str(error))
            kept = state.difficulty if state is not None else fallback
            return NetworkRun("failed", difficulty=kept, error=str(error))
        updated = observe(state, value, now, fallback=fallback)
        try:
            self._network.save_state(updated, expected_version=expected)
        except Conflict:
            return NetworkRun("raced", difficulty=value)
        # Before the first read the platform handed out the fallback: a first value that
        # differs from it is a change the leased rigs hear of.
        previous = state.difficulty if state is not None else fallback
        if previous == value:
            return NetworkRun("unchanged", difficulty=value, previous=previous)
        logger.info("network difficulty changed", extra={"from": previous, "to": value})
        run = NetworkRun("changed", difficulty=value, previous=previous)
        if value > previous:  # a rise: rigs still below it would mine refused blocks
            self._push(value, run)
        return run

    def _push(self, difficulty: int, run: NetworkRun) -> None:
        """``set_config`` to every rig under an active lease (best effort: a rig that misses
        it reads the node itself within a minute)."""
        leases = self._leases.active(limit=MAX_PUSHED_LEASES)
        if len(leases) >= MAX_PUSHED_LEASES:
            run.notes.append(f"pushed to the first {MAX_PUSHED_LEASES} active leases only")
        message = Control(action="set_config", config=SetConfig(difficulty=difficulty))
        for worker_id in dict.fromkeys(lease.worker_id for lease in leases):
            try:
                self._commands.control(worker_id, message)
                run.pushed += 1
            except Exception:
                run.push_failures += 1
                logger.warning(
                    "set_config not pushed", extra={"worker_id": worker_id}, exc_info=True
                )

    def _confirm(self, now: int, run: NetworkRun) -> None:
        """Ask the node's read API about recent leased blocks that have no final verdict."""
        assert self._node is not None
        blocks: list[Block] = []
        for age in CONFIRM_AFTER_SECONDS:
            blocks += self._blocks.recorded_between(
                now - age - CONFIRM_SLOT, now - age, leased_only=True
            )
        leased = [block for block in blocks if block.lease_id is not None]
        if not leased:
            return
        known = self._network.verdicts([block.hash for block in leased])
        pending = [
            block
            for block in leased
            if block.hash not in known or not known[block.hash].status.final
        ]
        deadline = time.monotonic() + CONFIRM_SECONDS
        for block in pending[:CONFIRM_READS]:
            if time.monotonic() > deadline:
                run.notes.append("confirmation stopped at its time budget")
                return
            try:
                held = self._node.block(block.key)
            except NodeError as error:
                run.confirm_failures += 1
                logger.warning(
                    "node read API failed; confirming later", extra={"error": str(error)}
                )
                return
            if held is None or held.hash != block.hash:
                run.confirm_missing += 1
                continue
            if held.account.lower() != block.account.lower():
                run.confirm_missing += 1
                continue
            verdict = Verdict(
                hash=block.hash,
                worker_id=block.worker_id,
                lease_id=block.lease_id,
                status=NetworkStatus.ACCEPTED,
                difficulty=held.memory_cost,
                source="node",
                at=now,
            )
            if self._network.record_verdict(verdict):
                run.confirmed += 1
