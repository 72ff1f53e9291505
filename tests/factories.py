"""Small builders for domain records used across test suites."""

from __future__ import annotations

import itertools
from typing import Any

from functions.dal.listings import ListingRepository
from functions.dal.shares import ShareRepository
from functions.dal.tables import Tables
from functions.dal.workers import WorkerRepository
from functions.models.alerts import AlertEvent, AlertKind, DeliveryStatus
from functions.models.blocks import Block, Share
from functions.models.market import Lease, Listing, new_lease
from functions.models.workers import Worker
from protocol.addresses import to_checksum
from protocol.messages import GpuInfo, GpuTelemetry, ShareMode, WorkerState
from protocol.xenblocks import BlockKind

NOW = 1_763_700_000  # a fixed "now" (2025-11-21) keeps tests deterministic
_ids = itertools.count(1)


def address(n: int) -> str:
    """A valid checksum address made from a small number."""
    return to_checksum(f"0x{n:040x}")


PROVIDER = address(0xA11CE)
RENTER = address(0xB0B)


def enrolled_worker(tables: Tables, *, owner: str = PROVIDER, gpu: str = "RTX 4090") -> Worker:
    worker = Worker(
        worker_id=f"w{next(_ids)}",
        owner=owner,
        created_at=NOW,
        gpu_model=gpu,
    )
    return WorkerRepository(tables).create(worker)


def register_online(
    tables: Tables,
    worker_id: str,
    *,
    gpu: str = "RTX 4090",
    gpus: int = 1,
    version: str = "1.0",
    now: int = NOW,
    share_mode: ShareMode | None = ShareMode.PATTERN,
) -> Worker:
    """An enrolled rig's ``register``, as ingest writes it: ``gpus`` of 24 GB each, online at
    ``now``, sending shares as this platform's miner does (``share_mode=None``: a rig without)."""
    inventory = [GpuInfo(index=i, name=gpu, memory_gb=24, bus_id=i + 1) for i in range(gpus)]
    return WorkerRepository(tables).record_registration(
        worker_id,
        version=version,
        gpus=inventory,
        total_memory_gb=24 * gpus,
        state=WorkerState.AVAILABLE,
        now=now,
        share_mode=share_mode,
    )


def heartbeat(
    tables: Tables,
    worker_id: str,
    *,
    hashrate: float = 1000.0,
    active_gpus: int = 1,
    accepted_blocks: int = 0,
    uptime_sec: int = 60,
    telemetry: list[GpuTelemetry] | None = None,
    now: int = NOW,
) -> Worker:
    """A rig's heartbeat, as ingest writes it (at the platform's difficulty, 8)."""
    return WorkerRepository(tables).record_heartbeat(
        worker_id,
        hashrate=hashrate,
        active_gpus=active_gpus,
        accepted_blocks=accepted_blocks,
        difficulty=8,
        uptime_sec=uptime_sec,
        telemetry=telemetry,
        now=now,
    )


def bring_online(
    tables: Tables,
    worker_id: str,
    *,
    gpu: str = "RTX 4090",
    gpus: int = 1,
    hashrate: float = 1000.0,
    version: str = "1.0",
    now: int = NOW,
    share_mode: ShareMode | None = ShareMode.PATTERN,
    accepted_blocks: int = 0,
    uptime_sec: int = 60,
    telemetry: list[GpuTelemetry] | None = None,
) -> Worker:
    """An enrolled rig that registered and sent a heartbeat at ``now``: online, with a
    measured rate."""
    register_online(
        tables, worker_id, gpu=gpu, gpus=gpus, version=version, now=now, share_mode=share_mode
    )
    return heartbeat(
        tables,
        worker_id,
        hashrate=hashrate,
        active_gpus=gpus,
        accepted_blocks=accepted_blocks,
        uptime_sec=uptime_sec,
        telemetry=telemetry,
        now=now,
    )


def online_worker(
    tables: Tables, *, owner: str = PROVIDER, gpu: str = "RTX 4090", **online: Any
) -> Worker:
    """A new rig of ``owner``'s, brought online (``online``: ``bring_online``'s options)."""
    worker = enrolled_worker(tables, owner=owner, gpu=gpu)
    return bring_online(tables, worker.worker_id, gpu=gpu, **online)


