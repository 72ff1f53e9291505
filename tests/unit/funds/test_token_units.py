"""A stablecoin's units ⇄ micro-credits, exactly: one whole token is one credit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.errors import InvalidInput
from functions.models.money import micro_to_token_units, token_units_to_micro


@pytest.mark.parametrize(
    ("units", "decimals", "micro"),
    [
        (1_000_000, 6, 1_000_000),  # one USDC-like token is one credit
        (123, 6, 123),
        (1, 0, 1_000_000),  # a whole-unit token
        (25, 2, 250_000),  # 0.25 of a 2-decimal token
        (10**18, 18, 1_000_000),  # one DAI-like token
        (10**12, 18, 1),  # a micro-credit's worth of an 18-decimal token
        (3 * 10**12 + 0, 18, 3),
        (0, 18, 0),
    ],
)
def test_exact_conversions(units: int, decimals: int, micro: int) -> None:
    assert token_units_to_micro(units, decimals) == micro
    assert micro_to_token_units(micro, decimals) == units


@pytest.mark.parametrize(("units", "decimals"), [(1, 18), (10**12 + 1, 18), (999_999, 12)])
def test_dust_below_a_micro_credit_does_not_convert(units: int, decimals: int) -> None:
    assert token_units_to_micro(units, decimals) is None


def test_a_micro_credit_is_not_a_whole_unit_of_a_coarse_token() -> None:
    assert micro_to_token_units(1, 2) is None
    assert micro_to_token_units(10_000, 2) == 1


@pytest.mark.parametrize("units", [-1, 1.0, True, "5"])
def test_token_units_are_non_negative_integers(units: object) -> None:
    with pytest.raises(ValueError, match="non-negative integers"):
        token_units_to_micro(units, 6)  # type: ignore[arg-type]


def test_micro_credits_are_checked_as_money() -> None:
    with pytest.raises(InvalidInput):
        micro_to_token_units(-1, 6)


@pytest.mark.parametrize("decimals", [-1, 37])
def test_decimals_are_bounded(decimals: int) -> None:
    with pytest.raises(ValueError, match="decimals"):
        token_units_to_micro(1, decimals)


@given(micro=st.integers(0, 2**128), decimals=st.integers(0, 36))
def test_round_trip_is_exact(micro: int, decimals: int) -> None:
    units = micro_to_token_units(micro, decimals)
    if units is not None:
        assert token_units_to_micro(units, decimals) == micro


@given(units=st.integers(0, 2**256 - 1), decimals=st.integers(6, 36))
def test_a_uint256_converts_or_is_refused_never_rounded(units: int, decimals: int) -> None:
    micro = token_units_to_micro(units, decimals)
    if micro is None:
        assert units % 10 ** (decimals - 6) != 0
    else:
        assert micro * 10 ** (decimals - 6) == units
