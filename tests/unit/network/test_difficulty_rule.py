"""The network's difficulty history: what a read changes, and what a found hash must cost.

Worked by hand: reads every 60 s; the network moves 1727 → 2727 between the reads at
t=1000 and t=1060, then 2727 → 727 between t=1120 and t=1180. Grace 120 s.

    change   since  seen_at  holds for found_at in
    1727     1000   1000     [1000, 1060 + 120)  (and before 1000: the floor's part)
    2727     1000   1060     [1000, 1180 + 120)
    727      1120   1180     [1120, ∞)
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from functions.logic.network import (
    MAX_DIFFICULTY_FACTOR,
    MAX_VERIFY_DIFFICULTY,
    DifficultyRule,
    failed,
    observe,
    pinned_state,
)
from functions.models.network import HISTORY, DifficultyChange, NetworkState

FALLBACK = 1500


def _history() -> NetworkState:
    state = observe(None, 1727, 1000, fallback=FALLBACK)
    state = observe(state, 2727, 1060, fallback=FALLBACK)
    state = observe(state, 2727, 1120, fallback=FALLBACK)
    return observe(state, 727, 1180, fallback=FALLBACK)


def test_reads_keep_the_value_and_its_changes_newest_first() -> None:
    state = _history()
    assert state.difficulty == 727
    assert [(c.difficulty, c.since, c.seen_at) for c in state.changes] == [
        (727, 1120, 1180),
        (2727, 1000, 1060),
        (1727, 1000, 1000),
    ]
    assert state.checked_at == 1180
    assert state.floor == FALLBACK  # before the first read, the pinned value applied
    assert state.version == 4


def test_an_unchanged_read_only_moves_checked_at_and_clears_failures() -> None:
    state = failed(_history(), "timed out", 1200, fallback=FALLBACK)
    assert (state.failures, state.last_error, state.failed_at) == (1, "timed out", 1200)
    assert state.difficulty == 727  # a failed read keeps the last value
    again = observe(state, 727, 1240, fallback=FALLBACK)
    assert again.changes == state.changes
    assert (again.checked_at, again.failures) == (1240, 0)


def test_a_failure_before_any_read_keeps_the_fallback() -> None:
    state = failed(None, "refused", 5, fallback=FALLBACK)
    assert state.difficulty == FALLBACK
    assert state.failures == 1


@pytest.mark.parametrize(
    ("found_at", "required", "in_effect"),
    [
        (900, 1500, 1727),  # before the history: the lower of the oldest change and floor
        (1000, 1727, 1727),  # both 1727 and 2727 may hold between the reads
        (1059, 1727, 1727),
        (1100, 1727, 2727),  # 1727 still counts: grace after it was seen replaced at 1060
        (1179, 727, 2727),  # 727 may already hold since the read at 1120
        (1180, 727, 727),
        (1299, 727, 727),
        (5000, 727, 727),
    ],
)
def test_required_difficulty_at_the_time_a_hash_was_found(
    found_at: int, required: int, in_effect: int
) -> None:
    rule = DifficultyRule(_history(), grace=120)
    assert rule.required(found_at) == required
    assert rule.in_effect(found_at) == in_effect


def test_a_rise_is_enforced_once_its_grace_is_over() -> None:
    # 1000 → 5000 read at 2060 (still 1000 at 2000); grace 120.
    state = observe(observe(None, 1000, 2000, fallback=1000), 5000, 2060, fallback=1000)
    rule = DifficultyRule(state, grace=120)
    assert rule.required(2179) == 1000  # the previous value, within the grace
    assert rule.required(2180) == 5000  # the grace is over: the node wants 5000
    assert DifficultyRule(state, grace=0).required(2060) == 5000


def test_the_cap_is_four_times_the_highest_recent_value_and_bounded() -> None:
    assert DifficultyRule(_history(), grace=120).cap == 2727 * MAX_DIFFICULTY_FACTOR
    huge = pinned_state(400_000)
    assert DifficultyRule(huge, grace=0).cap == MAX_VERIFY_DIFFICULTY


def test_history_is_bounded_and_the_dropped_minimum_becomes_the_floor() -> None:
    state = observe(None, 100, 0, fallback=5000)
    for n in range(1, HISTORY + 5):
        state = observe(state, 100 + n * 10, n * 60, fallback=5000)
    assert len(state.changes) == HISTORY
    assert state.changes[0].difficulty == 100 + (HISTORY + 4) * 10
    assert state.floor == 100  # the lowest value dropped (below the old fallback)
    oldest = state.changes[-1]
    assert DifficultyRule(state, grace=0).required(oldest.since - 1) == 100


def test_a_pinned_rule_is_one_value_for_all_time() -> None:
    rule = DifficultyRule.pinned(8)
    assert (rule.required(0), rule.required(10**10), rule.in_effect(5), rule.cap) == (8, 8, 8, 32)


@pytest.mark.parametrize(
    "changes",
    [
        (),
        (DifficultyChange(difficulty=8, since=0, seen_at=0),) * (HISTORY + 1),
        (
            DifficultyChange(difficulty=8, since=0, seen_at=0),
            DifficultyChange(difficulty=9, since=0, seen_at=10),
        ),
    ],
)
def test_a_malformed_state_is_refused(changes: tuple[DifficultyChange, ...]) -> None:
    with pytest.raises(ValidationError):
        NetworkState(changes=changes)
