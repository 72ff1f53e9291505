"""``/api/accounts/me/withdraw`` and the admin views when withdrawals are paid on chain
(issue #24): small ones queued at once, large ones waiting for an admin whose approval
queues them, the on-chain state shown, the hot wallet's last look for admins."""

from __future__ import annotations

import pytest

from functions.dal.accounts import AccountRepository
from functions.dal.payouts import PayoutRepository
from tests.api_client import api_context, auth, client_for
from tests.factories import NOW, PROVIDER, RENTER, address

ADMIN = address(0xAD)
TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
HOT = address(0x407)
CREDIT = 1_000_000


@pytest.fixture
def chain_settings(settings):
    return settings.model_copy(
        update={
            "admin_addresses": (ADMIN,),
            "deposit_chain_id": 31337,
            "deposit_token_address": TOKEN,
            "deposit_token_decimals": 6,
            "withdrawal_kms_key_id": "alias/hot-wallet",
            "withdrawal_auto_max": 100 * CREDIT,
            "withdrawal_confirmations": 5,
        }
    )


@pytest.fixture
def client(chain_settings, tables):
    AccountRepository(tables).deposit(RENTER, 500 * CREDIT, entry_id="seed", now=NOW - 10)
    return client_for(api_context(chain_settings, tables))


def _withdraw(client, amount, key=None):
    headers = {**auth(RENTER), **({"Idempotency-Key": key} if key else {})}
    return client.post("/api/accounts/me/withdraw", json={"amount": amount}, headers=headers)


def test_a_small_withdrawal_is_queued_for_the_chain_at_once(client):
    response = _withdraw(client, 40 * CREDIT, key="w1")
    assert response.status_code == 201
    body = response.json()
    withdrawal = body["withdrawal"]
    assert (withdrawal["status"], withdrawal["approval"]) == ("queued", "auto")
    assert (withdrawal["chain_id"], withdrawal["token_address"]) == (31337, TOKEN)
    assert withdrawal["token_units"] == str(40 * 10**6)
    assert withdrawal["required_confirmations"] == 5
    assert (body["account"]["balance"], body["account"]["held"]) == (460 * CREDIT, 40 * CREDIT)
    # A retry answers the first request and holds nothing again.
    again = _withdraw(client, 40 * CREDIT, key="w1")
    assert (again.status_code, again.json()["replayed"]) == (200, True)
    assert again.json()["account"]["held"] == 40 * CREDIT
    # Not an admin's to decide.
    assert client.get("/api/admin/withdrawals", headers=auth(ADMIN)).json()["items"] == []


def test_a_large_withdrawal_waits_for_an_admin_whose_approval_queues_it(client):
    withdrawal = _withdraw(client, 300 * CREDIT).json()["withdrawal"]
    assert (withdrawal["status"], withdrawal["approval"]) == ("pending", None)
    [queued] = client.get("/api/admin/withdrawals", headers=auth(ADMIN)).json()["items"]
    assert queued["withdrawal_id"] == withdrawal["withdrawal_id"]

    path = f"/api/admin/withdrawals/{RENTER}/{withdrawal['withdrawal_id']}/approve"
    decided = client.post(path, headers=auth(ADMIN)).json()
    assert (decided["withdrawal"]["status"], decided["withdrawal"]["approval"]) == (
        "queued",
        "admin",
    )
    assert decided["withdrawal"]["decided_by"] == ADMIN
    assert decided["withdrawal"]["token_units"] == str(300 * 10**6)
    # Still held: the money leaves when the chain settles the payment.
    assert (decided["account"]["held"], decided["account"]["withdrawn"]) == (300 * CREDIT, 0)
    assert client.post(path, headers=auth(ADMIN)).status_code == 409
    mine = client.get("/api/accounts/me/withdrawals", headers=auth(RENTER)).json()["items"]
    assert [w["status"] for w in mine] == ["queued"]


def test_an_amount_the_token_cannot_hold_is_refused(chain_settings, tables):
    two_decimals = chain_settings.model_copy(update={"deposit_token_decimals": 2})
    AccountRepository(tables).deposit(RENTER, 500 * CREDIT, entry_id="seed", now=NOW - 10)
    client = client_for(api_context(two_decimals, tables))
    response = _withdraw(client, 1_234_567)
    assert response.status_code == 422
    assert "multiple of 10000" in response.json()["error"]["message"]
    assert AccountRepository(tables).get(RENTER).held == 0


def test_the_hot_wallet_view_is_for_admins_once_the_job_has_looked(client, tables):
    assert client.get("/api/admin/hot-wallet", headers=auth(PROVIDER)).status_code == 403
    assert client.get("/api/admin/hot-wallet", headers=auth(ADMIN)).status_code == 404
    payouts = PayoutRepository(tables)
    wallet = payouts.create_wallet(31337, HOT, next_nonce=7, now=NOW)
    payouts.record_look(
        wallet,
        head=120,
        token_units=5_000 * 10**6,
        gas_wei=3 * 10**19,
        chain_nonce=7,
        alarms=("hot_wallet_gas_low",),
        now=NOW,
    )
    body = client.get("/api/admin/hot-wallet", headers=auth(ADMIN)).json()
    assert (body["address"], body["next_nonce"], body["chain_nonce"]) == (HOT, 7, 7)
    assert (body["token_units"], body["gas_wei"]) == (str(5_000 * 10**6), str(3 * 10**19))
    assert body["alarms"] == ["hot_wallet_gas_low"]
    assert (body["outflow_today"], body["auto_max"]) == (0, 100 * CREDIT)


def test_without_on_chain_payouts_the_hot_wallet_is_not_found(settings, tables):
    admin = settings.model_copy(update={"admin_addresses": (ADMIN,)})
    client = client_for(api_context(admin, tables))
    response = client.get("/api/admin/hot-wallet", headers=auth(ADMIN))
    assert response.status_code == 404
    assert "not paid on chain" in response.json()["error"]["message"]
