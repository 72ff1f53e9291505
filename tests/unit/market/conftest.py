from __future__ import annotations

import pytest

from functions.dal.accounts import AccountRepository
from functions.dal.workers import WorkerRepository
from functions.ports.devices import RecordingPublisher
from protocol.messages import GpuInfo, ShareMode, WorkerState
from tests.api_client import api_context, client_for
from tests.factories import NOW, PROVIDER, RENTER, enrolled_worker


@pytest.fixture
def publisher():
    return RecordingPublisher()


@pytest.fixture
def clock():
    """A settable clock: ``clock.now = …`` moves time for the API."""

    class Clock:
        now = NOW

        def __call__(self) -> int:
            return self.now

    return Clock()


@pytest.fixture
def context(settings, tables, publisher, clock):
    return api_context(settings, tables, now=clock, publisher=publisher)


@pytest.fixture
def client(context):
    return client_for(context)


def online_worker(
    tables,
    *,
    owner=PROVIDER,
    gpu="RTX 4090",
    hashrate=1000.0,
    now=NOW,
    share_mode=ShareMode.PATTERN,
):
    """An enrolled rig that registered and sent a heartbeat: online, with a measured rate
    (sending shares as this platform's miner does, unless ``share_mode`` says otherwise)."""
    worker = enrolled_worker(tables, owner=owner, gpu=gpu)
    workers = WorkerRepository(tables)
    workers.record_registration(
        worker.worker_id,
        version="1.0",
        gpus=[GpuInfo(index=0, name=gpu, memory_gb=24, bus_id=1)],
        total_memory_gb=24,
        state=WorkerState.AVAILABLE,
        now=now,
        share_mode=share_mode,
    )
    return workers.record_heartbeat(
        worker.worker_id,
        hashrate=hashrate,
        active_gpus=1,
        accepted_blocks=0,
        difficulty=8,
        uptime_sec=60,
        telemetry=None,
        now=now,
    )


def fund(tables, address=RENTER, amount=1_000_000_000):
    AccountRepository(tables).deposit(address, amount, entry_id=f"fund-{address}-{amount}", now=NOW)
