"""When a heartbeat is written, without reading anything first.

Rigs heartbeat every ``heartbeat_seconds`` (30 s by default), but the platform stores a
worker's summary only once per summary slot and a history point once per history slot;
open dashboards get every heartbeat live from the batches (``LiveService``), not from
DynamoDB. A stateless Lambda decides from the time alone: a heartbeat is written when it
is the first one of its slot, i.e. when it lands in the first ``heartbeat_seconds`` of a
slot. Each worker's slots are shifted by a stable offset so a fleet's writes spread over
time.

With 30 s heartbeats, 600 s summary slots and 1800 s history slots this is about
0.05 + 0.017 write units per heartbeat on average (history was every 900 s until anomaly
detection moved onto every heartbeat, ``functions/logic/anomaly_watch.py``: points now
serve baselines, charts and profit). The liveness index is never written by
heartbeats: its key is set when a worker comes online and removed when it goes offline.
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
    offline_after_seconds: int

    def offset(self, worker_id: str) -> int:
        return zlib.crc32(worker_id.encode()) % 86_400

    def _first_in_slot(self, worker_id: str, now: int, slot: int) -> bool:
        if slot <= self.heartbeat_seconds:
            return True
        return (now + self.offset(worker_id)) % slot < self.heartbeat_seconds

    def writes_summary(self, worker_id: str, now: int) -> bool:
        return self._first_in_slot(worker_id, now, self.summary_seconds)

    def writes_history(self, worker_id: str, now: int) -> bool:
        return self._first_in_slot(worker_id, now, self.history_seconds)

    def history_ts(self, worker_id: str, now: int) -> int:
        """The history point's time: its slot's start, so a retried heartbeat overwrites it."""
        offset = self.offset(worker_id)
        return (now + offset) // self.history_seconds * self.history_seconds - offset

    @property
    def silence_allowance(self) -> int:
        """How long a worker may look silent in DynamoDB before it is offline: the offline
        allowance plus a summary slot and a heartbeat. Heartbeats are written once per
        slot; a rig with none in its slot's first ``heartbeat_seconds`` (its interval drifts,
        the network delays one) is caught up by ingest a heartbeat after the slot ends
        (``IngestService.summary_due``), so a speaking rig is at most a slot and two heartbeats
        (and their jitter) behind in DynamoDB."""
        if self.summary_seconds <= self.heartbeat_seconds:
            return self.offline_after_seconds
        return self.offline_after_seconds + self.summary_seconds + self.heartbeat_seconds


def schedule_for(settings: Settings) -> HeartbeatSchedule:
    """The deployment's schedule (ingest writes by it; the fleet sweep checks by it)."""
    return HeartbeatSchedule(
        heartbeat_seconds=settings.heartbeat_seconds,
        summary_seconds=settings.heartbeat_write_seconds,
        history_seconds=settings.heartbeat_history_seconds,
        offline_after_seconds=settings.offline_after_seconds,
    )


def silence_allowance(settings: Settings) -> int:
    """How long a worker may look silent in DynamoDB before it counts as offline."""
    return schedule_for(settings).silence_allowance
