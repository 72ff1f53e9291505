"""Settlement: what an ended lease costs (split_for) and the job that settles due leases.

Shares are recorded with ``work`` equal to the lease pattern's expected hashes, as ingest
does; their hashes only need to be unique here, settlement never recomputes them.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.dal.accounts import AccountRepository
from functions.dal.leases import LeaseRepository
from functions.dal.ledger import LedgerRepository
from functions.dal.listings import ListingRepository
from functions.dal.shares import ShareRepository
from functions.dal.specs import ACCOUNTS, LEASES, LEDGER
from functions.dal.tables import Tables
from functions.dal.workers import WorkerRepository
from functions.errors import ConcurrentUpdate
from functions.logic.settlement import ALREADY, SettlementService, Split, split_for
from functions.models.accounts import TREASURY
from functions.models.blocks import Share
from functions.models.market import Lease, LeaseStatus, Listing, ListingStatus, max_cost
from functions.models.money import fee_of
from functions.ports.devices import DeviceCommands, RecordingPublisher
from protocol.shares import share_pattern_for
from protocol.topics import Downlink, topic
from tests.audit import scan
from tests.factories import (
    NOW,
    PROVIDER,
    RENTER,
    address,
    deliver_shares,
    enrolled_worker,
    lease_for,
    open_listing,
)

# A pattern tuned to about one share a minute, and the advertised rate at which a rig
# finds exactly one a minute on average: 60 expected shares per hour of lease.
PATTERN = share_pattern_for(1000.0, 60.0, seed_chars="X")
PER_SHARE = PATTERN.expected_hashes()
RATE = PER_SHARE / 60
THRESHOLD_BP = 9000
GRACE = 30
HOUR = 3600
PRICE = 3_600_000  # 1,000 micro-credits a second
# moto copies its tables on every transaction, so a test records few shares: most stored
# leases run 10 minutes (10 shares at the advertised rate; 600,000 at PRICE).
SHORT = 600


# -- split_for: the arithmetic of one lease ----------------------------------------------


def ended_lease(
    *,
    shares: int,
    elapsed: int = HOUR,
    duration: int = HOUR,
    price: int = PRICE,
    fee_bp: int = 500,
) -> Lease:
    """A lease (not stored) that ran ``elapsed`` seconds and proved ``shares`` shares."""
    listing = Listing(
        listing_id="l-split",
        worker_id="w-split",
        provider=PROVIDER,
        price_per_hour=price,
        advertised_hashrate=RATE,
        created_at=NOW,
        updated_at=NOW,
    )
    lease = lease_for(listing, duration_sec=duration, fee_bp=fee_bp)
    return lease.model_copy(
        update={
            "share_pattern": str(PATTERN),
            "ends_at": NOW + elapsed,
            "shares": shares,
            "share_work": shares * PER_SHARE,
        }
    )


def split(lease: Lease) -> Split:
    return split_for(lease, threshold_bp=THRESHOLD_BP)


def test_full_delivery_charges_the_hour_at_its_price_less_the_default_fee():
    result = split(ended_lease(shares=60))
    assert result == Split(
        charge=3_600_000,
        payout=3_420_000,
        fee=180_000,  # 500 bp
        refund=0,
        delivered_ratio=pytest.approx(1.0),
        shortfall=False,
    )


def test_the_time_run_is_charged_rounded_up_to_the_micro_credit():
    # 1,234,567 an hour for 1,000 s is 342,935.27…: the provider gets the partial unit.
    result = split(ended_lease(shares=17, elapsed=1000, price=1_234_567))
    assert (result.charge, result.fee, result.payout, result.refund) == (
        342_936,
        17_146,  # 5 % of 342,936 is 17,146.8, rounded down
        325_790,
        1_234_567 - 342_936,
    )
    assert not result.shortfall


def test_the_charge_never_exceeds_the_escrow():
    # A lease whose end lies past its duration (it cannot happen through the API): the
    # escrow is all there is to split.
    result = split(ended_lease(shares=70, elapsed=HOUR + 600))
    assert (result.charge, result.refund) == (3_600_000, 0)


def test_a_clear_shortfall_charges_only_the_delivered_share():
    # Half the advertised rate over an hour: 30 shares where 60 were expected.
    result = split(ended_lease(shares=30))
    assert result.shortfall
    assert result.delivered_ratio == pytest.approx(0.5)
    assert result.charge == math.floor(3_600_000 * result.delivered_ratio)
    assert result.charge in (1_799_999, 1_800_000)  # the ratio is a float
    assert result.fee == fee_of(result.charge, 500)
    assert result.payout + result.fee + result.refund == 3_600_000


def test_a_rig_that_proves_nothing_pays_out_nothing():
    result = split(ended_lease(shares=0))
    assert (result.shortfall, result.charge, result.fee, result.payout, result.refund) == (
        True,
        0,
        0,
        0,
        3_600_000,
    )


@pytest.mark.parametrize("shares", [60, 55, 50, 45, 40])
def test_an_honest_rig_a_little_under_its_expected_share_count_is_not_docked(shares):
    # 60 expected; the threshold rate expects 54 and tolerates 2 sigma (about 14.7) below.
    result = split(ended_lease(shares=shares))
    assert not result.shortfall
    assert result.charge == 3_600_000


@pytest.mark.parametrize("shares", [39, 30, 10])
def test_a_share_count_beyond_two_sigma_under_the_threshold_is_a_shortfall(shares):
    result = split(ended_lease(shares=shares))
    assert result.shortfall
    assert result.charge < 3_600_000


def charged(result: Split, worked: int) -> bool:
    """Whether ``result`` charges the hand-worked amount: a pro rata charge floors a float
    ratio (k shares over an expected count), so it may land one micro-credit under."""
    return result.charge == worked or (result.shortfall and result.charge == worked - 1)


def test_zero_shares_are_a_shortfall_however_short_the_lease():
    # The 2-sigma test alone forgave zero shares up to about 4.4 minutes (0.9 * minutes
    # under 2 * sqrt(0.9 * minutes)); zero shares prove nothing at any length.
    for elapsed in (1, 30, 60, 4 * 60, 5 * 60, HOUR):
        result = split(ended_lease(shares=0, elapsed=elapsed))
        assert (result.shortfall, result.charge, result.refund) == (True, 0, 3_600_000)


def test_the_finding_a_heartbeat_only_rig_on_a_four_minute_lease_is_paid_nothing():
    # Issue #18, finding 2: a rig listed at min = max = 240 s that sends heartbeats and no
    # share. 95,000,010 an hour for 240 s is 6,333,334 in escrow: it all goes back.
    result = split(ended_lease(shares=0, elapsed=240, duration=240, price=95_000_010))
    assert result == Split(
        charge=0, payout=0, fee=0, refund=6_333_334, delivered_ratio=0.0, shortfall=True
    )


@pytest.mark.parametrize(
    ("shares", "charge"),
    [
        # 4 minutes at 1,000 a second accrue 240,000; 4 shares expected. Under z^2 = 4
        # shares there is no benefit of the doubt: 240,000 * k / 4.
        (1, 60_000),
        (2, 120_000),
        (3, 180_000),
        (4, 240_000),  # the expected count: in full
        (5, 240_000),  # more than expected: still the time it ran, no more
    ],
)
def test_few_expected_shares_are_paid_pro_rata(shares, charge):
    result = split(ended_lease(shares=shares, elapsed=4 * 60))
    assert charged(result, charge)
    assert result.refund == 3_600_000 - result.charge
    assert result.shortfall is (shares < 4)


@pytest.mark.parametrize(
    ("shares", "charge"),
    [
        # 10 minutes accrue 600,000; 10 shares expected, 9 at the 90 % threshold, whose
        # 2-sigma line is 9 - 2 * 3 = 3: the evidence floor of 4 shares is the stricter.
        (3, 180_000),  # 600,000 * 3 / 10: too few shares for the benefit of the doubt
        (4, 600_000),  # within 2 sigma of the threshold rate, and enough shares to say so
        (6, 600_000),
        (10, 600_000),
    ],
)
def test_from_four_shares_a_count_within_two_sigma_is_paid_in_full(shares, charge):
    assert charged(split(ended_lease(shares=shares, elapsed=600)), charge)


def test_past_twelve_minutes_the_two_sigma_line_takes_over_from_the_evidence_floor():
    # 20 minutes: 20 expected, 18 at the threshold, line 18 - 2 * sqrt(18) = 9.51.
    assert split(ended_lease(shares=10, elapsed=1200)).charge == 1_200_000
    docked = split(ended_lease(shares=9, elapsed=1200))
    assert docked.shortfall
    assert charged(docked, 540_000)  # 1,200,000 * 9 / 20


def _poisson_pmf(k: int, mean: float) -> float:
    return math.exp(k * math.log(mean) - mean - math.lgamma(k + 1))


def _chance_docked(rate_fraction: float, hours: int) -> float:
    """The exact chance that a rig at ``rate_fraction`` of its advertised rate is docked."""
    mean = 60 * hours * rate_fraction
    docked = 0.0
    for k in range(int(mean * 3) + 50):
        if split(ended_lease(shares=k, elapsed=hours * HOUR, duration=hours * HOUR)).shortfall:
            docked += _poisson_pmf(k, mean)
    return docked


def test_an_honest_rig_is_almost_never_docked_and_a_half_rate_rig_almost_always():
    assert _chance_docked(1.0, hours=1) < 0.01
    assert _chance_docked(1.0, hours=6) < 0.01
    # A short lease proves less: a half-rate rig escapes now and then over one hour,
    # practically never over six.
    assert _chance_docked(0.5, hours=1) > 0.9
    assert _chance_docked(0.5, hours=6) > 0.999


def test_a_stopped_lease_charges_only_the_time_it_ran():
    result = split(ended_lease(shares=20, elapsed=1200))
    assert (result.charge, result.fee, result.payout, result.refund) == (
        1_200_000,
        60_000,
        1_140_000,
        2_400_000,
    )
    assert not result.shortfall


def test_a_lease_that_never_ran_charges_nothing_and_refunds_everything():
    result = split(ended_lease(shares=0, elapsed=0))
    assert result == Split(
        charge=0, payout=0, fee=0, refund=3_600_000, delivered_ratio=0.0, shortfall=False
    )


@given(
    price=st.integers(1, 10**9),
    duration=st.integers(60, 7 * 86_400),
    elapsed_part=st.floats(0, 1),
    rate_part=st.floats(0, 1.5),
    fee_bp=st.integers(0, 10_000),
    threshold_bp=st.integers(0, 10_000),
)
def test_every_split_divides_the_escrow_exactly(
    price, duration, elapsed_part, rate_part, fee_bp, threshold_bp
):
    elapsed = int(duration * elapsed_part)
    shares = int(elapsed / 60 * rate_part)
    lease = ended_lease(
        shares=shares, elapsed=elapsed, duration=duration, price=price, fee_bp=fee_bp
    )
    result = split_for(lease, threshold_bp=threshold_bp)
    accrued = min(lease.escrow, math.ceil(price * elapsed / HOUR))
    assert result.payout + result.fee + result.refund == lease.escrow
    assert min(result.payout, result.fee, result.refund) >= 0
    assert result.charge == result.payout + result.fee
    assert result.fee == fee_of(result.charge, fee_bp)
    assert result.charge <= accrued
    if not result.shortfall:
        assert result.charge == accrued


# -- the job: settle_due ------------------------------------------------------------------


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def service(tables, publisher) -> SettlementService:
    return SettlementService(
        LeaseRepository(tables), DeviceCommands(publisher), threshold_bp=THRESHOLD_BP
    )


def rent(
    tables: Tables, *, renter: str = RENTER, duration: int = HOUR, created: int = NOW
) -> Lease:
    """A stored lease on a fresh listing, its renter funded with exactly the escrow."""
    listing = open_listing(tables, price_per_hour=PRICE, hashrate=RATE)
    AccountRepository(tables).deposit(
        renter,
        max_cost(PRICE, duration),
        entry_id=f"fund-{listing.listing_id}",
        now=created,
    )
    lease = lease_for(listing, renter=renter, duration_sec=duration, now=created)
    return LeaseRepository(tables).create(
        lease.model_copy(update={"share_pattern": str(PATTERN)}), listing
    )


def deliver(tables: Tables, lease: Lease, count: int, *, within: int | None = None) -> None:
    """Record ``count`` verified shares of PATTERN spread over the first ``within`` seconds."""
    deliver_shares(tables, lease, count, work=PER_SHARE, within=within)


def balance(tables: Tables, who: str) -> int:
    return AccountRepository(tables).get(who).balance


def assert_books_balance(tables: Tables) -> None:
    """Balances + held + escrows == deposits - withdrawals, and the ledger agrees."""
    accounts = [i for i in scan(tables, ACCOUNTS) if i["sk"] == "ACCOUNT"]
    leases = scan(tables, LEASES)
    total = sum(a.get("balance", 0) + a.get("held", 0) for a in accounts)
    deposits = sum(a.get("deposited", 0) for a in accounts)
    withdrawals = sum(a.get("withdrawn", 0) for a in accounts)
    assert total + sum(lease["escrow"] for lease in leases) == deposits - withdrawals
    flow: dict[str, int] = defaultdict(int)
    for entry in scan(tables, LEDGER):
        flow[entry["from_account"]] -= entry["amount"]
        flow[entry["to_account"]] += entry["amount"]
    for account in accounts:
        assert flow[account["address"]] == account.get("balance", 0), account["address"]
    for lease in leases:
        assert flow[f"escrow:{lease['lease_id']}"] == lease["escrow"], lease["lease_id"]


def test_only_leases_past_their_end_and_the_grace_are_settled(tables, service):
    short = rent(tables, duration=1800)
    long = rent(tables, duration=HOUR)

    assert service.settle_due(short.ends_at + GRACE - 1).settled == 0
    run = service.settle_due(short.ends_at + GRACE)

    assert run.lease_ids == [short.lease_id]
    leases = LeaseRepository(tables)
    assert leases.require(short.lease_id).status is LeaseStatus.SETTLED
    assert leases.require(long.lease_id).status is LeaseStatus.ACTIVE
    assert ListingRepository(tables).require(long.listing_id).status is ListingStatus.LEASED


def test_a_settled_lease_moves_every_micro_credit_where_it_belongs(tables, service):
    lease = rent(tables)
    leases = LeaseRepository(tables)
    # The renter stops after 30 minutes, the rig having delivered at its rate.
    deliver(tables, lease, 30, within=1800)
    leases.stop(lease.lease_id, renter=RENTER, now=NOW + 1800)

    run = service.settle_due(NOW + 1800 + GRACE)

    assert (run.settled, run.charged, run.refunded) == (1, 1_800_000, 1_800_000)
    assert balance(tables, RENTER) == 1_800_000
    assert balance(tables, PROVIDER) == 1_710_000
    assert balance(tables, TREASURY) == 90_000
    settled = leases.require(lease.lease_id)
    assert (settled.status, settled.escrow, settled.settled_at) == (
        LeaseStatus.SETTLED,
        0,
        NOW + 1800 + GRACE,
    )
    assert (settled.payout, settled.fee, settled.refund) == (1_710_000, 90_000, 1_800_000)
    ledger = LedgerRepository(tables)
    entries = {kind: ledger.get(f"{kind}:{lease.lease_id}") for kind in ("payout", "fee", "refund")}
    assert {kind: (e.amount, e.to_account) for kind, e in entries.items() if e} == {
        "payout": (1_710_000, PROVIDER),
        "fee": (90_000, TREASURY),
        "refund": (1_800_000, RENTER),
    }
    assert_books_balance(tables)


def test_a_shortfall_is_charged_at_the_delivered_share(tables, service):
    lease = rent(tables)
    deliver(tables, lease, 30)  # half the advertised rate

    run = service.settle_due(lease.ends_at + GRACE)

    assert (run.settled, run.charged, run.refunded) == (1, 1_800_000, 1_800_000)
    assert balance(tables, PROVIDER) == 1_710_000
    assert balance(tables, TREASURY) == 90_000
    assert balance(tables, RENTER) == 1_800_000
    assert_books_balance(tables)


def test_the_finding_end_to_end_a_heartbeat_only_rig_gets_nothing_back_to_the_renter(
    tables, service
):
    # Issue #18, finding 2, through the job and the ledger: a listing at min = max = 240 s,
    # rented for 240 s with 6,333,334 in escrow, and no share arrives.
    worker = enrolled_worker(tables)
    listing = ListingRepository(tables).create(
        Listing(
            listing_id="l-heartbeats",
            worker_id=worker.worker_id,
            provider=PROVIDER,
            price_per_hour=95_000_010,
            advertised_hashrate=RATE,
            min_duration_sec=240,
            max_duration_sec=240,
            created_at=NOW,
            updated_at=NOW,
        )
    )
    AccountRepository(tables).deposit(RENTER, 6_333_334, entry_id="fund-heartbeats", now=NOW)
    lease = lease_for(listing, duration_sec=240)
    lease = LeaseRepository(tables).create(
        lease.model_copy(update={"share_pattern": str(PATTERN)}), listing
    )
    assert lease.escrow == 6_333_334

    run = service.settle_due(lease.ends_at + GRACE)

    assert (run.settled, run.charged, run.refunded) == (1, 0, 6_333_334)
    settled = LeaseRepository(tables).require(lease.lease_id)
    assert (settled.payout, settled.fee, settled.refund) == (0, 0, 6_333_334)
    assert [balance(tables, who) for who in (RENTER, PROVIDER, TREASURY)] == [6_333_334, 0, 0]
    assert_books_balance(tables)


def test_the_listing_is_back_on_the_market_after_settlement(tables, service):
    lease = rent(tables)
    listings = ListingRepository(tables)
    leased = listings.require(lease.listing_id)

    service.settle_due(lease.ends_at + GRACE)

    listing = listings.require(lease.listing_id)
    assert (listing.status, listing.lease_id, listing.version) == (
        ListingStatus.OPEN,
        None,
        leased.version + 1,
    )
    assert [x.listing_id for x in listings.cheapest_open(limit=10).items] == [lease.listing_id]


@pytest.mark.parametrize("wish", [ListingStatus.PAUSED, ListingStatus.DELISTED])
def test_a_pause_or_delist_asked_for_during_the_lease_applies_at_settlement(tables, service, wish):
    lease = rent(tables)
    listings = ListingRepository(tables)
    listings.set_status(listings.require(lease.listing_id), wish, now=NOW + 60)

    assert service.settle_due(lease.ends_at + GRACE).settled == 1

    listing = listings.require(lease.listing_id)
    assert (listing.status, listing.after_lease, listing.lease_id) == (wish, None, None)
    assert listings.cheapest_open(limit=10).items == []
    worker = WorkerRepository(tables).require(lease.worker_id)
    # A delisted listing frees its worker for a new one; a paused one keeps it.
    expected = None if wish is ListingStatus.DELISTED else lease.listing_id
    assert worker.listing_id == expected


def test_running_twice_settles_nothing_more(tables, service, publisher):
    lease = rent(tables, duration=SHORT)
    deliver(tables, lease, 10)
    first = service.settle_due(lease.ends_at + GRACE)
    balances = [balance(tables, who) for who in (RENTER, PROVIDER, TREASURY)]

    second = service.settle_due(lease.ends_at + GRACE + 60)

    assert (first.settled, second.settled, second.already, second.retry_later) == (1, 0, 0, 0)
    assert balances == [0, 570_000, 30_000]
    assert [balance(tables, who) for who in (RENTER, PROVIDER, TREASURY)] == balances
    assert len(publisher.sent) == 1
    assert_books_balance(tables)


def test_settling_a_stale_copy_of_a_settled_lease_moves_nothing(tables, service):
    lease = rent(tables)
    service.settle_due(lease.ends_at + GRACE)
    balances = [balance(tables, who) for who in (RENTER, PROVIDER, TREASURY)]

    assert service.settle(lease, lease.ends_at + GRACE) == ALREADY
    assert [balance(tables, who) for who in (RENTER, PROVIDER, TREASURY)] == balances


class Crash(Exception):
    """The job's process died."""


