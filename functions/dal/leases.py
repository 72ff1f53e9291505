"""Leases: created with their escrow in one transaction, settled exactly once in another.

Invariant kept by both transactions: the money a lease holds (``escrow``) plus every balance
equals deposits minus withdrawals. Renting moves ``max_cost`` from the renter into the
lease's escrow; settlement splits the whole escrow into payout, fee and refund.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from functions.dal import codec
from functions.dal.accounts import change_balance
from functions.dal.expressions import Update
from functions.dal.ledger import add_entry
from functions.dal.listings import add_unchanged_write, free_worker, open_index_update
from functions.dal.pagination import Page
from functions.dal.reads import Records, get_record, query_index, query_page
from functions.dal.specs import LEASES, LISTINGS
from functions.dal.tables import Tables
from functions.dal.transact import Transaction, condition_failure_as
from functions.errors import (
    AlreadyExists,
    AlreadySettled,
    ConcurrentUpdate,
    InsufficientFunds,
    InvalidInput,
    LeaseNotActive,
    ListingUnavailable,
)
from functions.models.accounts import TREASURY, EntryKind, LedgerEntry, escrow_account
from functions.models.market import Lease, LeaseStatus, Listing, ListingStatus
from functions.models.money import require_amount

# The partition of the sparse ``due`` index: every unsettled lease, ordered by end time.
DUE_SHARD = "due"


def lease_item(lease: Lease) -> dict[str, Any]:
    item = lease.model_dump(mode="json")
    if lease.is_active:
        item["due_shard"] = DUE_SHARD
        item["active_worker_id"] = lease.worker_id
    return item


def _ids(keys: list[dict[str, Any]]) -> list[str]:
    """The lease ids of a keys-only index's items."""
    return [k["lease_id"] for k in keys]


