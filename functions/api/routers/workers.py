"""``/api/workers/{id}``: a worker's detail (more for its owner), and operational commands
to a rig the caller owns (``/commands``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field, ValidationError

from functions.api.auth import Context, CurrentPrincipal
from functions.api.schemas import Body
from functions.errors import Conflict, InvalidInput, NotFound
from functions.logic.fleet_stats import is_live
from functions.logic.heartbeat_schedule import silence_allowance
from functions.logic.report_counts import BlockCounts, block_counts
from functions.models.market import Lease
from functions.models.workers import Worker
from functions.ports.devices import DeviceCommands
from protocol.downlink import Control, ControlAction, SetConfig
from protocol.errors import ProtocolError
from protocol.messages import GpuInfo, GpuTelemetry, ShareMode, WorkerState
from protocol.topics import WORKER_ID_PATTERN

router = APIRouter(prefix="/api/workers", tags=["workers"])


class ActiveLease(BaseModel):
    lease_id: str
    listing_id: str
    renter: str
    created_at: int
    ends_at: int
    price_per_hour: int = Field(description="Micro-credits per hour")
    advertised_hashrate: float
    shares: int = Field(description="Verified shares so far")
    blocks: int = Field(description="Verified blocks so far")

    @classmethod
    def of(cls, lease: Lease) -> ActiveLease:
        return cls.model_validate(lease.model_dump(), from_attributes=False)


class ReportCounts(BaseModel):
    """The rig's reports, accepted and refused: its stored blocks (a month of them) and
    its shares (written every 15 minutes at most)."""

    blocks_verified: int
    blocks_refused: int = Field(description="Block reports the platform refused as invalid")
    network_accepted: int = Field(description="Blocks the node accepted (duplicates too)")
    network_refused: int = Field(description="Blocks the node refused")
    blocks_complete: bool = Field(description="False: only the newest 1,000 blocks counted")
    shares_verified: int
    shares_refused: int = Field(description="Shares refused: invalid, or after their lease")

    @classmethod
    def of(cls, worker: Worker, blocks: BlockCounts) -> ReportCounts:
        return cls(
            blocks_verified=blocks.verified,
            blocks_refused=blocks.refused,
            network_accepted=blocks.network_accepted,
            network_refused=blocks.network_refused,
            blocks_complete=blocks.complete,
            shares_verified=worker.shares_verified,
            shares_refused=worker.shares_refused,
        )


class WorkerOwnerView(BaseModel):
    """What only the worker's owner (or an admin) sees."""

    last_seen: int | None = Field(description="Epoch seconds of the rig's last message")
    seconds_silent: int | None
    offline: bool = Field(
        description="Flagged: not online, or silent longer than the offline threshold"
    )
    version: str | None = Field(description="The miner's version")
    uptime_sec: int
    difficulty: int | None = Field(description="The difficulty the rig last reported")
    telemetry: list[GpuTelemetry] = Field(description="Per-GPU figures at the last heartbeat")
    active_lease: ActiveLease | None
    share_mode: ShareMode | None = Field(
        description="How the rig proves delivered work (none: by its verified blocks only)"
    )
    mining_address: str | None = Field(
        description="The address a XenblocksMiner rig says it mines for (its heartbeat's)"
    )
    mines_for_another: bool = Field(
        description="That address is not the owner's: self-mined blocks would not count"
    )
    block_pattern: str | None = Field(
        description="A XenblocksMiner rig's block pattern ('' for its default, XEN11)"
    )
    reports: ReportCounts


class WorkerDetail(BaseModel):
    worker_id: str
    name: str
    gpu_model: str | None
    gpus: list[GpuInfo] = Field(description="The GPU inventory the rig registered")
    total_memory_gb: int
    online: bool
    state: WorkerState
    hashrate: float = Field(description="H/s at the last heartbeat")
    active_gpus: int
    listing_id: str | None
    accepted_blocks: int = Field(description="Blocks the rig says it found (unverified)")
    created_at: int
    owner_view: WorkerOwnerView | None = Field(
        description="Telemetry and lease details: present for the owner and admins only"
    )


def _owner_view(
    worker: Worker, lease: Lease | None, blocks: BlockCounts, *, now: int, offline_after: int
) -> WorkerOwnerView:
    mining = worker.mining
    return WorkerOwnerView(
        last_seen=worker.last_seen,
        seconds_silent=None if worker.last_seen is None else max(now - worker.last_seen, 0),
        offline=not is_live(worker, now=now, offline_after=offline_after),
        version=worker.version,
        uptime_sec=worker.uptime_sec,
        difficulty=worker.difficulty,
        telemetry=worker.telemetry,
        active_lease=ActiveLease.of(lease) if lease is not None else None,
        share_mode=worker.share_mode,
        mining_address=mining.address if mining else None,
        mines_for_another=mining.mines_for_another(worker.owner) if mining else False,
        block_pattern=mining.block_pattern if mining else None,
        reports=ReportCounts.of(worker, blocks),
    )


@router.get("/{worker_id}")
def worker_detail(
    worker_id: Annotated[str, Path(pattern=WORKER_ID_PATTERN)],
    principal: CurrentPrincipal,
    context: Context,
) -> WorkerDetail:
    """A worker's public figures; its owner (or an admin) also gets ``owner_view``."""
    worker = context.workers.get(worker_id)
    if worker is None or worker.revoked:
        raise NotFound(f"worker {worker_id} not found")
    owner_view = None
    if worker.owner == principal.address or principal.is_admin:
        lease = context.leases.active_for_worker(worker_id) if worker.listing_id else None
        owner_view = _owner_view(
            worker,
            lease,
            block_counts(context.blocks, context.verdicts, worker_id),
            now=context.clock(),
            offline_after=silence_allowance(context.settings),
        )
    return WorkerDetail(
        worker_id=worker.worker_id,
        name=worker.name,
        gpu_model=worker.gpu_model,
        gpus=worker.gpus,
        total_memory_gb=worker.total_memory_gb,
        online=worker.online,
        state=worker.state,
        hashrate=worker.hashrate,
        active_gpus=worker.active_gpus,
        listing_id=worker.listing_id,
        accepted_blocks=worker.accepted_blocks,
        created_at=worker.created_at,
        owner_view=owner_view,
    )


class CommandRequest(Body):
    action: ControlAction
    config: SetConfig | None = None


class CommandSent(BaseModel):
    worker_id: str
    action: ControlAction
    topic: str


@router.post("/{worker_id}/commands", status_code=202)
def send_command(
    worker_id: Annotated[str, Path(pattern=WORKER_ID_PATTERN)],
    body: CommandRequest,
    principal: CurrentPrincipal,
    context: Context,
) -> CommandSent:
    """Publish ``pause``, ``resume``, ``shutdown`` or ``set_config`` on the rig's control topic.

    Accepted (202) means the broker has the message; the rig's next status tells the result.
    """
    worker = context.workers.get(worker_id)
    if worker is None or (worker.owner != principal.address and not principal.is_admin):
        raise NotFound(f"worker {worker_id} not found")
    if worker.revoked:
        raise Conflict(f"worker {worker_id} was revoked")
    try:
        control = Control(action=body.action, config=body.config)
    except ValidationError as error:
        problem = ProtocolError.from_validation(error, "command")
        raise InvalidInput(f"{problem.field}: {problem.reason}") from None
    DeviceCommands(context.publisher).control(worker_id, control)
    return CommandSent(
        worker_id=worker_id, action=body.action, topic=f"xenminer/{worker_id}/control"
    )