class CrashingLeases(LeaseRepository):
    """Dies on the ``crash_on``-th settlement, before it is sent or after it committed."""

    def __init__(self, tables: Tables, *, crash_on: int, after_commit: bool) -> None:
        super().__init__(tables)
        self.calls = 0
        self._crash_on = crash_on
        self._after_commit = after_commit

    def settle(self, lease: Lease, **split: int) -> Lease:  # type: ignore[override]
        self.calls += 1
        crash = self.calls == self._crash_on
        if crash and not self._after_commit:
            raise Crash
        settled = super().settle(lease, **split)
        if crash:
            raise Crash
        return settled


@pytest.mark.parametrize("after_commit", [False, True], ids=["before-commit", "after-commit"])
def test_a_crash_between_leases_resumes_on_the_next_run(tables, publisher, after_commit):
    leases = [
        rent(tables, renter=address(0xE00 + i), duration=SHORT, created=NOW + i) for i in range(4)
    ]
    for lease in leases:
        deliver(tables, lease, 10)
    now = leases[-1].ends_at + GRACE
    crashing = SettlementService(
        CrashingLeases(tables, crash_on=2, after_commit=after_commit),
        DeviceCommands(publisher),
        threshold_bp=THRESHOLD_BP,
    )
    with pytest.raises(Crash):
        crashing.settle_due(now)

    fresh = SettlementService(
        LeaseRepository(tables), DeviceCommands(publisher), threshold_bp=THRESHOLD_BP
    )
    run = fresh.settle_due(now)

    done_before = 2 if after_commit else 1
    assert run.settled == 4 - done_before
    repository = LeaseRepository(tables)
    assert all(repository.require(x.lease_id).status is LeaseStatus.SETTLED for x in leases)
    # Every lease was paid once: full delivery, 570,000 each to the one provider.
    assert balance(tables, PROVIDER) == 4 * 570_000
    assert balance(tables, TREASURY) == 4 * 30_000
    assert_books_balance(tables)


