from __future__ import annotations

import pytest

from functions.dal.accounts import AccountRepository
from functions.dal.ledger import LedgerRepository
from functions.errors import DuplicateEntry, InsufficientFunds, InvalidInput, NotFound
from functions.models.accounts import EntryKind, WithdrawalStatus
from tests.factories import NOW, RENTER


@pytest.fixture
def accounts(tables):
    return AccountRepository(tables)


def test_unknown_account_reads_as_zero(accounts):
    account = accounts.get(RENTER)
    assert (account.balance, account.held, account.deposited) == (0, 0, 0)


def test_deposit_credits_once_per_entry_id(accounts, tables):
    accounts.deposit(RENTER, 5_000_000, entry_id="dep-1", now=NOW)
    with pytest.raises(DuplicateEntry):
        accounts.deposit(RENTER, 5_000_000, entry_id="dep-1", now=NOW + 1)
    account = accounts.get(RENTER)
    assert (account.balance, account.deposited) == (5_000_000, 5_000_000)
    history = LedgerRepository(tables).history(RENTER, limit=10)
    assert [(e.kind, e.amount) for e in history.items] == [(EntryKind.DEPOSIT, 5_000_000)]


@pytest.mark.parametrize("amount", [0, -1, 1.5, True])
def test_deposit_refuses_non_positive_or_non_integer_amounts(accounts, amount):
    with pytest.raises(InvalidInput):
        accounts.deposit(RENTER, amount, entry_id="x", now=NOW)
    assert accounts.get(RENTER).balance == 0


def test_withdrawal_holds_then_approval_removes_money(accounts, tables):
    accounts.deposit(RENTER, 10, entry_id="d", now=NOW)
    accounts.request_withdrawal(RENTER, 7, withdrawal_id="wd1", now=NOW + 1)
    held = accounts.get(RENTER)
    assert (held.balance, held.held) == (3, 7)
    assert [w.withdrawal_id for w in accounts.pending_withdrawals(limit=10).items] == ["wd1"]

    decided = accounts.decide_withdrawal(RENTER, "wd1", approve=True, admin="admin", now=NOW + 2)
    assert decided.status is WithdrawalStatus.APPROVED
    done = accounts.get(RENTER)
    assert (done.balance, done.held, done.withdrawn) == (3, 0, 7)
    assert accounts.pending_withdrawals(limit=10).items == []
    with pytest.raises(DuplicateEntry):
        accounts.decide_withdrawal(RENTER, "wd1", approve=False, admin="admin", now=NOW + 3)
    assert accounts.get(RENTER) == done


def test_rejected_withdrawal_returns_the_money(accounts):
    accounts.deposit(RENTER, 10, entry_id="d", now=NOW)
    accounts.request_withdrawal(RENTER, 10, withdrawal_id="wd1", now=NOW)
    accounts.decide_withdrawal(RENTER, "wd1", approve=False, admin="admin", now=NOW)
    account = accounts.get(RENTER)
    assert (account.balance, account.held, account.withdrawn) == (10, 0, 0)
    assert accounts.get_withdrawal(RENTER, "wd1").status is WithdrawalStatus.REJECTED


def test_withdrawal_beyond_balance_is_refused_and_writes_nothing(accounts, tables):
    accounts.deposit(RENTER, 10, entry_id="d", now=NOW)
    with pytest.raises(InsufficientFunds):
        accounts.request_withdrawal(RENTER, 11, withdrawal_id="wd1", now=NOW)
    assert accounts.get(RENTER).balance == 10
    assert accounts.get_withdrawal(RENTER, "wd1") is None
    assert LedgerRepository(tables).get("hold:wd1") is None


def test_deciding_an_unknown_withdrawal_is_not_found(accounts):
    with pytest.raises(NotFound):
        accounts.decide_withdrawal(RENTER, "nope", approve=True, admin="a", now=NOW)


def test_ledger_history_pages_newest_first_without_gaps(accounts, tables):
    for i in range(7):
        accounts.deposit(RENTER, i + 1, entry_id=f"d{i}", now=NOW + i)
    accounts.request_withdrawal(RENTER, 2, withdrawal_id="w", now=NOW + 10)
    ledger = LedgerRepository(tables)
    seen, cursor = [], None
    while True:
        page = ledger.history(RENTER, limit=3, cursor=cursor)
        seen += [e.entry_id for e in page.items]
        cursor = page.cursor
        if cursor is None:
            break
    assert seen == ["hold:w"] + [f"d{i}" for i in reversed(range(7))]


def test_settings_before_any_money_then_money_keeps_both(accounts):
    # The settings create the account item; the first credit ADDs to it from zero.
    set_first = accounts.set_settings(
        RENTER, electricity_micro_per_kwh=120_000, currency="EUR", now=NOW
    )
    accounts.deposit(RENTER, 7_000_000, entry_id="after-settings", now=NOW + 1)
    cleared = accounts.set_settings(
        RENTER, electricity_micro_per_kwh=None, currency="USD", now=NOW + 2
    )

    assert (set_first.balance, set_first.electricity_micro_per_kwh) == (0, 120_000)
    assert (cleared.balance, cleared.deposited) == (7_000_000, 7_000_000)
    assert (cleared.electricity_micro_per_kwh, cleared.currency) == (None, "USD")
    assert cleared.settings_updated_at == NOW + 2
    assert accounts.get(RENTER) == cleared
