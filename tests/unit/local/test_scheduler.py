"""The local scheduler runs each job on its interval and survives a failing one."""

from __future__ import annotations

import time

import pytest

from functions.local.scheduler import LocalScheduler, ScheduledJob
from functions.observability import current_correlation_id


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_jobs_run_on_their_own_intervals():
    clock = FakeClock()
    seen: list[tuple[str, int]] = []
    scheduler = LocalScheduler(
        [
            ScheduledJob("fast", 10, lambda now: seen.append(("fast", now))),
            ScheduledJob("slow", 60, lambda now: seen.append(("slow", now))),
        ],
        clock=clock,
    )

    first = scheduler.run_due()
    clock.now += 10
    second = scheduler.run_due()
    clock.now += 5
    third = scheduler.run_due()
    clock.now += 50
    fourth = scheduler.run_due()

    assert (first, second, third, fourth) == (["fast", "slow"], ["fast"], [], ["fast", "slow"])
    assert seen[0] == ("fast", 1000)


def test_a_failing_job_is_counted_and_does_not_stop_the_others(caplog):
    clock = FakeClock()

    def broken(now: int) -> None:
        raise RuntimeError("throttled")

    ok = ScheduledJob("ok", 1, lambda now: None)
    bad = ScheduledJob("bad", 1, broken)
    scheduler = LocalScheduler([bad, ok], clock=clock)

    scheduler.run_due()
    clock.now += 1
    scheduler.run_due()

    assert (bad.failures, bad.runs, ok.runs) == (2, 0, 2)
    assert "throttled" in (bad.last_error or "")
    assert "scheduled job bad failed" in caplog.text


def test_start_and_stop_run_the_loop_in_a_thread():
    ran = []
    scheduler = LocalScheduler([ScheduledJob("once", 3600, ran.append)], tick_seconds=0.01)

    scheduler.start()
    for _ in range(500):
        if ran:
            break
        time.sleep(0.01)
    scheduler.stop()

    assert len(ran) == 1


def test_nothing_to_schedule_is_an_error():
    with pytest.raises(ValueError, match="nothing"):
        LocalScheduler([])


def test_each_run_has_a_correlation_id_of_its_own():
    seen: list[str | None] = []
    job = ScheduledJob("job", 1, lambda now: seen.append(current_correlation_id()))
    clock = FakeClock()
    scheduler = LocalScheduler([job], clock=clock)

    scheduler.run_due()
    clock.now += 1
    scheduler.run_due()

    assert len(seen) == 2
    assert all(run is not None and len(run) == 32 for run in seen)
    assert seen[0] != seen[1]
    assert current_correlation_id() is None