class ConflictOnce(LeaseRepository):
    """The first settlement of ``lease_id`` meets a concurrent change of its listing."""

    def __init__(self, tables: Tables, lease_id: str) -> None:
        super().__init__(tables)
        self._lease_id = lease_id
        self._raised = False

    def settle(self, lease: Lease, **split: int) -> Lease:  # type: ignore[override]
        if lease.lease_id == self._lease_id and not self._raised:
            self._raised = True
            raise ConcurrentUpdate("listing changed during settlement")
        return super().settle(lease, **split)


def test_a_concurrent_update_leaves_the_lease_for_a_later_run(tables, publisher):
    first, second = rent(tables), rent(tables, created=NOW + 1)
    service = SettlementService(
        ConflictOnce(tables, first.lease_id), DeviceCommands(publisher), threshold_bp=THRESHOLD_BP
    )
    now = second.ends_at + GRACE

    run = service.settle_due(now)
    assert (run.settled, run.retry_later, run.lease_ids) == (1, 1, [second.lease_id])
    assert LeaseRepository(tables).require(first.lease_id).status is LeaseStatus.ACTIVE

    again = service.settle_due(now + 60)
    assert again.lease_ids == [first.lease_id]
    assert_books_balance(tables)


def test_the_rig_is_told_to_release_the_lease(tables, service, publisher):
    lease = rent(tables)

    service.settle_due(lease.ends_at + GRACE)

    assert len(publisher.sent) == 1
    sent_topic, payload, qos = publisher.sent[0]
    assert sent_topic == topic(lease.worker_id, Downlink.TASK)
    assert json.loads(payload) == {"command": "release", "lease_id": lease.lease_id}
    assert qos == 1


