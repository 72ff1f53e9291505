"""``/api/provider``: the dashboard of rigs, listings and leases, and earnings per UTC day."""

from __future__ import annotations

from typing import Any

import pytest

from functions.dal.accounts import AccountRepository
from functions.dal.leases import LeaseRepository
from functions.dal.ledger import LedgerRepository
from functions.logic import provider as figures
from functions.models.market import Lease
from tests.api_client import auth
from tests.factories import (
    NOW,
    PROVIDER,
    RENTER,
    address,
    enrolled_worker,
    heartbeat,
    lease_for,
    open_listing,
)

DAY = 86_400
# NOW is 2025-11-21 04:40 UTC.
TODAY, YESTERDAY = "2025-11-21", "2025-11-20"


@pytest.fixture(autouse=True)
def funded(tables):
    AccountRepository(tables).deposit(RENTER, 1_000_000_000, entry_id="funds", now=NOW - 90 * DAY)


def _lease(tables, *, at: int, owner: str = PROVIDER, hashrate: float = 1000.0) -> Lease:
    listing = open_listing(tables, owner=owner, price_per_hour=36_000_000, hashrate=hashrate)
    return LeaseRepository(tables).create(lease_for(listing, now=at - 3600), listing)


def _paid(tables, *, at: int, payout: int, fee: int, owner: str = PROVIDER) -> Lease:
    """A lease settled at ``at``: ``payout`` to its provider, ``fee`` to the treasury."""
    lease = _lease(tables, at=at, owner=owner)
    refund = lease.escrow - payout - fee
    return LeaseRepository(tables).settle(lease, payout=payout, fee=fee, refund=refund, now=at)


def _get(client, path: str, who: str = PROVIDER, **params: Any) -> dict[str, Any]:
    response = client.get(path, params=params, headers=auth(who))
    assert response.status_code == 200, response.text
    return response.json()


# -- dashboard ----------------------------------------------------------------------------


def test_an_empty_dashboard_is_all_zeros(client):
    board = _get(client, "/api/provider/dashboard")
    assert (board["workers"], board["listings"], board["active_leases"]) == ([], [], [])
    assert board["totals"] == {
        "workers_online": 0,
        "hashrate_online": 0.0,
        "hashrate_listed": 0.0,
        "hashrate_leased": 0.0,
        "earnings_to_date": 0,
        "earnings_complete": True,
    }


def test_the_dashboard_shows_rigs_listings_active_leases_and_totals(client, tables):
    idle = enrolled_worker(tables)
    heartbeat(tables, idle.worker_id, hashrate=1500.0)
    open_listing(tables, hashrate=2000.0)  # open, not leased
    active = _lease(tables, at=NOW, hashrate=800.0)
    _paid(tables, at=NOW - DAY, payout=3_000_000, fee=150_000)
    _paid(tables, at=NOW - 60 * DAY, payout=1_000_000, fee=50_000)
    _lease(tables, at=NOW, owner=address(5))  # someone else's

    board = _get(client, "/api/provider/dashboard")
    # idle + the open listing's rig + the active lease's + two settled leases' rigs
    assert len(board["workers"]) == 5
    assert {w["worker_id"] for w in board["workers"] if w["online"]} == {idle.worker_id}
    assert len(board["listings"]) == 4
    assert [x["lease_id"] for x in board["active_leases"]] == [active.lease_id]
    assert board["active_leases"][0]["renter"] == RENTER
    assert board["totals"] == {
        "workers_online": 1,
        "hashrate_online": 1500.0,
        "hashrate_listed": 2000.0 + 800.0 + 1000.0 + 1000.0,  # the settled ones reopened
        "hashrate_leased": 800.0,
        "earnings_to_date": 4_000_000,
        "earnings_complete": True,
    }
    assert (board["more_workers"], board["more_listings"], board["more_leases"]) == (
        False,
        False,
        False,
    )


