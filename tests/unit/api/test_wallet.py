"""``/api/wallet``: the ledger as a feed, and achievements computed from the caller's data."""

from __future__ import annotations

from typing import Any

import pytest

from functions.api.routers.wallet import credits
from functions.dal.accounts import AccountRepository
from functions.dal.blocks import BlockRepository
from functions.dal.leases import LeaseRepository
from protocol.xenblocks import BlockKind
from tests.api_client import auth
from tests.factories import NOW, PROVIDER, RENTER, address, lease_for, mined_block, open_listing


@pytest.fixture
def accounts(tables):
    return AccountRepository(tables)


def _feed(client, who=RENTER, **params: Any) -> dict[str, Any]:
    response = client.get("/api/wallet/history", params=params, headers=auth(who))
    assert response.status_code == 200, response.text
    return response.json()


def _settled_lease(tables, accounts):
    """RENTER rents a PROVIDER rig for 3.6 credits and it settles: 3 paid, 0.15 fee."""
    listing = open_listing(tables, price_per_hour=3_600_000)
    accounts.deposit(RENTER, 10_000_000, entry_id="dep", now=NOW)
    leases = LeaseRepository(tables)
    lease = leases.create(lease_for(listing, now=NOW + 1), listing)
    leases.settle(lease, payout=3_000_000, fee=150_000, refund=450_000, now=NOW + 3601)
    return lease


def test_the_feed_shows_which_way_each_movement_went(client, tables, accounts):
    lease = _settled_lease(tables, accounts)
    accounts.request_withdrawal(RENTER, 1_000_000, withdrawal_id="wd1", now=NOW + 4000)

    feed = {item["kind"]: item for item in _feed(client)["items"]}
    assert {k: (v["direction"], v["signed_amount"]) for k, v in feed.items()} == {
        "deposit": ("in", 10_000_000),
        "escrow": ("out", -3_600_000),
        "payout": ("internal", 0),  # from the renter's escrow to the provider
        "fee": ("internal", 0),
        "refund": ("in", 450_000),
        "withdrawal_hold": ("out", -1_000_000),
    }
    assert feed["escrow"]["lease_id"] == lease.lease_id
    assert feed["deposit"]["description"] == "Deposit of 10 credits"
    assert feed["refund"]["description"] == (
        f"Unused escrow of 0.45 credits returned from lease {lease.lease_id}"
    )
    assert feed["payout"]["description"].startswith("Paid 3 credits to the provider")

    provider_feed = _feed(client, who=PROVIDER)["items"]
    assert [(i["kind"], i["direction"], i["signed_amount"]) for i in provider_feed] == [
        ("payout", "in", 3_000_000)
    ]
    assert provider_feed[0]["description"] == f"Earned 3 credits from lease {lease.lease_id}"


def test_approved_withdrawal_leaves_held_funds_not_the_balance(client, accounts):
    accounts.deposit(RENTER, 10, entry_id="d", now=NOW)
    accounts.request_withdrawal(RENTER, 4, withdrawal_id="a", now=NOW + 1)
    accounts.request_withdrawal(RENTER, 3, withdrawal_id="b", now=NOW + 2)
    accounts.decide_withdrawal(RENTER, "a", approve=True, admin="x", now=NOW + 3)
    accounts.decide_withdrawal(RENTER, "b", approve=False, admin="x", now=NOW + 4)
    items = _feed(client)["items"]
    assert [(i["kind"], i["signed_amount"]) for i in items] == [
        ("withdrawal_release", 3),
        ("withdrawal", 0),
        ("withdrawal_hold", -3),
        ("withdrawal_hold", -4),
        ("deposit", 10),
    ]
    # What the feed adds up to is the spendable balance.
    assert sum(i["signed_amount"] for i in items) == accounts.get(RENTER).balance


def test_the_feed_pages_newest_first(client, accounts):
    for i in range(5):
        accounts.deposit(RENTER, i + 1, entry_id=f"d{i}", now=NOW + i)
    first = _feed(client, limit=3)
    rest = _feed(client, limit=3, cursor=first["next_cursor"])
    assert [i["amount"] for i in first["items"] + rest["items"]] == [5, 4, 3, 2, 1]
    assert rest["next_cursor"] is None


