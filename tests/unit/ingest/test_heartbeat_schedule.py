"""The heartbeat write schedule keeps DynamoDB writes per heartbeat under one."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from functions.logic.heartbeat_schedule import HeartbeatSchedule

SCHEDULE = HeartbeatSchedule(
    heartbeat_seconds=30,
    summary_seconds=60,
    history_seconds=300,
    liveness_slot_seconds=300,
    offline_after_seconds=90,
)


def _heartbeats(worker_id: str, hours: int = 6) -> list[int]:
    rng = random.Random(worker_id)
    t, times = 1_763_700_000 + rng.uniform(0, 30), []
    while t < 1_763_700_000 + hours * 3600:
        times.append(int(t))
        t += 30 + rng.uniform(-2, 2)
    return times


def test_average_writes_stay_well_under_one_per_heartbeat():
    summary = history = heartbeats = 0
    for n in range(50):
        for now in _heartbeats(f"rig-{n}"):
            heartbeats += 1
            summary += SCHEDULE.writes_summary(f"rig-{n}", now)
            history += SCHEDULE.writes_history(f"rig-{n}", now)
    assert 0.45 < summary / heartbeats < 0.65
    assert 0.08 < history / heartbeats < 0.12


def test_a_speaking_worker_is_never_due_for_a_liveness_check():
    for n in range(20):
        worker_id = f"rig-{n}"
        check_at = None
        for now in _heartbeats(worker_id):
            assert check_at is None or check_at > now
            if SCHEDULE.writes_summary(worker_id, now):
                check_at = SCHEDULE.check_at(worker_id, now)


@given(st.text(min_size=1, max_size=20), st.integers(0, 2**33))
def test_check_at_changes_once_per_liveness_slot(worker_id, now):
    check_at = SCHEDULE.check_at(worker_id, now)
    assert now + SCHEDULE.silence_allowance < check_at
    assert check_at <= now + 300 + SCHEDULE.silence_allowance
    assert SCHEDULE.check_at(worker_id, check_at - SCHEDULE.silence_allowance) != check_at


def test_every_heartbeat_is_written_when_slots_are_no_longer_than_the_interval():
    eager = HeartbeatSchedule(5, 5, 60, 60, 90)
    assert all(eager.writes_summary("w", t) for t in range(0, 1000, 7))
