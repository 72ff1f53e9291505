"""``/api/accounts`` and ``/api/admin/withdrawals``: balances, deposits, withdrawals, ledger."""

from __future__ import annotations

import pytest

from functions.dal.accounts import AccountRepository
from functions.dal.ledger import LedgerRepository
from functions.logic.funds import FAUCET_MAX
from functions.models.accounts import EntryKind
from tests.api_client import api_context, auth, client_for
from tests.factories import NOW, PROVIDER, RENTER, address

ADMIN = address(0xAD)


@pytest.fixture
def admin_settings(settings):
    return settings.model_copy(update={"admin_addresses": (ADMIN,)})


@pytest.fixture
def client(admin_settings, tables):
    """A deployed stage ("test"): no faucet, admins credit accounts."""
    return client_for(api_context(admin_settings, tables))


@pytest.fixture
def local_client(admin_settings, tables):
    return client_for(api_context(admin_settings.model_copy(update={"stage": "local"}), tables))


@pytest.fixture
def accounts(tables):
    return AccountRepository(tables)


def _balances(accounts, who=RENTER):
    account = accounts.get(who)
    return (account.balance, account.held, account.withdrawn)


def _admin_deposit(client, amount, who=RENTER, headers=None):
    return client.post(
        f"/api/accounts/{who}/deposit",
        json={"amount": amount},
        headers={**auth(ADMIN), **(headers or {})},
    )


# -- balance ------------------------------------------------------------------------------


def test_a_new_account_reads_as_zero(client):
    body = client.get("/api/accounts/me", headers=auth(RENTER)).json()
    assert body == {
        "address": RENTER,
        "balance": 0,
        "held": 0,
        "deposited": 0,
        "withdrawn": 0,
        "updated_at": None,
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/accounts/me"),
        ("post", "/api/accounts/me/deposit"),
        ("post", "/api/accounts/me/withdraw"),
        ("get", "/api/accounts/me/ledger"),
        ("get", "/api/accounts/me/withdrawals"),
    ],
)
def test_account_paths_need_a_signed_in_caller(client, method, path):
    response = client.request(method, path, json={"amount": 1})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


# -- faucet -------------------------------------------------------------------------------


