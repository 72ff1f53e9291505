"""Listings: at most one per worker, rentable while ``open``, leased at most once at a time.

An open listing carries the sparse index attributes ``open_market`` (and ``open_gpu`` when
its GPU model is known) plus ``unit_price``, so the cheapest offers are a Query away.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from functions.dal import codec
from functions.dal.expressions import Update
from functions.dal.pagination import Page
from functions.dal.reads import Records, query_index, query_page
from functions.dal.specs import LISTINGS, WORKERS
from functions.dal.tables import Tables
from functions.dal.transact import ErrorFactory, Transaction, condition_failure_as
from functions.errors import Conflict, InvalidInput, NotFound, WorkerAlreadyListed
from functions.models.market import Listing, ListingStatus

OPEN_MARKET = "open"
_INDEX_ATTRIBUTES = ("open_market", "open_gpu")


def listing_item(listing: Listing) -> dict[str, Any]:
    """The stored item: the record plus the index attributes its status implies."""
    item = {**listing.model_dump(mode="json"), "unit_price": listing.unit_price}
    if listing.status is ListingStatus.OPEN:
        item["open_market"] = OPEN_MARKET
        if listing.gpu_model:
            item["open_gpu"] = listing.gpu_model
    return item


def open_index_update(listing: Listing) -> Update:
    """SET/REMOVE of the sparse index attributes for ``listing`` as it will be stored."""
    update = Update().set(status=listing.status, unit_price=listing.unit_price)
    if listing.status is ListingStatus.OPEN:
        update.set(open_market=OPEN_MARKET, open_gpu=listing.gpu_model)
    else:
        update.remove(*_INDEX_ATTRIBUTES)
    return update


class ListingRepository(Records[Listing]):
    def __init__(self, tables: Tables) -> None:
        super().__init__(tables, LISTINGS, Listing, "listing")

    def create(self, listing: Listing) -> Listing:
        """Put the listing and claim its worker in one transaction: a worker is listed once,
        by its owner, while enrolled."""
        tx = Transaction(self._tables)
        tx.put(
            LISTINGS,
            listing_item(listing),
            condition="attribute_not_exists(listing_id)",
            on_condition_failed=lambda: Conflict(f"listing {listing.listing_id} exists"),
        )
        tx.update(
            WORKERS,
            {"worker_id": listing.worker_id},
            "SET listing_id = :listing",
            condition=(
                "attribute_exists(worker_id) AND #owner = :provider"
                " AND attribute_not_exists(listing_id) AND attribute_not_exists(revoked_at)"
            ),
            names={"#owner": "owner"},
            values={"listing": listing.listing_id, "provider": listing.provider},
            on_condition_failed=lambda: WorkerAlreadyListed(
                f"worker {listing.worker_id} is already listed, revoked, or not yours"
            ),
        )
        tx.commit()
        return listing

    def list_by_provider(
        self, provider: str, *, limit: int, cursor: str | None = None
    ) -> Page[Listing]:
        items, next_cursor = query_index(
            self._tables,
            LISTINGS,
            "by_provider",
            provider,
            limit=limit,
            cursor=cursor,
            newest_first=True,
        )
        return Page([Listing.model_validate(i) for i in items], next_cursor)

    def cheapest_open(
        self,
        *,
        limit: int,
        cursor: str | None = None,
        gpu_model: str | None = None,
        min_hashrate: float | None = None,
        max_price_per_hour: int | None = None,
    ) -> Page[Listing]:
        """Open listings by ascending price per H/s (optionally one GPU model).

        The hashrate and price filters apply to the items read, so a page may hold fewer
        than ``limit`` listings while a cursor still follows.
        """
        filters: list[str] = []
        values: dict[str, Any] = {}
        if min_hashrate is not None:
            filters.append("advertised_hashrate >= :min_hashrate")
            values["min_hashrate"] = min_hashrate
        if max_price_per_hour is not None:
            filters.append("price_per_hour <= :max_price")
            values["max_price"] = max_price_per_hour
        if gpu_model:
            index, condition = "open_by_gpu_price", "open_gpu = :partition"
            values["partition"] = gpu_model
        else:
            index, condition = "open_by_price", "open_market = :partition"
            values["partition"] = OPEN_MARKET
        items, next_cursor = query_page(
            self._tables,
            LISTINGS,
            index=index,
            key_condition=condition,
            values=values,
            partition=values["partition"],
            limit=limit,
            cursor=cursor,
            filter_expression=" AND ".join(filters) or None,
        )
        return Page([Listing.model_validate(i) for i in items], next_cursor)

    def update_terms(self, listing: Listing, *, now: int, **terms: Any) -> Listing:
        """New price, hashrate or durations for a listing that is not leased."""
        allowed = {"price_per_hour", "advertised_hashrate", "min_duration_sec", "max_duration_sec"}
        unknown = set(terms) - allowed
        if listing.status in (ListingStatus.LEASED, ListingStatus.DELISTED):
            raise Conflict(f"listing {listing.listing_id} is {listing.status}; terms are fixed")
        if unknown:
            raise InvalidInput(f"listing terms cannot include {sorted(unknown)}")
        try:
            changed = Listing.model_validate(
                {**listing.model_dump(), **terms, "updated_at": now, "version": listing.version + 1}
            )
        except ValidationError as error:
            problems = "; ".join(str(e["msg"]) for e in error.errors()[:3])
            raise InvalidInput(f"these terms do not fit the listing: {problems}") from None
        update = open_index_update(changed).set(updated_at=now, **terms)
        self._write_if_unchanged(listing, update)
        return changed

    def set_status(self, listing: Listing, target: ListingStatus, *, now: int) -> Listing:
        """Pause, resume (``open``) or delist. While leased, the wish waits in
        ``after_lease`` and settlement applies it; a delisted listing stays delisted."""
        if target is ListingStatus.LEASED:
            raise InvalidInput("a listing becomes leased only through a lease")
        if listing.status is ListingStatus.DELISTED:
            raise Conflict(f"listing {listing.listing_id} is delisted")
        if listing.status is ListingStatus.LEASED:
            after = None if target is ListingStatus.OPEN else target
            changed = listing.model_copy(
                update={"after_lease": after, "updated_at": now, "version": listing.version + 1}
            )
            self._write_if_unchanged(listing, Update().set(after_lease=after, updated_at=now))
            return changed
        changed = listing.model_copy(
            update={"status": target, "updated_at": now, "version": listing.version + 1}
        )
        update = open_index_update(changed).set(updated_at=now)
        tx = Transaction(self._tables)
        add_unchanged_write(tx, listing, update)
        if target is ListingStatus.DELISTED:
            free_worker(tx, listing, on_changed=lambda: Conflict("the worker's listing changed"))
        tx.commit()
        return changed

    def set_reputation(
        self, listing_id: str, *, score: float, delivery_ratio: float | None
    ) -> None:
        """The worker's reputation, copied for the matcher; not a change of terms, so the
        version stays and a renter's read of the terms stays valid."""
        update = Update().set(reputation_score=score, delivery_ratio=delivery_ratio)
        with condition_failure_as(lambda: NotFound(f"listing {listing_id} not found")):
            self._tables.client.update_item(
                TableName=self._tables.name(LISTINGS),
                Key=codec.to_item({"listing_id": listing_id}),
                UpdateExpression=update.expression,
                ConditionExpression="attribute_exists(listing_id)",
                ExpressionAttributeNames=update.names(),
                ExpressionAttributeValues=codec.values(**update.values()),
            )

    def _write_if_unchanged(self, listing: Listing, update: Update) -> None:
        tx = Transaction(self._tables)
        add_unchanged_write(tx, listing, update)
        tx.commit()


def _changed_meanwhile(listing: Listing) -> Conflict:
    return Conflict(f"listing {listing.listing_id} changed meanwhile; read it again")


def add_unchanged_write(
    tx: Transaction,
    listing: Listing,
    update: Update,
    on_changed: ErrorFactory | None = None,
) -> None:
    """``update`` of ``listing`` (its version one up) in ``tx``, holding only if the listing
    is as it was read (optimistic concurrency); ``on_changed`` says what failed otherwise."""
    update.add(version=1)
    tx.update(
        LISTINGS,
        {"listing_id": listing.listing_id},
        update.expression,
        condition="#version = :was_version",
        names=update.names(),
        values=update.values({"was_version": listing.version}),
        on_condition_failed=on_changed or (lambda: _changed_meanwhile(listing)),
    )


def free_worker(tx: Transaction, listing: Listing, on_changed: ErrorFactory) -> None:
    """In ``tx``: the worker of delisted ``listing`` is free to be listed again (if its
    listing is still this one; ``on_changed`` otherwise)."""
    tx.update(
        WORKERS,
        {"worker_id": listing.worker_id},
        "REMOVE listing_id",
        condition="listing_id = :listing",
        values={"listing": listing.listing_id},
        on_condition_failed=on_changed,
    )