def test_the_dashboard_needs_a_signed_in_caller(client):
    assert client.get("/api/provider/dashboard").status_code == 401
    assert client.get("/api/provider/earnings").status_code == 401


# -- earnings -----------------------------------------------------------------------------


def test_earnings_are_summed_per_utc_day_with_the_fee_withheld(client, tables):
    _paid(tables, at=NOW, payout=3_000_000, fee=150_000)
    _paid(tables, at=NOW - DAY, payout=2_000_000, fee=100_000)
    _paid(tables, at=NOW - DAY + 60, payout=1_000_000, fee=50_000)
    _paid(tables, at=NOW - 40 * DAY, payout=9_000_000, fee=450_000)  # outside the window
    _paid(tables, at=NOW, payout=7_000_000, fee=1, owner=address(5))  # another provider

    body = _get(client, "/api/provider/earnings")
    assert len(body["days"]) == 30
    assert body["days"][-1] == {"day": TODAY, "payout": 3_000_000, "fee": 150_000, "leases": 1}
    assert body["days"][-2] == {
        "day": YESTERDAY,
        "payout": 3_000_000,
        "fee": 150_000,
        "leases": 2,
    }
    assert body["days"][0]["day"] == "2025-10-23"
    assert all(d["payout"] == 0 for d in body["days"][:-2])
    assert (body["total"], body["fee_withheld"], body["complete"]) == (6_000_000, 300_000, True)
    assert body["since"] == NOW - NOW % DAY - 29 * DAY

    wider = _get(client, "/api/provider/earnings", days=60)
    assert (len(wider["days"]), wider["total"]) == (60, 15_000_000)
    today = _get(client, "/api/provider/earnings", days=1)
    assert (today["days"], today["total"]) == (
        [{"day": TODAY, "payout": 3_000_000, "fee": 150_000, "leases": 1}],
        3_000_000,
    )


def test_a_renter_earns_nothing_from_the_leases_it_paid(client, tables):
    _paid(tables, at=NOW, payout=3_000_000, fee=150_000)
    assert _get(client, "/api/provider/earnings", who=RENTER)["total"] == 0


@pytest.mark.parametrize("days", [0, -1, 367, "x"])
def test_a_bad_window_is_refused(client, days):
    response = client.get("/api/provider/earnings", params={"days": days}, headers=auth(PROVIDER))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_input"


class _CountingLedger(LedgerRepository):
    calls = 0

    def history(self, party, *, limit, cursor=None):  # type: ignore[no-untyped-def]
        self.calls += 1
        return super().history(party, limit=limit, cursor=cursor)


def test_the_walk_stops_at_the_window_start(tables, monkeypatch):
    monkeypatch.setattr(figures, "MAX_PAGE_SIZE", 2)
    for n in range(6):
        AccountRepository(tables).deposit(PROVIDER, 1, entry_id=f"old{n}", now=NOW - 5 * DAY)
    _paid(tables, at=NOW, payout=3_000_000, fee=150_000)
    ledger = _CountingLedger(tables)
    result = figures.earnings(
        PROVIDER, now=NOW, days=1, ledger=ledger, leases=LeaseRepository(tables)
    )
    assert (result.total, result.complete) == (3_000_000, True)
    assert ledger.calls == 1  # [payout, an old deposit]: nothing older is read


def test_a_capped_walk_says_it_is_incomplete(tables, monkeypatch):
    monkeypatch.setattr(figures, "MAX_PAGE_SIZE", 2)
    monkeypatch.setattr(figures, "MAX_LEDGER_ENTRIES", 3)
    for n in range(5):
        _paid(tables, at=NOW - n * 60, payout=1_000_000, fee=1)
    result = figures.earnings(
        PROVIDER, now=NOW, days=1, ledger=LedgerRepository(tables), leases=LeaseRepository(tables)
    )
    assert (result.total, result.fee_withheld, result.complete) == (3_000_000, 3, False)
