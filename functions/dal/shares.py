"""Shares: verified proof-of-work during a lease, counted on the lease as they arrive."""

from __future__ import annotations

import math
from typing import Any

from functions.dal import codec
from functions.dal.pagination import Page
from functions.dal.reads import query_page
from functions.dal.specs import LEASES, SHARES
from functions.dal.tables import Tables
from functions.dal.transact import Transaction
from functions.errors import DuplicateEntry, LeaseNotActive
from functions.models.blocks import Share, ts_key_of
from functions.models.market import LeaseStatus


class ShareRepository:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables
        self._name = tables.name(SHARES)

    def record(self, share: Share) -> None:
        """Store the share and add its work to the lease, or neither.

        Raises DuplicateEntry for a share already recorded (checked first, so a replay
        says so even after the lease ended) and LeaseNotActive when the lease is settled,
        unknown, or ended before the share was found.
        """
        item = {**share.model_dump(mode="json"), "ts_key": share.ts_key}
        Transaction(self._tables).put(
            SHARES,
            item,
            condition="attribute_not_exists(#hash)",
            names={"#hash": "hash"},
            on_condition_failed=lambda: DuplicateEntry(f"share {share.hash} already recorded"),
        ).update(
            LEASES,
            {"lease_id": share.lease_id},
            "ADD #shares :one, #share_work :work",
            condition="#status = :active AND #ends_at >= :found_at",
            names={
                "#shares": "shares",
                "#share_work": "share_work",
                "#status": "status",
                "#ends_at": "ends_at",
            },
            values={
                "one": 1,
                "work": share.work,
                "active": LeaseStatus.ACTIVE,
                "found_at": share.found_at,
            },
            on_condition_failed=lambda: LeaseNotActive(f"lease {share.lease_id} is not active"),
        ).commit()

    def by_lease(self, lease_id: str, *, limit: int, cursor: str | None = None) -> Page[Share]:
        """The lease's shares, oldest first."""
        items, next_cursor = query_page(
            self._tables,
            SHARES,
            index="by_lease",
            key_condition="#lease_id = :lease_id",
            names={"#lease_id": "lease_id"},
            values={"lease_id": lease_id},
            partition=lease_id,
            limit=limit,
            cursor=cursor,
        )
        return Page([Share.model_validate(i) for i in items], next_cursor)

    def work_between(self, lease_id: str, start: int, end: int) -> tuple[int, float]:
        """How many shares were found in [start, end] and the hashes they stand for."""
        if start > end:
            return 0, 0.0  # an empty window (DynamoDB rejects BETWEEN with low > high)
        # ts_key is "<found_at>#<hash>"; '$' sorts right after '#', so `end` is included.
        low, high = ts_key_of(start, ""), f"{end:012d}$"
        kwargs: dict[str, Any] = {
            "TableName": self._name,
            "IndexName": "by_lease",
            "KeyConditionExpression": "#lease_id = :lease_id AND #ts_key BETWEEN :low AND :high",
            "ProjectionExpression": "#work",
            "ExpressionAttributeNames": {
                "#lease_id": "lease_id",
                "#ts_key": "ts_key",
                "#work": "work",
            },
            "ExpressionAttributeValues": codec.values(lease_id=lease_id, low=low, high=high),
        }
        works: list[float] = []
        while True:
            response = self._tables.client.query(**kwargs)
            works += [float(codec.from_item(i)["work"]) for i in response.get("Items", [])]
            last = response.get("LastEvaluatedKey")
            if not last:
                return len(works), math.fsum(works)
            kwargs["ExclusiveStartKey"] = last
