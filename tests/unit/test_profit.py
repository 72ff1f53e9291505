"""Profit's rules (functions/logic/profit.py): energy integrated from history points, the
owner's price held exactly, power cost in integer micro-units."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.errors import InvalidInput
from functions.logic.profit import (
    DayEnergy,
    Figures,
    integrate_energy,
    point_power,
    power_cost,
    price_text,
    price_to_micro,
    total,
)

DAY = 86_400
MIDNIGHT = 1_763_683_200  # 2025-11-21 00:00 UTC
NOV20, NOV21 = date(2025, 11, 20), date(2025, 11, 21)
CADENCE = 300


def every(
    cadence: int, start: int, end: int, watts: float | None
) -> list[tuple[int, float | None]]:
    return [(ts, watts) for ts in range(start, end, cadence)]


# -- energy ---------------------------------------------------------------------------------


def test_a_point_stands_for_the_interval_to_the_next_one():
    # 200 W for an hour (12 points 5 minutes apart) is 0.2 kWh.
    points = every(CADENCE, MIDNIGHT, MIDNIGHT + 3600, 200.0)

    days = integrate_energy(points, cadence=CADENCE, start=MIDNIGHT, end=MIDNIGHT + DAY)

    assert days[NOV21].joules == 200.0 * 3600
    assert days[NOV21].kwh == Decimal("0.2")
    assert days[NOV21].metered_seconds == days[NOV21].reported_seconds == 3600


def test_a_gap_is_not_billed_as_power():
    # Two points three hours apart: each stands for one cadence, not for the gap.
    points = [(MIDNIGHT, 1000.0), (MIDNIGHT + 3 * 3600, 1000.0)]

    days = integrate_energy(points, cadence=CADENCE, start=MIDNIGHT, end=MIDNIGHT + DAY)

    assert days[NOV21].reported_seconds == 2 * CADENCE
    assert days[NOV21].joules == 1000.0 * 2 * CADENCE


def test_the_last_point_stops_at_the_window_end():
    days = integrate_energy([(MIDNIGHT, 100.0)], cadence=CADENCE, start=MIDNIGHT, end=MIDNIGHT + 60)

    assert days[NOV21].reported_seconds == 60


def test_an_interval_across_midnight_is_split_between_the_days():
    points = every(CADENCE, MIDNIGHT - 1800, MIDNIGHT + 1800, 360.0)

    days = integrate_energy(points, cadence=CADENCE, start=MIDNIGHT - DAY, end=MIDNIGHT + DAY)

    assert days[NOV20].kwh == days[NOV21].kwh == Decimal("0.18")
    # A point 100 s before midnight gives 100 s to one day and 200 s to the next.
    split = integrate_energy(
        [(MIDNIGHT - 100, 36.0)], cadence=CADENCE, start=MIDNIGHT - DAY, end=MIDNIGHT + DAY
    )
    assert (split[NOV20].reported_seconds, split[NOV21].reported_seconds) == (100, 200)


def test_a_point_before_the_window_counts_for_its_part_inside_it():
    days = integrate_energy(
        [(MIDNIGHT - 100, 1000.0)], cadence=CADENCE, start=MIDNIGHT, end=MIDNIGHT + DAY
    )

    assert set(days) == {NOV21}
    assert days[NOV21].joules == 1000.0 * 200


def test_energy_without_power_readings_is_unknown_not_zero():
    no_power = integrate_energy(
        every(CADENCE, MIDNIGHT, MIDNIGHT + 3600, None),
        cadence=CADENCE,
        start=MIDNIGHT,
        end=MIDNIGHT + DAY,
    )
    half = integrate_energy(
        every(CADENCE, MIDNIGHT, MIDNIGHT + 1800, 100.0)
        + every(CADENCE, MIDNIGHT + 1800, MIDNIGHT + 3600, None),
        cadence=CADENCE,
        start=MIDNIGHT,
        end=MIDNIGHT + DAY,
    )

    assert no_power[NOV21].kwh is None
    assert no_power[NOV21].reported_seconds == 3600
    assert half[NOV21].kwh == Decimal("0.05")
    assert (half[NOV21].metered_seconds, half[NOV21].reported_seconds) == (1800, 3600)
    assert DayEnergy().kwh == 0  # a day the rig never reported on used nothing


def test_a_points_power_is_its_gpus_power_summed():
    assert point_power({"hashrate": 1.0, "gpu0.power_w": 120.5, "gpu1.power_w": 79.5}) == 200.0
    assert point_power({"hashrate": 1.0, "gpu0.temperature_c": 60.0}) is None
    assert point_power({"gpu0.power_w": 50.0, "gpu1.temperature_c": 60.0}) == 50.0


@given(
    watts=st.floats(min_value=0, max_value=50_000, allow_nan=False),
    start=st.integers(min_value=MIDNIGHT - 2 * DAY, max_value=MIDNIGHT + DAY),
    cuts=st.lists(st.integers(min_value=1, max_value=CADENCE), min_size=1, max_size=200),
)
def test_splitting_a_steady_draw_into_points_never_changes_its_energy(watts, start, cuts):
    # Points no further apart than the cadence cover [start, end) without a gap, whatever
    # their spacing and wherever midnight falls: the days add up to watts × seconds.
    times = [start]
    for cut in cuts:
        times.append(times[-1] + cut)
    end = times[-1]
    points = [(ts, watts) for ts in times[:-1]]

    days = integrate_energy(points, cadence=CADENCE, start=start - DAY, end=end)

    assert sum(d.reported_seconds for d in days.values()) == end - start
    assert sum(d.joules for d in days.values()) == pytest.approx(
        watts * (end - start), rel=1e-12, abs=1e-6
    )
    whole = kwh_total(days)
    assert abs(whole - Decimal(watts * (end - start)) / 3_600_000) <= Decimal("0.000001") * len(
        days
    )


def kwh_total(days: dict[date, DayEnergy]) -> Decimal:
    return sum((d.kwh or Decimal(0) for d in days.values()), Decimal(0))


# -- money ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "micro"),
    [
        (Decimal("0"), 0),
        (Decimal("0.12"), 120_000),
        (Decimal("0.123456"), 123_456),
        (Decimal("0.1000000"), 100_000),  # trailing zeros are not decimals
        (Decimal("10"), 10_000_000),
    ],
)
def test_a_price_is_held_exactly_as_micro_units(price, micro):
    assert price_to_micro(price) == micro
    assert Decimal(price_text(micro)) == price


@pytest.mark.parametrize(
    ("price", "says"),
    [
        (Decimal("-0.01"), "between 0 and 10"),
        (Decimal("10.000001"), "between 0 and 10"),
        (Decimal("0.1234567"), "at most 6 decimals"),
        (Decimal("NaN"), "finite"),
        (Decimal("Infinity"), "finite"),
    ],
)
def test_a_price_out_of_bounds_is_refused(price, says):
    with pytest.raises(InvalidInput, match=says):
        price_to_micro(price)


def test_price_text_is_a_plain_decimal():
    assert [price_text(m) for m in (0, 120_000, 123_456, 10_000_000)] == [
        "0",
        "0.12",
        "0.123456",
        "10",
    ]


def test_power_cost_is_kwh_times_price_rounded_half_even_to_a_micro_unit():
    assert power_cost(Decimal("1"), 123_456) == 123_456
    assert power_cost(Decimal("0.2"), 250_000) == 50_000
    # 0.000003 kWh at 0.5 a kWh is 1.5 micro-units → 2; 0.000005 kWh is 2.5 → 2 (half-even).
    assert power_cost(Decimal("0.000003"), 500_000) == 2
    assert power_cost(Decimal("0.000005"), 500_000) == 2
    # 123.456789 × 9,999,999 = 1,234,567,890 − 123.456789 = 1,234,567,766.543211
    assert power_cost(Decimal("123.456789"), 9_999_999) == 1_234_567_767


def figures(kwh: str | None, cost: int | None, revenue: int, metered: int, reported: int):
    return Figures(
        energy_kwh=None if kwh is None else Decimal(kwh),
        power_cost=cost,
        revenue=revenue,
        leases=0,
        metered_seconds=metered,
        reported_seconds=reported,
    )


def test_sums_add_the_known_costs_and_say_when_some_were_unknown():
    rows = [figures("0.2", 50_000, 1_000_000, 3600, 3600), figures(None, None, 0, 0, 600)]

    summed = total(rows, 250_000)
    unpriced = total(rows, None)

    assert summed.energy_kwh == Decimal("0.2")
    assert (summed.power_cost, summed.revenue, summed.net) == (50_000, 1_000_000, 950_000)
    assert not summed.power_complete
    assert (unpriced.power_cost, unpriced.net) == (None, None)
