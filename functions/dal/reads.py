"""Reads every repository shares: a paged Query and an order-keeping BatchGetItem."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from functions.dal import codec
from functions.dal.pagination import decode_cursor, encode_cursor
from functions.dal.specs import TableSpec
from functions.dal.tables import Tables

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


def query_page(
    tables: Tables,
    spec: TableSpec,
    *,
    key_condition: str,
    values: Mapping[str, Any],
    names: Mapping[str, str] | None = None,
    index: str | None = None,
    limit: int,
    cursor: str | None = None,
    newest_first: bool = False,
    filter_expression: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of a Query (on the table or one of its indexes) and the next page's cursor."""
    start_key_names = list(spec.key_names)
    if index is not None:
        idx = spec.index(index)
        start_key_names += [idx.partition_key.name] + ([idx.sort_key.name] if idx.sort_key else [])
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
    start = decode_cursor(cursor, set(start_key_names))
    if start:
        kwargs["ExclusiveStartKey"] = start
    response = tables.client.query(**kwargs)
    items = [codec.from_item(item) for item in response.get("Items", [])]
    return items, encode_cursor(response.get("LastEvaluatedKey"))


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
