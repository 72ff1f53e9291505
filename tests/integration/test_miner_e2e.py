"""A real CPU miner against the local stack: enrol, register, heartbeat, take a lease, mine
for the renter under the lease's prefix, and have blocks and shares verified; the broker
crashes mid-lease and no block the rig found is lost."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from functions.local.stack import LocalHandles
from functions.logic.tokens import issue_token
from miner.config import load_config
from miner.engine import DeviceSpec, ErrorCallback, FindCallback, MiningEngine
from miner.enrolment.flow import enroll
from miner.fleet import enrol_fleet, run_fleet
from miner.outbox import Outbox
from miner.runner import OUTBOX_FILE, RigRunner
from miner.search import Find, FindKind
from protocol.messages import WorkerState
from tests.factories import PROVIDER, RENTER
from tests.http_json import call
from tests.local_stack import running_stack
from tests.waiting import wait_for

# At 64 KiB one CPU process does a few thousand hashes a second: with "XEN" (one block in
# about 3,000 hashes) and a lease listed at 50 H/s (a share in about 3,000), about one
# block and one share a second, which the local ingest keeps up with on a busy CI box.
DIFFICULTY = 64
BLOCK_PATTERN = "XEN"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    with running_stack(
        tmp_path_factory.mktemp("stack"),
        difficulty=DIFFICULTY,
        block_pattern=BLOCK_PATTERN,
    ) as handles:
        yield handles


class RecordingEngine(MiningEngine):
    """The real engine; every find is also kept here, to check none is lost."""

    def __init__(self, on_find: FindCallback, on_error: ErrorCallback) -> None:
        self.found: list[Find] = []
        self._found_lock = threading.Lock()

        def record(find: Find) -> None:
            with self._found_lock:
                self.found.append(find)
            on_find(find)

        super().__init__([DeviceSpec("cpu", 0, processes=1)], on_find=record, on_error=on_error)

    def blocks(self, lease_id: str | None = None) -> list[Find]:
        with self._found_lock:
            return [
                find
                for find in self.found
                if find.kind is FindKind.BLOCK
                and (lease_id is None or find.job.lease_id == lease_id)
            ]


def test_a_cpu_miner_takes_a_lease_and_loses_no_block_when_the_broker_crashes(
    stack: LocalHandles, tmp_path: Path
):
    api = stack.description["api_url"]
    secret = stack.settings.jwt_secret.get_secret_value()
    now = int(time.time())
    provider = issue_token(PROVIDER, secret=secret, now=now, ttl=3600)
    renter = issue_token(RENTER, secret=secret, now=now, ttl=3600)

    # Enrol exactly as `xenblocks-miner enroll --token` does.
    bundle = enroll(api, token=provider, name="e2e rig", bundle_dir=tmp_path / "rig")
    assert bundle.owner == PROVIDER
    assert bundle.publish_topics["heartbeat"] == f"xenminer/{bundle.worker_id}/heartbeat"

    config = load_config(
        {
            "backend": "cpu",
            "processes": 1,
            "submit_to_network": False,
            "difficulty": DIFFICULTY,
            "block_pattern": BLOCK_PATTERN,
            "heartbeat_seconds": 5,
        }
    )
    engines: list[RecordingEngine] = []

    def engine_factory(on_find: FindCallback, on_error: ErrorCallback) -> RecordingEngine:
        engines.append(RecordingEngine(on_find, on_error))
        return engines[-1]

    rig_runner = RigRunner(
        config, bundle, devices=[DeviceSpec("cpu", 0, 1)], engine_factory=engine_factory
    )
    rig = rig_runner.rig
    stop_rig = threading.Event()
    exit_codes: list[int] = []
    rig_thread = threading.Thread(
        target=lambda: exit_codes.append(rig_runner.run(stop_rig)), name="rig"
    )
    rig_thread.start()
    try:
        # Registered, then heartbeating with a real hashrate.
        wait_for(lambda: rig.state is WorkerState.AVAILABLE, "registration")

        # (moto's state is per process: other tests' rigs of the same provider are listed too.)
        def our_device() -> dict[str, Any]:
            devices = call(f"{api}/api/devices?limit=200", token=provider)["items"]
            return next(d for d in devices if d["worker_id"] == bundle.worker_id)

        wait_for(lambda: our_device()["hashrate"] > 0, "a heartbeat with a hashrate")

        # Listed low, so the lease's share pattern is easy for the real rig.
        listing = call(
            f"{api}/api/listings",
            token=provider,
            body={
                "worker_id": bundle.worker_id,
                "price_per_hour": 1_000_000,
                "advertised_hashrate": 50.0,
                "min_duration_sec": 60,
            },
        )
        call(f"{api}/api/accounts/me/deposit", token=renter, body={"amount": 5_000_000})
        lease = call(
            f"{api}/api/leases",
            token=renter,
            body={"listing_id": listing["listing_id"], "duration_sec": 600},
        )
        lease_id = lease["lease_id"]
        wait_for(
            lambda: rig.state is WorkerState.MINING and rig.lease is not None,
            "the rig taking the lease",
        )
        job = rig.engine.job
        assert job is not None
        assert (job.address, job.lease_id) == (RENTER, lease_id)
        assert job.stem.startswith(lease["prefix"])
        assert str(job.share_pattern) == lease["share_pattern"]

        # The platform verifies the lease's blocks and shares.
        verified = wait_for(
            lambda: [
                block
                for block in call(f"{api}/api/leases/{lease_id}/blocks", token=renter)["items"]
                if block["verified"]
            ],
            "a verified block for the lease",
        )
        assert all(block["key"].startswith(lease["prefix"]) for block in verified)
        wait_for(
            lambda: call(f"{api}/api/leases/{lease_id}", token=renter)["shares"] >= 2,
            "verified shares for the lease",
        )

        # The broker is killed and stays down for a while; the rig keeps mining into its
        # outbox. (SIGTERM: mosquitto saves its state, as a broker that must not lose
        # acknowledged messages does; IoT Core's rules never stop listening.)
        engine = engines[0]
        before = len(engine.blocks(lease_id))
        stack.plane.stop_broker()
        try:
            wait_for(
                lambda: len(engine.blocks(lease_id)) > before + 1,
                "blocks found while the broker is down",
                timeout=60,
            )
            assert not rig_runner.client.connected
            assert rig.outbox.count(kind="block") >= 1
        finally:
            stack.plane.start_broker()

        # Back up: the rig reconnects and delivers everything it found.
        wait_for(lambda: rig_runner.client.connected, "the rig reconnecting", timeout=60)
        stop_rig.set()
        rig_thread.join(timeout=60)
        assert exit_codes == [0]
        with Outbox(bundle.directory / OUTBOX_FILE) as outbox:
            assert outbox.count() == 0  # everything was acknowledged before it stopped
        found = {find.hash_b64 for find in engine.blocks(lease_id)}
        recorded = wait_for(
            lambda: found <= (hashes := _lease_block_hashes(api, lease_id, renter)) and hashes,
            "every block found reaching the platform",
            timeout=60,
        )
        assert found <= recorded
    finally:
        stop_rig.set()
        rig_thread.join(timeout=60)
    assert not rig_thread.is_alive()


def _lease_block_hashes(api: str, lease_id: str, token: str) -> set[str]:
    hashes: set[str] = set()
    cursor = None
    while True:
        query = f"?limit=200&cursor={cursor}" if cursor else "?limit=200"
        page = call(f"{api}/api/leases/{lease_id}/blocks{query}", token=token)
        hashes |= {block["hash"] for block in page["items"] if block["verified"]}
        cursor = page.get("next_cursor")
        if not cursor:
            return hashes


def test_a_simulated_fleet_enrols_once_and_reports_in(stack: LocalHandles, tmp_path: Path):
    api = stack.description["api_url"]
    secret = stack.settings.jwt_secret.get_secret_value()
    token = issue_token(PROVIDER, secret=secret, now=int(time.time()), ttl=3600)
    fleet_dir = tmp_path / "fleet"
    bundles = enrol_fleet(3, fleet_dir, api, token=token, wallet_key=None)
    assert len({bundle.worker_id for bundle in bundles}) == 3
    again = enrol_fleet(3, fleet_dir, api, token=token, wallet_key=None)
    assert [b.worker_id for b in again] == [b.worker_id for b in bundles]  # reused

    config = load_config({"submit_to_network": False, "heartbeat_seconds": 5})
    stop = threading.Event()
    runners: list[Any] = []
    fleet = threading.Thread(
        target=lambda: runners.extend(
            run_fleet(bundles, config, stop, simulated_hashrate=5_000.0, report_every=1)
        )
    )
    fleet.start()
    try:
        ours = {bundle.worker_id for bundle in bundles}

        def reporting() -> bool:
            devices = call(f"{api}/api/devices?limit=200", token=token)["items"]
            return sum(1 for d in devices if d["worker_id"] in ours and d["hashrate"] > 4_000) == 3

        wait_for(reporting, "three simulated rigs heartbeating")
    finally:
        stop.set()
        fleet.join(timeout=60)
    assert not fleet.is_alive()
    assert all(runner.rig.state is WorkerState.AVAILABLE for runner in runners)