class BrokenPublisher:
    def __init__(self) -> None:
        self.attempts = 0

    def publish(self, topic: str, payload: bytes, *, qos: int = 1) -> None:
        self.attempts += 1
        raise ConnectionError("broker unreachable")


def test_a_failing_publisher_neither_undoes_nor_blocks_settlement(tables):
    broken = BrokenPublisher()
    service = SettlementService(
        LeaseRepository(tables), DeviceCommands(broken), threshold_bp=THRESHOLD_BP
    )
    leases = [rent(tables, duration=SHORT, created=NOW + i) for i in range(2)]
    for lease in leases:
        deliver(tables, lease, 10)

    run = service.settle_due(leases[-1].ends_at + GRACE)

    assert (run.settled, broken.attempts) == (2, 2)
    repository = LeaseRepository(tables)
    assert all(repository.require(x.lease_id).status is LeaseStatus.SETTLED for x in leases)
    assert balance(tables, PROVIDER) == 2 * 570_000
    assert_books_balance(tables)


def test_due_leases_are_read_in_batches_oldest_first(tables, publisher):
    leases = [rent(tables, created=NOW + i) for i in range(5)]
    service = SettlementService(
        LeaseRepository(tables), DeviceCommands(publisher), threshold_bp=THRESHOLD_BP, batch=2
    )
    now = leases[-1].ends_at + GRACE

    bounded = service.settle_due(now, max_leases=2)
    rest = service.settle_due(now)

    assert bounded.lease_ids == [x.lease_id for x in leases[:2]]
    assert rest.lease_ids == [x.lease_id for x in leases[2:]]
    assert service.settle_due(now).settled == 0


