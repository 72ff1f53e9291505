"""Settlement's rule as properties: over lease length, share count, hashrate and price.

The rule (functions/logic/settlement.py): zero shares cost nothing; under z² = 4 shares
the renter pays pro rata for what the shares prove; from 4 shares a count within 2 sigma of
what the threshold rate would produce is paid in full; at or above the expected count, in
full. These tests state what that must mean for every lease, and the averages it gives
honest and slow rigs, worked out exactly over the Poisson distribution of share counts.
"""

from __future__ import annotations

import math
from functools import lru_cache

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from functions.logic.settlement import MIN_EVIDENCE, Split, expected_shares, split_for
from functions.models.market import Lease, max_cost
from functions.models.money import fee_of
from protocol.shares import SharePattern, share_pattern_for
from tests.factories import NOW, PROVIDER, RENTER

HOUR = 3600
DAY = 86_400
THRESHOLD_BP = 9000


def lease(
    *,
    shares: int,
    elapsed: int,
    duration: int | None = None,
    hashrate: float = 1000.0,
    price: int = 3_600_000,
    fee_bp: int = 500,
) -> Lease:
    """A lease that ran ``elapsed`` seconds on a rig listed at ``hashrate`` and proved
    ``shares`` shares of the pattern the platform gives that hashrate (one a minute)."""
    duration = max(duration or elapsed, elapsed, 1)
    pattern = _pattern(hashrate)
    cost = max_cost(price, duration)
    return Lease(
        lease_id="lease-p",
        listing_id="listing-p",
        worker_id="worker-p",
        provider=PROVIDER,
        renter=RENTER,
        prefix="p",
        share_pattern=str(pattern),
        price_per_hour=price,
        advertised_hashrate=hashrate,
        fee_bp=fee_bp,
        duration_sec=duration,
        created_at=NOW,
        ends_at=NOW + elapsed,
        max_cost=cost,
        escrow=cost,
        shares=shares,
        share_work=shares * pattern.expected_hashes(),
    )


@lru_cache(maxsize=4096)
def _pattern(hashrate: float) -> SharePattern:
    return share_pattern_for(hashrate, 60.0, seed_chars="X")


