"""``xenblocks local --seed-demo``: a marketplace with a past, for demos and the dashboard.

Seeds three demo providers with GPU rigs (most of them listed; five RTX 4090 rigs, so that
model has peers), a funded demo renter with a running lease, a day of history for every rig
(hashrate, the difficulty it mined at, each GPU's hashrate, temperature, fan and power) and
for the fleet, and a day of verified blocks; then the insights job builds each rig's
baseline and the GPU models' figures from that history, as its scheduled run would. While
the stack runs, the demo rigs heartbeat through the real ingest path (as the rule bridge
would hand their MQTT messages over) with figures drawn as their history's were, so they
stay online, the live views move and the anomaly watch finds nothing unusual. Seeding is
idempotent: a second start with the same state directory only resumes the heartbeats.
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
from functions.logic.ingest import IngestService, history_values
from functions.logic.insights import InsightsJob
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
    power_w: float = 300.0  # per GPU, the usual draw
    temperature_c: float = 66.0  # per GPU, the usual temperature at that draw


def _address(label: str) -> str:
    return to_checksum("0x" + hashlib.sha256(label.encode()).hexdigest()[:40])


PROVIDERS = [_address(f"xenblocks-demo-provider-{n}") for n in range(3)]
RENTER = _address("xenblocks-demo-renter")
RTX_4090 = "NVIDIA GeForce RTX 4090"
RIGS = [
    DemoRig("demo-aurora-01", 0, RTX_4090, 4, 24, 2450.0, 1_800_000, 320.0, 67.0),
    DemoRig("demo-aurora-02", 0, RTX_4090, 2, 24, 2430.0, 950_000, 315.0, 65.0),
    DemoRig("demo-aurora-03", 0, "NVIDIA GeForce RTX 3090", 2, 24, 1310.0, None, 340.0, 72.0),
    DemoRig("demo-aurora-04", 0, RTX_4090, 1, 24, 2470.0, None, 325.0, 64.0),
    DemoRig("demo-boreal-01", 1, "NVIDIA H100 80GB HBM3", 8, 80, 6900.0, 9_500_000, 610.0, 61.0),
    DemoRig("demo-boreal-02", 1, "NVIDIA A100-SXM4-80GB", 4, 80, 3650.0, 3_900_000, 360.0, 58.0),
    DemoRig("demo-boreal-03", 1, RTX_4090, 2, 24, 2390.0, 1_000_000, 310.0, 69.0),
    DemoRig("demo-cirrus-01", 2, "NVIDIA GeForce RTX 3080", 1, 10, 1020.0, 260_000, 290.0, 70.0),
    DemoRig("demo-cirrus-02", 2, "NVIDIA GeForce RTX 4070 Ti", 1, 12, 1280.0, None, 245.0, 63.0),
    DemoRig("demo-cirrus-03", 2, RTX_4090, 1, 24, 2410.0, 480_000, 330.0, 71.0),
]


def seed(settings: Settings, tables: Tables, now: int) -> dict[str, Any]:
    """Write the demo records unless they are there; what local.json should say."""
    workers = WorkerRepository(tables)
    if workers.get(RIGS[0].worker_id) is None:
        rng = random.Random(20261121)  # the same demo every time
        difficulty = settings.rules.difficulty
        listings = [_seed_rig(tables, rig, now, rng, difficulty) for rig in RIGS]
        _seed_fleet_history(tables, now, settings)
        _seed_blocks(tables, now, rng)
        _seed_lease(tables, next(item for item in listings if item is not None), now)
        _seed_baselines(settings, tables, now)
        log.info("seeded the demo marketplace")
    return {"providers": PROVIDERS, "renter": RENTER, "rigs": [rig.worker_id for rig in RIGS]}


def _gpu_figures(rig: DemoRig, rng: random.Random) -> list[GpuTelemetry]:
    """One moment of the rig's GPUs: its usual figures with their spread, the fan following
    the temperature (as a fan curve does). The history and the heartbeats both draw here."""
    gpus = []
    for i in range(rig.gpus):
        power = rig.power_w * rng.uniform(0.96, 1.03)
        temperature = rig.temperature_c + (power - rig.power_w) * 0.05 + rng.uniform(-1.5, 1.5)
        gpus.append(
            GpuTelemetry(
                index=i,
                hashrate=round(rig.hashrate * rng.uniform(0.96, 1.03), 1),
                temperature_c=round(temperature, 1),
                fan_pct=round(min(100.0, 45 + 1.5 * (temperature - 55) + rng.uniform(-2, 2)), 1),
                power_w=round(power, 1),
            )
        )
    return gpus


def _heartbeat(
    rig: DemoRig, rng: random.Random, *, difficulty: int, uptime: int, now: int
) -> Heartbeat:
    gpus = _gpu_figures(rig, rng)
    return Heartbeat(
        worker_id=rig.worker_id,
        hashrate=round(sum(g.hashrate for g in gpus), 1),
        active_gpus=rig.gpus,
        accepted_blocks=0,
        difficulty=difficulty,
        uptime_sec=uptime,
        timestamp=now,
        gpus=gpus,
    )


def _seed_rig(
    tables: Tables, rig: DemoRig, now: int, rng: random.Random, difficulty: int
) -> Listing | None:
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
    # Each point as ingest writes a heartbeat's (functions/logic/ingest.history_values).
    points = [
        TelemetryPoint(
            series=worker_series(rig.worker_id),
            ts=ts,
            values=history_values(
                _heartbeat(rig, rng, difficulty=difficulty, uptime=ts - now + DAY, now=ts)
            ),
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


def _seed_baselines(settings: Settings, tables: Tables, now: int) -> None:
    """What the insights job's next run would do, now rather than minutes after the start:
    each rig's baseline from its seeded history, then each GPU model's figures."""
    job = InsightsJob(settings, tables)
    workers = WorkerRepository(tables)
    for rig in RIGS:
        worker = workers.get(rig.worker_id)
        if worker is not None:
            job.rebuild(worker, now)
    job.refresh_models([rig.worker_id for rig in RIGS], now)


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
        # The difficulty the network publishes now, as a miner learns it from register_ack.
        difficulty = ingest.network.difficulty()
        for rig in RIGS:
            heartbeat = _heartbeat(rig, rng, difficulty=difficulty, uptime=now - started, now=now)
            _accept(ingest, rig.worker_id, heartbeat, now)


def _accept(ingest: IngestService, worker_id: str, message: Register | Heartbeat, now: int) -> None:
    try:
        outcome = ingest.accept(worker_id, message, now)
    except Exception:  # a demo rig must never take the stack down
        log.exception("demo rig %s: message not ingested", worker_id)
        return
    if not outcome.accepted:
        log.warning("demo rig %s: %s refused (%s)", worker_id, outcome.kind, outcome.reason)
