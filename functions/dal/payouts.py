"""On-chain payouts of withdrawals (issue #24): the payouts job's queue, the hot wallet's
nonce and daily outflow, and each payout's moves from queued to settled or failed.

Items of the accounts table (money lives there):
- the withdrawal (``pk=<address>, sk=WITHDRAWAL#<id>``, ``functions/dal/accounts.py``);
  while queued, signing or sent it carries ``pending=chain_withdrawal``: the payouts
  job's partition of the sparse ``pending`` index, oldest request first;
- ``pk=HOT_WALLET#<chain id>#<address>, sk=WALLET``: the next nonce and the last look;
- ``pk=HOT_WALLET#<chain id>#<address>, sk=OUTFLOW#<day>``: the micro-credits sent that day.

Every move is conditional on the status (and nonce) read, so a retried or concurrent job
moves nothing twice: taking a nonce is one transaction with the wallet's counter and the
day's outflow; settling is one with the ledger entry ``withdrawal:<id>`` (the chain's
transaction on it) and the balance; failing one with ``release:<id>``.
"""

from __future__ import annotations

from typing import Any

from functions.dal import codec
from functions.dal.accounts import (
    PAYOUT_QUEUE,
    change_balance,
    release_entry,
    withdrawal_key,
)
from functions.dal.expressions import Update
from functions.dal.ledger import add_entry
from functions.dal.reads import get_item, get_record, query_index_all
from functions.dal.specs import ACCOUNTS
from functions.dal.tables import Tables
from functions.dal.transact import Transaction, condition_failure_as
from functions.errors import ConcurrentUpdate, DomainError
from functions.models.accounts import (
    EXTERNAL,
    EntryKind,
    LedgerEntry,
    Withdrawal,
    WithdrawalStatus,
    held_account,
)
from functions.models.payouts import DailyOutflow, HotWallet

_WALLET_SK = "WALLET"
_OUTFLOW_SK = "OUTFLOW#"


class DailyLimitReached(DomainError):
    """The hot wallet's outflow for the day would pass its limit."""

    code = "daily_limit_reached"
    http_status = 409


def _wallet_pk(chain_id: int, address: str) -> str:
    return f"HOT_WALLET#{chain_id}#{address}"


def settle_entry_id(withdrawal_id: str) -> str:
    return f"withdrawal:{withdrawal_id}"


