"""Balances and withdrawals. Every change of a balance is one transaction with its ledger entry.

Items: ``pk=<address>, sk=ACCOUNT`` (the balance, and the owner's settings beside it) and
``pk=<address>, sk=WITHDRAWAL#<id>``.
A balance never goes below zero: every debit is conditional on ``balance >= amount``.
"""

from __future__ import annotations

from typing import Any

from functions.dal import codec
from functions.dal.expressions import Update
from functions.dal.ledger import add_entry
from functions.dal.pagination import Page
from functions.dal.reads import found, get_item, get_record, query_index, query_page
from functions.dal.specs import ACCOUNTS
from functions.dal.tables import Tables
from functions.dal.transact import ErrorFactory, Transaction
from functions.errors import DuplicateEntry, InsufficientFunds
from functions.models.accounts import (
    EXTERNAL,
    OPEN_PAYOUT_STATUSES,
    Account,
    Approval,
    DepositSource,
    EntryKind,
    LedgerEntry,
    PayoutTerms,
    Withdrawal,
    WithdrawalStatus,
    held_account,
)
from functions.models.money import require_amount

_ACCOUNT_SK = "ACCOUNT"
_WITHDRAWAL_SK = "WITHDRAWAL#"
_PENDING = "pending"
# The payouts job's partition of the ``pending`` index: queued, signing and sent payouts.
PAYOUT_QUEUE = "chain_withdrawal"


def account_key(address: str) -> dict[str, str]:
    return {"pk": address, "sk": _ACCOUNT_SK}


def withdrawal_key(address: str, withdrawal_id: str) -> dict[str, str]:
    return {"pk": address, "sk": _WITHDRAWAL_SK + withdrawal_id}


def queue_of(status: WithdrawalStatus) -> str | None:
    """The ``pending`` index partition a withdrawal in ``status`` is listed under: the
    admins' queue, the payouts job's, or none (decided, settled, failed)."""
    if status is WithdrawalStatus.PENDING:
        return _PENDING
    if status in OPEN_PAYOUT_STATUSES:
        return PAYOUT_QUEUE
    return None


def release_entry(withdrawal: Withdrawal, now: int) -> LedgerEntry:
    """The held amount back to the balance (a rejected or failed withdrawal)."""
    return LedgerEntry(
        entry_id=f"release:{withdrawal.withdrawal_id}",
        kind=EntryKind.WITHDRAWAL_RELEASE,
        amount=withdrawal.amount,
        from_account=held_account(withdrawal.address),
        to_account=withdrawal.address,
        from_party=withdrawal.address,
        to_party=withdrawal.address,
        created_at=now,
    )


def change_balance(
    tx: Transaction,
    address: str,
    delta: int,
    *,
    now: int,
    held_delta: int = 0,
    deposited: int = 0,
    withdrawn: int = 0,
    on_insufficient: ErrorFactory | None = None,
) -> None:
    """Add ``delta`` (may be negative) to a balance in ``tx``; a debit needs enough funds.

    The item is created on first credit (ADD on a missing number starts from zero).
    """
    update = Update().set(address=address, updated_at=now).add(balance=delta)
    if held_delta:
        update.add(held=held_delta)
    if deposited:
        update.add(deposited=deposited)
    if withdrawn:
        update.add(withdrawn=withdrawn)
    conditions: list[str] = []
    extra: dict[str, Any] = {}
    if delta < 0:
        conditions.append("#balance >= :need")
        extra["need"] = -delta
    if held_delta < 0:
        conditions.append("#held >= :need_held")
        extra["need_held"] = -held_delta
    tx.update(
        ACCOUNTS,
        account_key(address),
        update.expression,
        condition=" AND ".join(conditions) or None,
        names=update.names(),
        values=update.values(extra),
        on_condition_failed=on_insufficient
        or (lambda: InsufficientFunds(f"balance of {address} is too low")),
    )


