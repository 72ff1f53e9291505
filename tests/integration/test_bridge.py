"""``xenblocks-miner bridge`` against the local stack: a farm of rigs speaking the C++ miner's
and mock_fleet's payloads (``tests/xenminer_rigs.py``) over plain MQTT, as those clients do.

They enrol and show online with their figures; a real block in the encoded form is verified
and listed; blocks survive a restart of the platform's broker and of the bridge; a killed
rig (its socket closed, no DISCONNECT) shows offline within 10 s.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from functions.local.stack import LocalHandles
from functions.logic.tokens import issue_token
from miner.bridge.command import run_bridge_command
from miner.bridge.link import OUTBOX_FILE
from miner.cli import build_parser
from miner.outbox import Outbox
from protocol.xenblocks import compute_hash
from tests.http_json import call
from tests.local_stack import free_port, running_stack
from tests.mining import is_normal_block, mine
from tests.waiting import wait_for
from tests.wallet import Wallet
from tests.xenminer_rigs import (
    cpp_block,
    cpp_client_id,
    cpp_heartbeat,
    cpp_last_will,
    cpp_register,
    dumps,
    mock_client_id,
    mock_eth_address,
    mock_heartbeat,
    mock_register,
)

DIFFICULTY = 8
PATTERN = "XEN"  # about one hash in 3,000: a block in well under a second
OWNER = Wallet.numbered(20)
CPP_RIG = "0A:1B:2C:3D:4E:5F"  # the C++ miner's worker id is its MAC address
CPP_ELSEWHERE = "0A:1B:2C:3D:4E:60"  # one that mines for another address
MOCK_RIG = "sim-worker-000"
OTHER = "0x" + "5" * 40


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHandles]:
    with running_stack(
        tmp_path_factory.mktemp("stack"),
        node_port=free_port(),
        difficulty=DIFFICULTY,
        block_pattern=PATTERN,
    ) as handles:
        yield handles


class BridgeProcess:
    """``xenblocks-miner bridge`` as the command line runs it, in a thread."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.stop_event = threading.Event()
        self.exit_codes: list[int] = []
        args = build_parser().parse_args(argv)
        self.thread = threading.Thread(
            target=lambda: self.exit_codes.append(
                run_bridge_command(args, environ={}, stop=self.stop_event)
            ),
            name="bridge",
        )
        self.thread.start()

    def stop(self) -> int:
        self.stop_event.set()
        self.thread.join(timeout=60)
        assert not self.thread.is_alive()
        return self.exit_codes[0]


class LanRig:
    """A rig as the C++ miner or mock_fleet connects: plain MQTT 3.1.1, their client ids,
    the C++ last will; paho reconnects it as the C++ client's automatic reconnect does."""

    def __init__(self, port: int, worker_id: str, client_id: str, *, will: bool) -> None:
        self.worker_id = worker_id
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.connections = 0
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        if will:
            self.client.will_set(
                f"xenminer/{worker_id}/status", dumps(cpp_last_will(worker_id)), qos=1, retain=True
            )
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.on_connect = self._connected
        self.client.on_message = self._message
        self.client.connect_async("127.0.0.1", port, keepalive=60)  # retried until it listens
        self.client.loop_start()
        wait_for(lambda: self.connections, f"{client_id} connecting")

    def _connected(self, client: mqtt.Client, *_: Any) -> None:
        self.connections += 1
        for suffix in ("task", "control"):  # PlatformManager::start subscribes to both
            client.subscribe(f"xenminer/{self.worker_id}/{suffix}", qos=1)

    def _message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.received.append((message.topic, json.loads(message.payload)))

    def publish(self, suffix: str, payload: dict[str, Any], *, qos: int = 1) -> None:
        info = self.client.publish(f"xenminer/{self.worker_id}/{suffix}", dumps(payload), qos=qos)
        if qos:
            info.wait_for_publish(timeout=10)

    def kill(self) -> None:
        """The process dies: its socket closes without an MQTT DISCONNECT."""
        self.client.loop_stop()
        sock = self.client.socket()
        assert sock is not None
        sock.close()