def open_listing(
    tables: Tables,
    *,
    owner: str = PROVIDER,
    price_per_hour: int = 3_600_000,
    hashrate: float = 1000.0,
    gpu: str = "RTX 4090",
) -> Listing:
    worker = enrolled_worker(tables, owner=owner, gpu=gpu)
    listing = listing_of(
        worker.worker_id, owner=owner, price_per_hour=price_per_hour, hashrate=hashrate, gpu=gpu
    )
    return ListingRepository(tables).create(listing)


def listing_of(
    worker_id: str,
    *,
    owner: str = PROVIDER,
    listing_id: str | None = None,
    price_per_hour: int = 3_600_000,
    hashrate: float = 1000.0,
    gpu: str | None = None,
    now: int = NOW,
) -> Listing:
    """An open listing of ``owner``'s rig ``worker_id`` made at ``now`` (not stored)."""
    return Listing(
        listing_id=listing_id or f"l{next(_ids)}",
        worker_id=worker_id,
        provider=owner,
        gpu_model=gpu,
        price_per_hour=price_per_hour,
        advertised_hashrate=hashrate,
        created_at=now,
        updated_at=now,
    )


def lease_for(
    listing: Listing,
    *,
    renter: str = RENTER,
    duration_sec: int = 3600,
    now: int = NOW,
    lease_id: str | None = None,
    fee_bp: int = 500,
) -> Lease:
    return new_lease(
        listing,
        lease_id=lease_id or f"lease-{next(_ids)}",
        renter=renter,
        share_pattern="Xe",
        fee_bp=fee_bp,
        duration_sec=duration_sec,
        now=now,
    )


def deliver_shares(
    tables: Tables, lease: Lease, count: int, *, work: float, within: int | None = None
) -> None:
    """Record ``count`` verified shares of ``lease``, each standing for ``work`` hashes (the
    lease pattern's expected hashes, as ingest records them), found evenly over its first
    ``within`` seconds (its whole duration by default)."""
    shares = ShareRepository(tables)
    within = lease.duration_sec if within is None else within
    for i in range(count):
        found = lease.created_at + i * within // count
        shares.record(
            Share(
                hash=f"{lease.lease_id}-share-{i}",
                lease_id=lease.lease_id,
                worker_id=lease.worker_id,
                key=f"key-{i}",
                difficulty=8,
                work=work,
                found_at=found,
                recorded_at=found,
                expires_at=found + 86_400,
            )
        )


def mined_block(
    n: int,
    *,
    owner: str = PROVIDER,
    recorded_at: int = NOW,
    verified: bool = True,
    **fields: Any,
) -> Block:
    """Block ``n`` (its hash and key made from ``n``), mined by a rig of ``owner``'s for
    ``owner``, verified as a normal block when recorded (``verified=False``: refused);
    ``fields`` change the others."""
    verdict = {"kind": BlockKind.NORMAL, "verified": True, "reason": "normal"}
    if not verified:
        verdict = {"kind": None, "verified": False, "reason": "wrong_prefix"}
    return Block.model_validate(
        {
            "hash": f"h{n:04d}XEN11abc",
            "worker_id": "w-blocks",
            "owner": owner,
            "account": owner,
            "key": f"{n:064x}",
            "difficulty": 8,
            "attempts": 1000,
            "reported_hashrate": 1000.0,
            **verdict,
            "found_at": recorded_at,
            "recorded_at": recorded_at,
            **fields,
        }
    )


def alert_event(n: int, *, owner: str = PROVIDER, **fields: Any) -> AlertEvent:
    """Event ``n`` of a temperature rule on ``owner``'s rig, fired at ``NOW + n``, not
    delivered anywhere; ``fields`` change the others."""
    return AlertEvent.model_validate(
        {
            "event_id": f"ev{n}",
            "rule_id": "rule-x",
            "rule_name": "too hot",
            "owner": owner,
            "worker_id": "rig-1",
            "kind": AlertKind.TEMPERATURE,
            "message": f"event {n}",
            "value": 90.0,
            "threshold": 85.0,
            "ts": NOW + n,
            "delivery": DeliveryStatus.NONE,
            "expires_at": NOW + 86_400,
            **fields,
        }
    )