def test_the_books_balance_through_a_run_of_mixed_leases(tables, service):
    renters = [address(0xF00 + i) for i in range(4)]
    full = rent(tables, renter=renters[0], duration=SHORT, created=NOW)
    short = rent(tables, renter=renters[1], duration=2 * SHORT, created=NOW + 1)
    stopped = rent(tables, renter=renters[2], duration=HOUR, created=NOW + 2)
    idle = rent(tables, renter=renters[3], duration=HOUR, created=NOW + 3)
    deliver(tables, full, 10)
    deliver(tables, short, 6)  # 20 expected: a clear shortfall
    deliver(tables, stopped, 10, within=SHORT)
    leases = LeaseRepository(tables)
    leases.stop(stopped.lease_id, renter=stopped.renter, now=stopped.created_at + SHORT)
    leases.stop(idle.lease_id, renter=idle.renter, now=idle.created_at)
    assert_books_balance(tables)

    run = service.settle_due(short.ends_at + GRACE)

    assert run.settled == 4
    assert_books_balance(tables)
    settled = {x.lease_id: leases.require(x.lease_id) for x in (full, short, stopped, idle)}
    charges = {i: x.payout + x.fee for i, x in settled.items()}
    assert charges == {
        full.lease_id: 600_000,
        short.lease_id: math.floor(1_200_000 * 6 / 20),
        stopped.lease_id: 600_000,
        idle.lease_id: 0,
    }
    # The idle lease was stopped at once: the renter has everything back.
    assert balance(tables, idle.renter) == idle.max_cost
    assert balance(tables, TREASURY) == sum(x.fee for x in settled.values())
    assert run.charged + run.refunded == sum(x.max_cost for x in (full, short, stopped, idle))