def test_a_farm_of_xenblocks_miner_rigs_joins_through_the_bridge(
    stack: LocalHandles, tmp_path: Path
) -> None:
    api = stack.description["api_url"]
    secret = stack.settings.jwt_secret.get_secret_value()
    token = issue_token(OWNER.address, secret=secret, now=int(time.time()), ttl=3600)
    key_file = tmp_path / "wallet.key"
    key_file.write_text(OWNER.account.key.hex())
    key_file.chmod(0o600)
    fleet_dir = tmp_path / "fleet"
    port = free_port()
    argv = [
        "bridge",
        "--listen",
        f"127.0.0.1:{port}",
        "--api",
        api,
        "--wallet-key-file",
        str(key_file),
        "--fleet-dir",
        str(fleet_dir),
        "--block-pattern",
        PATTERN,
    ]
    bridge = BridgeProcess(argv)
    rigs: list[LanRig] = []
    try:
        cpp = LanRig(port, CPP_RIG, cpp_client_id(CPP_RIG), will=True)
        elsewhere = LanRig(port, CPP_ELSEWHERE, cpp_client_id(CPP_ELSEWHERE), will=True)
        sim = LanRig(port, MOCK_RIG, mock_client_id(MOCK_RIG), will=False)
        rigs += [cpp, elsewhere, sim]
        cpp.publish("register", cpp_register(CPP_RIG, OWNER.address))
        elsewhere.publish("register", cpp_register(CPP_ELSEWHERE, OTHER))
        sim.publish("register", mock_register(MOCK_RIG, mock_eth_address()))
        cpp.publish("heartbeat", cpp_heartbeat(CPP_RIG, OWNER.address, hashrate=3456.5), qos=0)
        elsewhere.publish("heartbeat", cpp_heartbeat(CPP_ELSEWHERE, OTHER, hashrate=2000.0))
        sim.publish("heartbeat", mock_heartbeat(MOCK_RIG, hashrate=161.37), qos=0)

        # Enrolled on first sight (named after their ids) and online with their figures.
        def devices() -> dict[str, dict[str, Any]]:
            items = call(f"{api}/api/devices?limit=200", token=token)["items"]
            return {d["name"]: d for d in items}

        expected = {CPP_RIG: 3456.5, CPP_ELSEWHERE: 2000.0, MOCK_RIG: 161.37}
        listed = wait_for(
            lambda: (
                (found := devices())
                and all(
                    name in found and found[name]["online"] and found[name]["hashrate"] == rate
                    for name, rate in expected.items()
                )
                and found
            ),
            "three rigs online with their hashrates",
        )
        assert listed[CPP_RIG]["gpu_model"] == "NVIDIA GeForce RTX 4090"
        assert listed[CPP_RIG]["state"] == "AVAILABLE"
        worker_id = listed[CPP_RIG]["worker_id"]
        assert (fleet_dir / CPP_RIG / "bundle" / "worker.json").is_file()

        # The C++ rig was answered as it reads it, and told the platform's block pattern.
        wait_for(lambda: len(cpp.received) >= 2, "the register_ack and set_config")
        assert cpp.received[:2] == [
            (f"xenminer/{CPP_RIG}/task", {"command": "register_ack", "accepted": True}),
            (
                f"xenminer/{CPP_RIG}/control",
                {"action": "set_config", "config": {"block_pattern": PATTERN}},
            ),
        ]

        # A real block, in the C++ miner's encoded form: verified and listed.
        def block(rig: LanRig) -> str:
            key, hash_b64 = mine(OWNER.address, DIFFICULTY, is_normal_block)
            rig.publish(
                "block", cpp_block(rig.worker_id, key=key, address=OWNER.address, difficulty=8)
            )
            assert hash_b64 == compute_hash(key, OWNER.address, DIFFICULTY)
            return hash_b64

        def listed_block(hash_b64: str) -> dict[str, Any] | None:
            recent = call(f"{api}/api/monitoring/blocks/recent?mine=true&limit=200", token=token)
            return next((b for b in recent["items"] if b["hash"] == hash_b64), None)

        first = block(cpp)
        verified = wait_for(lambda: listed_block(first), "the block verified and listed")
        assert (verified["worker_id"], verified["account"]) == (worker_id, OWNER.address)
        assert (verified["kind"], verified["difficulty"]) == ("normal", DIFFICULTY)

        # The platform's broker goes down: the block waits in the rig's outbox.
        stack.plane.stop_broker()
        try:
            second = block(cpp)
            with Outbox(fleet_dir / CPP_RIG / OUTBOX_FILE) as outbox:
                wait_for(lambda: outbox.count(kind="block") == 1, "the block kept")
        finally:
            stack.plane.start_broker()
        wait_for(lambda: listed_block(second), "the kept block delivered", timeout=30)

        # The bridge restarts: the same identities, and the C++ rig (which reconnects
        # without registering) is announced again.
        assert bridge.stop() == 0
        bridge = BridgeProcess(argv)
        wait_for(lambda: cpp.connections >= 2, "the C++ rig reconnecting", timeout=30)
        third = block(cpp)
        again = wait_for(lambda: listed_block(third), "a block after the bridge restarted")
        assert again["worker_id"] == worker_id
        assert len(devices()) == 3  # nobody enrolled twice

        # Rented: the C++ rig proves its work through its block pattern, and is paid for it.
        _rent_and_settle(api, stack, token, cpp, worker_id)

        # Killed rigs, with the C++ last will and without (mock_fleet): offline within 10 s.
        wait_for(lambda: devices()[CPP_RIG]["online"], "the C++ rig online again")
        killed_at = time.monotonic()
        cpp.kill()
        sim.kill()
        wait_for(
            lambda: not any(devices()[name]["online"] for name in (CPP_RIG, MOCK_RIG)),
            "the killed rigs offline",
            timeout=10,
        )
        assert time.monotonic() - killed_at < 10
        assert devices()[CPP_ELSEWHERE]["online"]  # its neighbour is still there
    finally:
        for rig in rigs:
            rig.client.loop_stop()
            rig.client.disconnect()
        assert bridge.stop() == 0


