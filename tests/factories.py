"""Small builders for domain records used across test suites."""

from __future__ import annotations

import itertools

from functions.dal.listings import ListingRepository
from functions.dal.tables import Tables
from functions.dal.workers import WorkerRepository
from functions.models.market import Lease, Listing, max_cost
from functions.models.workers import Worker
from protocol.addresses import to_checksum
from protocol.messages import GpuInfo, ShareMode, WorkerState
from protocol.xenblocks import new_prefix

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
    now: int = NOW,
    share_mode: ShareMode | None = ShareMode.PATTERN,
) -> Worker:
    """An enrolled rig's ``register``, as ingest writes it: one RTX 4090, online at ``now``,
    sending shares as this platform's miner does (``share_mode=None``: a rig without)."""
    return WorkerRepository(tables).record_registration(
        worker_id,
        version="1.0",
        gpus=[GpuInfo(index=0, name="RTX 4090", memory_gb=24, bus_id=1)],
        total_memory_gb=24,
        state=WorkerState.AVAILABLE,
        now=now,
        share_mode=share_mode,
    )


def open_listing(
    tables: Tables,
    *,
    owner: str = PROVIDER,
    price_per_hour: int = 3_600_000,
    hashrate: float = 1000.0,
    gpu: str = "RTX 4090",
) -> Listing:
    worker = enrolled_worker(tables, owner=owner, gpu=gpu)
    listing = Listing(
        listing_id=f"l{next(_ids)}",
        worker_id=worker.worker_id,
        provider=owner,
        gpu_model=gpu,
        price_per_hour=price_per_hour,
        advertised_hashrate=hashrate,
        created_at=NOW,
        updated_at=NOW,
    )
    return ListingRepository(tables).create(listing)


def lease_for(
    listing: Listing,
    *,
    renter: str = RENTER,
    duration_sec: int = 3600,
    now: int = NOW,
    lease_id: str | None = None,
    fee_bp: int = 500,
) -> Lease:
    cost = max_cost(listing.price_per_hour, duration_sec)
    return Lease(
        lease_id=lease_id or f"lease-{next(_ids)}",
        listing_id=listing.listing_id,
        worker_id=listing.worker_id,
        provider=listing.provider,
        renter=renter,
        prefix=new_prefix(),
        share_pattern="Xe",
        price_per_hour=listing.price_per_hour,
        advertised_hashrate=listing.advertised_hashrate,
        fee_bp=fee_bp,
        duration_sec=duration_sec,
        created_at=now,
        ends_at=now + duration_sec,
        max_cost=cost,
        escrow=cost,
    )
