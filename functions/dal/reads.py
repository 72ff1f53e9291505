"""Reads every repository shares: one record, a paged Query and an order-keeping BatchGetItem."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from functions.dal import codec
from functions.dal.specs import TableSpec
from functions.dal.tables import Tables
from functions.errors import InvalidInput, NotFound

M = TypeVar("M", bound=BaseModel)

_BATCH_GET_LIMIT = 100
_UNPROCESSED_RETRIES = 8


def get_item(
    tables: Tables, spec: TableSpec, key: Mapping[str, Any], *, consistent: bool = True
) -> dict[str, Any] | None:
    response = tables.client.get_item(
        TableName=tables.name(spec), Key=codec.to_item(key), ConsistentRead=consistent
    )
    item = response.get("Item")
    return codec.from_item(item) if item else None


def get_record(
    tables: Tables,
    spec: TableSpec,
    model: type[M],
    key: Mapping[str, Any],
    *,
    consistent: bool = True,
) -> M | None:
    """The item at ``key`` read as a ``model``; None where there is none."""
    item = get_item(tables, spec, key, consistent=consistent)
    return model.model_validate(item) if item else None


def found(record: M | None, what: str) -> M:
    """``record``; where there is none, NotFound saying ``what`` was not found."""
    if record is None:
        raise NotFound(f"{what} not found")
    return record


def query_page(
    tables: Tables,
    spec: TableSpec,
    *,
    key_condition: str,
    values: Mapping[str, Any],
    partition: Any,
    names: Mapping[str, str] | None = None,
    index: str | None = None,
    listing: str = "",
    limit: int,
    cursor: str | None = None,
    sort_range: tuple[Any, Any] | None = None,
    newest_first: bool = False,
    filter_expression: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of a Query (on the table or one of its indexes) and the next page's cursor.

    ``partition`` is the partition key value the key condition asks for. The cursor is
    signed for the table, the index, ``listing`` (to tell apart listings that share a
    partition) and ``partition``; one made for anything else is an ``InvalidInput``, as is
    a start key outside the partition or outside ``sort_range`` (the key condition's
    inclusive sort key bounds, where a caller chooses them), which DynamoDB would refuse.
    """
    start_key_names = list(spec.key_names)
    partition_name = spec.partition_key.name
    sort_name = spec.sort_key.name if spec.sort_key else None
    if index is not None:
        idx = spec.index(index)
        partition_name = idx.partition_key.name
        sort_name = idx.sort_key.name if idx.sort_key else None
        start_key_names += [partition_name] + ([sort_name] if sort_name else [])
    scope = (spec.name, index or "", listing, partition)
    kwargs: dict[str, Any] = {
        "TableName": tables.name(spec),
        "KeyConditionExpression": key_condition,
        "ExpressionAttributeValues": codec.values(**values),
        "Limit": limit,
        "ScanIndexForward": not newest_first,
    }
    if index is not None:
        kwargs["IndexName"] = index
    if names:
        kwargs["ExpressionAttributeNames"] = dict(names)
    if filter_expression:
        kwargs["FilterExpression"] = filter_expression
    start = tables.cursors.decode_key(
        cursor,
        scope,
        key_names=start_key_names,
        expect={partition_name: codec.serialize(partition)},
    )
    if start:
        if sort_range is not None and sort_name is not None:
            _check_sort_range(codec.from_item(start)[sort_name], sort_range)
        kwargs["ExclusiveStartKey"] = start
    response = tables.client.query(**kwargs)
    items = [codec.from_item(item) for item in response.get("Items", [])]
    return items, tables.cursors.encode(response.get("LastEvaluatedKey"), scope)


def query_index(
    tables: Tables,
    spec: TableSpec,
    index: str,
    partition: Any,
    *,
    limit: int,
    cursor: str | None = None,
    newest_first: bool = False,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the items of ``index`` in its ``partition`` (by the index's sort key,
    ``newest_first`` or oldest first) and the next page's cursor."""
    return query_page(
        tables,
        spec,
        index=index,
        key_condition="#partition = :partition",
        names={"#partition": spec.index(index).partition_key.name},
        values={"partition": partition},
        partition=partition,
        limit=limit,
        cursor=cursor,
        newest_first=newest_first,
    )


def query_index_all(
    tables: Tables, spec: TableSpec, index: str, partition: Any, *, page: int = 100
) -> list[dict[str, Any]]:
    """Every item of ``index`` in its ``partition``, oldest first (page by page): for the
    jobs' small work queues, never for a listing a request pages through."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        items, cursor = query_index(tables, spec, index, partition, limit=page, cursor=cursor)
        found.extend(items)
        if cursor is None:
            return found


def _check_sort_range(value: Any, sort_range: tuple[Any, Any]) -> None:
    low, high = sort_range
    try:
        inside = bool(low <= value <= high)
    except TypeError:
        inside = False
    if not inside:
        raise InvalidInput("cursor is outside the range asked for")


def batch_get(
    tables: Tables, spec: TableSpec, keys: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The items for ``keys`` in the same order; keys with no item are left out."""
    name = tables.name(spec)
    found: dict[tuple[Any, ...], dict[str, Any]] = {}
    for start in range(0, len(keys), _BATCH_GET_LIMIT):
        pending: list[dict[str, Any]] = [
            codec.to_item(k) for k in keys[start : start + _BATCH_GET_LIMIT]
        ]
        for attempt in range(_UNPROCESSED_RETRIES):
            if not pending:
                break
            response = tables.client.batch_get_item(RequestItems={name: {"Keys": pending}})
            for raw in response.get("Responses", {}).get(name, []):
                item = codec.from_item(raw)
                found[tuple(item[k] for k in spec.key_names)] = item
            unprocessed: dict[str, Any] = dict(response.get("UnprocessedKeys") or {})
            pending = list(unprocessed.get(name, {}).get("Keys", []))
            if pending:
                time.sleep(min(0.05 * 2**attempt, 1.0))  # DynamoDB asks us to back off
        if pending:
            raise RuntimeError(f"batch_get on {name}: {len(pending)} keys left unprocessed")
    ordered = (found.get(tuple(k[n] for n in spec.key_names)) for k in keys)
    return [item for item in ordered if item is not None]


class Records(Generic[M]):
    """The reads of a table of ``model`` records under one key attribute (its partition
    key): one, one or NotFound (naming a ``noun``), several in order. Repositories of such
    tables inherit them."""

    def __init__(self, tables: Tables, spec: TableSpec, model: type[M], noun: str) -> None:
        self._tables = tables
        self._spec = spec
        self._model = model
        self._noun = noun

    def get(self, record_id: str) -> M | None:
        key = {self._spec.partition_key.name: record_id}
        return get_record(self._tables, self._spec, self._model, key)

    def require(self, record_id: str) -> M:
        return found(self.get(record_id), f"{self._noun} {record_id}")

    def get_many(self, record_ids: Sequence[str]) -> list[M]:
        keys = [{self._spec.partition_key.name: i} for i in record_ids]
        return [self._model.model_validate(i) for i in batch_get(self._tables, self._spec, keys)]