class LeaseRepository(Records[Lease]):
    def __init__(self, tables: Tables) -> None:
        super().__init__(tables, LEASES, Lease, "lease")
        self._name = tables.name(LEASES)

    # -- creation ---------------------------------------------------------------------

    def create(self, lease: Lease, listing: Listing) -> Lease:
        """Rent ``listing``: one transaction that creates the lease, escrows its maximum cost
        out of the renter's balance and marks the listing leased — all, or nothing.

        Errors: AlreadyExists (this lease id was created already: a retry), ListingUnavailable
        (leased, paused, delisted or its terms changed since it was read), InsufficientFunds.
        """
        if lease.escrow != lease.max_cost or lease.status is not LeaseStatus.ACTIVE:
            raise InvalidInput("a new lease is active and escrows exactly its maximum cost")
        if (lease.listing_id, lease.worker_id) != (listing.listing_id, listing.worker_id):
            raise InvalidInput("the lease does not belong to this listing")
        tx = Transaction(self._tables)
        tx.put(
            LEASES,
            lease_item(lease),
            condition="attribute_not_exists(lease_id)",
            on_condition_failed=lambda: AlreadyExists(f"lease {lease.lease_id} exists"),
        )
        claim = Update().set(status=ListingStatus.LEASED, lease_id=lease.lease_id)
        claim.set(updated_at=lease.created_at).add(version=1).remove("open_market", "open_gpu")
        tx.update(
            LISTINGS,
            {"listing_id": listing.listing_id},
            claim.expression,
            # The renter agreed to the terms it read: they must still hold.
            condition="#status = :open AND #version = :was_version",
            names=claim.names(),
            values=claim.values({"open": ListingStatus.OPEN, "was_version": listing.version}),
            on_condition_failed=lambda: ListingUnavailable(
                f"listing {listing.listing_id} is no longer available on these terms"
            ),
        )
        if lease.max_cost > 0:
            change_balance(
                tx,
                lease.renter,
                -lease.max_cost,
                now=lease.created_at,
                on_insufficient=lambda: InsufficientFunds(
                    f"renting needs {lease.max_cost} micro-credits in escrow"
                ),
            )
            add_entry(
                tx,
                LedgerEntry(
                    entry_id=f"escrow:{lease.lease_id}",
                    kind=EntryKind.ESCROW,
                    amount=lease.max_cost,
                    from_account=lease.renter,
                    to_account=escrow_account(lease.lease_id),
                    from_party=lease.renter,
                    lease_id=lease.lease_id,
                    created_at=lease.created_at,
                ),
            )
        tx.commit()
        return lease

    # -- reads --------------------------------------------------------------------------

    def list_by_renter(self, renter: str, *, limit: int, cursor: str | None = None) -> Page[Lease]:
        return self._list("by_renter", renter, limit, cursor)

    def list_by_provider(
        self, provider: str, *, limit: int, cursor: str | None = None
    ) -> Page[Lease]:
        return self._list("by_provider", provider, limit, cursor)

    def list_by_worker(
        self, worker_id: str, *, limit: int, cursor: str | None = None
    ) -> Page[Lease]:
        return self._list("by_worker", worker_id, limit, cursor)

    def active_for_worker(self, worker_id: str) -> Lease | None:
        keys, _ = query_index(self._tables, LEASES, "by_active_worker", worker_id, limit=2)
        leases = [self.get(lease_id) for lease_id in _ids(keys)]  # strongly consistent reads
        active = [lease for lease in leases if lease is not None and lease.is_active]
        return active[0] if active else None

    def due_page(self, now: int, *, limit: int, cursor: str | None = None) -> Page[Lease]:
        """One page of due leases and the cursor to the next: a run walks the index once,
        so a lease it settled (or left for later) is not read again in the same run."""
        keys, next_cursor = query_page(
            self._tables,
            LEASES,
            index="due",
            key_condition="due_shard = :shard AND ends_at <= :now",
            values={"shard": DUE_SHARD, "now": now},
            partition=DUE_SHARD,
            limit=limit,
            cursor=cursor,
        )
        leases = [lease for lease in self.get_many(_ids(keys)) if lease.is_active]
        return Page(leases, next_cursor)

    def active(self, *, limit: int) -> list[Lease]:
        """Up to ``limit`` active leases, those ending last first (the price index)."""
        keys, _ = query_index(
            self._tables, LEASES, "due", DUE_SHARD, limit=limit, newest_first=True
        )
        return [lease for lease in self.get_many(_ids(keys)) if lease.is_active]

    def _list(self, index: str, value: str, limit: int, cursor: str | None) -> Page[Lease]:
        keys, next_cursor = query_index(
            self._tables, LEASES, index, value, limit=limit, cursor=cursor, newest_first=True
        )
        return Page(self.get_many(_ids(keys)), next_cursor)

    # -- changes ------------------------------------------------------------------------

    def stop(self, lease_id: str, *, renter: str, now: int) -> Lease:
        """End an active lease early: it becomes due now and settles on the next run."""
        update = Update().set(ends_at=now, stopped_at=now)
        with condition_failure_as(lambda: LeaseNotActive(f"lease {lease_id} is not active")):
            response = self._tables.client.update_item(
                TableName=self._name,
                Key={"lease_id": {"S": lease_id}},
                UpdateExpression=update.expression,
                ConditionExpression="#status = :active AND renter = :renter AND ends_at > :now",
                ExpressionAttributeNames=update.names(("status",)),
                ExpressionAttributeValues=codec.values(
                    **update.values({"active": LeaseStatus.ACTIVE, "renter": renter, "now": now})
                ),
                ReturnValues="ALL_NEW",
            )
        return Lease.model_validate(codec.from_item(response["Attributes"]))

    def settle(self, lease: Lease, *, payout: int, fee: int, refund: int, now: int) -> Lease:
        """Split the escrow — payout to the provider, fee to the treasury, the rest back to
        the renter — free the listing, and close the lease, in one transaction.

        A lease settles once: a second call (a retry after a crash, a concurrent job) raises
        AlreadySettled and moves nothing.
        """
        amounts = [require_amount(a, allow_zero=True) for a in (payout, fee, refund)]
        if sum(amounts) != lease.escrow:
            raise InvalidInput(f"settlement must split the whole escrow of {lease.escrow}")
        tx = Transaction(self._tables)
        close = Update().set(
            status=LeaseStatus.SETTLED,
            escrow=0,
            payout=payout,
            fee=fee,
            refund=refund,
            settled_at=now,
        )
        close.remove("due_shard", "active_worker_id")
        tx.update(
            LEASES,
            {"lease_id": lease.lease_id},
            close.expression,
            # The split was computed from this read: a share recorded since then must be
            # paid for, so the lease settles only if its share count is still the one read.
            condition="#status = :active AND #escrow = :held AND #shares = :shares_read",
            names=close.names(("shares",)),
            values=close.values(
                {"active": LeaseStatus.ACTIVE, "held": lease.escrow, "shares_read": lease.shares}
            ),
            on_condition_failed=lambda: self._settle_refused(lease.lease_id),
        )
        self._release_listing(tx, lease, now)
        movements = (
            (EntryKind.PAYOUT, lease.provider, payout),
            (EntryKind.FEE, TREASURY, fee),
            (EntryKind.REFUND, lease.renter, refund),
        )
        # One balance update per account, even if renter and provider are the same.
        credits: dict[str, int] = defaultdict(int)
        for kind, account, amount in movements:
            if amount == 0:
                continue
            credits[account] += amount
            add_entry(
                tx,
                LedgerEntry(
                    entry_id=f"{kind}:{lease.lease_id}",
                    kind=kind,
                    amount=amount,
                    from_account=escrow_account(lease.lease_id),
                    to_account=account,
                    from_party=lease.renter,
                    to_party=account,
                    lease_id=lease.lease_id,
                    created_at=now,
                ),
            )
        for account, amount in credits.items():
            change_balance(tx, account, amount, now=now)
        tx.commit()
        return lease.model_copy(
            update={
                "status": LeaseStatus.SETTLED,
                "escrow": 0,
                "payout": payout,
                "fee": fee,
                "refund": refund,
                "settled_at": now,
            }
        )

    def _settle_refused(self, lease_id: str) -> AlreadySettled | ConcurrentUpdate:
        """Settled by someone else, or changed (a late share) since it was read."""
        current = self.get(lease_id)
        if current is None or not current.is_active:
            return AlreadySettled(f"lease {lease_id} is settled")
        return ConcurrentUpdate(f"lease {lease_id} changed since it was read; settle it again")

    def _release_listing(self, tx: Transaction, lease: Lease, now: int) -> None:
        """Give the listing back to the market, or apply the pause/delist that waited."""
        listing = get_record(self._tables, LISTINGS, Listing, {"listing_id": lease.listing_id})
        if listing is None:
            return
        if listing.status is not ListingStatus.LEASED or listing.lease_id != lease.lease_id:
            return
        target = listing.after_lease or ListingStatus.OPEN
        release = open_index_update(listing.model_copy(update={"status": target}))
        release.set(updated_at=now).remove("lease_id", "after_lease")
        add_unchanged_write(
            tx,
            listing,
            release,
            on_changed=lambda: ConcurrentUpdate(
                f"listing {listing.listing_id} changed during settlement"
            ),
        )
        if target is ListingStatus.DELISTED:
            free_worker(
                tx, listing, on_changed=lambda: ConcurrentUpdate("the worker's listing changed")
            )
