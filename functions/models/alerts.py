"""Alert rules an owner sets on their fleet, and the events they fire."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import Field, SecretStr, StrictInt

from functions.models.base import Record

# How long fired events stay listed before DynamoDB's TTL removes them.
EVENT_RETENTION_SECONDS = 30 * 86_400
# Bounds of a rule's cooldown (the default comes from the settings).
MIN_COOLDOWN_SECONDS = 60
MAX_COOLDOWN_SECONDS = 7 * 86_400


class AlertKind(StrEnum):
    OFFLINE = "offline"  # threshold: minutes without a word from the rig
    HASHRATE_DROP = "hashrate_drop"  # threshold: percent below the 1-hour median
    TEMPERATURE = "temperature"  # threshold: °C, the hottest GPU


@dataclass(frozen=True)
class ThresholdRange:
    low: float
    high: float
    unit: str

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


THRESHOLDS: dict[AlertKind, ThresholdRange] = {
    AlertKind.OFFLINE: ThresholdRange(1, 1440, "minutes"),
    AlertKind.HASHRATE_DROP: ThresholdRange(1, 99, "percent"),
    AlertKind.TEMPERATURE: ThresholdRange(30, 120, "°C"),
}


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # fired, webhook not tried yet
    DELIVERED = "delivered"
    FAILED = "failed"  # every attempt failed; not retried later
    NONE = "none"  # the rule has no webhook


class AlertRule(Record):
    rule_id: str
    owner: str  # the checksum address the rule belongs to
    name: str
    kind: AlertKind
    threshold: float
    worker_id: str | None = None  # None: every worker of the owner
    webhook_url: str | None = None
    # Signs webhook bodies; shown to the owner once, at creation.
    webhook_secret: SecretStr
    cooldown_seconds: Annotated[StrictInt, Field(ge=MIN_COOLDOWN_SECONDS, le=MAX_COOLDOWN_SECONDS)]
    enabled: bool = True
    created_at: StrictInt
    updated_at: StrictInt


class AlertEvent(Record):
    event_id: str
    rule_id: str
    rule_name: str = ""
    owner: str
    worker_id: str
    kind: AlertKind
    message: str
    value: float  # what was measured, in the threshold's unit
    threshold: float
    ts: StrictInt
    delivery: DeliveryStatus
    attempts: StrictInt = 0
    delivered_at: StrictInt | None = None
    delivery_error: str | None = None
    expires_at: StrictInt
