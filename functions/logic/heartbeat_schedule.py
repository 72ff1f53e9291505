"""When a heartbeat is written, without reading anything first.

Rigs heartbeat every ``heartbeat_seconds`` (30 s by default), but the platform needs a
worker's summary only about once a minute, a history point every few minutes, and its
liveness index key (a GSI key: every change costs a delete and a put on the index) rarely.
A stateless Lambda decides from the time alone: a heartbeat is written when it is the
first one of its slot, i.e. when it lands in the first ``heartbeat_seconds`` of a slot.
Each worker's slots are shifted by a stable offset so a fleet's writes spread over time.

With 30 s heartbeats, 60 s summary slots, 300 s history and liveness slots this is about
0.5 + 0.1 + 0.2 (index) = 0.8 write units per heartbeat on average, and the first
heartbeat after a rig (re)registers is written regardless (register writes the worker).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from functions.settings import Settings


@dataclass(frozen=True)
class HeartbeatSchedule:
    heartbeat_seconds: int
    summary_seconds: int
    history_seconds: int
    liveness_slot_seconds: int
    offline_after_seconds: int

    def offset(self, worker_id: str) -> int:
        return zlib.crc32(worker_id.encode()) % 86_400

    def _first_in_slot(self, worker_id: str, now: int, slot: int) -> bool:
        if slot <= self.heartbeat_seconds:
            return True
        return (now + self.offset(worker_id)) % slot < self.heartbeat_seconds

    def writes_summary(self, worker_id: str, now: int) -> bool:
        # A history point is only written after a summary write proved the worker enrolled.
        return self._first_in_slot(worker_id, now, self.summary_seconds) or self.writes_history(
            worker_id, now
        )

    def writes_history(self, worker_id: str, now: int) -> bool:
        return self._first_in_slot(worker_id, now, self.history_seconds)

    def history_ts(self, worker_id: str, now: int) -> int:
        """The history point's time: its slot's start, so a retried heartbeat overwrites it."""
        offset = self.offset(worker_id)
        return (now + offset) // self.history_seconds * self.history_seconds - offset

    def check_at(self, worker_id: str, now: int) -> int:
        """When the health job should next look at the worker: the end of the current
        liveness slot plus the offline allowance. It changes once per slot, so the liveness
        index is rewritten once per slot, yet it is always ahead of a worker that speaks."""
        offset = self.offset(worker_id)
        slot = self.liveness_slot_seconds
        slot_end = ((now + offset) // slot + 1) * slot - offset
        return slot_end + self.silence_allowance

    @property
    def silence_allowance(self) -> int:
        """How long a worker may look silent in DynamoDB before it is offline: the offline
        allowance plus a summary slot, since heartbeats are only written once per slot (and
        a jittery rig can miss a slot's first ``heartbeat_seconds`` now and then)."""
        if self.summary_seconds <= self.heartbeat_seconds:
            return self.offline_after_seconds
        return self.offline_after_seconds + self.summary_seconds


def schedule_for(settings: Settings) -> HeartbeatSchedule:
    """The deployment's schedule (ingest writes by it; the health job checks by it)."""
    return HeartbeatSchedule(
        heartbeat_seconds=settings.heartbeat_seconds,
        summary_seconds=settings.heartbeat_write_seconds,
        history_seconds=settings.heartbeat_history_seconds,
        liveness_slot_seconds=settings.liveness_slot_seconds,
        offline_after_seconds=settings.offline_after_seconds,
    )


def silence_allowance(settings: Settings) -> int:
    """How long a worker may look silent in DynamoDB before it counts as offline."""
    return schedule_for(settings).silence_allowance
