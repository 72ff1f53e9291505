"""The money rules (``functions.logic.funds``) on moto: who may deposit, how much, and what
a retried deposit or withdrawal answers; no HTTP here."""

from __future__ import annotations

import pytest

from functions.dal.accounts import AccountRepository
from functions.dal.ledger import LedgerRepository
from functions.errors import Conflict, Forbidden, InsufficientFunds, InvalidInput, NotFound
from functions.logic.funds import FAUCET_MAX, FundsService, keyed_id
from functions.models.accounts import WithdrawalStatus
from tests.factories import NOW, RENTER, address

ADMIN = address(0xAD)


def _service(settings, tables, *, stage="test"):
    return FundsService(
        settings=settings.model_copy(update={"stage": stage}),
        accounts=AccountRepository(tables),
        ledger=LedgerRepository(tables),
    )


@pytest.fixture
def funds(settings, tables):
    """A deployed stage: admins credit, no faucet."""
    return _service(settings, tables)


@pytest.fixture
def faucet(settings, tables):
    return _service(settings, tables, stage="local")


# -- ids ----------------------------------------------------------------------------------


def test_a_key_names_one_movement_per_kind_and_address() -> None:
    assert keyed_id("faucet", RENTER, "k") == keyed_id("faucet", RENTER, "k")
    assert keyed_id("faucet", RENTER, "k") != keyed_id("admin", RENTER, "k")
    assert keyed_id("faucet", RENTER, "k") != keyed_id("faucet", ADMIN, "k")
    assert len(keyed_id("withdraw", RENTER, "k")) == 32
    # Without a key, every request is new.
    assert keyed_id("faucet", RENTER, None) != keyed_id("faucet", RENTER, None)


# -- deposits -----------------------------------------------------------------------------


def test_the_faucet_is_for_the_local_stage_only(funds):
    with pytest.raises(Forbidden, match=r"POST /api/accounts/\{address\}/deposit"):
        funds.faucet(RENTER, 5, now=NOW)


def test_the_faucet_gives_at_most_its_limit(faucet):
    with pytest.raises(InvalidInput):
        faucet.faucet(RENTER, FAUCET_MAX + 1, now=NOW)
    deposited = faucet.faucet(RENTER, FAUCET_MAX, now=NOW)
    assert deposited.account.balance == FAUCET_MAX
    assert not deposited.replayed


def test_a_retried_faucet_call_credits_once(faucet):
    first = faucet.faucet(RENTER, 700, now=NOW, idempotency_key="k1")
    again = faucet.faucet(RENTER, 700, now=NOW + 5, idempotency_key="k1")
    assert again.replayed
    assert again.entry == first.entry
    assert again.account.balance == 700
    with pytest.raises(Conflict, match="different deposit"):
        faucet.faucet(RENTER, 701, now=NOW, idempotency_key="k1")
    # Without a key, each call is a deposit of its own.
    faucet.faucet(RENTER, 1, now=NOW)
    assert faucet.faucet(RENTER, 1, now=NOW).account.balance == 702


def test_an_admin_credit_names_the_checksummed_address(funds):
    deposited = funds.credit(RENTER.lower(), 300, now=NOW)
    assert deposited.entry.to_account == RENTER
    assert deposited.account.address == RENTER
    assert deposited.account.balance == 300
    with pytest.raises(InvalidInput, match="address"):
        funds.credit("0x1234", 300, now=NOW)


def test_a_reference_credits_an_address_once_whatever_the_key(funds):
    first = funds.credit(RENTER, 300, now=NOW, reference="tx-1", idempotency_key="a")
    assert first.entry.entry_id == f"deposit:{RENTER}:ref:tx-1"
    again = funds.credit(RENTER, 300, now=NOW, reference="tx-1", idempotency_key="b")
    assert again.replayed
    assert again.account.balance == 300
    # The same payment cannot credit another amount, nor another address.
    with pytest.raises(Conflict):
        funds.credit(RENTER, 301, now=NOW, reference="tx-1")
    other = funds.credit(ADMIN, 300, now=NOW, reference="tx-1")
    assert not other.replayed  # the reference names the entry per address


# -- withdrawals --------------------------------------------------------------------------


def test_a_withdrawal_holds_the_amount_until_decided(funds):
    funds.credit(RENTER, 1_000, now=NOW)
    held = funds.request_withdrawal(RENTER, 400, now=NOW)
    assert (held.account.balance, held.account.held) == (600, 400)
    assert held.withdrawal.status is WithdrawalStatus.PENDING
    with pytest.raises(InsufficientFunds):
        funds.request_withdrawal(RENTER, 601, now=NOW)


def test_a_retried_withdrawal_holds_once(funds):
    funds.credit(RENTER, 1_000, now=NOW)
    first = funds.request_withdrawal(RENTER, 400, now=NOW, idempotency_key="w1")
    again = funds.request_withdrawal(RENTER, 400, now=NOW + 9, idempotency_key="w1")
    assert again.replayed
    assert again.withdrawal == first.withdrawal
    assert (again.account.balance, again.account.held) == (600, 400)
    with pytest.raises(Conflict, match="different withdrawal"):
        funds.request_withdrawal(RENTER, 500, now=NOW, idempotency_key="w1")


def test_approval_pays_out_and_rejection_returns(funds):
    funds.credit(RENTER, 1_000, now=NOW)
    paid = funds.request_withdrawal(RENTER, 300, now=NOW).withdrawal
    returned = funds.request_withdrawal(RENTER, 200, now=NOW).withdrawal
    approved = funds.decide_withdrawal(
        RENTER.lower(), paid.withdrawal_id, approve=True, admin=ADMIN, now=NOW + 60
    )
    assert approved.withdrawal.status is WithdrawalStatus.APPROVED
    assert approved.withdrawal.decided_by == ADMIN
    assert (approved.account.balance, approved.account.held) == (500, 200)
    assert approved.account.withdrawn == 300
    rejected = funds.decide_withdrawal(
        RENTER, returned.withdrawal_id, approve=False, admin=ADMIN, now=NOW + 60
    )
    assert rejected.withdrawal.status is WithdrawalStatus.REJECTED
    assert (rejected.account.balance, rejected.account.held) == (700, 0)


def test_a_withdrawal_is_decided_once(funds):
    funds.credit(RENTER, 1_000, now=NOW)
    withdrawal = funds.request_withdrawal(RENTER, 300, now=NOW).withdrawal
    funds.decide_withdrawal(RENTER, withdrawal.withdrawal_id, approve=True, admin=ADMIN, now=NOW)
    for approve in (True, False):
        with pytest.raises(Conflict, match="is already approved"):
            funds.decide_withdrawal(
                RENTER, withdrawal.withdrawal_id, approve=approve, admin=ADMIN, now=NOW
            )
    with pytest.raises(NotFound):
        funds.decide_withdrawal(RENTER, "0" * 32, approve=True, admin=ADMIN, now=NOW)
