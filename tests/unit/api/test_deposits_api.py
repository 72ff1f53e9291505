"""``/api/accounts/me/deposit-address`` and ``/api/accounts/me/deposits``: each account's
own deposit address on the configured chain, and its on-chain deposits as the watcher left
them (pending with their confirmations, credited, orphaned, held)."""

from __future__ import annotations

import pytest

from functions.dal.deposits import DepositRepository
from functions.logic.deposits import DepositWatcher
from functions.logic.hd_keys import deposit_address, deposit_xpub_from_seed
from functions.models.accounts import DepositSource
from tests.api_client import api_context, auth, client_for
from tests.factories import NOW, PROVIDER, RENTER, address
from tests.fake_chain import FakeChain

TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
XPUB = deposit_xpub_from_seed(bytes(range(32)))
ADMIN = address(0xAD)


@pytest.fixture
def chain_settings(settings):
    return settings.model_copy(
        update={
            "deposit_xpub": XPUB,
            "deposit_chain_id": 31337,
            "deposit_token_address": TOKEN,
            "deposit_confirmations": 2,
            "admin_addresses": (ADMIN,),
        }
    )


@pytest.fixture
def client(chain_settings, tables):
    return client_for(api_context(chain_settings, tables))


def test_each_account_has_its_own_address(client):
    first = client.get("/api/accounts/me/deposit-address", headers=auth(RENTER))
    assert first.status_code == 200
    assert first.json() == {
        "address": RENTER,
        "deposit_address": deposit_address(XPUB, 0),
        "index": 0,
        "chain_id": 31337,
        "token_address": TOKEN,
        "token_decimals": 6,
        "confirmations": 2,
        "micro_per_token": 1_000_000,
    }
    other = client.get("/api/accounts/me/deposit-address", headers=auth(PROVIDER)).json()
    assert other["deposit_address"] == deposit_address(XPUB, 1)
    again = client.get("/api/accounts/me/deposit-address", headers=auth(RENTER)).json()
    assert again == first.json()


def test_no_address_where_deposits_are_off(settings, tables):
    off = client_for(api_context(settings, tables))
    answer = off.get("/api/accounts/me/deposit-address", headers=auth(RENTER))
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


def test_sign_in_is_needed(client):
    assert client.get("/api/accounts/me/deposit-address").status_code == 401
    assert client.get("/api/accounts/me/deposits").status_code == 401


def test_deposits_list_pending_then_credited(client, chain_settings, tables):
    target = client.get("/api/accounts/me/deposit-address", headers=auth(RENTER)).json()
    chain = FakeChain(TOKEN, height=5)
    tx = chain.transfer(PROVIDER, target["deposit_address"], 2_500_000)
    watcher = DepositWatcher(chain_settings, DepositRepository(tables), chain)
    watcher.run(NOW)
    [pending] = client.get("/api/accounts/me/deposits", headers=auth(RENTER)).json()["items"]
    assert pending["status"] == "pending"
    assert (pending["confirmations"], pending["required_confirmations"]) == (1, 2)
    assert (pending["tx_hash"], pending["amount"], pending["token_units"]) == (
        tx,
        2_500_000,
        "2500000",
    )
    assert client.get("/api/accounts/me", headers=auth(RENTER)).json()["balance"] == 0

    chain.mine()
    watcher.run(NOW + 5)
    [credited] = client.get("/api/accounts/me/deposits", headers=auth(RENTER)).json()["items"]
    assert credited["status"] == "credited"
    assert credited["credited_at"] == NOW + 5
    assert client.get("/api/accounts/me", headers=auth(RENTER)).json()["balance"] == 2_500_000
    [entry] = client.get("/api/accounts/me/ledger", headers=auth(RENTER)).json()["items"]
    assert (entry["kind"], entry["source"], entry["amount"]) == ("deposit", "chain", 2_500_000)
    # Nobody else sees it.
    assert client.get("/api/accounts/me/deposits", headers=auth(PROVIDER)).json()["items"] == []


def test_an_admin_credit_is_marked_as_an_operators_correction(client):
    answer = client.post(f"/api/accounts/{RENTER}/deposit", json={"amount": 5}, headers=auth(ADMIN))
    assert answer.status_code == 201
    assert answer.json()["entry"]["source"] == DepositSource.OPERATOR == "operator_correction"