class PayoutRepository:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables

    # -- the hot wallet ------------------------------------------------------------------

    def wallet(self, chain_id: int, address: str) -> HotWallet | None:
        key = {"pk": _wallet_pk(chain_id, address), "sk": _WALLET_SK}
        return get_record(self._tables, ACCOUNTS, HotWallet, key)

    def create_wallet(self, chain_id: int, address: str, *, next_nonce: int, now: int) -> HotWallet:
        """The wallet's first record, its nonce from the chain; the stored one when it
        exists already (a concurrent first run)."""
        wallet = HotWallet(
            chain_id=chain_id,
            address=address,
            next_nonce=next_nonce,
            created_at=now,
            updated_at=now,
        )
        item = {"pk": _wallet_pk(chain_id, address), "sk": _WALLET_SK}
        item.update(wallet.model_dump(mode="json"))
        try:
            with condition_failure_as(lambda: ConcurrentUpdate(address)):
                self._tables.client.put_item(
                    TableName=self._tables.name(ACCOUNTS),
                    Item=codec.to_item(item),
                    ConditionExpression="attribute_not_exists(pk)",
                )
        except ConcurrentUpdate:
            stored = self.wallet(chain_id, address)
            if stored is None:
                raise
            return stored
        return wallet

    def record_look(
        self,
        wallet: HotWallet,
        *,
        head: int,
        token_units: int,
        gas_wei: int,
        chain_nonce: int,
        alarms: tuple[str, ...],
        now: int,
    ) -> None:
        """What the job saw of the wallet this run (never the nonce: only payouts move it)."""
        update = Update().set(
            head=head,
            token_units=str(token_units),
            gas_wei=str(gas_wei),
            chain_nonce=chain_nonce,
            alarms=alarms,
            checked_at=now,
        )
        key = {"pk": _wallet_pk(wallet.chain_id, wallet.address), "sk": _WALLET_SK}
        self._tables.client.update_item(
            TableName=self._tables.name(ACCOUNTS),
            Key=codec.to_item(key),
            UpdateExpression=update.expression,
            ExpressionAttributeNames=update.names(),
            ExpressionAttributeValues=codec.values(**update.values()),
        )
        latest = {"pk": _wallet_pk(wallet.chain_id, "LATEST"), "sk": _WALLET_SK}
        self._tables.client.put_item(
            TableName=self._tables.name(ACCOUNTS),
            Item=codec.to_item({**latest, "address": wallet.address, "checked_at": now}),
        )

    def last_wallet(self, chain_id: int) -> HotWallet | None:
        """The hot wallet the payouts job last looked at on ``chain_id`` (the admins' view:
        the API does not know the KMS key's address)."""
        pointer = get_item(
            self._tables, ACCOUNTS, {"pk": _wallet_pk(chain_id, "LATEST"), "sk": _WALLET_SK}
        )
        return self.wallet(chain_id, str(pointer["address"])) if pointer else None

    def move_nonce(self, wallet: HotWallet, next_nonce: int, *, now: int) -> None:
        """An operator's resync: the wallet's next nonce becomes the chain's (only forward,
        and only from the value read: ConcurrentUpdate otherwise)."""
        if next_nonce <= wallet.next_nonce:
            raise ValueError("a nonce only moves forward")
        update = Update().set(next_nonce=next_nonce, updated_at=now, resynced_at=now)
        tx = Transaction(self._tables)
        tx.update(
            ACCOUNTS,
            {"pk": _wallet_pk(wallet.chain_id, wallet.address), "sk": _WALLET_SK},
            update.expression,
            condition="#next_nonce = :read",
            names=update.names(),
            values=update.values({"read": wallet.next_nonce}),
            on_condition_failed=lambda: ConcurrentUpdate(f"nonce of {wallet.address}"),
        )
        tx.commit()

    def outflow(self, chain_id: int, address: str, day: str) -> DailyOutflow:
        key = {"pk": _wallet_pk(chain_id, address), "sk": _OUTFLOW_SK + day}
        found = get_record(self._tables, ACCOUNTS, DailyOutflow, key)
        return found if found is not None else DailyOutflow(day=day)

    # -- the queue -----------------------------------------------------------------------

    def open_payouts(self) -> list[Withdrawal]:
        """Every queued, signing and sent payout, oldest request first."""
        items = query_index_all(self._tables, ACCOUNTS, "pending", PAYOUT_QUEUE)
        return [Withdrawal.model_validate(item) for item in items]

    def get(self, address: str, withdrawal_id: str) -> Withdrawal | None:
        key = withdrawal_key(address, withdrawal_id)
        return get_record(self._tables, ACCOUNTS, Withdrawal, key)

    # -- moves ---------------------------------------------------------------------------

    def take_nonce(
        self,
        withdrawal: Withdrawal,
        wallet: HotWallet,
        *,
        gas_limit: int,
        max_fee_per_gas: int,
        max_priority_fee_per_gas: int,
        day: str,
        daily_limit: int,
        now: int,
    ) -> Withdrawal:
        """Queued → signing with the wallet's next nonce, in one transaction with the
        counter (which must still be at that nonce: ConcurrentUpdate otherwise) and the
        day's outflow (DailyLimitReached when this payout would pass ``daily_limit``)."""
        nonce = wallet.next_nonce
        fields: dict[str, Any] = {
            "status": WithdrawalStatus.SIGNING,
            "hot_wallet": wallet.address,
            "nonce": nonce,
            "gas_limit": gas_limit,
            "max_fee_per_gas": max_fee_per_gas,
            "max_priority_fee_per_gas": max_priority_fee_per_gas,
        }
        tx = Transaction(self._tables)
        payout = Update().set(**fields)
        tx.update(
            ACCOUNTS,
            withdrawal_key(withdrawal.address, withdrawal.withdrawal_id),
            payout.expression,
            condition="#status = :queued",
            names=payout.names(),
            values=payout.values({"queued": WithdrawalStatus.QUEUED}),
            on_condition_failed=lambda: ConcurrentUpdate(f"payout {withdrawal.withdrawal_id}"),
        )
        pk = _wallet_pk(wallet.chain_id, wallet.address)
        counter = Update().set(next_nonce=nonce + 1, updated_at=now)
        tx.update(
            ACCOUNTS,
            {"pk": pk, "sk": _WALLET_SK},
            counter.expression,
            condition="#next_nonce = :taken",
            names=counter.names(),
            values=counter.values({"taken": nonce}),
            on_condition_failed=lambda: ConcurrentUpdate(f"nonce {nonce} of {wallet.address}"),
        )
        spent = Update().set(day=day).add(amount=withdrawal.amount, payouts=1)
        room = daily_limit - withdrawal.amount
        tx.update(
            ACCOUNTS,
            {"pk": pk, "sk": _OUTFLOW_SK + day},
            spent.expression,
            condition="attribute_not_exists(#amount) OR #amount <= :room",
            names=spent.names(),
            values=spent.values({"room": room}),
            on_condition_failed=lambda: DailyLimitReached(
                f"the hot wallet's outflow on {day} would pass {daily_limit} micro-credits"
            ),
        )
        if room < 0:
            raise DailyLimitReached(f"{withdrawal.amount} is over the daily limit {daily_limit}")
        tx.commit()
        return withdrawal.model_copy(update=fields)

    def mark_sent(
        self,
        withdrawal: Withdrawal,
        *,
        raw_tx: str,
        tx_hash: str,
        max_fee_per_gas: int,
        max_priority_fee_per_gas: int,
        now: int,
    ) -> Withdrawal:
        """A signed transaction for the payout's nonce, recorded before it is broadcast (a
        crash after the broadcast still knows its hash). ConcurrentUpdate when the payout
        is no longer signing/sent at that nonce."""
        fields: dict[str, Any] = {
            "status": WithdrawalStatus.SENT,
            "raw_tx": raw_tx,
            "tx_hash": tx_hash,
            "max_fee_per_gas": max_fee_per_gas,
            "max_priority_fee_per_gas": max_priority_fee_per_gas,
            "broadcast_at": now,
            "sent_at": withdrawal.sent_at if withdrawal.sent_at is not None else now,
        }
        hashes = (
            withdrawal.tx_hashes
            if tx_hash in withdrawal.tx_hashes
            else [*withdrawal.tx_hashes, tx_hash]
        )
        update = Update().set(**fields, tx_hashes=hashes).add(broadcasts=1)
        self._update_open(withdrawal, update)
        return withdrawal.model_copy(
            update={**fields, "tx_hashes": hashes, "broadcasts": withdrawal.broadcasts + 1}
        )

    def note_broadcast(self, withdrawal: Withdrawal, *, now: int) -> None:
        """The same signed transaction sent again (the node may have dropped it)."""
        self._update_open(withdrawal, Update().set(broadcast_at=now).add(broadcasts=1))

    def set_confirmations(
        self,
        withdrawal: Withdrawal,
        *,
        tx_hash: str | None,
        block_number: int | None,
        block_hash: str | None,
        confirmations: int,
    ) -> None:
        update = Update().set(
            confirmations=confirmations,
            block_number=block_number,
            block_hash=block_hash,
            mined_tx_hash=tx_hash,
        )
        self._update_open(withdrawal, update)

    def settle(
        self,
        withdrawal: Withdrawal,
        *,
        tx_hash: str,
        block_number: int,
        block_hash: str,
        confirmations: int,
        now: int,
    ) -> LedgerEntry:
        """Sent → settled with the ledger entry ``withdrawal:<id>`` naming the chain's
        transaction, and the held amount out of the platform, in one transaction.
        ConcurrentUpdate when the payout is no longer sent at that nonce (settled by an
        earlier run whose answer was lost, or changed)."""
        if withdrawal.chain_id is None:
            raise ValueError("only an on-chain payout settles on chain")
        entry = LedgerEntry(
            entry_id=settle_entry_id(withdrawal.withdrawal_id),
            kind=EntryKind.WITHDRAWAL,
            amount=withdrawal.amount,
            from_account=held_account(withdrawal.address),
            to_account=EXTERNAL,
            from_party=withdrawal.address,
            created_at=now,
            chain_id=withdrawal.chain_id,
            tx_hash=tx_hash,
        )
        update = (
            Update()
            .set(
                status=WithdrawalStatus.SETTLED,
                tx_hash=tx_hash,
                block_number=block_number,
                block_hash=block_hash,
                confirmations=confirmations,
                settled_at=now,
                entry_id=entry.entry_id,
            )
            .remove("pending", "raw_tx")
        )
        tx = Transaction(self._tables)
        self._open_update(tx, withdrawal, update, (WithdrawalStatus.SENT,))
        add_entry(tx, entry)
        amount = withdrawal.amount
        change_balance(tx, withdrawal.address, 0, held_delta=-amount, withdrawn=amount, now=now)
        tx.commit()
        return entry

    def fail(
        self,
        withdrawal: Withdrawal,
        *,
        reason: str,
        now: int,
        tx_hash: str | None = None,
        block_number: int | None = None,
        block_hash: str | None = None,
    ) -> LedgerEntry:
        """Failed: the held amount back to the balance (``release:<id>``), once. Only a
        payout whose nonce cannot leave a gap fails: a queued one (no nonce taken), or one
        whose nonce the chain has used (its transaction mined and reverted, or displaced by
        another transaction: the caller has checked)."""
        entry = release_entry(withdrawal, now)
        update = (
            Update()
            .set(
                status=WithdrawalStatus.FAILED,
                failure=reason,
                tx_hash=tx_hash,
                block_number=block_number,
                block_hash=block_hash,
                settled_at=now,
                entry_id=entry.entry_id,
            )
            .remove("pending", "raw_tx")
        )
        tx = Transaction(self._tables)
        self._open_update(
            tx,
            withdrawal,
            update,
            (WithdrawalStatus.QUEUED, WithdrawalStatus.SIGNING, WithdrawalStatus.SENT),
        )
        add_entry(tx, entry)
        change_balance(
            tx, withdrawal.address, withdrawal.amount, held_delta=-withdrawal.amount, now=now
        )
        tx.commit()
        return entry

    # -- conditions ----------------------------------------------------------------------

    @staticmethod
    def _open_update(
        tx: Transaction,
        withdrawal: Withdrawal,
        update: Update,
        statuses: tuple[WithdrawalStatus, ...],
    ) -> None:
        """``update`` in ``tx`` if the payout is still in one of ``statuses`` at its nonce."""
        allowed = {f"s{i}": status for i, status in enumerate(statuses)}
        condition = "#status IN (" + ", ".join(f":{name}" for name in allowed) + ")"
        extra_names = ["status", "nonce"]
        values: dict[str, Any] = dict(allowed)
        if withdrawal.nonce is None:
            condition += " AND attribute_not_exists(#nonce)"
        else:
            condition += " AND #nonce = :read_nonce"
            values["read_nonce"] = withdrawal.nonce
        tx.update(
            ACCOUNTS,
            withdrawal_key(withdrawal.address, withdrawal.withdrawal_id),
            update.expression,
            condition=condition,
            names=update.names(extra_names),
            values=update.values(values),
            on_condition_failed=lambda: ConcurrentUpdate(f"payout {withdrawal.withdrawal_id}"),
        )

    def _update_open(self, withdrawal: Withdrawal, update: Update) -> None:
        tx = Transaction(self._tables)
        self._open_update(tx, withdrawal, update, (WithdrawalStatus.SIGNING, WithdrawalStatus.SENT))
        tx.commit()
