"""What the HTTP API and the live updates show: one shape each for a worker of a fleet, a
verified block and an alert event (a lease's is ``functions.api.market_schemas.LeaseOut``),
so a dashboard renders an HTTP page and a live frame with the same code. Plain pydantic:
the live functions import these without FastAPI.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from functions.models.alerts import AlertEvent, AlertKind, AutoAction, ChannelKind, DeliveryStatus
from functions.models.blocks import Block, NetworkStatus
from protocol.messages import GpuInfo, GpuTelemetry, WorkerState
from protocol.xenblocks import BlockKind


class FleetWorker(BaseModel):
    worker_id: str
    name: str
    state: WorkerState
    online: bool = Field(description="What the platform last recorded (rig connected)")
    offline: bool = Field(
        description="Flagged: not online, or silent longer than the offline threshold"
    )
    last_seen: int | None = Field(description="Epoch seconds of the rig's last message")
    seconds_silent: int | None = Field(description="Seconds since last_seen")
    hashrate: float = Field(description="Hashes per second at the last heartbeat")
    active_gpus: int
    gpu_model: str | None
    gpus: list[GpuInfo] = Field(description="The rig's GPU inventory")
    telemetry: list[GpuTelemetry] = Field(description="Per-GPU figures at the last heartbeat")
    accepted_blocks: int = Field(description="Blocks the rig says it found (unverified)")
    listing_id: str | None
    lease_id: str | None = Field(description="The active lease, if the rig is leased now")


class RecentBlock(BaseModel):
    hash: str
    worker_id: str
    owner: str = Field(description="The worker's provider")
    account: str = Field(description="The address the block was mined for")
    kind: BlockKind | None
    difficulty: int
    found_at: int = Field(description="The rig's clock, epoch seconds")
    recorded_at: int = Field(description="When the platform verified it, epoch seconds")
    network_status: NetworkStatus = Field(
        default=NetworkStatus.UNCONFIRMED,
        description="The XenBlocks network's answer: unconfirmed until one is recorded; "
        "duplicate counts as accepted",
    )
    network_reason: str | None = Field(default=None, description="The node's reason to refuse")

    @classmethod
    def of(cls, block: Block) -> RecentBlock:
        return cls.model_validate(block.model_dump(), from_attributes=False)


class ChannelDeliveryOut(BaseModel):
    channel: ChannelKind
    status: DeliveryStatus
    attempts: int
    error: str | None = None
    delivered_at: int | None = None


class EventOut(BaseModel):
    event_id: str
    rule_id: str
    rule_name: str
    worker_id: str
    kind: AlertKind
    message: str
    value: float = Field(description="What was measured, in the threshold's unit")
    threshold: float
    ts: int = Field(description="When it fired (epoch seconds)")
    delivery: DeliveryStatus = Field(
        description="Over every channel: delivered when all took it, failed when one did "
        "not, suppressed (quiet hours, rate limit), none if the rule has no channel"
    )
    attempts: int = Field(description="Attempts made, over every channel")
    delivered_at: int | None
    delivery_error: str | None = Field(description="Why the last attempt failed")
    deliveries: list[ChannelDeliveryOut] = Field(
        default_factory=list, description="Each channel's outcome"
    )
    suppressed_reason: str | None = Field(
        default=None, description="Why the event was not sent (quiet hours, rate limit)"
    )
    action: AutoAction | None = Field(default=None, description="The rule's automatic action")
    action_result: str | None = Field(
        default=None, description="sent, daily_limit (its allowance was used) or failed"
    )

    @classmethod
    def of(cls, event: AlertEvent) -> EventOut:
        return cls.model_validate(event.model_dump())
