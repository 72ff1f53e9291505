from __future__ import annotations

import pytest

from functions.dal.accounts import AccountRepository
from functions.dal.leases import LeaseRepository
from functions.dal.ledger import LedgerRepository
from functions.dal.listings import ListingRepository
from functions.errors import (
    AlreadyExists,
    AlreadySettled,
    InsufficientFunds,
    InvalidInput,
    LeaseNotActive,
    ListingUnavailable,
)
from functions.models.accounts import TREASURY, EntryKind
from functions.models.market import LeaseStatus, ListingStatus
from tests.factories import NOW, PROVIDER, RENTER, address, lease_for, open_listing


@pytest.fixture
def repos(tables):
    return (
        AccountRepository(tables),
        ListingRepository(tables),
        LeaseRepository(tables),
        LedgerRepository(tables),
    )


def test_renting_escrows_the_maximum_cost_and_takes_the_listing_off_the_market(tables, repos):
    accounts, listings, leases, ledger = repos
    listing = open_listing(tables, price_per_hour=3_600_000)
    accounts.deposit(RENTER, 10_000_000, entry_id="d", now=NOW)
    lease = leases.create(lease_for(listing, duration_sec=1800), listing)

    assert lease.max_cost == 1_800_000
    assert accounts.get(RENTER).balance == 10_000_000 - 1_800_000
    stored = listings.require(listing.listing_id)
    assert (stored.status, stored.lease_id) == (ListingStatus.LEASED, lease.lease_id)
    assert listings.cheapest_open(limit=10).items == []
    assert leases.active_for_worker(listing.worker_id) == lease
    assert [x.lease_id for x in leases.list_by_renter(RENTER, limit=5).items] == [lease.lease_id]
    assert [x.lease_id for x in leases.list_by_provider(PROVIDER, limit=5).items] == [
        lease.lease_id
    ]
    assert ledger.get(f"escrow:{lease.lease_id}").amount == 1_800_000


def test_renting_without_funds_changes_nothing(tables, repos):
    accounts, listings, leases, _ = repos
    listing = open_listing(tables)
    accounts.deposit(RENTER, 100, entry_id="d", now=NOW)
    with pytest.raises(InsufficientFunds):
        leases.create(lease_for(listing, lease_id="L"), listing)
    assert accounts.get(RENTER).balance == 100
    assert leases.get("L") is None
    assert listings.require(listing.listing_id).status is ListingStatus.OPEN


def test_a_listing_is_leased_at_most_once(tables, repos):
    accounts, _, leases, _ = repos
    listing = open_listing(tables)
    other = address(0xCAFE)
    for who in (RENTER, other):
        accounts.deposit(who, 100_000_000, entry_id=f"d-{who}", now=NOW)
    leases.create(lease_for(listing), listing)
    with pytest.raises(ListingUnavailable):
        leases.create(lease_for(listing, renter=other, lease_id="second"), listing)
    assert accounts.get(other).balance == 100_000_000
    assert leases.get("second") is None


def test_retrying_a_rent_reports_the_existing_lease(tables, repos):
    accounts, _, leases, _ = repos
    listing = open_listing(tables)
    accounts.deposit(RENTER, 100_000_000, entry_id="d", now=NOW)
    lease = lease_for(listing, lease_id="L1")
    leases.create(lease, listing)
    with pytest.raises(AlreadyExists):
        leases.create(lease, listing)
    assert accounts.get(RENTER).balance == 100_000_000 - lease.max_cost


def test_changed_terms_make_a_stale_rent_fail(tables, repos):
    accounts, listings, leases, _ = repos
    listing = open_listing(tables, price_per_hour=1_000_000)
    accounts.deposit(RENTER, 100_000_000, entry_id="d", now=NOW)
    listings.update_terms(listing, now=NOW + 1, price_per_hour=9_000_000)
    with pytest.raises(ListingUnavailable):
        leases.create(lease_for(listing), listing)  # the renter saw the old price