def accrued(lease: Lease) -> int:
    return min(lease.escrow, -(-lease.price_per_hour * lease.elapsed_sec // HOUR))


def split(lease: Lease, threshold_bp: int = THRESHOLD_BP) -> Split:
    return split_for(lease, threshold_bp=threshold_bp)


hashrates = st.floats(0.01, 1e9, allow_nan=False, allow_infinity=False)
elapsed_seconds = st.integers(1, 7 * DAY)
prices = st.integers(1, 10**9)
fees = st.integers(0, 10_000)
thresholds = st.integers(0, 10_000)


@given(
    elapsed=elapsed_seconds,
    extra=st.integers(0, DAY),
    hashrate=hashrates,
    price=prices,
    fee_bp=fees,
    threshold_bp=thresholds,
)
def test_zero_shares_cost_nothing_and_refund_everything(
    elapsed, extra, hashrate, price, fee_bp, threshold_bp
):
    ran = lease(
        shares=0,
        elapsed=elapsed,
        duration=elapsed + extra,
        hashrate=hashrate,
        price=price,
        fee_bp=fee_bp,
    )
    result = split(ran, threshold_bp)
    assert (result.charge, result.payout, result.fee) == (0, 0, 0)
    assert result.refund == ran.escrow
    assert result.shortfall


@given(
    elapsed=elapsed_seconds,
    hashrate=hashrates,
    price=prices,
    fee_bp=fees,
    threshold_bp=thresholds,
    shares=st.integers(0, 20_000),
    more=st.integers(0, 20_000),
)
def test_the_charge_never_falls_as_shares_rise(
    elapsed, hashrate, price, fee_bp, threshold_bp, shares, more
):
    def charge(k: int) -> int:
        ran = lease(shares=k, elapsed=elapsed, hashrate=hashrate, price=price, fee_bp=fee_bp)
        return split(ran, threshold_bp).charge

    assert charge(shares) <= charge(shares + more)
    assert charge(shares) <= charge(shares + 1)


@given(
    elapsed=st.integers(0, 7 * DAY),
    extra=st.integers(0, DAY),
    hashrate=hashrates,
    price=prices,
    fee_bp=fees,
    threshold_bp=thresholds,
    shares=st.integers(0, 20_000),
)
def test_every_split_divides_the_escrow_and_never_charges_past_the_time_run(
    elapsed, extra, hashrate, price, fee_bp, threshold_bp, shares
):
    ran = lease(
        shares=shares,
        elapsed=elapsed,
        duration=elapsed + extra,
        hashrate=hashrate,
        price=price,
        fee_bp=fee_bp,
    )
    result = split(ran, threshold_bp)
    assert 0 <= result.charge <= accrued(ran) <= ran.escrow
    assert result.payout + result.fee == result.charge
    assert result.fee == fee_of(result.charge, fee_bp)
    assert result.refund == ran.escrow - result.charge
    assert min(result.payout, result.fee, result.refund) >= 0
    if not result.shortfall:
        assert result.charge == accrued(ran)


@given(
    elapsed=elapsed_seconds,
    hashrate=hashrates,
    price=prices,
    threshold_bp=thresholds,
    surplus=st.integers(0, 100),
)
def test_proving_the_expected_count_is_paid_in_full(
    elapsed, hashrate, price, threshold_bp, surplus
):
    probe = lease(shares=0, elapsed=elapsed, hashrate=hashrate)
    shares = math.ceil(expected_shares(probe)) + surplus
    ran = lease(shares=shares, elapsed=elapsed, hashrate=hashrate, price=price)
    result = split(ran, threshold_bp)
    assert not result.shortfall
    assert result.charge == accrued(ran)


@given(
    minutes=st.floats(12, 7 * 24 * 60),
    hashrate=hashrates,
    threshold_bp=st.integers(0, THRESHOLD_BP),
    where=st.floats(0, 1),
)
def test_at_large_counts_an_honest_count_is_paid_in_full(minutes, hashrate, threshold_bp, where):
    # Any count down to 2 sigma under the expected one (an honest rig's count is there
    # about 98 % of the time): from 12 expected shares that is at least 4 shares and above
    # the 2-sigma line of any threshold up to 90 %.
    probe = lease(shares=0, elapsed=int(minutes * 60), hashrate=hashrate)
    expected = expected_shares(probe)
    assume(expected >= 12)
    low = math.ceil(expected - 2 * math.sqrt(expected))
    shares = low + int(where * (math.floor(expected) - low))
    ran = lease(shares=shares, elapsed=probe.elapsed_sec, hashrate=hashrate)
    result = split(ran, threshold_bp)
    assert not result.shortfall
    assert result.charge == accrued(ran)


@given(
    elapsed=elapsed_seconds,
    hashrate=hashrates,
    price=prices,
    threshold_bp=thresholds,
    shares=st.integers(1, int(MIN_EVIDENCE) - 1),
)
def test_under_four_shares_the_charge_is_only_what_the_shares_prove(
    elapsed, hashrate, price, threshold_bp, shares
):
    ran = lease(shares=shares, elapsed=elapsed, hashrate=hashrate, price=price)
    result = split(ran, threshold_bp)
    proven = min(shares / expected_shares(ran), 1.0)
    assert result.charge <= accrued(ran) * proven * (1 + 1e-9)


def _poisson(mean: float, upto: int) -> list[float]:
    if mean == 0:
        return [1.0] + [0.0] * upto
    return [math.exp(k * math.log(mean) - mean - math.lgamma(k + 1)) for k in range(upto + 1)]


# The advertised rate at which the pattern a 1,000 H/s rig gets is found exactly once a
# minute on average: at this rate a lease of n minutes expects n shares.
ONE_A_MINUTE = _pattern(1000.0).expected_hashes() / 60


def mean_pay(*, seconds: int, rate: float, hashrate: float = ONE_A_MINUTE) -> float:
    """The exact mean of charge / accrued for a rig at ``rate`` of its advertised hashrate
    on a lease that ran ``seconds`` (its share count is Poisson; summed to 12 sigma)."""
    probe = lease(shares=1, elapsed=seconds, hashrate=hashrate)
    per_share = probe.share_work
    mean = expected_shares(probe) * rate
    upto = int(mean + 12 * math.sqrt(mean) + 30)
    total = 0.0
    for k, chance in enumerate(_poisson(mean, upto)):
        ran = probe.model_copy(update={"shares": k, "share_work": k * per_share})
        total += chance * split(ran).charge / accrued(ran)
    return total


@given(
    expected=st.floats(0.01, MIN_EVIDENCE),
    rate=st.floats(0.0, 1.0),
    hashrate=hashrates,
)
def test_on_leases_of_at_most_four_expected_shares_no_rig_is_paid_past_its_delivery(
    expected, rate, hashrate
):
    # However slow (an idle rig: rate 0), a rig on such a lease is paid pro rata, so on
    # average at most for what it delivers.
    per_share = _pattern(hashrate).expected_hashes()
    seconds = max(math.floor(expected * per_share / hashrate), 1)
    assume(expected_shares(lease(shares=0, elapsed=seconds, hashrate=hashrate)) <= MIN_EVIDENCE)
    assert mean_pay(seconds=seconds, rate=rate, hashrate=hashrate) <= rate + 1e-9


@pytest.mark.parametrize(
    ("minutes", "honest"),
    [
        # 4 expected shares, paid min(k, 4) / 4: E[min(K, 4)] / 4 for K ~ Poisson(4)
        # = (1 * 0.0733 + 2 * 0.1465 + 3 * 0.1954 + 4 * 0.5665) / 4 = 0.8046.
        (4, pytest.approx(0.8046, abs=1e-4)),
        # 10 expected: in full from 4 shares; P(K <= 3) = 0.0103, paid k / 10 there.
        (10, pytest.approx(0.9924, abs=1e-4)),
        (60, pytest.approx(0.9990, abs=1e-4)),
    ],
)
def test_what_an_honest_rig_is_paid_on_average(minutes, honest):
    assert mean_pay(seconds=minutes * 60, rate=1.0) == honest


@pytest.mark.parametrize("minutes", [10, 20, 60, 6 * 60, 24 * 60])
def test_an_honest_rig_is_not_systematically_underpaid_from_ten_minutes(minutes):
    assert mean_pay(seconds=minutes * 60, rate=1.0) > 0.99


def test_a_half_rate_rig_gains_little_from_the_benefit_of_the_doubt_at_large_counts():
    assert mean_pay(seconds=4 * 60, rate=0.5) <= 0.5
    assert mean_pay(seconds=6 * HOUR, rate=0.5) == pytest.approx(0.5, abs=1e-3)