def _rent_and_settle(
    api: str, stack: LocalHandles, owner_token: str, rig: LanRig, worker_id: str
) -> None:
    """A renter rents the C++ rig; the rig mines as the C++ miner does under a lease (the
    lease's prefix and the renter's address, every hash containing its block pattern
    reported as a block); the lease's shares are verified and it settles with pay."""
    secret = stack.settings.jwt_secret.get_secret_value()
    renter = Wallet.numbered(21)
    renter_token = issue_token(renter.address, secret=secret, now=int(time.time()), ttl=3600)
    # Listed slow, so its share pattern (the start of XEN) is easy here.
    listing = call(
        f"{api}/api/listings",
        token=owner_token,
        body={
            "worker_id": worker_id,
            "price_per_hour": 1_000_000,
            "advertised_hashrate": 0.5,
            "min_duration_sec": 60,
        },
    )
    assert listing["measured_by"] == "shares"
    call(f"{api}/api/accounts/me/deposit", token=renter_token, body={"amount": 5_000_000})
    lease = call(
        f"{api}/api/leases",
        token=renter_token,
        body={"listing_id": listing["listing_id"], "duration_sec": 600},
    )
    pattern, prefix, lease_id = lease["share_pattern"], lease["prefix"], lease["lease_id"]
    assert PATTERN.startswith(pattern)
    assert pattern != PATTERN  # a part of it: the rig's hits are shares, its blocks blocks
    told = {"action": "set_config", "config": {"block_pattern": pattern}}
    wait_for(lambda: (f"xenminer/{CPP_RIG}/control", told) in rig.received, "the lease's pattern")

    hits = 5
    for _ in range(hits):
        key, _hash = mine(renter.address, DIFFICULTY, lambda h: pattern in h, prefix=prefix)
        payload = cpp_block(
            CPP_RIG, key=key, address=renter.address, difficulty=DIFFICULTY, lease_id=lease_id
        )
        rig.publish("block", payload)

    def lease_now() -> dict[str, Any]:
        return call(f"{api}/api/leases/{lease_id}", token=renter_token)

    wait_for(lambda: lease_now()["shares"] == hits, "the rig's hits verified as shares")
    # A lease is billed by the second: one stopped in its first second costs nothing.
    wait_for(lambda: time.time() >= lease["created_at"] + 2, "the lease's second second")
    before_stop = len(rig.received)
    call(f"{api}/api/leases/{lease_id}/stop", token=renter_token, body={})
    settled = wait_for(
        lambda: (found := lease_now())["status"] == "settled" and found,
        "the lease settled",
        timeout=60,
    )
    assert settled["payout"] > 0, settled  # paid for its verified work
    assert settled["payout"] + settled["fee"] + settled["refund"] == settled["max_cost"]
    usual = {"action": "set_config", "config": {"block_pattern": PATTERN}}
    wait_for(
        lambda: (f"xenminer/{CPP_RIG}/control", usual) in rig.received[before_stop:],
        "the rig's usual block pattern back",
    )
