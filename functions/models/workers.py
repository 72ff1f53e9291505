"""A rig enrolled on the platform."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictInt

from functions.models.base import Record
from protocol.addresses import same_address
from protocol.messages import GpuInfo, GpuTelemetry, ShareMode, WorkerState


class Reputation(Record):
    """How much a renter can trust a worker, recomputed by the reputation job.

    Each part is 0..1; ``score`` is their weighted sum on 0..100 (weights in
    ``functions/logic/reputation.py``). ``delivery`` is None until a lease has settled.
    """

    score: Annotated[float, Field(ge=0, le=100)]
    verified_blocks: StrictInt = 0
    completed_leases: StrictInt = 0
    uptime: Annotated[float, Field(ge=0, le=1)] = 0.0
    delivery: Annotated[float, Field(ge=0)] | None = None
    age_days: Annotated[float, Field(ge=0)] = 0.0
    updated_at: StrictInt


class MiningSettings(Record):
    """What a XenblocksMiner rig says it mines with in each heartbeat (the v2 files and this
    platform's miner send none of it): the address, as the rig has it (any text: a rig may
    mine for an address that is not its owner's), its key prefix and its block pattern
    ("" for its own defaults: no prefix, XEN11)."""

    address: str | None = None
    prefix: str | None = None
    block_pattern: str | None = None

    def mines_for_another(self, owner: str) -> bool:
        """It says an address, and not the owner's: its self-mined blocks count for nobody
        here (the platform takes them only for the owner)."""
        return bool(self.address) and not same_address(self.address, owner)


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
    # How it proves delivered work (its register's share_mode; None: it sends no shares).
    share_mode: ShareMode | None = None
    gpus: list[GpuInfo] = Field(default_factory=list)
    gpu_model: str | None = None
    total_memory_gb: StrictInt = 0
    hashrate: Annotated[float, Field(ge=0)] = 0.0
    active_gpus: StrictInt = 0
    accepted_blocks: StrictInt = 0
    difficulty: StrictInt | None = None
    uptime_sec: StrictInt = 0
    telemetry: list[GpuTelemetry] = Field(default_factory=list)
    mining: MiningSettings | None = None  # a XenblocksMiner rig's, from its heartbeats
    listing_id: str | None = None
    reputation: Reputation | None = None
    # Shares verified and refused (functions/logic/report_counts.py), written every 15 min.
    shares_verified: StrictInt = 0
    shares_refused: StrictInt = 0
    # When the rig last came back (registered after being offline) and how long it was down.
    back_online_at: StrictInt | None = None
    down_seconds: StrictInt | None = None
    # Open anomaly findings (the watch counts them in and out; the alerts job reads the
    # findings only of rigs with some).
    anomalies_open: StrictInt = 0
    # Block and share reports refused unheard until then (strikes: logic/report_limits.py).
    reports_suspended_until: StrictInt | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None
