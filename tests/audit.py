"""Audit reads of whole tables, for tests that check invariants (request paths never scan)."""

from __future__ import annotations

from typing import Any

from functions.dal import codec
from functions.dal.specs import TableSpec
from functions.dal.tables import Tables


def scan(tables: Tables, spec: TableSpec) -> list[dict[str, Any]]:
    """Every item of the table, page after page."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": tables.name(spec)}
    while True:
        page = tables.client.scan(**kwargs)
        items += [codec.from_item(i) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
