"""Conditional writes whose failures come back as domain errors, not botocore errors.

``Transaction`` collects the items of one ``TransactWriteItems``; each item names the
domain error its condition stands for. When DynamoDB cancels the transaction, the
cancellation reasons (one per item, in order) say which condition failed, and the error of
the first failed item in the order they were added is raised — so a caller adds its most
telling condition (say, "this lease already exists") first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from functions.dal import codec
from functions.dal.expressions import used_only
from functions.dal.specs import TableSpec
from functions.dal.tables import Tables
from functions.errors import ConcurrentUpdate, DomainError

# DynamoDB's limit on the items of one transaction.
MAX_TRANSACTION_ITEMS = 100

ErrorFactory = Callable[[], DomainError]


@dataclass(frozen=True)
class _Item:
    request: dict[str, Any]
    on_condition_failed: ErrorFactory | None


def _expression(
    condition: str | None,
    names: Mapping[str, str] | None,
    values: Mapping[str, Any] | None,
    update: str | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if condition:
        out["ConditionExpression"] = condition
    names, values = used_only(names, values, condition, update)
    if names:
        out["ExpressionAttributeNames"] = names
    if values:
        out["ExpressionAttributeValues"] = codec.values(**values)
    return out


class Transaction:
    """Builds and commits one all-or-nothing ``TransactWriteItems``."""

    def __init__(self, tables: Tables) -> None:
        self._tables = tables
        self._items: list[_Item] = []

    def __len__(self) -> int:
        return len(self._items)

    def put(
        self,
        spec: TableSpec,
        item: Mapping[str, Any],
        *,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        on_condition_failed: ErrorFactory | None = None,
    ) -> Transaction:
        request = {"TableName": self._tables.name(spec), "Item": codec.to_item(item)}
        request.update(_expression(condition, names, values))
        self._items.append(_Item({"Put": request}, on_condition_failed))
        return self

    def update(
        self,
        spec: TableSpec,
        key: Mapping[str, Any],
        update: str,
        *,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        on_condition_failed: ErrorFactory | None = None,
    ) -> Transaction:
        request = {
            "TableName": self._tables.name(spec),
            "Key": codec.to_item(key),
            "UpdateExpression": update,
        }
        request.update(_expression(condition, names, values, update))
        self._items.append(_Item({"Update": request}, on_condition_failed))
        return self

    def check(
        self,
        spec: TableSpec,
        key: Mapping[str, Any],
        condition: str,
        *,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        on_condition_failed: ErrorFactory,
    ) -> Transaction:
        request = {"TableName": self._tables.name(spec), "Key": codec.to_item(key)}
        request.update(_expression(condition, names, values))
        self._items.append(_Item({"ConditionCheck": request}, on_condition_failed))
        return self

    def commit(self, client_token: str | None = None) -> None:
        """Write everything or nothing; ``client_token`` makes a retry within 10 min a no-op."""
        if not self._items:
            return
        if len(self._items) > MAX_TRANSACTION_ITEMS:
            raise ValueError(f"a transaction holds at most {MAX_TRANSACTION_ITEMS} items")
        kwargs: dict[str, Any] = {"TransactItems": [i.request for i in self._items]}
        if client_token:
            kwargs["ClientRequestToken"] = client_token
        try:
            self._tables.client.transact_write_items(**kwargs)
        except ClientError as error:
            raise self._translate(error) from error

    def _translate(self, error: ClientError) -> Exception:
        code = error.response.get("Error", {}).get("Code")
        if code == "TransactionConflictException":
            return ConcurrentUpdate()
        if code != "TransactionCanceledException":
            return error
        reasons = [r.get("Code", "None") for r in error.response.get("CancellationReasons", [])]
        for item, reason in zip(self._items, reasons, strict=False):
            if reason == "ConditionalCheckFailed" and item.on_condition_failed is not None:
                return item.on_condition_failed()
        if "TransactionConflict" in reasons:
            return ConcurrentUpdate()
        return error


@contextmanager
def condition_failure_as(factory: ErrorFactory) -> Iterator[None]:
    """For a single conditional write: a failed condition becomes ``factory()``."""
    try:
        yield
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            raise factory() from error
        raise
