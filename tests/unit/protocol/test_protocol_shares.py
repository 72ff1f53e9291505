import base64
import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import ProtocolError
from protocol.shares import SharePattern, share_pattern_for


@pytest.mark.parametrize("text", ["X", "Xe", "XEN11+/a", "Xe[ABCD]", "a[/]", "Q[+/09az]"])
def test_parse_and_str_round_trip(text: str) -> None:
    assert str(SharePattern.parse(text)) == text


def test_parse_splits_literal_and_set() -> None:
    assert SharePattern.parse("Xe[ABCD]") == SharePattern(literal="Xe", char_set="ABCD")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[AB]",  # no literal
        "ABCDEFGHI",  # literal over 8
        "Xe[]",
        "Xe[A-D]",  # no ranges
        "Xe[AB][CD]",  # one set only
        "Xe[AB]c",
        "Xe[AA]",  # listed twice
        "X" + "[" + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" + "]",
        "X.e",
        "Xe*",
        "Xé",
        "Xe[AB",
    ],
)
def test_bad_syntax_is_refused(text: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        SharePattern.parse(text)

    assert caught.value.field == "share_pattern"


@pytest.mark.parametrize(
    ("pattern", "hash_b64", "matches"),
    [
        ("Xe", "aaaXeaaa", True),
        ("Xe", "aaaxeaaa", False),
        ("Xe[AB]", "aaXeBaa", True),
        ("Xe[AB]", "aaXeCaa", False),
        ("Xe[AB]", "XeCXeA", True),  # a later occurrence counts
        ("Xe[AB]", "aaaaXe", False),  # the set needs a character
        ("a[+/]", "ba/", True),
    ],
)
def test_matches_anywhere(pattern: str, hash_b64: str, matches: bool) -> None:
    assert SharePattern.parse(pattern).matches(hash_b64) is matches


@pytest.mark.parametrize("text", ["Xe", "X[ABCD]"])
def test_probability_agrees_with_random_hashes(text: str) -> None:
    pattern = SharePattern.parse(text)
    draws = 200_000
    rng = random.Random(20240501)
    hits = sum(
        pattern.matches(base64.b64encode(rng.randbytes(64)).decode().rstrip("="))
        for _ in range(draws)
    )

    expected = draws * pattern.probability()
    sigma = math.sqrt(expected * (1 - pattern.probability()))
    assert abs(hits - expected) < 5 * sigma


def test_probability_of_a_pattern_longer_than_the_hash_is_zero() -> None:
    assert SharePattern.parse("ABCD[E]").probability(hash_chars=4) == 0.0


def test_expected_hashes_is_the_inverse_probability() -> None:
    pattern = SharePattern.parse("Xe[ABCD]")

    assert pattern.expected_hashes() == pytest.approx(1 / pattern.probability())
    # One position in 64^2 * 16, 84 positions, rare enough to be nearly linear.
    assert pattern.expected_hashes() == pytest.approx(64**2 * 16 / 84, rel=0.01)


@pytest.mark.parametrize("hashrate", [10.0, 1e3, 1e5, 1e6])
def test_share_pattern_for_hits_the_target_interval(hashrate: float) -> None:
    pattern = share_pattern_for(hashrate)

    interval = pattern.expected_hashes() / hashrate
    assert 60 / 2 < interval < 60 * 2


@given(hashrate=st.floats(min_value=1.0, max_value=1e9), target=st.floats(10.0, 3600.0))
def test_share_pattern_for_is_within_a_factor_of_1_5(hashrate: float, target: float) -> None:
    pattern = share_pattern_for(hashrate, target, seed_chars="Xe")

    ratio = pattern.expected_hashes() / hashrate / target
    assert 1 / 1.5 < ratio < 1.5


def test_seeded_pattern_is_deterministic() -> None:
    first = share_pattern_for(1e3, seed_chars="Xe")

    assert first == share_pattern_for(1e3, seed_chars="Xe")
    assert first.literal.startswith("Xe"[: len(first.literal)])


def test_random_patterns_have_the_same_shape_as_seeded_ones() -> None:
    seeded = share_pattern_for(1e5, seed_chars="Q")
    chosen = share_pattern_for(1e5)

    assert len(chosen.literal) == len(seeded.literal)
    assert len(chosen.char_set) == len(seeded.char_set)
    assert SharePattern.parse(str(chosen)) == chosen


@pytest.mark.parametrize("hashrate", [0.0, -1.0, math.nan, math.inf])
def test_share_pattern_for_refuses_a_non_positive_hashrate(hashrate: float) -> None:
    with pytest.raises(ValueError, match="hashrate"):
        share_pattern_for(hashrate)


def test_share_pattern_for_refuses_an_empty_seed() -> None:
    with pytest.raises(ValueError, match="seed_chars"):
        share_pattern_for(1e3, seed_chars="")
