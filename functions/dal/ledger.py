"""The ledger: one immutable item per money movement, listed per party newest first."""

from __future__ import annotations

from typing import Any

from functions.dal import codec
from functions.dal.pagination import Page
from functions.dal.reads import get_record
from functions.dal.specs import LEDGER
from functions.dal.tables import Tables
from functions.dal.transact import Transaction
from functions.errors import DuplicateEntry
from functions.models.accounts import LedgerEntry

_SIDES = (("by_from_party", "from_party"), ("by_to_party", "to_party"))


def add_entry(tx: Transaction, entry: LedgerEntry) -> None:
    """Put ``entry`` in ``tx``; the same entry id twice is a DuplicateEntry (a retry)."""
    item = {**entry.model_dump(mode="json"), "ts_key": entry.ts_key}
    tx.put(
        LEDGER,
        item,
        condition="attribute_not_exists(entry_id)",
        on_condition_failed=lambda: DuplicateEntry(f"ledger entry {entry.entry_id} exists"),
    )


class LedgerRepository:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables

    def get(self, entry_id: str) -> LedgerEntry | None:
        return get_record(self._tables, LEDGER, LedgerEntry, {"entry_id": entry_id})

    def history(self, party: str, *, limit: int, cursor: str | None = None) -> Page[LedgerEntry]:
        """Entries where ``party`` pays or is paid, newest first.

        Two index Queries (one per side) merged by ``ts_key``; the cursor is the last
        ``ts_key`` returned, which both sides can resume from.
        """
        scope = (LEDGER.name, "history", party)
        before = self._tables.cursors.decode_position(cursor, scope)
        merged: dict[str, dict[str, Any]] = {}
        exhausted = True
        for index, attribute in _SIDES:
            items, more = self._side(index, attribute, party, before, limit)
            exhausted = exhausted and not more
            for item in items:
                merged[item["entry_id"]] = item
        ordered = sorted(merged.values(), key=lambda i: str(i["ts_key"]), reverse=True)
        page = ordered[:limit]
        has_more = len(ordered) > limit or not exhausted
        last = page[-1]["ts_key"] if page and has_more else None
        next_cursor = self._tables.cursors.encode(last, scope)
        return Page([LedgerEntry.model_validate(i) for i in page], next_cursor)

    def _side(
        self, index: str, attribute: str, party: str, before: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        condition = f"{attribute} = :party"
        values: dict[str, Any] = {"party": party}
        if before is not None:
            condition += " AND ts_key < :before"
            values["before"] = before
        response = self._tables.client.query(
            TableName=self._tables.name(LEDGER),
            IndexName=index,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=codec.values(**values),
            ScanIndexForward=False,
            Limit=limit,
        )
        items = [codec.from_item(i) for i in response.get("Items", [])]
        return items, "LastEvaluatedKey" in response
