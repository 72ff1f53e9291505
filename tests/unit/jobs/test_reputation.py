"""Reputation: the score's parts and weights, what the job reads, and where it writes."""

from __future__ import annotations

import math

import pytest

from functions.dal.accounts import AccountRepository
from functions.dal.blocks import BlockRepository
from functions.dal.leases import LeaseRepository
from functions.dal.listings import ListingRepository
from functions.dal.tables import Tables
from functions.dal.telemetry import TelemetryRepository
from functions.dal.workers import WorkerRepository
from functions.logic.reputation import WEIGHTS, ReputationParts, ReputationService, parts_of
from functions.logic.settlement import SettlementService
from functions.models.blocks import Block
from functions.models.market import Lease, Listing
from functions.models.telemetry import TelemetryPoint, worker_series
from functions.models.workers import Reputation, Worker
from functions.ports.devices import DeviceCommands, RecordingPublisher
from protocol.shares import share_pattern_for
from tests.factories import (
    NOW,
    PROVIDER,
    RENTER,
    address,
    deliver_shares,
    enrolled_worker,
    lease_for,
    mined_block,
    open_listing,
    register_online,
)

DAY = 86_400
HISTORY = 300  # the settings' heartbeat_history_seconds
PATTERN = share_pattern_for(1000.0, 60.0, seed_chars="X")
PER_SHARE = PATTERN.expected_hashes()
RATE = PER_SHARE / 60  # one share a minute at the advertised rate
LEASE_SECONDS = 600  # 10 shares at the advertised rate


# -- parts and weights --------------------------------------------------------------------


def test_the_weights_make_a_score_out_of_100():
    assert sum(WEIGHTS.values()) == 100


def test_an_unknown_worker_scores_only_its_unknown_delivery():
    parts = parts_of(Reputation(score=0, updated_at=NOW))
    assert parts == ReputationParts(delivery=0.5, uptime=0.0, leases=0.0, blocks=0.0, age=0.0)
    assert parts.score == 17.5


def test_each_part_saturates_at_its_full_weight():
    full = Reputation(
        score=0,
        delivery=1.0,
        uptime=1.0,
        completed_leases=20,
        verified_blocks=1000,
        age_days=30,
        updated_at=NOW,
    )
    beyond = full.model_copy(
        update={
            "delivery": 1.7,
            "completed_leases": 500,
            "verified_blocks": 10**6,
            "age_days": 400,
        }
    )
    assert parts_of(full).score == 100.0
    assert parts_of(beyond) == ReputationParts(1.0, 1.0, 1.0, 1.0, 1.0)


def test_the_score_is_the_weighted_sum_of_the_parts():
    reputation = Reputation(
        score=0,
        delivery=0.6,
        uptime=0.5,
        completed_leases=10,
        verified_blocks=9,  # log10(10) / log10(1001): a third, nearly
        age_days=15,
        updated_at=NOW,
    )
    blocks = 1 / math.log10(1001)
    assert parts_of(reputation) == ReputationParts(0.6, 0.5, 0.5, pytest.approx(blocks), 0.5)
    assert parts_of(reputation).score == round(21 + 12.5 + 7.5 + 15 * blocks + 5, 2)


# -- compute: what the job reads ----------------------------------------------------------


@pytest.fixture
def service(tables) -> ReputationService:
    return ReputationService(
        workers=WorkerRepository(tables),
        listings=ListingRepository(tables),
        leases=LeaseRepository(tables),
        blocks=BlockRepository(tables),
        telemetry=TelemetryRepository(tables),
        history_seconds=HISTORY,
    )


def settled_lease(tables: Tables, listing: Listing, shares: int, *, start: int = NOW) -> Lease:
    """Rent ``listing`` for 10 minutes from ``start``, prove ``shares`` shares, settle."""
    AccountRepository(tables).deposit(
        RENTER, 10**8, entry_id=f"fund-{listing.listing_id}-{start}", now=start
    )
    leases = LeaseRepository(tables)
    lease = lease_for(listing, duration_sec=LEASE_SECONDS, now=start)
    lease = leases.create(lease.model_copy(update={"share_pattern": str(PATTERN)}), listing)
    deliver_shares(tables, lease, shares, work=PER_SHARE)
    settlement = SettlementService(leases, DeviceCommands(RecordingPublisher()), threshold_bp=9000)
    settlement.settle_due(lease.ends_at + 30)
    return leases.require(lease.lease_id)


def worker_of(tables: Tables, listing: Listing) -> Worker:
    return WorkerRepository(tables).require(listing.worker_id)