def test_the_local_faucet_credits_the_caller(local_client, accounts):
    response = local_client.post(
        "/api/accounts/me/deposit", json={"amount": 5_000_000}, headers=auth(RENTER)
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["replayed"] is False
    assert body["entry"]["kind"] == "deposit"
    assert body["entry"]["to_account"] == RENTER
    assert body["account"]["balance"] == 5_000_000
    assert accounts.get(RENTER).deposited == 5_000_000


@pytest.mark.parametrize("stage", ["test", "prod"])
def test_a_deployed_stage_refuses_the_faucet_and_names_the_admin_path(
    admin_settings, tables, accounts, stage
):
    client = client_for(api_context(admin_settings.model_copy(update={"stage": stage}), tables))
    response = client.post("/api/accounts/me/deposit", json={"amount": 1}, headers=auth(ADMIN))
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "forbidden"
    assert "/api/accounts/{address}/deposit" in error["message"]
    assert accounts.get(ADMIN).balance == 0


def test_the_faucet_is_capped_per_call(local_client, accounts):
    response = local_client.post(
        "/api/accounts/me/deposit", json={"amount": FAUCET_MAX + 1}, headers=auth(RENTER)
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_input"
    ok = local_client.post(
        "/api/accounts/me/deposit", json={"amount": FAUCET_MAX}, headers=auth(RENTER)
    )
    assert ok.status_code == 201
    assert accounts.get(RENTER).balance == FAUCET_MAX


@pytest.mark.parametrize(
    "body",
    [
        {"amount": 0},
        {"amount": -5},
        {"amount": 1.5},
        {"amount": 2.0},
        {"amount": "5"},
        {"amount": True},
        {"amount": 2**53},
        {},
        {"amount": 1, "to": PROVIDER},
    ],
)
def test_bad_amounts_are_refused_and_credit_nothing(local_client, accounts, body):
    response = local_client.post("/api/accounts/me/deposit", json=body, headers=auth(RENTER))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_input"
    assert accounts.get(RENTER).balance == 0


def test_a_faucet_retry_with_the_same_key_credits_once(local_client, accounts):
    headers = {**auth(RENTER), "Idempotency-Key": "tap-1"}
    first = local_client.post("/api/accounts/me/deposit", json={"amount": 7}, headers=headers)
    again = local_client.post("/api/accounts/me/deposit", json={"amount": 7}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["replayed"] is True
    assert again.json()["entry"] == first.json()["entry"]
    assert accounts.get(RENTER).balance == 7


# -- admin deposit ------------------------------------------------------------------------


def test_an_admin_credits_any_address_given_in_any_case(client, accounts, tables):
    response = _admin_deposit(client, 9_000_000, who=RENTER.lower())
    assert response.status_code == 201, response.text
    assert response.json()["account"]["address"] == RENTER
    assert accounts.get(RENTER).balance == 9_000_000
    history = LedgerRepository(tables).history(RENTER, limit=5).items
    assert [(e.kind, e.amount) for e in history] == [(EntryKind.DEPOSIT, 9_000_000)]


def test_only_admins_may_credit_an_account(client, accounts):
    response = client.post(
        f"/api/accounts/{RENTER}/deposit", json={"amount": 5}, headers=auth(RENTER)
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert accounts.get(RENTER).balance == 0


def _wrong_checksum(valid: str) -> str:
    """``valid`` with the case of its last letter flipped: still mixed case, wrong sum."""
    i = max(i for i, c in enumerate(valid) if i > 1 and c.isalpha())
    return valid[:i] + valid[i].swapcase() + valid[i + 1 :]


@pytest.mark.parametrize(
    "target",
    ["0x123", "not-an-address", "0x" + "g" * 40, _wrong_checksum(address(0xABCDEF0123456789))],
)
def test_a_bad_deposit_address_is_refused(client, target):
    response = _admin_deposit(client, 5, who=target)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_input"


def test_an_admin_deposit_retry_with_the_same_key_credits_once(client, accounts):
    key = {"Idempotency-Key": "bank-transfer-42"}
    first = _admin_deposit(client, 3_000_000, headers=key)
    again = _admin_deposit(client, 3_000_000, headers=key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["entry"]["entry_id"] == first.json()["entry"]["entry_id"]
    assert again.json()["account"]["balance"] == 3_000_000
    assert accounts.get(RENTER).deposited == 3_000_000

    # The key is per address: the same key for another address is another deposit.
    assert _admin_deposit(client, 3_000_000, who=PROVIDER, headers=key).status_code == 201
    # Without a key every call is a new deposit.
    assert _admin_deposit(client, 1).status_code == 201
    assert _admin_deposit(client, 1).status_code == 201
    assert accounts.get(RENTER).balance == 3_000_002


def test_reusing_a_key_for_another_amount_is_a_conflict(client, accounts):
    key = {"Idempotency-Key": "k"}
    assert _admin_deposit(client, 10, headers=key).status_code == 201
    response = _admin_deposit(client, 11, headers=key)
    assert response.status_code == 409
    assert accounts.get(RENTER).balance == 10


def test_a_payment_reference_credits_an_address_once(client, accounts):
    body = {"amount": 5, "reference": "0xfeed-tx"}
    url = f"/api/accounts/{RENTER}/deposit"
    first = client.post(url, json=body, headers=auth(ADMIN))
    again = client.post(url, json=body, headers={**auth(ADMIN), "Idempotency-Key": "other"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["entry"]["entry_id"] == f"deposit:{RENTER}:ref:0xfeed-tx"
    assert accounts.get(RENTER).balance == 5


def test_a_bad_idempotency_key_is_refused(client, accounts):
    response = _admin_deposit(client, 5, headers={"Idempotency-Key": "x" * 256})
    assert response.status_code == 422
    assert accounts.get(RENTER).balance == 0


# -- withdrawals --------------------------------------------------------------------------


def _withdraw(client, amount, who=RENTER, headers=None):
    return client.post(
        "/api/accounts/me/withdraw",
        json={"amount": amount},
        headers={**auth(who), **(headers or {})},
    )


def test_a_withdrawal_is_pending_and_holds_the_funds(client, accounts):
    accounts.deposit(RENTER, 10_000_000, entry_id="d", now=NOW)
    response = _withdraw(client, 4_000_000)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["withdrawal"]["status"] == "pending"
    assert body["withdrawal"]["requested_at"] == NOW
    assert (body["account"]["balance"], body["account"]["held"]) == (6_000_000, 4_000_000)
    assert _balances(accounts) == (6_000_000, 4_000_000, 0)


def test_withdrawing_more_than_the_balance_is_402_and_holds_nothing(client, accounts):
    accounts.deposit(RENTER, 10, entry_id="d", now=NOW)
    response = _withdraw(client, 11)
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "insufficient_funds"
    assert _balances(accounts) == (10, 0, 0)
    assert client.get("/api/accounts/me/withdrawals", headers=auth(RENTER)).json()["items"] == []


def test_a_withdrawal_retry_with_the_same_key_holds_once(client, accounts):
    accounts.deposit(RENTER, 10, entry_id="d", now=NOW)
    key = {"Idempotency-Key": "wd-1"}
    first = _withdraw(client, 6, headers=key)
    # The balance (4) could not pay 6 again: still the first result, not a 402.
    again = _withdraw(client, 6, headers=key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["replayed"] is True
    assert again.json()["withdrawal"] == first.json()["withdrawal"]
    assert _balances(accounts) == (4, 6, 0)
    assert _withdraw(client, 5, headers=key).status_code == 409


def _pending(client, who=RENTER, amount=4):
    return _withdraw(client, amount, who=who).json()["withdrawal"]["withdrawal_id"]


def _decide(client, decision, withdrawal_id, who=RENTER, caller=ADMIN):
    return client.post(
        f"/api/admin/withdrawals/{who}/{withdrawal_id}/{decision}", headers=auth(caller)
    )


def test_approval_pays_out_exactly_the_held_funds_once(client, accounts):
    accounts.deposit(RENTER, 10, entry_id="d", now=NOW)
    withdrawal_id = _pending(client)

    response = _decide(client, "approve", withdrawal_id)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["withdrawal"]["status"] == "approved"
    assert body["withdrawal"]["decided_by"] == ADMIN
    assert _balances(accounts) == (6, 0, 4)

    for decision in ("approve", "reject"):
        again = _decide(client, decision, withdrawal_id)
        assert again.status_code == 409
        assert "approved" in again.json()["error"]["message"]
    assert _balances(accounts) == (6, 0, 4)


def test_rejection_returns_exactly_the_held_funds_once(client, accounts):
    accounts.deposit(RENTER, 10, entry_id="d", now=NOW)
    withdrawal_id = _pending(client)

    response = _decide(client, "reject", withdrawal_id)
    assert response.status_code == 200
    assert response.json()["withdrawal"]["status"] == "rejected"
    assert _balances(accounts) == (10, 0, 0)
    assert _decide(client, "approve", withdrawal_id).status_code == 409
    assert _balances(accounts) == (10, 0, 0)


def test_deciding_an_unknown_withdrawal_is_404(client):
    assert _decide(client, "approve", "nope").status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/admin/withdrawals"),
        ("post", "/api/admin/withdrawals/{who}/{wid}/approve"),
        ("post", "/api/admin/withdrawals/{who}/{wid}/reject"),
        ("post", "/api/accounts/{who}/deposit"),
    ],
)
def test_every_admin_path_refuses_other_callers(client, accounts, method, path):
    accounts.deposit(RENTER, 10, entry_id="d", now=NOW)
    withdrawal_id = _pending(client)
    url = path.format(who=RENTER, wid=withdrawal_id)
    response = client.request(method, url, json={"amount": 1}, headers=auth(RENTER))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert _balances(accounts) == (6, 4, 0)


def test_the_admin_queue_pages_oldest_first_and_drops_decided(admin_settings, tables, accounts):
    clock = iter(range(NOW, NOW + 100))
    client = client_for(api_context(admin_settings, tables, now=lambda: next(clock)))
    for n in range(5):
        accounts.deposit(address(n + 1), 10, entry_id=f"d{n}", now=NOW)
    ids = [_pending(client, who=address(n + 1)) for n in range(5)]

    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/admin/withdrawals", params=params, headers=auth(ADMIN)).json()
        seen += [w["withdrawal_id"] for w in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids

    assert _decide(client, "approve", ids[0], who=address(1)).status_code == 200
    page = client.get("/api/admin/withdrawals", headers=auth(ADMIN)).json()
    assert [w["withdrawal_id"] for w in page["items"]] == ids[1:]


def test_my_withdrawals_page_through_only_mine(admin_settings, tables, accounts):
    clock = iter(range(NOW, NOW + 100))
    client = client_for(api_context(admin_settings, tables, now=lambda: next(clock)))
    accounts.deposit(RENTER, 10, entry_id="d", now=NOW)
    accounts.deposit(PROVIDER, 10, entry_id="d2", now=NOW)
    mine = [_pending(client, amount=1) for _ in range(3)]
    _pending(client, who=PROVIDER, amount=1)

    first = client.get(
        "/api/accounts/me/withdrawals", params={"limit": 2}, headers=auth(RENTER)
    ).json()
    rest = client.get(
        "/api/accounts/me/withdrawals",
        params={"limit": 2, "cursor": first["next_cursor"]},
        headers=auth(RENTER),
    ).json()
    listed = [w["withdrawal_id"] for w in first["items"] + rest["items"]]
    assert sorted(listed) == sorted(mine)
    assert all(w["address"] == RENTER for w in first["items"] + rest["items"])


# -- ledger -------------------------------------------------------------------------------


def test_the_ledger_pages_newest_first(client, accounts):
    for i in range(5):
        accounts.deposit(RENTER, i + 1, entry_id=f"d{i}", now=NOW + i)
    accounts.deposit(PROVIDER, 99, entry_id="other", now=NOW)

    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/accounts/me/ledger", params=params, headers=auth(RENTER)).json()
        seen += [(e["entry_id"], e["amount"]) for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [(f"d{i}", i + 1) for i in reversed(range(5))]


@pytest.mark.parametrize("params", [{"cursor": "!!!"}, {"limit": 0}, {"limit": 201}])
def test_bad_paging_parameters_are_refused(client, params):
    response = client.get("/api/accounts/me/ledger", params=params, headers=auth(RENTER))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_input"
