"""API keys: made by a session, shown once, stored as a hash, scoped, revocable, expiring;
and the one map of which route a key may call."""

from __future__ import annotations

import re

import pytest

from functions.api.auth import KEY_SCOPES, SESSION_ONLY_READS, required_scope
from functions.dal.specs import CREDENTIALS
from functions.errors import Unauthorized
from functions.logic.api_keys import (
    LAST_USED_RESOLUTION_SECONDS,
    MAX_KEYS_PER_ADDRESS,
    hash_secret,
    parse_key,
)
from functions.logic.live_updates import LiveService
from functions.models.auth import Scope
from functions.ports.broadcast import RecordingBroadcaster
from tests.api_client import api_context, auth
from tests.factories import NOW, PROVIDER, RENTER, address, online_worker
from tests.unit.market.conftest import fund

ADMIN = address(0xAD)
KEY = re.compile(r"xbk_[a-z0-9]{16}_[A-Za-z0-9_-]{43}")

# Every route that changes something and is for signed-in sessions only. A new route is
# session-only until KEY_SCOPES names its scope; this list makes that a decision.
SESSION_ONLY_WRITES = {
    ("POST", "/api/auth/verify"),  # no principal: signs in
    ("POST", "/api/auth/logout"),
    ("POST", "/api/auth/logout-all"),
    ("POST", "/api/auth/keys"),
    ("DELETE", "/api/auth/keys/{key_id}"),
    ("POST", "/api/accounts/me/deposit"),  # the local faucet
    ("PUT", "/api/accounts/me/settings"),  # the electricity price: no key scope fits it yet
    ("POST", "/api/accounts/{address}/deposit"),  # admins
    ("POST", "/api/admin/withdrawals/{address}/{withdrawal_id}/approve"),
    ("POST", "/api/admin/withdrawals/{address}/{withdrawal_id}/reject"),
}


@pytest.fixture
def context(settings, tables, clock):
    admin_settings = settings.model_copy(update={"admin_addresses": (ADMIN,)})
    return api_context(admin_settings, tables, now=clock)