def test_a_new_worker_has_nothing_but_its_unknown_delivery(tables, service):
    worker = enrolled_worker(tables)
    reputation = service.compute(worker, NOW)
    assert reputation == Reputation(
        score=17.5,
        verified_blocks=0,
        completed_leases=0,
        uptime=0.0,
        delivery=None,
        age_days=0.0,
        updated_at=NOW,
    )


def test_a_new_worker_that_is_online_counts_as_up(tables, service):
    worker = register_online(tables, enrolled_worker(tables).worker_id)
    reputation = service.compute(worker, NOW)
    assert (reputation.uptime, reputation.score) == (1.0, 42.5)


def test_full_delivery_outscores_sixty_percent(tables, service):
    honest = open_listing(tables, hashrate=RATE)
    weak = open_listing(tables, owner=address(0xBEEF), hashrate=RATE)
    settled_lease(tables, honest, 10)
    settled_lease(tables, weak, 6)
    now = NOW + 3600

    good = service.compute(worker_of(tables, honest), now)
    poor = service.compute(worker_of(tables, weak), now)

    assert (good.delivery, good.completed_leases) == (1.0, 1)
    assert (poor.delivery, poor.completed_leases) == (0.6, 1)
    assert good.score > poor.score
    assert good.score - poor.score == pytest.approx(0.4 * WEIGHTS["delivery"], abs=0.011)


def test_delivery_averages_the_settled_leases_only(tables, service):
    listing = open_listing(tables, hashrate=RATE)
    settled_lease(tables, listing, 10)
    again = ListingRepository(tables).require(listing.listing_id)  # open again, new version
    settled_lease(tables, again, 6, start=NOW + 1000)
    # A third lease still running does not count yet.
    AccountRepository(tables).deposit(RENTER, 10**8, entry_id="fund-active", now=NOW)
    current = ListingRepository(tables).require(listing.listing_id)
    LeaseRepository(tables).create(lease_for(current, now=NOW + 2000), current)

    reputation = service.compute(worker_of(tables, listing), NOW + 2100)

    assert (reputation.delivery, reputation.completed_leases) == (0.8, 2)


def test_a_lease_that_never_ran_says_nothing_about_delivery(tables, service):
    listing = open_listing(tables, hashrate=RATE)
    AccountRepository(tables).deposit(RENTER, 10**8, entry_id="fund", now=NOW)
    leases = LeaseRepository(tables)
    lease = leases.create(lease_for(listing), listing)
    leases.stop(lease.lease_id, renter=RENTER, now=NOW)
    SettlementService(leases, DeviceCommands(RecordingPublisher()), threshold_bp=9000).settle_due(
        NOW + 30
    )

    reputation = service.compute(worker_of(tables, listing), NOW + 60)

    assert (reputation.delivery, reputation.completed_leases) == (None, 0)


def history_points(worker_id: str, times: list[int]) -> list[TelemetryPoint]:
    return [
        TelemetryPoint(
            series=worker_series(worker_id), ts=ts, values={"hashrate": 1.0}, expires_at=ts + DAY
        )
        for ts in times
    ]


def test_uptime_is_the_share_of_the_last_day_with_a_history_point(tables, service):
    worker = enrolled_worker(tables)
    other = enrolled_worker(tables)
    now = NOW + 2 * DAY
    telemetry = TelemetryRepository(tables)
    # Up for the last 12 hours: 144 of the day's 288 five-minute points.
    telemetry.put_many(history_points(worker.worker_id, [now - HISTORY * i for i in range(144)]))
    # Older than a day, or another worker's: not counted.
    telemetry.put_many(history_points(worker.worker_id, [now - DAY - HISTORY * i for i in (1, 2)]))
    telemetry.put_many(
        history_points(other.worker_id, [now - HISTORY * i for i in range(144, 288)])
    )

    assert service.compute(worker, now).uptime == 0.5


def test_a_young_worker_is_measured_over_its_life_so_far(tables, service):
    worker = enrolled_worker(tables)  # created at NOW
    now = NOW + 3600
    TelemetryRepository(tables).put_many(
        history_points(worker.worker_id, [now - HISTORY * i for i in range(12)])
    )
    assert service.compute(worker, now).uptime == 1.0


def block(worker: Worker, n: int, *, verified: bool) -> Block:
    return mined_block(
        n,
        hash=f"{worker.worker_id}-block-{n}",
        worker_id=worker.worker_id,
        owner=worker.owner,
        account=PROVIDER,
        verified=verified,
        found_at=NOW,
        recorded_at=NOW + n,
    )


