"""Shares: verified proof-of-work during a lease, counted on the lease as they arrive."""

from __future__ import annotations

from functions.dal.pagination import Page
from functions.dal.reads import query_index
from functions.dal.specs import LEASES, SHARES
from functions.dal.tables import Tables
from functions.dal.transact import Transaction
from functions.errors import DuplicateEntry, LeaseNotActive
from functions.models.blocks import Share
from functions.models.market import LeaseStatus


class ShareRepository:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables

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
        items, next_cursor = query_index(
            self._tables, SHARES, "by_lease", lease_id, limit=limit, cursor=cursor
        )
        return Page([Share.model_validate(i) for i in items], next_cursor)