# -- races with the rest of the platform -----------------------------------------------------


class LaggingReads:
    """The DynamoDB client as it may answer right after writes: the ``due`` index (a GSI)
    and the eventually consistent BatchGetItem behind it still show the leases as the first
    read found them, for ``stale_reads`` more reads. Counts the transactions sent."""

    def __init__(self, tables: Tables, *, stale_reads: int) -> None:
        self._client = tables.client
        self._leases_table = tables.name(LEASES)
        self._stale_reads = stale_reads
        self._stale = False
        self._first_query: dict[str, Any] | None = None
        self._first_items: dict[str, dict[str, Any]] = {}
        self.transactions = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def query(self, **kwargs: Any) -> Any:
        if kwargs.get("IndexName") != "due":
            return self._client.query(**kwargs)
        self._stale = self._first_query is not None and self._stale_reads > 0
        if self._stale:
            self._stale_reads -= 1
            return self._first_query
        response = self._client.query(**kwargs)
        self._first_query = self._first_query or response
        return response

    def batch_get_item(self, **kwargs: Any) -> Any:
        response = self._client.batch_get_item(**kwargs)
        items = response.get("Responses", {}).get(self._leases_table)
        if items is not None:
            for item in items:
                self._first_items.setdefault(item["lease_id"]["S"], item)
            if self._stale:
                items[:] = [self._first_items[i["lease_id"]["S"]] for i in items]
        return response

    def transact_write_items(self, **kwargs: Any) -> Any:
        self.transactions += 1
        return self._client.transact_write_items(**kwargs)


