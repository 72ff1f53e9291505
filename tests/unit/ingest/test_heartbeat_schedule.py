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


@given(st.text(min_size=1, max_size=20), st.integers(0, 2**33))
def test_history_points_fall_on_their_slot_start(worker_id, now):
    ts = SCHEDULE.history_ts(worker_id, now)
    assert now - SCHEDULE.history_seconds < ts <= now
    assert SCHEDULE.history_ts(worker_id, ts) == ts


def test_every_heartbeat_is_written_when_slots_are_no_longer_than_the_interval():
    eager = HeartbeatSchedule(5, 5, 60, 90)
    assert all(eager.writes_summary("w", t) for t in range(0, 1000, 7))
