"""Blocks: every reported block with its verdict; verified ones credit their lease.

Only a verified report claims a hash (the item keyed by the hash itself, written once):
a replay of it is a duplicate. A refused report never claims anything: it is kept for
audit under a key of its own, ``refused#<hash>#<digest of the report>`` (the real hash in
``reported_hash``), in the worker's and the lease's lists but never in ``recent`` or an
account's, so a corrupted copy reported first (a wrong key, a wrong account) cannot block
the true report that follows, and the same refused report delivered twice is stored once.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from functions.dal import codec
from functions.dal.pagination import Page
from functions.dal.reads import get_item, query_index, query_page
from functions.dal.specs import BLOCKS, LEASES
from functions.dal.tables import Tables
from functions.dal.transact import Transaction, condition_failure_as
from functions.errors import DuplicateEntry, InvalidInput, NotFound
from functions.models.blocks import NETWORK_FIELDS, Block

# How far back ``recent`` looks: today's partition and this many earlier days.
RECENT_DAYS = 30

# A ``recent`` cursor is the last ts_key returned: 12 digits of time, '#', the hash.
_POSITION = re.compile(r"(\d{12})#.+")
# What its cursors are signed for: the one public listing of every verified block.
_RECENT_SCOPE = (BLOCKS.name, "recent", "recent-blocks")
_REFUSED_PREFIX = "refused#"
# Read back from the network's verdicts, never stored on the block item.
_NOT_STORED = NETWORK_FIELDS | {"network_accepted"}


def refused_key(block: Block) -> str:
    """The item key of a refused report: the same report always gets the same one."""
    report = [
        block.worker_id,
        block.lease_id or "",
        block.hash,
        block.key,
        block.account,
        block.difficulty,
        block.found_at,
    ]
    digest = hashlib.sha256(json.dumps(report).encode()).hexdigest()[:24]
    return f"{_REFUSED_PREFIX}{block.hash}#{digest}"


def block_of(item: dict[str, Any]) -> Block:
    """The block an item holds (a refused report's item key is not its hash)."""
    if "reported_hash" in item:
        item = {**item, "hash": item["reported_hash"]}
    return Block.model_validate(item)


def utc_day(ts: int) -> str:
    """The ``recent`` index partition of a time: its UTC date, ``YYYY-MM-DD``."""
    return _date(ts).isoformat()


def _date(ts: int) -> date:
    return datetime.fromtimestamp(ts, UTC).date()


class BlockRepository:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables
        self._name = tables.name(BLOCKS)

    def record(self, block: Block) -> bool:
        """Store ``block``; False if this very report was recorded already (a replay).

        A verified block claims its hash: False when the hash was claimed before. A refused
        one is kept under its own key and claims nothing. The index attributes are derived
        here: ``day`` and ``credited_account`` only on verified blocks, so refused ones
        never show in ``recent`` or an account's list.
        """
        item: dict[str, Any] = {
            **block.model_dump(mode="json", exclude=set(_NOT_STORED)),
            "ts_key": block.ts_key,
        }
        if not block.verified:
            item["hash"] = refused_key(block)
            item["reported_hash"] = block.hash
        else:
            item["day"] = utc_day(block.recorded_at)
            item["credited_account"] = block.account
        lease_id = block.lease_id
        if not block.verified or lease_id is None:
            # One conditional PutItem: half what a one-item transaction costs.
            try:
                with condition_failure_as(lambda: DuplicateEntry(f"block {block.hash}")):
                    self._tables.client.put_item(
                        TableName=self._name,
                        Item=codec.to_item(item),
                        ConditionExpression="attribute_not_exists(#hash)",
                        ExpressionAttributeNames={"#hash": "hash"},
                    )
            except DuplicateEntry:
                return False
            return True
        transaction = Transaction(self._tables).put(
            BLOCKS,
            item,
            condition="attribute_not_exists(#hash)",
            names={"#hash": "hash"},
            on_condition_failed=lambda: DuplicateEntry(f"block {block.hash} already recorded"),
        )
        # Same transaction: a replay can never count the block twice.
        transaction.update(
            LEASES,
            {"lease_id": lease_id},
            "ADD #blocks :one",
            condition="attribute_exists(#lease_id)",
            names={"#blocks": "blocks", "#lease_id": "lease_id"},
            values={"one": 1},
            on_condition_failed=lambda: NotFound(f"lease {lease_id} not found"),
        )
        try:
            transaction.commit()
        except DuplicateEntry:
            return False
        return True

    def get(self, hash_b64: str) -> Block | None:
        """The verified block that claimed ``hash_b64``, if any."""
        item = get_item(self._tables, BLOCKS, {"hash": hash_b64})
        return block_of(item) if item else None

    def refused(self, worker_id: str, hash_b64: str) -> list[Block]:
        """The worker's refused reports of ``hash_b64``, newest first (audit)."""
        found: list[Block] = []
        cursor: str | None = None
        while True:
            page = self.by_worker(worker_id, limit=100, cursor=cursor)
            found += [b for b in page.items if not b.verified and b.hash == hash_b64]
            if page.cursor is None:
                return found
            cursor = page.cursor

    def recent(self, *, now: int, limit: int, cursor: str | None = None) -> Page[Block]:
        """Verified blocks, newest first, walking back one UTC day partition at a time.

        The cursor is a position (the last ts_key returned), not a LastEvaluatedKey, so
        a page can end in one day's partition and the next one start in an earlier day.
        """
        if limit < 1:
            raise InvalidInput("limit must be at least 1")
        position = self._tables.cursors.decode_position(cursor, _RECENT_SCOPE)
        day = _date(now)
        if position is not None:
            match = _POSITION.fullmatch(position)
            if match is None:
                raise InvalidInput("cursor is not valid for this listing")
            day = _date(int(match[1]))
        oldest = _date(now) - timedelta(days=RECENT_DAYS)
        blocks: list[Block] = []
        while len(blocks) < limit and day >= oldest:
            blocks += self._recent_on(day.isoformat(), position, limit - len(blocks))
            position = None  # every item of an earlier day is older than the position
            day -= timedelta(days=1)
        next_cursor = (
            self._tables.cursors.encode(blocks[-1].ts_key, _RECENT_SCOPE)
            if len(blocks) >= limit
            else None
        )
        return Page(blocks, next_cursor)

    def recorded_between(self, start: int, end: int, *, leased_only: bool = False) -> list[Block]:
        """Verified blocks recorded in [start, end), oldest first (the network job's
        confirmations): the ``recent`` partitions of the days the span touches. With
        ``leased_only`` DynamoDB leaves out blocks mined for no lease."""
        if end <= start:
            return []
        low, high = f"{start:012d}", f"{end - 1:012d}#~"  # '~' sorts after base64
        blocks: list[Block] = []
        day = _date(start)
        while day <= _date(end - 1):
            cursor: str | None = None
            while True:
                items, cursor = query_page(
                    self._tables,
                    BLOCKS,
                    index="recent",
                    key_condition="#day = :day AND #ts_key BETWEEN :low AND :high",
                    names={"#day": "day", "#ts_key": "ts_key"},
                    values={"day": day.isoformat(), "low": low, "high": high},
                    partition=day.isoformat(),
                    listing="recorded_between",
                    limit=200,
                    cursor=cursor,
                    filter_expression="attribute_exists(lease_id)" if leased_only else None,
                )
                blocks += [block_of(item) for item in items]
                if cursor is None:
                    break
            day += timedelta(days=1)
        return blocks

    def _recent_on(self, day: str, before: str | None, limit: int) -> list[Block]:
        key_condition = "#day = :day"
        names = {"#day": "day"}
        values: dict[str, Any] = {"day": day}
        if before is not None:
            key_condition += " AND #ts_key < :before"
            names["#ts_key"] = "ts_key"
            values["before"] = before
        blocks: list[Block] = []
        page_cursor: str | None = None
        while len(blocks) < limit:
            items, page_cursor = query_page(
                self._tables,
                BLOCKS,
                index="recent",
                key_condition=key_condition,
                names=names,
                values=values,
                partition=day,
                limit=limit - len(blocks),
                cursor=page_cursor,
                newest_first=True,
            )
            blocks += [block_of(i) for i in items]
            if page_cursor is None:
                break
        return blocks

    def by_worker(self, worker_id: str, *, limit: int, cursor: str | None = None) -> Page[Block]:
        """Every block the worker reported, rejected ones included, newest first."""
        return self._newest_first("by_worker", worker_id, limit, cursor)

    def by_lease(self, lease_id: str, *, limit: int, cursor: str | None = None) -> Page[Block]:
        """Every block reported under the lease, rejected ones included, newest first."""
        return self._newest_first("by_lease", lease_id, limit, cursor)

    def by_account(self, address: str, *, limit: int, cursor: str | None = None) -> Page[Block]:
        """Verified blocks mined for ``address``, newest first."""
        return self._newest_first("by_account", address, limit, cursor)

    def count_verified_by_worker(self, worker_id: str) -> int:
        """How many verified blocks the worker found (reputation); counts, reads no items."""
        kwargs: dict[str, Any] = {
            "TableName": self._name,
            "IndexName": "by_worker",
            "KeyConditionExpression": "#worker_id = :worker_id",
            "FilterExpression": "#verified = :true",
            "ExpressionAttributeNames": {"#worker_id": "worker_id", "#verified": "verified"},
            "ExpressionAttributeValues": codec.values(worker_id=worker_id, true=True),
            "Select": "COUNT",
        }
        count = 0
        while True:
            response = self._tables.client.query(**kwargs)
            count += response["Count"]
            last = response.get("LastEvaluatedKey")
            if not last:
                return count
            kwargs["ExclusiveStartKey"] = last

    def _newest_first(self, index: str, value: str, limit: int, cursor: str | None) -> Page[Block]:
        items, next_cursor = query_index(
            self._tables, BLOCKS, index, value, limit=limit, cursor=cursor, newest_first=True
        )
        return Page([block_of(i) for i in items], next_cursor)
