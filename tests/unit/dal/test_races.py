"""Many writers at once: DynamoDB's conditions decide, exactly one wins, nothing leaks."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from functions.dal.accounts import AccountRepository
from functions.dal.leases import LeaseRepository
from functions.dal.ledger import LedgerRepository
from functions.errors import AlreadySettled, InsufficientFunds, ListingUnavailable
from tests.factories import NOW, RENTER, address, lease_for, open_listing

THREADS = 50


def _all_at_once(jobs: list[Callable[[], Any]]) -> list[Any]:
    """Run every job on its own thread, released together; results or exceptions."""
    barrier = threading.Barrier(len(jobs))

    def run(job: Callable[[], Any]) -> Any:
        barrier.wait()
        try:
            return job()
        except Exception as error:
            return error

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(run, jobs))


def test_fifty_renters_one_listing_exactly_one_lease(tables):
    accounts, leases = AccountRepository(tables), LeaseRepository(tables)
    listing = open_listing(tables, price_per_hour=3_600_000)
    renters = [address(0x1000 + i) for i in range(THREADS)]
    for renter in renters:
        accounts.deposit(renter, 50_000_000, entry_id=f"d-{renter}", now=NOW)
    attempts = [lease_for(listing, renter=r, lease_id=f"race-{i}") for i, r in enumerate(renters)]

    outcomes = _all_at_once([lambda a=a: leases.create(a, listing) for a in attempts])

    winners = [a for a, o in zip(attempts, outcomes, strict=True) if not isinstance(o, Exception)]
    losers = [o for o in outcomes if isinstance(o, Exception)]
    assert len(winners) == 1
    assert len(losers) == THREADS - 1
    assert all(isinstance(e, ListingUnavailable) for e in losers), {type(e) for e in losers}
    winner = winners[0]
    for renter in renters:
        expected = 50_000_000 - (winner.max_cost if renter == winner.renter else 0)
        assert accounts.get(renter).balance == expected
    assert [x.lease_id for x in leases.list_by_renter(winner.renter, limit=5).items] == [
        winner.lease_id
    ]
    assert all(leases.get(a.lease_id) is None for a in attempts if a is not winner)
    assert LedgerRepository(tables).get(f"escrow:{winner.lease_id}") is not None


def test_concurrent_settlements_pay_once(tables):
    accounts, leases = AccountRepository(tables), LeaseRepository(tables)
    listing = open_listing(tables, price_per_hour=3_600_000)
    accounts.deposit(RENTER, 10_000_000, entry_id="d", now=NOW)
    lease = leases.create(lease_for(listing), listing)
    split = {"payout": 3_000_000, "fee": 150_000, "refund": 450_000}

    outcomes = _all_at_once(
        [lambda: leases.settle(lease, now=NOW + 3600, **split) for _ in range(10)]
    )

    assert sum(not isinstance(o, Exception) for o in outcomes) == 1
    assert all(isinstance(o, AlreadySettled) for o in outcomes if isinstance(o, Exception))
    assert accounts.get(listing.provider).balance == 3_000_000
    assert accounts.get(RENTER).balance == 10_000_000 - 3_600_000 + 450_000


@pytest.mark.parametrize("amount", [30, 7])
def test_concurrent_withdrawals_never_overdraw(tables, amount):
    accounts = AccountRepository(tables)
    accounts.deposit(RENTER, 100, entry_id="d", now=NOW)

    outcomes = _all_at_once(
        [
            lambda i=i: accounts.request_withdrawal(RENTER, amount, withdrawal_id=f"w{i}", now=NOW)
            for i in range(20)
        ]
    )

    granted = sum(not isinstance(o, Exception) for o in outcomes)
    assert granted == 100 // amount
    assert all(isinstance(o, InsufficientFunds) for o in outcomes if isinstance(o, Exception))
    account = accounts.get(RENTER)
    assert (account.balance, account.held) == (100 - granted * amount, granted * amount)