def test_stop_makes_the_lease_due_now(tables, repos):
    accounts, _, leases, _ = repos
    listing = open_listing(tables)
    accounts.deposit(RENTER, 100_000_000, entry_id="d", now=NOW)
    lease = leases.create(lease_for(listing), listing)
    assert leases.due_page(NOW + 10, limit=10).items == []
    with pytest.raises(LeaseNotActive):
        leases.stop(lease.lease_id, renter=PROVIDER, now=NOW + 10)  # not the renter
    stopped = leases.stop(lease.lease_id, renter=RENTER, now=NOW + 10)
    assert (stopped.ends_at, stopped.stopped_at) == (NOW + 10, NOW + 10)
    assert [x.lease_id for x in leases.due_page(NOW + 10, limit=10).items] == [lease.lease_id]


def test_settlement_splits_the_escrow_once_and_reopens_the_listing(tables, repos):
    accounts, listings, leases, ledger = repos
    listing = open_listing(tables, price_per_hour=3_600_000)
    accounts.deposit(RENTER, 10_000_000, entry_id="d", now=NOW)
    lease = leases.create(lease_for(listing), listing)  # escrow 3,600,000

    settled = leases.settle(lease, payout=3_000_000, fee=157_894, refund=442_106, now=NOW + 3600)
    assert settled.status is LeaseStatus.SETTLED
    assert accounts.get(PROVIDER).balance == 3_000_000
    assert accounts.get(TREASURY).balance == 157_894
    assert accounts.get(RENTER).balance == 10_000_000 - 3_600_000 + 442_106
    assert leases.require(lease.lease_id).escrow == 0
    assert leases.due_page(NOW + 7200, limit=10).items == []
    assert leases.active_for_worker(listing.worker_id) is None
    assert listings.require(listing.listing_id).status is ListingStatus.OPEN
    assert [x.listing_id for x in listings.cheapest_open(limit=5).items] == [listing.listing_id]
    kinds = {e.kind for e in ledger.history(PROVIDER, limit=10).items}
    assert kinds == {EntryKind.PAYOUT}

    with pytest.raises(AlreadySettled):
        leases.settle(lease, payout=3_000_000, fee=157_894, refund=442_106, now=NOW + 3601)
    assert accounts.get(PROVIDER).balance == 3_000_000


def test_settlement_must_split_exactly_the_escrow(tables, repos):
    accounts, _, leases, _ = repos
    listing = open_listing(tables)
    accounts.deposit(RENTER, 100_000_000, entry_id="d", now=NOW)
    lease = leases.create(lease_for(listing), listing)
    with pytest.raises(InvalidInput):
        leases.settle(lease, payout=lease.escrow, fee=1, refund=0, now=NOW)
    with pytest.raises(InvalidInput):
        leases.settle(lease, payout=-1, fee=1, refund=lease.escrow, now=NOW)


def test_a_pause_asked_during_a_lease_applies_at_settlement(tables, repos):
    accounts, listings, leases, _ = repos
    listing = open_listing(tables)
    accounts.deposit(RENTER, 100_000_000, entry_id="d", now=NOW)
    lease = leases.create(lease_for(listing), listing)
    listings.set_status(listings.require(listing.listing_id), ListingStatus.PAUSED, now=NOW + 1)
    assert listings.require(listing.listing_id).status is ListingStatus.LEASED
    leases.settle(lease, payout=0, fee=0, refund=lease.escrow, now=NOW + 2)
    after = listings.require(listing.listing_id)
    assert (after.status, after.after_lease, after.lease_id) == (ListingStatus.PAUSED, None, None)
    assert listings.cheapest_open(limit=5).items == []


def test_renting_ones_own_listing_settles_into_one_balance(tables, repos):
    accounts, _, leases, _ = repos
    listing = open_listing(tables)
    accounts.deposit(PROVIDER, 100_000_000, entry_id="d", now=NOW)
    lease = leases.create(lease_for(listing, renter=PROVIDER), listing)
    leases.settle(lease, payout=lease.escrow - 10, fee=5, refund=5, now=NOW + 1)
    assert accounts.get(PROVIDER).balance == 100_000_000 - 5
