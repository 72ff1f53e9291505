"""Health: online workers that went silent are marked offline.

Only workers due for a look are read: the sparse liveness index orders online workers by
``check_at``, which ingest keeps ahead of any worker that speaks (see heartbeat_schedule).
A worker silent for longer than the allowance goes offline (conditionally: if it spoke in
the meantime it stays online); one that spoke gets its next check later. Either way it
leaves the due range, so a run always ends.
"""

from __future__ import annotations

from dataclasses import dataclass

from functions.dal.workers import WorkerRepository
from functions.logic.heartbeat_schedule import HeartbeatSchedule


@dataclass
class HealthRun:
    checked: int = 0
    marked_offline: int = 0
    postponed: int = 0


class HealthService:
    def __init__(
        self, workers: WorkerRepository, schedule: HeartbeatSchedule, *, batch: int = 100
    ) -> None:
        self._workers = workers
        self._schedule = schedule
        self._batch = batch

    def sweep(self, now: int, *, max_workers: int = 100_000) -> HealthRun:
        run = HealthRun()
        cutoff = now - self._schedule.silence_allowance
        while run.checked < max_workers:
            due = self._workers.due_for_liveness_check(now, limit=self._batch)
            if not due:
                break
            for worker in self._workers.get_many(due):
                run.checked += 1
                silent = worker.last_seen is None or worker.last_seen < cutoff
                if silent and self._workers.mark_offline(
                    worker.worker_id, silent_since=cutoff, now=now
                ):
                    run.marked_offline += 1
                    continue
                self._workers.postpone_check(
                    worker.worker_id, self._schedule.check_at(worker.worker_id, now)
                )
                run.postponed += 1
            if len(due) < self._batch:
                break
        return run
