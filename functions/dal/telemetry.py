"""Telemetry: time series points (worker, owner, fleet), expired by TTL."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from functions.dal import codec
from functions.dal.pagination import Page
from functions.dal.reads import query_page
from functions.dal.specs import TELEMETRY
from functions.dal.tables import Tables
from functions.errors import InvalidInput
from functions.models.telemetry import TelemetryPoint

# DynamoDB's limit on the writes of one BatchWriteItem.
_BATCH_WRITE_LIMIT = 25
_UNPROCESSED_RETRIES = 8


class TelemetryRepository:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables
        self._name = tables.name(TELEMETRY)

    def put(self, point: TelemetryPoint) -> None:
        """Store a point; a point at the same series and time replaces it (retries are safe)."""
        self._tables.client.put_item(
            TableName=self._name, Item=codec.to_item(point.model_dump(mode="json"))
        )

    def put_many(self, points: Iterable[TelemetryPoint]) -> None:
        """Store points in batches; raises if DynamoDB keeps refusing some of them."""
        # One batch may not write a key twice; the last point wins, as with put().
        unique = {(p.series, p.ts): p for p in points}
        requests: list[Any] = [
            {"PutRequest": {"Item": codec.to_item(p.model_dump(mode="json"))}}
            for p in unique.values()
        ]
        for start in range(0, len(requests), _BATCH_WRITE_LIMIT):
            pending = requests[start : start + _BATCH_WRITE_LIMIT]
            for attempt in range(_UNPROCESSED_RETRIES):
                response = self._tables.client.batch_write_item(RequestItems={self._name: pending})
                pending = list(response.get("UnprocessedItems", {}).get(self._name, []))
                if not pending:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))  # DynamoDB asks us to back off
            if pending:
                raise RuntimeError(
                    f"put_many on {self._name}: {len(pending)} points left unprocessed"
                )

    def history(
        self, series: str, start: int, end: int, *, limit: int, cursor: str | None = None
    ) -> Page[TelemetryPoint]:
        """The series' points with ``start <= ts <= end``, oldest first."""
        if start > end:
            raise InvalidInput("start must not be after end")
        items, next_cursor = query_page(
            self._tables,
            TELEMETRY,
            key_condition="#series = :series AND #ts BETWEEN :start AND :end",
            names={"#series": "series", "#ts": "ts"},
            values={"series": series, "start": start, "end": end},
            partition=series,
            limit=limit,
            cursor=cursor,
            sort_range=(start, end),
        )
        return Page([TelemetryPoint.model_validate(i) for i in items], next_cursor)

    def latest(self, series: str, *, since: int) -> TelemetryPoint | None:
        """The newest point of the series no older than ``since`` (one small Query)."""
        items, _ = query_page(
            self._tables,
            TELEMETRY,
            key_condition="#series = :series AND #ts >= :since",
            names={"#series": "series", "#ts": "ts"},
            values={"series": series, "since": since},
            partition=series,
            limit=1,
            newest_first=True,
        )
        return TelemetryPoint.model_validate(items[0]) if items else None
