from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from protocol.errors import ProtocolError
from protocol.xenblocks import BlockKind, BlockRules, Classification, classify, in_xuni_window

RULES = BlockRules()
NOON = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


def hash_with(marker: str, uppercase: int = 0) -> str:
    """An 86-character base64 hash holding ``marker`` and ``uppercase`` more capitals."""
    text = marker + "Q" * uppercase
    return text + "a1+/" * ((86 - len(text)) // 4) + "z" * ((86 - len(text)) % 4)


def at_minute(minute: int) -> datetime:
    return datetime(2024, 5, 1, 12, minute, 30, tzinfo=UTC)


def test_block_pattern_makes_a_normal_block() -> None:
    assert classify(hash_with("XEN11"), NOON, RULES) == Classification(BlockKind.NORMAL, "normal")


def test_fifty_uppercase_letters_make_a_superblock() -> None:
    # "XEN11" brings three capitals of its own.
    assert classify(hash_with("XEN11", 47), NOON, RULES).kind is BlockKind.SUPER
    assert classify(hash_with("XEN11", 46), NOON, RULES).kind is BlockKind.NORMAL


def test_non_ascii_capitals_do_not_count() -> None:
    assert classify(hash_with("XEN11", 46) + "É", NOON, RULES).kind is BlockKind.NORMAL


def test_block_pattern_is_case_sensitive() -> None:
    assert classify(hash_with("xen11"), NOON, RULES) == Classification(None, "no_block_pattern")


def test_xuni_wins_over_the_block_pattern_as_the_node_judges() -> None:
    """The node looks for XUNI first: inside a window such a hash is XUNI, outside it is
    refused (401), the XEN11 in it notwithstanding."""
    assert classify(hash_with("XEN11XUNI1"), at_minute(2), RULES) == Classification(
        BlockKind.XUNI, "xuni"
    )
    assert classify(hash_with("XEN11XUNI1"), NOON, RULES) == Classification(
        None, "xuni_outside_window"
    )


@pytest.mark.parametrize(
    ("minute", "in_window"),
    [(0, True), (4, True), (5, False), (30, False), (54, False), (55, True), (59, True)],
)
def test_xuni_counts_only_inside_its_windows(minute: int, in_window: bool) -> None:
    result = classify(hash_with("XUNI7"), at_minute(minute), RULES)

    if in_window:
        assert result == Classification(BlockKind.XUNI, "xuni")
    else:
        assert result == Classification(None, "xuni_outside_window")


def test_xuni_window_edges_to_the_second() -> None:
    assert in_xuni_window(datetime(2024, 5, 1, 12, 4, 59, 999999, tzinfo=UTC), RULES)
    assert not in_xuni_window(datetime(2024, 5, 1, 12, 5, 0, tzinfo=UTC), RULES)
    assert not in_xuni_window(datetime(2024, 5, 1, 12, 54, 59, 999999, tzinfo=UTC), RULES)
    assert in_xuni_window(datetime(2024, 5, 1, 12, 55, 0, tzinfo=UTC), RULES)


def test_xuni_window_is_judged_in_utc() -> None:
    # 18:32 in India is 13:02 UTC: inside the window although the local minute is not.
    india = timezone(timedelta(hours=5, minutes=30))

    assert in_xuni_window(datetime(2024, 5, 1, 18, 32, tzinfo=india), RULES)


def test_xuni_needs_a_digit() -> None:
    assert classify(hash_with("XUNIa"), at_minute(1), RULES).kind is None


def test_custom_easy_block_pattern() -> None:
    easy = BlockRules(difficulty=8, block_pattern="Ab")

    assert classify(hash_with("Ab"), NOON, easy).kind is BlockKind.NORMAL
    assert classify(hash_with("XEN11"), NOON, easy).kind is None


def test_naive_time_is_refused() -> None:
    with pytest.raises(ProtocolError) as caught:
        classify(hash_with("XEN11"), datetime(2024, 5, 1, 12, 0), RULES)

    assert caught.value.field == "found_at"


@pytest.mark.parametrize(
    "overrides",
    [
        {"difficulty": 7},
        {"block_pattern": ""},
        {"block_pattern": "XEN$"},
        {"block_pattern": "A" * 17},
        {"xuni_pattern": "XUNI["},
        {"xuni_windows": ((5, 4),)},
        {"xuni_windows": ((55, 60),)},
        {"superblock_min_uppercase": 0},
        {"unknown": 1},
    ],
)
def test_bad_rules_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        BlockRules.model_validate(overrides)
