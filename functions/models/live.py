"""Live dashboard connections (WebSocket)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictInt

from functions.models.base import Record
from protocol.messages import GpuTelemetry, Heartbeat

# The subject of a connection that has not signed in.
ANONYMOUS = "anonymous"


class Connection(Record):
    connection_id: str
    subject: str  # a checksum address, or ANONYMOUS
    shard: str  # the broadcast shard (dal.connections.shard_for)
    connected_at: StrictInt
    expires_at: StrictInt


class MessageType(StrEnum):
    """What a live frame carries (``{type, data, ts}``)."""

    SNAPSHOT = "snapshot"  # everything the connection may see, on connect / on request
    WORKER = "worker"  # a worker's live figures (its provider; the renter leasing it)
    # A heartbeat's figures for a worker the dashboard already shows (same audience as
    # WORKER): pushed from ingest as heartbeats arrive, between the summary writes.
    TELEMETRY = "telemetry"
    LEASE = "lease"  # a lease changed (its renter and provider)
    BLOCK = "block"  # a verified block (everyone: blocks are public)
    ALERT = "alert"  # an alert fired (its owner)
    FLEET = "fleet"  # the public fleet figures (everyone)
    PONG = "pong"  # the answer to {"action": "ping"}
    ERROR = "error"  # the answer to a request the server could not read
    BATCH = "batch"  # several of the above coalesced into one frame; data is their list


class LiveMessage(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: MessageType
    data: Any
    ts: float


class WorkerTelemetry(BaseModel):
    """A heartbeat as the dashboards see it: the worker's figures that it updates. A
    dashboard merges them into the worker it already holds (a heartbeat proves the rig
    online and heard from just now)."""

    model_config = ConfigDict(frozen=True)

    worker_id: str
    online: bool = True
    offline: bool = False
    last_seen: StrictInt
    seconds_silent: StrictInt = 0
    hashrate: float
    active_gpus: StrictInt
    accepted_blocks: StrictInt
    telemetry: list[GpuTelemetry]

    @classmethod
    def of(cls, worker_id: str, heartbeat: Heartbeat, received_at: int) -> WorkerTelemetry:
        return cls(
            worker_id=worker_id,
            last_seen=received_at,
            hashrate=heartbeat.hashrate,
            active_gpus=heartbeat.active_gpus,
            accepted_blocks=heartbeat.accepted_blocks,
            telemetry=list(heartbeat.gpus or ()),
        )