@pytest.mark.parametrize(
    ("micro", "text"),
    [(0, "0"), (1, "0.000001"), (1_000_000, "1"), (12_500_000, "12.5"), (10**15, "1000000000")],
)
def test_credits_read_as_people_write_them(micro, text):
    assert credits(micro) == text


# -- achievements -------------------------------------------------------------------------

_hashes = iter(range(1, 10_000))


def _mined(blocks: BlockRepository, *, n: int = 1, kind=BlockKind.NORMAL, at: int = NOW) -> None:
    for _ in range(n):
        h = next(_hashes)
        blocks.record(
            mined_block(
                h, account=RENTER, worker_id="w-ach", recorded_at=at, kind=kind, reason=str(kind)
            )
        )


def _badges(client, who=RENTER) -> dict[str, dict[str, Any]]:
    response = client.get("/api/wallet/achievements", headers=auth(who))
    assert response.status_code == 200, response.text
    return {badge["id"]: badge for badge in response.json()}


def _earned(client, who=RENTER) -> set[str]:
    return {k for k, v in _badges(client, who).items() if v["earned"]}


def test_a_new_wallet_has_every_badge_unearned(client):
    badges = _badges(client)
    assert list(badges) == [
        "first_deposit",
        "first_lease_rented",
        "first_lease_provided",
        "first_block",
        "blocks_10",
        "blocks_100",
        "super_block",
        "xuni",
    ]
    assert not any(b["earned"] for b in badges.values())
    assert all(b["title"] and b["description"] for b in badges.values())


def test_badges_flip_as_the_data_appears(client, tables, accounts):
    accounts.deposit(RENTER, 100_000_000, entry_id="d", now=NOW)
    assert _earned(client) == {"first_deposit"}

    listing = open_listing(tables)
    lease = LeaseRepository(tables).create(lease_for(listing, now=NOW + 5), listing)
    badges = _badges(client)
    assert badges["first_lease_rented"]["earned"] is True
    # A limit-1 Query that fills its limit may or may not say "more" (DynamoDB does, moto
    # does not): earned_at is the lease's time only when the read shows it was the only one.
    assert badges["first_lease_rented"]["earned_at"] in (NOW + 5, None)
    assert _earned(client, who=PROVIDER) == {"first_lease_provided"}
    assert lease.renter == RENTER

    blocks = BlockRepository(tables)
    _mined(blocks, at=NOW + 10)
    badges = _badges(client)
    assert (badges["first_block"]["earned"], badges["first_block"]["earned_at"]) == (
        True,
        NOW + 10,
    )
    assert badges["blocks_10"]["earned"] is False

    _mined(blocks, n=9, at=NOW + 20)
    _mined(blocks, kind=BlockKind.SUPER, at=NOW + 30)
    badges = _badges(client)
    assert (badges["blocks_10"]["earned"], badges["blocks_10"]["earned_at"]) == (True, NOW + 20)
    assert (badges["super_block"]["earned"], badges["super_block"]["earned_at"]) == (
        True,
        NOW + 30,
    )
    assert badges["xuni"]["earned"] is False
    assert badges["blocks_100"]["earned"] is False

    _mined(blocks, kind=BlockKind.XUNI, at=NOW + 40)
    assert "xuni" in _earned(client)
    # Blocks mined for the renter are not the provider's.
    assert _earned(client, who=PROVIDER) == {"first_lease_provided"}


def test_rejected_blocks_earn_nothing(client, tables):
    blocks = BlockRepository(tables)
    blocks.record(mined_block(1, account=RENTER, verified=False))
    assert _earned(client) == set()


def test_a_hundred_blocks_earn_the_top_badge(client, tables):
    _mined(BlockRepository(tables), n=100, at=NOW)
    badges = _badges(client)
    assert badges["blocks_100"]["earned"] is True
    assert _earned(client, who=address(77)) == set()
