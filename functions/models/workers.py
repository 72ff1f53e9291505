"""A rig enrolled on the platform."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictInt

from functions.models.base import Record
from protocol.messages import GpuInfo, GpuTelemetry, WorkerState


class Worker(Record):
    worker_id: str
    owner: str  # the provider's checksum address
    name: str = ""
    created_at: StrictInt
    certificate_id: str | None = None
    revoked_at: StrictInt | None = None
    # What the rig last said about itself (register / status / heartbeat).
    state: WorkerState = WorkerState.OFFLINE
    online: bool = False
    last_seen: StrictInt | None = None
    version: str | None = None
    gpus: list[GpuInfo] = Field(default_factory=list)
    gpu_model: str | None = None
    total_memory_gb: StrictInt = 0
    hashrate: Annotated[float, Field(ge=0)] = 0.0
    active_gpus: StrictInt = 0
    accepted_blocks: StrictInt = 0
    difficulty: StrictInt | None = None
    uptime_sec: StrictInt = 0
    telemetry: list[GpuTelemetry] = Field(default_factory=list)
    listing_id: str | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None
