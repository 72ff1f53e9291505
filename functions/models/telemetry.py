"""Time series points: a worker's, an owner's and the fleet's figures over time."""

from __future__ import annotations

from pydantic import StrictInt

from functions.models.base import Record

FLEET_SERIES = "fleet"


def worker_series(worker_id: str) -> str:
    return f"worker#{worker_id}"


def owner_series(address: str) -> str:
    return f"owner#{address}"


class TelemetryPoint(Record):
    series: str
    ts: StrictInt
    # Named figures (hashrate, temperature_c…); Record forbids inf/NaN, which DynamoDB can't store.
    values: dict[str, float]
    expires_at: StrictInt
