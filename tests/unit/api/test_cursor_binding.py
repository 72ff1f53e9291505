"""Paging cursors are signed and bound to the listing and the owner they were handed out for.

Finding 6 of issue #18: a cursor naming another user's keys answered ``200 []`` on moto and
may be a 500 on DynamoDB (an ExclusiveStartKey outside the Query's partition). Every
listing the API pages is checked here the same way: a real cursor from owner A's first
page, replayed by owner B (or on another listing), altered, or forged from another owner's
key without its tag, is a clean ``invalid_input``; A's own cursors still page through
everything.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from functions.dal.accounts import AccountRepository
from functions.dal.alerts import AlertRepository
from functions.dal.blocks import BlockRepository
from functions.dal.leases import LeaseRepository
from functions.dal.tables import Tables
from functions.dal.telemetry import TelemetryRepository
from functions.models.blocks import Block
from functions.models.telemetry import TelemetryPoint, owner_series
from tests.api_client import api_context, auth, client_for
from tests.factories import (
    NOW,
    PROVIDER,
    RENTER,
    address,
    alert_event,
    enrolled_worker,
    lease_for,
    mined_block,
    open_listing,
)

OTHER = address(0x0DD)
PER_OWNER = 5


@dataclass(frozen=True)
class Call:
    """One listing as one caller sees it."""

    url: str
    who: str | None = None  # None: a public listing
    params: dict[str, Any] = field(default_factory=dict)

    def get(self, client: TestClient, cursor: str | None = None, limit: int = 2) -> Any:
        params = {**self.params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        headers = auth(self.who) if self.who else {}
        return client.get(self.url, params=params, headers=headers)


# Each kind seeds PER_OWNER items for owner A and for owner B and answers (A's call, B's
# call): B's is the same listing for someone else or, for a public listing, another one.
Seed = Callable[[Tables, TestClient], tuple[Call, Call]]


def _deposits(tables: Tables, _: TestClient) -> tuple[Call, Call]:
    accounts = AccountRepository(tables)
    for who in (RENTER, PROVIDER):
        for n in range(PER_OWNER):
            accounts.deposit(who, n + 1, entry_id=f"d-{who[-4:]}-{n}", now=NOW + n)
    return Call("/api/accounts/me/ledger", RENTER), Call("/api/accounts/me/ledger", PROVIDER)


def _wallet(tables: Tables, client: TestClient) -> tuple[Call, Call]:
    _deposits(tables, client)
    return Call("/api/wallet/history", RENTER), Call("/api/wallet/history", PROVIDER)


def _withdrawals(tables: Tables, _: TestClient) -> tuple[Call, Call]:
    accounts = AccountRepository(tables)
    for who in (RENTER, PROVIDER):
        accounts.deposit(who, 100, entry_id=f"fund-{who}", now=NOW)
        for n in range(PER_OWNER):
            accounts.request_withdrawal(who, 1, withdrawal_id=f"w{who[-4:]}{n}", now=NOW + n)
    url = "/api/accounts/me/withdrawals"
    return Call(url, RENTER), Call(url, PROVIDER)


def _devices(tables: Tables, _: TestClient) -> tuple[Call, Call]:
    for who in (PROVIDER, OTHER):
        for _n in range(PER_OWNER):
            enrolled_worker(tables, owner=who)
    return Call("/api/devices", PROVIDER), Call("/api/devices", OTHER)


def _fleet(tables: Tables, client: TestClient) -> tuple[Call, Call]:
    _devices(tables, client)
    return Call("/api/monitoring/fleet", PROVIDER), Call("/api/monitoring/fleet", OTHER)


def _my_listings(tables: Tables, _: TestClient) -> tuple[Call, Call]:
    for who in (PROVIDER, OTHER):
        for _n in range(PER_OWNER):
            open_listing(tables, owner=who)
    return Call("/api/listings", PROVIDER), Call("/api/listings", OTHER)


def _rent(tables: Tables, renter: str, *, provider: str = PROVIDER) -> str:
    offer = open_listing(tables, owner=provider)
    AccountRepository(tables).deposit(renter, 10**9, entry_id=f"f-{offer.listing_id}", now=NOW)
    return LeaseRepository(tables).create(lease_for(offer, renter=renter), offer).lease_id


def _leases(tables: Tables, _: TestClient) -> tuple[Call, Call]:
    for who in (RENTER, OTHER):
        for _n in range(PER_OWNER):
            _rent(tables, who)
    return Call("/api/leases", RENTER), Call("/api/leases", OTHER)


def _block(n: int, **fields: Any) -> Block:
    """Block ``n``, recorded ``n`` seconds ago."""
    return mined_block(n, recorded_at=NOW - n, **fields)


def _lease_blocks(tables: Tables, _: TestClient) -> tuple[Call, Call]:
    mine, theirs = _rent(tables, RENTER), _rent(tables, OTHER)
    blocks = BlockRepository(tables)
    for offset, lease_id in ((0, mine), (100, theirs)):
        for n in range(PER_OWNER):
            assert blocks.record(_block(offset + n, lease_id=lease_id))
    return (
        Call(f"/api/leases/{mine}/blocks", RENTER),
        Call(f"/api/leases/{theirs}/blocks", OTHER),
    )


def _history(tables: Tables, _: TestClient) -> tuple[Call, Call]:
    telemetry = TelemetryRepository(tables)
    for who in (PROVIDER, OTHER):
        for n in range(PER_OWNER):
            ts = NOW - 3000 + 60 * n
            point = TelemetryPoint(
                series=owner_series(who), ts=ts, values={"hashrate": 1.0}, expires_at=NOW + 99
            )
            telemetry.put(point)
    window = {"start": NOW - 3600, "end": NOW}
    url = "/api/monitoring/hashrate-history"
    return Call(url, PROVIDER, window), Call(url, OTHER, window)


def _rules(_: Tables, client: TestClient) -> tuple[Call, Call]:
    for who in (PROVIDER, OTHER):
        for n in range(PER_OWNER):
            rule = {"name": f"hot {n}", "kind": "temperature", "threshold": 85}
            response = client.post("/api/alerts/rules", json=rule, headers=auth(who))
            assert response.status_code == 201, response.text
    return Call("/api/alerts/rules", PROVIDER), Call("/api/alerts/rules", OTHER)


def _events(tables: Tables, _: TestClient) -> tuple[Call, Call]:
    alerts = AlertRepository(tables)
    for who in (PROVIDER, OTHER):
        for n in range(PER_OWNER):
            event = alert_event(n, owner=who, rule_id=f"rule-{n}")
            assert alerts.fire(event, cooldown_seconds=60)
    return Call("/api/alerts/events", PROVIDER), Call("/api/alerts/events", OTHER)


def _marketplace(tables: Tables, _: TestClient) -> tuple[Call, Call]:
    for n in range(PER_OWNER):
        open_listing(tables, price_per_hour=3_600_000 + n, gpu="RTX 4090")
        open_listing(tables, owner=OTHER, price_per_hour=3_600_000 + n, gpu="RTX 3090")
    # Public: the unfiltered market and one GPU model's are listings of their own.
    return (
        Call("/api/marketplace", params={"gpu": "RTX 4090"}),
        Call("/api/marketplace", params={"gpu": "RTX 3090"}),
    )


def _recent_blocks(tables: Tables, client: TestClient) -> tuple[Call, Call]:
    blocks = BlockRepository(tables)
    for n in range(PER_OWNER):
        assert blocks.record(_block(n))
    # Public: a recent-blocks cursor is no good on the marketplace (nor the reverse).
    _, market = _marketplace(tables, client)
    return Call("/api/monitoring/blocks/recent"), market


KINDS: dict[str, Seed] = {
    "ledger": _deposits,
    "wallet history": _wallet,
    "withdrawals": _withdrawals,
    "devices": _devices,
    "fleet": _fleet,
    "my listings": _my_listings,
    "leases": _leases,
    "lease blocks": _lease_blocks,
    "hashrate history": _history,
    "alert rules": _rules,
    "alert events": _events,
    "marketplace": _marketplace,
    "recent blocks": _recent_blocks,
}


@pytest.fixture(params=list(KINDS))
def listing(
    request: pytest.FixtureRequest, tables: Tables, client: TestClient
) -> tuple[Call, Call]:
    return KINDS[request.param](tables, client)


def _all_pages(client: TestClient, call: Call) -> list[Any]:
    seen: list[Any] = []
    cursor: str | None = None
    for _ in range(20):
        response = call.get(client, cursor)
        assert response.status_code == 200, response.text
        body = response.json()
        seen += body.get("items", body.get("points"))
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("the listing never ended")


def _first_cursor(client: TestClient, call: Call) -> str:
    response = call.get(client)
    assert response.status_code == 200, response.text
    cursor = response.json()["next_cursor"]
    assert isinstance(cursor, str)
    return cursor


def _refused(response: Any) -> None:
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_input"
    assert response.json()["error"]["message"]


def test_the_owner_pages_through_everything(client: TestClient, listing: tuple[Call, Call]) -> None:
    mine, theirs = listing
    everything = _all_pages(client, mine)
    assert len(everything) == PER_OWNER
    whole = mine.get(client, limit=100).json()
    assert everything == whole.get("items", whole.get("points"))
    assert len(_all_pages(client, theirs)) == PER_OWNER


def test_a_cursor_replayed_by_another_owner_is_refused(
    client: TestClient, listing: tuple[Call, Call]
) -> None:
    mine, theirs = listing
    _refused(theirs.get(client, _first_cursor(client, mine)))
    _refused(mine.get(client, _first_cursor(client, theirs)))


def test_a_cursor_with_a_flipped_byte_is_refused(
    client: TestClient, listing: tuple[Call, Call]
) -> None:
    mine, _ = listing
    payload, tag = _first_cursor(client, mine).split(".")
    raw = bytearray(_unb64(payload))
    raw[len(raw) // 2] ^= 0x01
    _refused(mine.get(client, f"{_b64(bytes(raw))}.{tag}"))
    raw = bytearray(_unb64(tag))
    raw[0] ^= 0x80
    _refused(mine.get(client, f"{payload}.{_b64(bytes(raw))}"))


def test_a_forged_cursor_naming_another_owners_key_is_refused(
    client: TestClient, listing: tuple[Call, Call]
) -> None:
    mine, theirs = listing
    my_payload, my_tag = _first_cursor(client, mine).split(".")
    their_payload, _ = _first_cursor(client, theirs).split(".")
    key = json.loads(_unb64(their_payload))  # another owner's LastEvaluatedKey / position
    for forged in (
        their_payload,  # the old, unsigned form
        _b64(json.dumps(key).encode()),
        f"{their_payload}.{my_tag}",  # a real tag, but for another key
        f"{their_payload}.",
        f"{their_payload}.{'A' * len(my_tag)}",
    ):
        _refused(mine.get(client, forged))
    assert my_payload != their_payload


def test_malformed_cursors_are_refused(client: TestClient, listing: tuple[Call, Call]) -> None:
    mine, _ = listing
    for cursor in ("!!!", "x" * 2048, "é.é", "a.b.c", ".", "%00"):
        _refused(mine.get(client, cursor))


def test_a_renter_cursor_is_no_good_for_the_provider_view(
    client: TestClient, tables: Tables
) -> None:
    """Same caller, same table, another index: a listing of its own."""
    for _ in range(3):
        _rent(tables, RENTER, provider=PROVIDER)
        _rent(tables, PROVIDER, provider=RENTER)
    renter_view = Call("/api/leases", PROVIDER, {"role": "renter"})
    provider_view = Call("/api/leases", PROVIDER, {"role": "provider"})
    _refused(provider_view.get(client, _first_cursor(client, renter_view)))
    _refused(renter_view.get(client, _first_cursor(client, provider_view)))


def test_an_events_cursor_is_no_good_for_rules(client: TestClient, tables: Tables) -> None:
    """Rules and events share the owner's partition: the listing tells them apart."""
    _rules(tables, client)
    _events(tables, client)
    rules = Call("/api/alerts/rules", PROVIDER)
    events = Call("/api/alerts/events", PROVIDER)
    _refused(rules.get(client, _first_cursor(client, events)))
    _refused(events.get(client, _first_cursor(client, rules)))


def test_a_history_cursor_outside_the_window_is_refused(client: TestClient, tables: Tables) -> None:
    mine, _ = _history(tables, client)
    cursor = _first_cursor(client, mine)
    later = Call(mine.url, PROVIDER, {"start": NOW - 60, "end": NOW})
    _refused(later.get(client, cursor))
    # A window that still holds the cursor's point goes on from it.
    wider = Call(mine.url, PROVIDER, {"start": NOW - 7200, "end": NOW})
    assert wider.get(client, cursor, limit=100).status_code == 200


def test_the_admin_queue_refuses_an_altered_cursor(settings: Any, tables: Tables) -> None:
    admin = address(0xAD)
    client = client_for(
        api_context(settings.model_copy(update={"admin_addresses": (admin,)}), tables)
    )
    _withdrawals(tables, client)
    queue = Call("/api/admin/withdrawals", admin)
    assert len(_all_pages(client, queue)) == 2 * PER_OWNER
    cursor = _first_cursor(client, queue)
    payload, tag = cursor.split(".")
    altered = ("B" if tag[0] == "A" else "A") + tag[1:]
    _refused(queue.get(client, f"{payload}.{altered}"))
    _refused(Call("/api/accounts/me/withdrawals", RENTER).get(client, cursor))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