class AccountRepository:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables

    def get(self, address: str) -> Account:
        """The account, or a zero account if it never held money."""
        item = get_item(self._tables, ACCOUNTS, account_key(address))
        return Account.model_validate(item) if item else Account(address=address)

    def set_settings(
        self,
        address: str,
        *,
        electricity_micro_per_kwh: int | None,
        currency: str,
        now: int,
    ) -> Account:
        """Set the owner's settings on the account item (created if it never held money);
        a None price removes it. Balances are untouched (SET of other attributes only)."""
        update = Update().set(
            address=address,
            electricity_micro_per_kwh=electricity_micro_per_kwh,
            currency=currency,
            settings_updated_at=now,
        )
        response = self._tables.client.update_item(
            TableName=self._tables.name(ACCOUNTS),
            Key=codec.to_item(account_key(address)),
            UpdateExpression=update.expression,
            ExpressionAttributeNames=update.names(),
            ExpressionAttributeValues=codec.values(**update.values()),
            ReturnValues="ALL_NEW",
        )
        return Account.model_validate(codec.from_item(response["Attributes"]))

    def deposit(
        self,
        address: str,
        amount: int,
        *,
        entry_id: str,
        now: int,
        source: DepositSource | None = None,
    ) -> LedgerEntry:
        """Credit money from outside. ``entry_id`` (from the request) makes retries no-ops:
        a second call with the same id raises DuplicateEntry and moves nothing."""
        require_amount(amount)
        entry = LedgerEntry(
            entry_id=entry_id,
            kind=EntryKind.DEPOSIT,
            amount=amount,
            from_account=EXTERNAL,
            to_account=address,
            to_party=address,
            created_at=now,
            source=source,
        )
        tx = Transaction(self._tables)
        add_entry(tx, entry)
        change_balance(tx, address, amount, now=now, deposited=amount)
        tx.commit()
        return entry

    def request_withdrawal(
        self, address: str, amount: int, *, withdrawal_id: str, now: int
    ) -> Withdrawal:
        """Hold ``amount`` out of the balance until an admin decides."""
        withdrawal = Withdrawal(
            withdrawal_id=withdrawal_id, address=address, amount=amount, requested_at=now
        )
        return self.hold_withdrawal(withdrawal)

    def hold_withdrawal(self, withdrawal: Withdrawal) -> Withdrawal:
        """Hold the withdrawal's amount out of the balance: pending (an admin's queue) or
        queued for the payouts job (approved automatically, issue #24)."""
        if withdrawal.status not in (WithdrawalStatus.PENDING, WithdrawalStatus.QUEUED):
            raise ValueError("a new withdrawal is pending or queued")
        amount = require_amount(withdrawal.amount)
        address, withdrawal_id = withdrawal.address, withdrawal.withdrawal_id
        tx = Transaction(self._tables)
        tx.put(
            ACCOUNTS,
            {**self._withdrawal_item(withdrawal), "pending": queue_of(withdrawal.status)},
            condition="attribute_not_exists(pk)",
            on_condition_failed=lambda: DuplicateEntry(f"withdrawal {withdrawal_id} exists"),
        )
        add_entry(
            tx,
            LedgerEntry(
                entry_id=f"hold:{withdrawal_id}",
                kind=EntryKind.WITHDRAWAL_HOLD,
                amount=amount,
                from_account=address,
                to_account=held_account(address),
                from_party=address,
                to_party=address,
                created_at=withdrawal.requested_at,
            ),
        )
        change_balance(tx, address, -amount, held_delta=amount, now=withdrawal.requested_at)
        tx.commit()
        return withdrawal

    def decide_withdrawal(
        self,
        address: str,
        withdrawal_id: str,
        *,
        approve: bool,
        admin: str,
        now: int,
        payout: PayoutTerms | None = None,
    ) -> Withdrawal:
        """Approve (the money leaves the platform; with ``payout``, it is queued for the
        payouts job and stays held until the chain settles it) or reject (it returns to
        the balance)."""
        key = withdrawal_key(address, withdrawal_id)
        withdrawal = found(
            get_record(self._tables, ACCOUNTS, Withdrawal, key), f"withdrawal {withdrawal_id}"
        )
        if approve and payout is not None:
            return self._queue_payout(withdrawal, payout, admin=admin, now=now)
        status = WithdrawalStatus.APPROVED if approve else WithdrawalStatus.REJECTED
        decided = withdrawal.model_copy(
            update={"status": status, "decided_at": now, "decided_by": admin}
        )
        update = Update().set(status=status, decided_at=now, decided_by=admin).remove("pending")
        tx = Transaction(self._tables)
        self._expect_pending(tx, key, update, withdrawal_id)
        held = held_account(address)
        amount = withdrawal.amount
        if approve:
            entry = LedgerEntry(
                entry_id=f"withdrawal:{withdrawal_id}",
                kind=EntryKind.WITHDRAWAL,
                amount=amount,
                from_account=held,
                to_account=EXTERNAL,
                from_party=address,
                created_at=now,
            )
            change_balance(tx, address, 0, held_delta=-amount, withdrawn=amount, now=now)
        else:
            entry = release_entry(withdrawal, now)
            change_balance(tx, address, amount, held_delta=-amount, now=now)
        add_entry(tx, entry)
        tx.commit()
        return decided

    def _queue_payout(
        self, withdrawal: Withdrawal, payout: PayoutTerms, *, admin: str, now: int
    ) -> Withdrawal:
        """An admin's approval of an on-chain payout: queued, still held (no ledger move)."""
        fields = {
            **payout.fields(),
            "status": WithdrawalStatus.QUEUED,
            "approval": Approval.ADMIN,
            "decided_at": now,
            "decided_by": admin,
        }
        update = Update().set(**fields, pending=PAYOUT_QUEUE)
        tx = Transaction(self._tables)
        key = withdrawal_key(withdrawal.address, withdrawal.withdrawal_id)
        self._expect_pending(tx, key, update, withdrawal.withdrawal_id)
        tx.commit()
        return withdrawal.model_copy(update=fields)

    @staticmethod
    def _expect_pending(
        tx: Transaction, key: dict[str, str], update: Update, withdrawal_id: str
    ) -> None:
        tx.update(
            ACCOUNTS,
            key,
            update.expression,
            condition="#status = :expected",
            names=update.names(["status"]),
            values=update.values({"expected": WithdrawalStatus.PENDING}),
            on_condition_failed=lambda: DuplicateEntry(f"withdrawal {withdrawal_id} decided"),
        )

    def get_withdrawal(self, address: str, withdrawal_id: str) -> Withdrawal | None:
        key = withdrawal_key(address, withdrawal_id)
        return get_record(self._tables, ACCOUNTS, Withdrawal, key)

    def withdrawals(
        self, address: str, *, limit: int, cursor: str | None = None
    ) -> Page[Withdrawal]:
        items, next_cursor = query_page(
            self._tables,
            ACCOUNTS,
            key_condition="pk = :pk AND begins_with(sk, :prefix)",
            values={"pk": address, "prefix": _WITHDRAWAL_SK},
            partition=address,
            listing=_WITHDRAWAL_SK,
            limit=limit,
            cursor=cursor,
            newest_first=True,
        )
        return Page([Withdrawal.model_validate(i) for i in items], next_cursor)

    def pending_withdrawals(self, *, limit: int, cursor: str | None = None) -> Page[Withdrawal]:
        """The admin queue, oldest request first."""
        items, next_cursor = query_index(
            self._tables, ACCOUNTS, "pending", _PENDING, limit=limit, cursor=cursor
        )
        return Page([Withdrawal.model_validate(i) for i in items], next_cursor)

    @staticmethod
    def _withdrawal_item(withdrawal: Withdrawal) -> dict[str, Any]:
        key = withdrawal_key(withdrawal.address, withdrawal.withdrawal_id)
        return {**key, **withdrawal.model_dump(mode="json")}
