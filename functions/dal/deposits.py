"""On-chain deposits: deposit addresses, the transfers seen to them, the watcher's cursor.

Items of the accounts table (money lives there; no new table):
- ``pk=<owner>, sk=DEPOSIT_ADDRESS``: the owner's deposit address and its index;
- ``pk=<deposit address>, sk=DEPOSIT_OWNER``: whose it is (the watcher's look-up, a
  BatchGetItem per page of logs);
- ``pk=DEPOSIT_INDEX, sk=COUNTER``: the last index given (an atomic ADD);
- ``pk=<owner>, sk=DEPOSIT#<tx hash>:<log index>``: a transfer seen; while pending it
  carries ``pending=chain_deposit`` and ``requested_at`` (when first seen), so the sparse
  ``pending`` index (the withdrawals' queue) lists the pending deposits under their own
  partition value;
- ``pk=DEPOSIT_WATCHER#<chain id>#<token>, sk=CURSOR``: the watcher's cursor.

Crediting a deposit is one transaction: the deposit item (only while pending in the
block it was confirmed in) + the ledger entry ``chain:<chain id>:<tx hash>:<log index>``
(unique: a second credit collides) + the balance (``deposited`` grows with it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from functions.dal import codec
from functions.dal.accounts import change_balance
from functions.dal.expressions import Update
from functions.dal.ledger import add_entry
from functions.dal.pagination import Page
from functions.dal.reads import batch_get, get_record, query_index_all, query_page
from functions.dal.specs import ACCOUNTS
from functions.dal.tables import Tables
from functions.dal.transact import Transaction, condition_failure_as
from functions.errors import ConcurrentUpdate, DuplicateEntry
from functions.models.accounts import EXTERNAL, DepositSource, EntryKind, LedgerEntry
from functions.models.deposits import (
    ChainDeposit,
    DepositAddress,
    DepositStatus,
    WatcherCursor,
)

_ADDRESS_SK = "DEPOSIT_ADDRESS"
_OWNER_SK = "DEPOSIT_OWNER"
_DEPOSIT_SK = "DEPOSIT#"
_COUNTER_KEY = {"pk": "DEPOSIT_INDEX", "sk": "COUNTER"}
PENDING_DEPOSIT = "chain_deposit"  # the deposits' partition of the ``pending`` index


def deposit_key(owner: str, deposit_id: str) -> dict[str, str]:
    return {"pk": owner, "sk": _DEPOSIT_SK + deposit_id}


def credit_entry_id(chain_id: int, deposit_id: str) -> str:
    return f"chain:{chain_id}:{deposit_id}"


class DepositRepository:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables

    # -- deposit addresses ---------------------------------------------------------------

    def address_of(self, owner: str) -> DepositAddress | None:
        key = {"pk": owner, "sk": _ADDRESS_SK}
        return get_record(self._tables, ACCOUNTS, DepositAddress, key)

    def next_index(self) -> int:
        """A new index, never given before (an atomic counter; the first is 0)."""
        response = self._tables.client.update_item(
            TableName=self._tables.name(ACCOUNTS),
            Key=codec.to_item(_COUNTER_KEY),
            UpdateExpression="ADD #n :one",
            ExpressionAttributeNames={"#n": "last_index"},
            ExpressionAttributeValues=codec.values(one=1),
            ReturnValues="UPDATED_NEW",
        )
        return int(codec.from_item(response["Attributes"])["last_index"]) - 1

    def assign(self, assigned: DepositAddress) -> None:
        """Record ``assigned`` and its reverse look-up; DuplicateEntry when the owner has
        one already (a concurrent first request: its index is left unused)."""
        record = assigned.model_dump(mode="json")
        tx = Transaction(self._tables)
        tx.put(
            ACCOUNTS,
            {"pk": assigned.owner, "sk": _ADDRESS_SK, **record},
            condition="attribute_not_exists(pk)",
            on_condition_failed=lambda: DuplicateEntry(f"{assigned.owner} has an address"),
        )
        tx.put(
            ACCOUNTS,
            {"pk": assigned.deposit_address, "sk": _OWNER_SK, **record},
            condition="attribute_not_exists(pk)",
            on_condition_failed=lambda: DuplicateEntry(f"{assigned.deposit_address} is taken"),
        )
        tx.commit()

    def owners_of(self, deposit_addresses: Sequence[str]) -> dict[str, DepositAddress]:
        """The deposit addresses among ``deposit_addresses`` (checksummed), by address."""
        unique = sorted(set(deposit_addresses))
        keys = [{"pk": address, "sk": _OWNER_SK} for address in unique]
        items = batch_get(self._tables, ACCOUNTS, keys)
        found = [DepositAddress.model_validate(item) for item in items]
        return {item.deposit_address: item for item in found}

    # -- deposits ------------------------------------------------------------------------

    def get(self, owner: str, deposit_id: str) -> ChainDeposit | None:
        return get_record(self._tables, ACCOUNTS, ChainDeposit, deposit_key(owner, deposit_id))

    def add_pending(self, deposit: ChainDeposit) -> bool:
        """Store a newly seen transfer as pending; False when it was seen before."""
        item = {
            **deposit_key(deposit.owner, deposit.deposit_id),
            **deposit.model_dump(mode="json"),
            "pending": PENDING_DEPOSIT,
            "requested_at": deposit.seen_at,
        }
        try:
            with condition_failure_as(lambda: DuplicateEntry(deposit.deposit_id)):
                self._tables.client.put_item(
                    TableName=self._tables.name(ACCOUNTS),
                    Item=codec.to_item(item),
                    ConditionExpression="attribute_not_exists(pk)",
                )
        except DuplicateEntry:
            return False
        return True

    def move(self, deposit: ChainDeposit, *, block_number: int, block_hash: str, now: int) -> bool:
        """The transfer was (re)mined in another block: pending there, with no
        confirmations counted yet. Only an uncredited, unheld deposit moves."""
        update = Update().set(
            block_number=block_number,
            block_hash=block_hash,
            status=DepositStatus.PENDING,
            confirmations=0,
            pending=PENDING_DEPOSIT,
            requested_at=now,
            updated_at=now,
        )
        return self._update_if(deposit, update, (DepositStatus.PENDING, DepositStatus.ORPHANED))

    def orphan(self, deposit: ChainDeposit, *, now: int) -> bool:
        """Its block is no longer canonical: out of the pending queue, nothing credited."""
        update = (
            Update()
            .set(status=DepositStatus.ORPHANED, confirmations=0, updated_at=now)
            .remove("pending", "requested_at")
        )
        return self._update_if(deposit, update, (DepositStatus.PENDING,), same_block=True)

    def set_confirmations(self, deposit: ChainDeposit, confirmations: int, *, now: int) -> bool:
        update = Update().set(confirmations=confirmations, updated_at=now)
        return self._update_if(deposit, update, (DepositStatus.PENDING,), same_block=True)

    def hold(self, deposit: ChainDeposit, *, confirmations: int, reason: str, now: int) -> bool:
        """Confirmed but not creditable as it is: out of the queue, kept for an operator."""
        update = (
            Update()
            .set(
                status=DepositStatus.HELD,
                confirmations=confirmations,
                reason=reason,
                updated_at=now,
            )
            .remove("pending", "requested_at")
        )
        return self._update_if(deposit, update, (DepositStatus.PENDING,), same_block=True)

    def credit(self, deposit: ChainDeposit, *, confirmations: int, now: int) -> LedgerEntry:
        """Credit a confirmed deposit once: the deposit (still pending in the same block),
        its ledger entry and the owner's balance in one transaction. DuplicateEntry when it
        was credited already, ConcurrentUpdate when it changed (moved, orphaned) since read."""
        if deposit.amount is None or deposit.amount <= 0:
            raise ValueError("only a deposit with a positive amount is credited")
        entry = LedgerEntry(
            entry_id=credit_entry_id(deposit.chain_id, deposit.deposit_id),
            kind=EntryKind.DEPOSIT,
            amount=deposit.amount,
            from_account=EXTERNAL,
            to_account=deposit.owner,
            to_party=deposit.owner,
            created_at=now,
            source=DepositSource.CHAIN,
        )
        update = (
            Update()
            .set(
                status=DepositStatus.CREDITED,
                confirmations=confirmations,
                credited_at=now,
                entry_id=entry.entry_id,
                updated_at=now,
            )
            .remove("pending", "requested_at")
        )
        tx = Transaction(self._tables)
        tx.update(
            ACCOUNTS,
            deposit_key(deposit.owner, deposit.deposit_id),
            update.expression,
            condition="#status = :pending AND #block_hash = :block_hash",
            names=update.names(["block_hash"]),
            values=update.values(
                {"pending": DepositStatus.PENDING, "block_hash": deposit.block_hash}
            ),
            on_condition_failed=lambda: ConcurrentUpdate(f"deposit {deposit.deposit_id}"),
        )
        add_entry(tx, entry)
        change_balance(tx, deposit.owner, deposit.amount, now=now, deposited=deposit.amount)
        tx.commit()
        return entry

    def pending(self) -> list[ChainDeposit]:
        """Every pending deposit, oldest seen first."""
        items = query_index_all(self._tables, ACCOUNTS, "pending", PENDING_DEPOSIT)
        return [ChainDeposit.model_validate(item) for item in items]

    def deposits(self, owner: str, *, limit: int, cursor: str | None = None) -> Page[ChainDeposit]:
        """An owner's deposits (pending, credited, orphaned, held), by transaction hash."""
        items, next_cursor = query_page(
            self._tables,
            ACCOUNTS,
            key_condition="pk = :pk AND begins_with(sk, :prefix)",
            values={"pk": owner, "prefix": _DEPOSIT_SK},
            partition=owner,
            listing=_DEPOSIT_SK,
            limit=limit,
            cursor=cursor,
        )
        return Page([ChainDeposit.model_validate(i) for i in items], next_cursor)

    def _update_if(
        self,
        deposit: ChainDeposit,
        update: Update,
        statuses: tuple[DepositStatus, ...],
        *,
        same_block: bool = False,
    ) -> bool:
        """Apply ``update`` when the deposit's status is one of ``statuses`` (and, with
        ``same_block``, it is still in the block read); False when it was not."""
        allowed = {f"s{i}": status for i, status in enumerate(statuses)}
        condition = "#status IN (" + ", ".join(f":{name}" for name in allowed) + ")"
        extra_names = ["status"]
        extra_values: dict[str, Any] = dict(allowed)
        if same_block:
            condition += " AND #block_hash = :read_block_hash"
            extra_names.append("block_hash")
            extra_values["read_block_hash"] = deposit.block_hash
        try:
            with condition_failure_as(lambda: ConcurrentUpdate(deposit.deposit_id)):
                self._tables.client.update_item(
                    TableName=self._tables.name(ACCOUNTS),
                    Key=codec.to_item(deposit_key(deposit.owner, deposit.deposit_id)),
                    UpdateExpression=update.expression,
                    ConditionExpression=condition,
                    ExpressionAttributeNames=update.names(extra_names),
                    ExpressionAttributeValues=codec.values(**update.values(extra_values)),
                )
        except ConcurrentUpdate:
            return False
        return True

    # -- the watcher's cursor --------------------------------------------------------------

    def cursor(self, chain_id: int, token_address: str) -> WatcherCursor | None:
        key = self._cursor_key(chain_id, token_address)
        return get_record(self._tables, ACCOUNTS, WatcherCursor, key)

    def save_cursor(self, cursor: WatcherCursor) -> None:
        key = self._cursor_key(cursor.chain_id, cursor.token_address)
        self._tables.client.put_item(
            TableName=self._tables.name(ACCOUNTS),
            Item=codec.to_item({**key, **cursor.model_dump(mode="json")}),
        )

    @staticmethod
    def _cursor_key(chain_id: int, token_address: str) -> dict[str, str]:
        return {"pk": f"DEPOSIT_WATCHER#{chain_id}#{token_address}", "sk": "CURSOR"}