def create_key(client, owner: str, scopes: list[str], **extra) -> dict:
    response = client.post(
        "/api/auth/keys", json={"name": "bot", "scopes": scopes, **extra}, headers=auth(owner)
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def with_key(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_status(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def stored_items(tables) -> list[dict]:
    return tables.client.scan(TableName=tables.name(CREDENTIALS))["Items"]  # tests may scan


def test_a_key_with_trade_lists_and_rents_and_reads(client, tables):
    fund(tables, RENTER)
    worker = online_worker(tables, owner=PROVIDER)
    provider = create_key(client, PROVIDER, ["read", "trade"])
    renter = create_key(client, RENTER, ["trade", "read"], expires_in_days=30)
    assert KEY.fullmatch(provider["key"])
    assert renter["scopes"] == ["read", "trade"]
    assert renter["expires_at"] == NOW + 30 * 86_400
    assert renter["last_used_at"] is None

    listed = client.post(
        "/api/listings",
        json={"worker_id": worker.worker_id, "price_per_hour": 3_600_000},
        headers=with_key(provider["key"]),
    )
    assert listed.status_code == 201, listed.text
    rented = client.post(
        "/api/leases",
        json={"listing_id": listed.json()["listing_id"], "duration_sec": 3600},
        headers=with_key(renter["key"]),
    )
    assert rented.status_code == 201, rented.text
    mine = client.get("/api/leases", headers=with_key(renter["key"]))
    assert mine.status_code == 200
    assert [lease["lease_id"] for lease in mine.json()["items"]] == [rented.json()["lease_id"]]
    me = client.get("/api/auth/me", headers=with_key(renter["key"])).json()
    assert me == {
        "address": RENTER,
        "is_admin": False,
        "credential": "api_key",
        "scopes": ["read", "trade"],
        "expires_at": NOW + 30 * 86_400,
    }


def test_a_read_key_cannot_rent_or_withdraw(client, tables):
    fund(tables, RENTER)
    key = create_key(client, RENTER, ["read"])["key"]

    assert client.get("/api/accounts/me", headers=with_key(key)).status_code == 200
    rent = client.post(
        "/api/leases", json={"listing_id": "l1", "duration_sec": 3600}, headers=with_key(key)
    )
    assert_status(rent, 403, "forbidden")
    assert "trade" in rent.json()["error"]["message"]
    withdraw = client.post("/api/accounts/me/withdraw", json={"amount": 1}, headers=with_key(key))
    assert_status(withdraw, 403, "forbidden")


def test_a_key_without_read_cannot_read(client):
    key = create_key(client, RENTER, ["trade"])["key"]
    assert_status(client.get("/api/leases", headers=with_key(key)), 403, "forbidden")
    blocks = client.get("/api/monitoring/blocks/recent?mine=true", headers=with_key(key))
    assert_status(blocks, 403, "forbidden")


def test_a_key_never_makes_keys_nor_signs_out_nor_acts_as_admin(client):
    admins = create_key(client, ADMIN, list(Scope))["key"]
    headers = with_key(admins)

    body = {"name": "child", "scopes": ["read"]}
    assert_status(client.post("/api/auth/keys", json=body, headers=headers), 403, "forbidden")
    assert_status(client.get("/api/auth/keys", headers=headers), 403, "forbidden")
    assert_status(client.post("/api/auth/logout", headers=headers), 403, "forbidden")
    assert_status(client.post("/api/auth/logout-all", headers=headers), 403, "forbidden")
    assert_status(client.get("/api/admin/withdrawals", headers=headers), 403, "forbidden")
    assert client.get("/api/auth/me", headers=headers).json()["is_admin"] is False
    assert client.get("/api/admin/withdrawals", headers=auth(ADMIN)).status_code == 200


def test_the_key_is_shown_once_and_stored_only_as_a_hash(client, tables):
    created = create_key(client, RENTER, ["read"], name="my bot")
    key_id, secret = parse_key(created["key"]) or ("", "")
    assert key_id == created["key_id"]

    items = stored_items(tables)
    text = repr(items)
    assert created["key"] not in text
    assert secret not in text
    assert hash_secret(secret) in text
    listed = client.get("/api/auth/keys", headers=auth(RENTER))
    assert listed.status_code == 200
    assert listed.json() == {
        "items": [
            {
                "key_id": key_id,
                "name": "my bot",
                "scopes": ["read"],
                "created_at": NOW,
                "expires_at": None,
                "last_used_at": None,
            }
        ],
        "max_keys": MAX_KEYS_PER_ADDRESS,
    }
    assert secret not in listed.text
    assert client.get("/api/auth/keys", headers=auth(PROVIDER)).json()["items"] == []


def test_a_revoked_key_gets_401_at_once_and_its_hash_is_gone(client, tables, context):
    created = create_key(client, RENTER, ["read"])
    headers = with_key(created["key"])
    assert client.get("/api/auth/me", headers=headers).status_code == 200
    path = f"/api/auth/keys/{created['key_id']}"

    assert_status(client.delete(path, headers=auth(PROVIDER)), 404, "not_found")  # not theirs
    assert client.delete(path, headers=auth(RENTER)).status_code == 204

    assert_status(client.get("/api/auth/me", headers=headers), 401, "unauthorized")
    assert_status(client.delete(path, headers=auth(RENTER)), 404, "not_found")
    assert client.get("/api/auth/keys", headers=auth(RENTER)).json()["items"] == []
    record = context.api_keys.get(created["key_id"])
    assert record is not None
    assert record.secret_hash is None
    assert record.revoked_at == NOW


@pytest.mark.parametrize(
    "mangle",
    [
        lambda key: key[:-1] + ("A" if key[-1] != "A" else "B"),  # right id, wrong secret
        lambda key: key[:4] + "0" * 16 + key[20:],  # unknown id, a secret
        lambda key: key + "x",
        lambda key: key.replace("xbk_", "xbk-"),
        lambda key: "xbk_",
    ],
    ids=["wrong-secret", "unknown-id", "too-long", "bad-prefix", "empty"],
)
def test_a_wrong_key_gets_401(client, mangle):
    key = create_key(client, RENTER, ["read"])["key"]
    wrong = mangle(key)
    assert wrong != key
    assert_status(client.get("/api/auth/me", headers=with_key(wrong)), 401, "unauthorized")


def test_an_expired_key_gets_401(client, clock):
    key = create_key(client, RENTER, ["read"], expires_in_days=1)["key"]
    clock.now = NOW + 86_400 - 1
    assert client.get("/api/auth/me", headers=with_key(key)).status_code == 200
    clock.now = NOW + 86_400
    response = client.get("/api/auth/me", headers=with_key(key))
    assert_status(response, 401, "unauthorized")
    assert "expired" in response.json()["error"]["message"]


def test_an_address_holds_at_most_ten_keys(client):
    keys = [create_key(client, RENTER, ["read"]) for _ in range(MAX_KEYS_PER_ADDRESS)]
    eleventh = client.post(
        "/api/auth/keys", json={"name": "one more", "scopes": ["read"]}, headers=auth(RENTER)
    )
    assert_status(eleventh, 409, "conflict")
    create_key(client, PROVIDER, ["read"])  # another address has its own ten

    client.delete(f"/api/auth/keys/{keys[0]['key_id']}", headers=auth(RENTER))
    create_key(client, RENTER, ["read"])
    assert len(client.get("/api/auth/keys", headers=auth(RENTER)).json()["items"]) == 10


@pytest.mark.parametrize(
    "body",
    [
        {"name": "", "scopes": ["read"]},
        {"name": "x", "scopes": []},
        {"name": "x", "scopes": ["admin"]},
        {"name": "x", "scopes": ["read"], "expires_in_days": 0},
        {"name": "x", "scopes": ["read"], "expires_in_days": 366},
        {"name": "tab\tin", "scopes": ["read"]},
        {"name": "   ", "scopes": ["read"]},
        {"name": "x", "scopes": ["read"], "secret": "mine"},
    ],
)
def test_bad_key_requests_are_422(client, body):
    response = client.post("/api/auth/keys", json=body, headers=auth(RENTER))
    assert_status(response, 422, "invalid_input")


def test_last_used_is_written_at_most_once_an_hour(client, clock, context):
    created = create_key(client, RENTER, ["read"])
    headers = with_key(created["key"])

    def last_used() -> int | None:
        record = context.api_keys.get(created["key_id"])
        assert record is not None
        return record.last_used_at

    client.get("/api/auth/me", headers=headers)
    assert last_used() == NOW
    clock.now = NOW + LAST_USED_RESOLUTION_SECONDS - 1
    client.get("/api/auth/me", headers=headers)
    assert last_used() == NOW
    clock.now = NOW + LAST_USED_RESOLUTION_SECONDS
    client.get("/api/auth/me", headers=headers)
    assert last_used() == NOW + LAST_USED_RESOLUTION_SECONDS
    listed = client.get("/api/auth/keys", headers=auth(RENTER, clock.now)).json()["items"]
    assert listed[0]["last_used_at"] == NOW + LAST_USED_RESOLUTION_SECONDS


def test_the_websocket_takes_a_read_key_and_refuses_others(client, context, tables, clock):
    live = LiveService(context.settings, tables, RecordingBroadcaster(), clock=clock)
    reader = create_key(client, RENTER, ["read"])
    trader = create_key(client, RENTER, ["trade"])

    assert live.connect("c1", reader["key"]).subject == RENTER
    with pytest.raises(Unauthorized, match="read"):
        live.connect("c2", trader["key"])
    client.delete(f"/api/auth/keys/{reader['key_id']}", headers=auth(RENTER))
    with pytest.raises(Unauthorized):
        live.connect("c3", reader["key"])


def test_every_write_route_is_scoped_or_session_only(client):
    operations = {
        (method.upper(), path)
        for path, item in client.app.openapi()["paths"].items()
        for method in item
    }
    writes = {op for op in operations if op[0] not in {"GET", "HEAD"}}
    assert set(KEY_SCOPES) <= writes, set(KEY_SCOPES) - writes
    assert writes - set(KEY_SCOPES) == SESSION_ONLY_WRITES
    assert {path for method, path in operations if method == "GET"} >= SESSION_ONLY_READS


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/api/leases", Scope.READ),
        ("HEAD", "/api/leases", Scope.READ),
        ("GET", "/api/auth/keys", None),
        ("POST", "/api/leases", Scope.TRADE),
        ("POST", "/api/leases/{lease_id}/stop", Scope.TRADE),
        ("DELETE", "/api/listings/{listing_id}", Scope.TRADE),
        ("POST", "/api/accounts/me/withdraw", Scope.WITHDRAW),
        ("POST", "/api/devices", Scope.DEVICES),
        ("POST", "/api/alerts/rules", Scope.ALERTS),
        ("POST", "/api/auth/keys", None),
        ("POST", "/api/some/new/route", None),
        ("POST", "", None),
    ],
)
def test_the_scope_map(method, path, scope):
    assert required_scope(method, path) == scope
