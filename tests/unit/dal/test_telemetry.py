"""TelemetryRepository: batched writes and a series' history by time."""

from __future__ import annotations

import time
from typing import Any

import pytest
from pydantic import ValidationError

from functions.dal.tables import Tables
from functions.dal.telemetry import TelemetryRepository
from functions.errors import InvalidInput
from functions.models.telemetry import (
    FLEET_SERIES,
    TelemetryPoint,
    owner_series,
    worker_series,
)

T0 = 1_715_342_400
SERIES = worker_series("worker-1")


def _point(n: int, series: str = SERIES, **values: float) -> TelemetryPoint:
    return TelemetryPoint(
        series=series,
        ts=T0 + 60 * n,
        values=values or {"hashrate": 1000.5 + n, "temperature_c": 60.0},
        expires_at=T0 + 30 * 86_400,
    )


def test_series_names() -> None:
    assert worker_series("w1") == "worker#w1"
    assert owner_series("0xAbC") == "owner#0xAbC"
    assert FLEET_SERIES == "fleet"


def test_values_must_be_finite() -> None:
    with pytest.raises(ValidationError):
        _point(0, hashrate=float("inf"))
    with pytest.raises(ValidationError):
        _point(0, hashrate=float("nan"))


def test_put_round_trip_and_replace(tables: Tables) -> None:
    repo = TelemetryRepository(tables)
    repo.put(_point(0))
    repo.put(_point(0, hashrate=7.25))  # same series and time: replaced
    assert repo.history(SERIES, T0, T0, limit=10).items == [_point(0, hashrate=7.25)]


def test_put_many_and_history_paging(tables: Tables) -> None:
    repo = TelemetryRepository(tables)
    points = [_point(n) for n in range(60)]
    repo.put_many(points)
    repo.put_many([_point(n, FLEET_SERIES) for n in range(5)])

    # BETWEEN is inclusive on both ends: points 5..54.
    start, end = points[5].ts, points[54].ts
    pages, cursor = [], None
    while True:
        page = repo.history(SERIES, start, end, limit=20, cursor=cursor)
        pages.append(page.items)
        cursor = page.cursor
        if cursor is None:
            break
    got = [p for page in pages for p in page]
    assert got == points[5:55]  # oldest first, no gaps, no duplicates
    assert [len(p) for p in pages][:3] == [20, 20, 10]

    assert repo.history(SERIES, start + 1, end - 1, limit=100).items == points[6:54]
    assert len(repo.history(FLEET_SERIES, 0, T0 + 10**6, limit=100).items) == 5
    assert repo.history(owner_series("0x1"), 0, T0 + 10**6, limit=100).items == []


def test_history_refuses_a_reversed_window(tables: Tables) -> None:
    with pytest.raises(InvalidInput):
        TelemetryRepository(tables).history(SERIES, T0 + 1, T0, limit=10)


def test_put_many_keeps_the_last_of_repeated_points(tables: Tables) -> None:
    repo = TelemetryRepository(tables)
    repo.put_many([_point(0), _point(1), _point(0, hashrate=3.5)])
    assert repo.history(SERIES, T0, T0 + 60, limit=10).items == [
        _point(0, hashrate=3.5),
        _point(1),
    ]
    repo.put_many([])


def test_put_many_retries_unprocessed_items(
    tables: Tables, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = TelemetryRepository(tables)
    write = tables.client.batch_write_item
    calls: list[int] = []

    def throttled(**kwargs: Any) -> Any:
        # DynamoDB under pressure: the first attempt of each batch writes only its first item.
        ((name, requests),) = kwargs["RequestItems"].items()
        calls.append(len(requests))
        if len(calls) % 2:
            write(RequestItems={name: requests[:1]})
            return {"UnprocessedItems": {name: requests[1:]}}
        return write(**kwargs)

    monkeypatch.setattr(tables.client, "batch_write_item", throttled)
    monkeypatch.setattr(time, "sleep", lambda _: None)
    points = [_point(n) for n in range(30)]
    repo.put_many(points)
    assert calls == [25, 24, 5, 4]
    assert repo.history(SERIES, 0, T0 + 10**6, limit=100).items == points


def test_put_many_raises_when_items_stay_unprocessed(
    tables: Tables, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(**kwargs: Any) -> Any:
        return {"UnprocessedItems": kwargs["RequestItems"]}

    sleeps: list[float] = []
    monkeypatch.setattr(tables.client, "batch_write_item", refused)
    monkeypatch.setattr(time, "sleep", sleeps.append)
    with pytest.raises(RuntimeError, match="unprocessed"):
        TelemetryRepository(tables).put_many([_point(0)])
    assert sleeps == sorted(sleeps)  # backs off, never faster
    assert sleeps[-1] <= 1.0
