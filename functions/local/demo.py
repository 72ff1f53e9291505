"""``xenblocks local --seed-demo``: a marketplace with a past, for demos and the dashboard.

Seeds three demo providers with GPU rigs (most of them listed), a funded demo renter with
a running lease, a day of hashrate history for every rig and the fleet, and a day of
verified blocks. Then, while the stack runs, the demo rigs heartbeat through the real ingest
path (as the rule bridge would hand their MQTT messages over), so they stay online and the
live views move. Seeding is idempotent: a second start with the same state directory only
resumes the heartbeats.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from functions.dal.accounts import AccountRepository
from functions.dal.blocks import BlockRepository
from functions.dal.leases import LeaseRepository
from functions.dal.listings import ListingRepository
from functions.dal.tables import Tables
from functions.dal.telemetry import TelemetryRepository
from functions.dal.workers import WorkerRepository
from functions.logic.ingest import IngestService
from functions.models.blocks import Block
from functions.models.market import Listing, new_lease
from functions.models.telemetry import FLEET_SERIES, TelemetryPoint, worker_series
from functions.models.workers import Worker
from functions.settings import Settings
from protocol.addresses import to_checksum
from protocol.uplink import GpuInfo, GpuTelemetry, Heartbeat, Register
from protocol.xenblocks import BlockKind

log = logging.getLogger(__name__)

DAY = 86_400
HISTORY_STEP = 300
FLEET_STEP = 900
HEARTBEAT_SECONDS = 5


@dataclass(frozen=True)
class DemoRig:
    worker_id: str
    owner: int  # index into PROVIDERS
    gpu: str
    gpus: int
    memory_gb: int
    hashrate: float  # per GPU, H/s
    price_per_hour: int | None  # micro-credits; None: not listed


def _address(label: str) -> str:
    return to_checksum("0x" + hashlib.sha256(label.encode()).hexdigest()[:40])


PROVIDERS = [_address(f"xenblocks-demo-provider-{n}") for n in range(3)]
RENTER = _address("xenblocks-demo-renter")
RIGS = [
    DemoRig("demo-aurora-01", 0, "NVIDIA GeForce RTX 4090", 4, 24, 2450.0, 1_800_000),
    DemoRig("demo-aurora-02", 0, "NVIDIA GeForce RTX 4090", 2, 24, 2430.0, 950_000),
    DemoRig("demo-aurora-03", 0, "NVIDIA GeForce RTX 3090", 2, 24, 1310.0, None),
    DemoRig("demo-boreal-01", 1, "NVIDIA H100 80GB HBM3", 8, 80, 6900.0, 9_500_000),
    DemoRig("demo-boreal-02", 1, "NVIDIA A100-SXM4-80GB", 4, 80, 3650.0, 3_900_000),
    DemoRig("demo-cirrus-01", 2, "NVIDIA GeForce RTX 3080", 1, 10, 1020.0, 260_000),
    DemoRig("demo-cirrus-02", 2, "NVIDIA GeForce RTX 4070 Ti", 1, 12, 1280.0, None),
]


def seed(settings: Settings, tables: Tables, now: int) -> dict[str, Any]:
    """Write the demo records unless they are there; what local.json should say."""
    workers = WorkerRepository(tables)
    if workers.get(RIGS[0].worker_id) is None:
        rng = random.Random(20261121)  # the same demo every time
        listings = [_seed_rig(tables, rig, now, rng) for rig in RIGS]
        _seed_fleet_history(tables, now, settings)
        _seed_blocks(tables, now, rng)
        _seed_lease(tables, next(item for item in listings if item is not None), now)
        log.info("seeded the demo marketplace")
    return {"providers": PROVIDERS, "renter": RENTER, "rigs": [rig.worker_id for rig in RIGS]}


def _seed_rig(tables: Tables, rig: DemoRig, now: int, rng: random.Random) -> Listing | None:
    inventory = [
        GpuInfo(index=i, name=rig.gpu, memory_gb=rig.memory_gb, bus_id=i + 1)
        for i in range(rig.gpus)
    ]
    WorkerRepository(tables).create(
        Worker(
            worker_id=rig.worker_id,
            owner=PROVIDERS[rig.owner],
            name=rig.worker_id.removeprefix("demo-"),
            created_at=now - 30 * DAY,
            gpus=inventory,
            gpu_model=rig.gpu,
            total_memory_gb=rig.memory_gb * rig.gpus,
        )
    )
    telemetry = TelemetryRepository(tables)
    total = rig.hashrate * rig.gpus
    points = [
        TelemetryPoint(
            series=worker_series(rig.worker_id),
            ts=ts,
            values={"hashrate": round(total * rng.uniform(0.93, 1.03), 1)},
            expires_at=ts + 30 * DAY,
        )
        for ts in range(now - DAY, now, HISTORY_STEP)
    ]
    telemetry.put_many(points)
    if rig.price_per_hour is None:
        return None
    listing = Listing(
        listing_id=f"listing-{rig.worker_id}",
        worker_id=rig.worker_id,
        provider=PROVIDERS[rig.owner],
        gpu_model=rig.gpu,
        price_per_hour=rig.price_per_hour,
        advertised_hashrate=total,
        created_at=now - 7 * DAY,
        updated_at=now - 7 * DAY,
    )
    return ListingRepository(tables).create(listing)


def _seed_fleet_history(tables: Tables, now: int, settings: Settings) -> None:
    total = sum(rig.hashrate * rig.gpus for rig in RIGS)
    gpus = sum(rig.gpus for rig in RIGS)
    points = []
    for ts in range(now - DAY, now, FLEET_STEP):
        wave = 0.9 + 0.1 * ((ts // FLEET_STEP) % 7) / 6
        points.append(
            TelemetryPoint(
                series=FLEET_SERIES,
                ts=ts,
                values={
                    "online_workers": float(len(RIGS)),
                    "hashrate": round(total * wave, 1),
                    "gpus": float(gpus),
                    "leased_workers": 1.0,
                    "owners": float(len(PROVIDERS)),
                },
                expires_at=ts + settings.telemetry_retention_days * DAY,
            )
        )
    TelemetryRepository(tables).put_many(points)


def _seed_blocks(tables: Tables, now: int, rng: random.Random) -> None:
    blocks = BlockRepository(tables)
    for n in range(12):
        rig = RIGS[n % len(RIGS)]
        found = now - rng.randrange(600, DAY)
        body = base64.b64encode(rng.randbytes(60)).decode().rstrip("=")
        digest = body[:20] + "XEN11" + body[25:]
        blocks.record(
            Block(
                hash=digest,
                worker_id=rig.worker_id,
                owner=PROVIDERS[rig.owner],
                account=PROVIDERS[rig.owner],
                key=rng.randbytes(32).hex(),
                difficulty=120_000,
                attempts=rng.randrange(10_000_000, 90_000_000),
                reported_hashrate=rig.hashrate * rig.gpus,
                kind=BlockKind.NORMAL,
                verified=True,
                reason="normal",
                found_at=found,
                recorded_at=found + 2,
            )
        )


def _seed_lease(tables: Tables, listing: Listing, now: int) -> None:
    AccountRepository(tables).deposit(RENTER, 500_000_000, entry_id="demo:fund", now=now)
    lease = new_lease(
        listing,
        lease_id="lease-demo-01",
        renter=RENTER,
        share_pattern="XEN",
        fee_bp=500,
        duration_sec=6 * 3600,
        now=now - 3600,  # an hour in
    )
    LeaseRepository(tables).create(lease, listing)


@contextlib.contextmanager
def demo_rigs(ingest: IngestService, *, every: float = HEARTBEAT_SECONDS) -> Iterator[None]:
    """Heartbeat the demo rigs through the ingest logic until the ``with`` ends."""
    stop = threading.Event()
    thread = threading.Thread(target=_beat, args=(ingest, stop, every), name="demo", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def _beat(ingest: IngestService, stop: threading.Event, every: float) -> None:
    started = int(time.time())
    rng = random.Random()
    for rig in RIGS:
        register = Register(
            worker_id=rig.worker_id,
            eth_address=PROVIDERS[rig.owner],
            gpu_count=rig.gpus,
            total_memory_gb=rig.memory_gb * rig.gpus,
            gpus=[
                GpuInfo(index=i, name=rig.gpu, memory_gb=rig.memory_gb, bus_id=i + 1)
                for i in range(rig.gpus)
            ],
            version="demo",
            timestamp=started,
        )
        _accept(ingest, rig.worker_id, register, started)
    while not stop.wait(every):
        now = int(time.time())
        for rig in RIGS:
            gpus = [
                GpuTelemetry(
                    index=i,
                    hashrate=round(rig.hashrate * rng.uniform(0.95, 1.03), 1),
                    temperature_c=round(rng.uniform(58, 74), 1),
                    fan_pct=round(rng.uniform(40, 75), 1),
                    power_w=round(rng.uniform(250, 330), 1),
                )
                for i in range(rig.gpus)
            ]
            heartbeat = Heartbeat(
                worker_id=rig.worker_id,
                hashrate=round(sum(g.hashrate for g in gpus), 1),
                active_gpus=rig.gpus,
                accepted_blocks=0,
                difficulty=0,
                uptime_sec=now - started,
                timestamp=now,
                gpus=gpus,
            )
            _accept(ingest, rig.worker_id, heartbeat, now)


def _accept(ingest: IngestService, worker_id: str, message: Register | Heartbeat, now: int) -> None:
    try:
        outcome = ingest.accept(worker_id, message, now)
    except Exception:  # a demo rig must never take the stack down
        log.exception("demo rig %s: message not ingested", worker_id)
        return
    if not outcome.accepted:
        log.warning("demo rig %s: %s refused (%s)", worker_id, outcome.kind, outcome.reason)
