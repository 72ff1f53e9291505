"""The local stack's stand-in for EventBridge schedules: each job on its own interval.

One thread runs the jobs in turn when they are due, each run under a correlation id of its
own, as a scheduled Lambda's. A job that raises is logged and runs again at its next slot,
like a scheduled Lambda that failed; it never stops the others.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from functions.observability import correlated, new_correlation_id

log = logging.getLogger(__name__)

JobFn = Callable[[int], object]

# The network job locally: every 15 s (every minute in AWS), so a difficulty moved on the
# local node reaches register_ack, assign_task and verification within seconds.
NETWORK_EVERY_SECONDS = 15.0


@dataclass
class ScheduledJob:
    name: str
    every_seconds: float
    run: JobFn
    next_at: float = 0.0
    runs: int = 0
    failures: int = 0
    last_error: str | None = field(default=None, repr=False)


class LocalScheduler:
    def __init__(
        self,
        jobs: list[ScheduledJob],
        *,
        clock: Callable[[], float] = time.time,
        tick_seconds: float = 0.5,
    ) -> None:
        if not jobs:
            raise ValueError("nothing to schedule")
        self.jobs = jobs
        self._clock = clock
        self._tick = tick_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_due(self) -> list[str]:
        """Run every job whose time has come; returns their names (tests call this)."""
        now = self._clock()
        ran = []
        for job in self.jobs:
            if now < job.next_at:
                continue
            job.next_at = now + job.every_seconds
            try:
                with correlated(new_correlation_id()):
                    job.run(int(now))
                job.runs += 1
            except Exception as error:
                job.failures += 1
                job.last_error = repr(error)
                log.exception(
                    "scheduled job %s failed; it runs again in %ss", job.name, job.every_seconds
                )
            ran.append(job.name)
        return ran

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_due()
            self._stop.wait(self._tick)


def network_job(follow: JobFn, every_seconds: float = NETWORK_EVERY_SECONDS) -> ScheduledJob:
    """The ``network`` job for the local scheduler (``Jobs.follow_network``)."""
    return ScheduledJob("network", every_seconds, follow)