def test_only_verified_blocks_count(tables, service):
    worker = enrolled_worker(tables)
    other = enrolled_worker(tables)
    blocks = BlockRepository(tables)
    for n in range(3):
        blocks.record(block(worker, n, verified=True))
    blocks.record(block(worker, 3, verified=False))
    blocks.record(block(other, 4, verified=True))

    reputation = service.compute(worker, NOW + 60)

    assert reputation.verified_blocks == 3
    assert parts_of(reputation).blocks == pytest.approx(math.log10(4) / math.log10(1001))


def test_age_counts_days_since_enrolment(tables, service):
    worker = enrolled_worker(tables)
    reputation = service.compute(worker, NOW + 15 * DAY + DAY // 2)
    assert reputation.age_days == 15.5
    assert parts_of(reputation).age == pytest.approx(15.5 / 30)


def test_the_score_combines_every_part(tables, service):
    listing = open_listing(tables, hashrate=RATE)
    settled_lease(tables, listing, 10)
    worker = worker_of(tables, listing)
    for n in range(3):
        BlockRepository(tables).record(block(worker, n, verified=True))
    now = NOW + 2 * DAY
    TelemetryRepository(tables).put_many(
        history_points(worker.worker_id, [now - HISTORY * i for i in range(144)])
    )

    reputation = service.compute(worker, now)

    blocks = math.log10(4) / math.log10(1001)
    expected = 35 * 1.0 + 25 * 0.5 + 15 * (1 / 20) + 15 * blocks + 10 * (2 / 30)
    assert reputation.score == round(expected, 2)


# -- refresh: where the job writes --------------------------------------------------------


def test_refresh_stores_the_reputation_and_copies_it_onto_the_listing(tables, service):
    listing = open_listing(tables, hashrate=RATE)
    settled_lease(tables, listing, 6)
    before = ListingRepository(tables).require(listing.listing_id)

    reputation = service.refresh(worker_of(tables, listing), NOW + 3600)

    assert worker_of(tables, listing).reputation == reputation
    after = ListingRepository(tables).require(listing.listing_id)
    assert (after.reputation_score, after.delivery_ratio) == (reputation.score, 0.6)
    assert after.version == before.version
    # Not a change of terms: a renter who read the listing before can still rent it.
    AccountRepository(tables).deposit(RENTER, 10**8, entry_id="fund-after", now=NOW)
    LeaseRepository(tables).create(lease_for(before, now=NOW + 3600), before)


def test_refresh_survives_a_listing_that_is_gone(tables, service):
    worker = WorkerRepository(tables).create(
        Worker(worker_id="w-gone", owner=PROVIDER, created_at=NOW, listing_id="l-gone")
    )
    reputation = service.refresh(worker, NOW + 60)
    assert WorkerRepository(tables).require("w-gone").reputation == reputation
    assert ListingRepository(tables).get("l-gone") is None


def test_refresh_online_visits_only_online_workers(tables, service):
    online = [register_online(tables, enrolled_worker(tables).worker_id) for _ in range(3)]
    offline = enrolled_worker(tables)
    revoked = register_online(tables, enrolled_worker(tables).worker_id)
    WorkerRepository(tables).revoke(revoked.worker_id, now=NOW + 10)

    assert service.refresh_online(NOW + 60) == 3

    workers = WorkerRepository(tables)
    assert all(workers.require(w.worker_id).reputation is not None for w in online)
    assert workers.require(offline.worker_id).reputation is None
    assert workers.require(revoked.worker_id).reputation is None


def test_an_unchanged_reputation_is_not_rewritten_until_a_day_has_passed(
    tables, service, monkeypatch
):
    worker = register_online(tables, enrolled_worker(tables).worker_id)
    first = service.refresh(worker, NOW + DAY + 60)
    writes: list[str] = []
    monkeypatch.setattr(
        service._workers, "set_reputation", lambda worker_id, rep: writes.append(worker_id)
    )
    stored = WorkerRepository(tables).require(worker.worker_id)
    # 15 minutes on: the same to a renter, so the stored one stands.
    assert service.refresh(stored, NOW + DAY + 960) == first
    assert writes == []
    service.refresh(stored, NOW + 2 * DAY + 60)  # a day on: its age moved, so it is rewritten
    assert writes == [worker.worker_id]


def test_a_changed_reputation_is_written_at_once(tables, service):
    worker = register_online(tables, enrolled_worker(tables).worker_id)
    service.refresh(worker, NOW + 60)
    BlockRepository(tables).record(block(worker, 1, verified=True))
    stored = WorkerRepository(tables).require(worker.worker_id)
    fresh = service.refresh(stored, NOW + 120)
    assert fresh.verified_blocks == 1
    assert WorkerRepository(tables).require(worker.worker_id).reputation == fresh