def test_a_lagging_index_does_not_make_the_run_settle_twice(tables, service):
    leases = [rent(tables, duration=SHORT, created=NOW + i) for i in range(2)]
    lagging = LaggingReads(tables, stale_reads=2)
    tables.client = lagging

    run = service.settle_due(leases[-1].ends_at + GRACE)

    assert run.settled == 2
    assert (run.already, lagging.transactions) == (0, 2)


class AlwaysConflicting(LeaseRepository):
    """One lease meets a concurrent change every time this run tries it."""

    def __init__(self, tables: Tables, lease_id: str) -> None:
        super().__init__(tables)
        self._lease_id = lease_id

    def settle(self, lease: Lease, **split: int) -> Lease:  # type: ignore[override]
        if lease.lease_id == self._lease_id:
            raise ConcurrentUpdate("listing changed during settlement")
        return super().settle(lease, **split)


def test_a_lease_left_for_later_does_not_hold_up_the_leases_behind_it(tables, publisher):
    stuck, behind = rent(tables, duration=SHORT), rent(tables, duration=SHORT, created=NOW + 1)
    service = SettlementService(
        AlwaysConflicting(tables, stuck.lease_id),
        DeviceCommands(publisher),
        threshold_bp=THRESHOLD_BP,
        batch=1,
    )

    run = service.settle_due(behind.ends_at + GRACE)

    assert (run.retry_later, run.lease_ids) == (1, [behind.lease_id])


class ShareInFlight:
    """The DynamoDB client, with ingest recording one late share (found before the end)
    right after the job has read the due leases: a rig that reconnects and flushes its
    queue while settlement runs."""

    def __init__(self, tables: Tables, share: Share) -> None:
        self._client = tables.client
        self._tables = tables
        self._share: Share | None = share

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_get_item(self, **kwargs: Any) -> Any:
        response = self._client.batch_get_item(**kwargs)
        share, self._share = self._share, None
        if share is not None:
            ShareRepository(self._tables).record(share)
        return response


def test_the_charge_agrees_with_the_shares_stored_on_the_settled_lease(tables, service):
    lease = rent(tables)
    deliver(tables, lease, 39)  # one short of the 2-sigma line: docked as it stands
    late = Share(
        hash=f"{lease.lease_id}-late",
        lease_id=lease.lease_id,
        worker_id=lease.worker_id,
        key="key-late",
        difficulty=8,
        work=PER_SHARE,
        found_at=lease.ends_at - 1,
        recorded_at=lease.ends_at + GRACE,
        expires_at=lease.ends_at + 86_400,
    )
    tables.client = ShareInFlight(tables, late)
    now = lease.ends_at + GRACE
    service.settle_due(now)
    service.settle_due(now + 60)  # a fix may leave the lease for the next run

    settled = LeaseRepository(tables).require(lease.lease_id)
    assert settled.status is LeaseStatus.SETTLED
    assert settled.shares == 40
    expected = split_for(
        settled.model_copy(update={"escrow": settled.max_cost}), threshold_bp=THRESHOLD_BP
    )
    assert (settled.payout, settled.fee, settled.refund) == (
        expected.payout,
        expected.fee,
        expected.refund,
    )
