"""The bridge's rig links with a fake platform connection and enroller, and real outboxes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from miner.bridge.link import OUTBOX_FILE, REGISTER_FILE, REGISTER_GRACE_SECONDS, RigOptions
from miner.bridge.service import Bridge
from miner.client import MessageHandler
from miner.enrolment.bundle import CertificateBundle
from miner.outbox import Outbox
from protocol.codec import encode, parse_uplink
from protocol.downlink import AssignTask, Control, RegisterAck, Release, SetConfig
from protocol.topics import Downlink, Uplink, parse_topic
from protocol.uplink import BlockFound, Heartbeat, Register, Status, WorkerState
from protocol.xenblocks import compute_hash, generate_key
from tests.factories import PROVIDER, RENTER
from tests.waiting import wait_for
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

MAC = "0A:1B:2C:3D:4E:5F"
OTHER = "0x" + "5" * 40


class FakePlatform:
    """A rig's platform connection: what it published, whether it is up."""

    def __init__(
        self, worker_id: str, on_message: MessageHandler, on_connect: Callable[[], None], up: bool
    ) -> None:
        self.worker_id = worker_id
        self.on_message = on_message
        self._on_connect = on_connect
        self._up = up
        self.connected = False
        self.sent: list[tuple[str, bytes, int]] = []
        self.stopped = False
        self._lock = threading.Lock()

    def start(self) -> None:
        if self._up:
            self.come_up()

    def come_up(self) -> None:
        self._up = True
        self.connected = True
        self._on_connect()

    def go_down(self) -> None:
        self.connected = False

    def stop(self) -> None:
        self.stopped = True
        self.connected = False

    def publish(self, topic_name: str, payload: bytes, *, qos: int = 1) -> None:
        with self._lock:
            self.sent.append((topic_name, payload, qos))

    def deliver(self, topic_name: str, payload: bytes, *, timeout: float = 10.0) -> bool:
        if not self.connected:
            return False
        self.publish(topic_name, payload)
        return True

    def messages(self, uplink: Uplink) -> list[Any]:
        with self._lock:
            sent = list(self.sent)
        return [
            parse_uplink(uplink, payload)
            for name, payload, _ in sent
            if parse_topic(name).suffix is uplink
        ]


class FakeEnroller:
    """Enrols a rig once per directory (the bridge keeps what it is given)."""

    def __init__(self) -> None:
        self.enrolled: dict[Path, CertificateBundle] = {}
        self.names: list[str] = []

    def enrol(self, name: str, directory: Path, *, force: bool) -> CertificateBundle:
        self.names.append(name)
        if directory not in self.enrolled:
            self.enrolled[directory] = CertificateBundle(
                directory=directory,
                worker_id=f"wk-{len(self.enrolled):016x}",
                name=name,
                owner=PROVIDER,
                api_url="http://127.0.0.1:8080",
                mqtt_host="127.0.0.1",
                mqtt_port=8883,
                certificate_id="cert",
                enrolled_at=0,
                certificate_pem="",
                private_key_pem="",
                ca_pem="",
                publish_topics={},
            )
        return self.enrolled[directory]


class Farm:
    """A bridge over fakes; ``lan`` keeps what it sent to rigs."""

    def __init__(self, fleet_dir: Path, *, up: bool = True, **options: Any) -> None:
        self.up = up
        self.platforms: dict[str, FakePlatform] = {}
        self.lan: list[tuple[str, dict[str, Any]]] = []
        self.clock = [time.time()]
        self.enroller = FakeEnroller()
        self.bridge = Bridge(
            fleet_dir,
            enroller=self.enroller,
            client_factory=self._client,
            options=RigOptions(**options),
            clock=lambda: self.clock[0],
        )
        self.bridge.attach_lan(lambda name, payload: self.lan.append((name, json.loads(payload))))

    def _client(
        self, bundle: CertificateBundle, on_message: MessageHandler, on_connect: Callable[[], None]
    ) -> FakePlatform:
        platform = FakePlatform(bundle.worker_id, on_message, on_connect, self.up)
        self.platforms[bundle.worker_id] = platform
        return platform

    def platform(self, timeout: float = 5.0) -> FakePlatform:
        """The (single) rig's platform connection, once the link made it."""
        wait_for(lambda: self.platforms, "the rig's platform connection", timeout)
        (platform,) = self.platforms.values()
        return platform

    def publish(self, client_id: str, rig_id: str, uplink: Uplink, payload: dict) -> None:
        self.bridge.on_message(client_id, f"xenminer/{rig_id}/{uplink}", dumps(payload))


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[Farm]:
    farm = Farm(tmp_path / "fleet", block_pattern="XEN1")
    yield farm
    farm.bridge.stop()


def test_a_cpp_rig_is_enrolled_registered_and_relayed(farm: Farm, tmp_path: Path) -> None:
    client = cpp_client_id(MAC)
    farm.bridge.on_connected(client)
    farm.publish(client, MAC, Uplink.REGISTER, cpp_register(MAC, OTHER))
    platform = farm.platform()
    (register,) = wait_for(lambda: platform.messages(Uplink.REGISTER), "the register")
    assert isinstance(register, Register)
    assert (register.worker_id, register.eth_address, register.gpu_count) == (
        platform.worker_id,
        PROVIDER,
        2,
    )
    assert farm.enroller.names == [MAC]
    assert (tmp_path / "fleet" / MAC / REGISTER_FILE).is_file()

    farm.publish(client, MAC, Uplink.HEARTBEAT, cpp_heartbeat(MAC, OTHER, hashrate=99.5))
    (heartbeat,) = platform.messages(Uplink.HEARTBEAT)
    assert isinstance(heartbeat, Heartbeat)
    assert (heartbeat.worker_id, heartbeat.hashrate) == (platform.worker_id, 99.5)
    assert [qos for name, _, qos in platform.sent if name.endswith("/heartbeat")] == [0]

    # The platform answers: the rig gets the v2 ack, then the bridge's settings.
    platform.on_message(Downlink.TASK, encode(RegisterAck(accepted=True, difficulty=1727)))
    assert farm.lan == [
        (f"xenminer/{MAC}/task", {"command": "register_ack", "accepted": True}),
        (
            f"xenminer/{MAC}/control",
            {"action": "set_config", "config": {"block_pattern": "XEN1"}},
        ),
    ]
    lease = AssignTask(
        lease_id="lease-1", consumer_id=RENTER, consumer_address=RENTER, share_pattern="XEN"
    )
    platform.on_message(Downlink.TASK, encode(lease))
    platform.on_message(Downlink.CONTROL, encode(Control(action="pause")))
    platform.on_message(
        Downlink.CONTROL, encode(Control(action="set_config", config=SetConfig(heartbeat_sec=9)))
    )
    assert farm.lan[2:] == [
        (
            f"xenminer/{MAC}/task",
            {
                "command": "assign_task",
                "lease_id": "lease-1",
                "consumer_id": RENTER,
                "consumer_address": RENTER,
                "prefix": "",
                "duration_sec": 3600,
            },
        ),
        # the lease's share pattern becomes the rig's block pattern: its hits are shares
        (f"xenminer/{MAC}/control", {"action": "set_config", "config": {"block_pattern": "XEN"}}),
        (f"xenminer/{MAC}/control", {"action": "pause"}),
    ]


@pytest.fixture
def xen_farm(tmp_path: Path) -> Iterator[Farm]:
    """A farm whose usual block pattern is XEN (about one hash in 3,000: quick to mine)."""
    farm = Farm(tmp_path / "fleet", block_pattern="XEN")
    yield farm
    farm.bridge.stop()


def test_under_a_lease_the_rigs_hits_are_its_shares_and_its_blocks_still_blocks(
    xen_farm: Farm,
) -> None:
    farm = xen_farm
    client = cpp_client_id(MAC)
    farm.publish(client, MAC, Uplink.REGISTER, cpp_register(MAC, PROVIDER))
    platform = farm.platform()
    (register,) = wait_for(lambda: platform.messages(Uplink.REGISTER), "the register")
    assert register.share_mode == "block_pattern"
    task = AssignTask(
        lease_id="lease-1",
        consumer_id=RENTER,
        consumer_address=RENTER,
        prefix="ab" * 8,
        share_pattern="XE",
    )
    platform.on_message(Downlink.TASK, encode(task))
    assert farm.lan[-1] == (
        f"xenminer/{MAC}/control",
        {"action": "set_config", "config": {"block_pattern": "XE"}},
    )

    def hit(accept: Callable[[str], bool]) -> dict[str, Any]:
        for _ in range(200_000):
            key = generate_key(task.prefix)
            if accept(compute_hash(key, RENTER, 8)):
                return cpp_block(MAC, key=key, address=RENTER, difficulty=8, lease_id="lease-1")
        raise AssertionError("no hit")

    # the farm's usual block pattern here is XEN: a hit on XE alone is a share and only a
    # share (as a block the platform would refuse it, and strike the rig)
    share_only = hit(lambda h: "XE" in h and "XEN" not in h and "XUNI" not in h)
    both = hit(lambda h: "XEN" in h)
    farm.publish(client, MAC, Uplink.BLOCK, share_only)
    farm.publish(client, MAC, Uplink.BLOCK, both)

    shares = wait_for(lambda: len(platform.messages(Uplink.SHARE)) == 2 and platform, "shares")
    assert [s.lease_id for s in shares.messages(Uplink.SHARE)] == ["lease-1", "lease-1"]
    assert all(s.difficulty == 8 for s in shares.messages(Uplink.SHARE))
    (block,) = wait_for(lambda: platform.messages(Uplink.BLOCK), "the block")
    assert "XEN" in block.hash
    assert block.worker_id == platform.worker_id

    # the lease ends: the rig gets its usual block pattern back
    platform.on_message(Downlink.TASK, encode(Release(lease_id="lease-1")))
    assert farm.lan[-1] == (
        f"xenminer/{MAC}/control",
        {"action": "set_config", "config": {"block_pattern": "XEN"}},
    )


def test_mine_for_owner_asks_a_rig_mining_elsewhere_to_mine_for_the_owner(tmp_path: Path) -> None:
    farm = Farm(tmp_path / "fleet", mine_for_owner=True)
    try:
        farm.publish(cpp_client_id(MAC), MAC, Uplink.REGISTER, cpp_register(MAC, OTHER))
        platform = farm.platform()
        wait_for(lambda: platform.messages(Uplink.REGISTER), "the register")
        platform.on_message(Downlink.TASK, encode(RegisterAck(accepted=True)))
        assert farm.lan[-1] == (
            f"xenminer/{MAC}/control",
            {"action": "set_config", "config": {"address": PROVIDER}},
        )
    finally:
        farm.bridge.stop()


def test_a_drop_is_offline_at_once_and_a_return_registers_again(farm: Farm) -> None:
    client = mock_client_id("sim-worker-000")
    farm.bridge.on_connected(client)
    farm.publish(client, "sim-worker-000", Uplink.REGISTER, mock_register("x", mock_eth_address()))
    platform = farm.platform()
    wait_for(lambda: platform.messages(Uplink.REGISTER), "the register")

    farm.bridge.on_disconnected(client)  # a TCP drop, no last will (mock_fleet has none)
    (offline,) = platform.messages(Uplink.STATUS)
    assert isinstance(offline, Status)
    assert offline.state is WorkerState.OFFLINE
    farm.bridge.on_disconnected(client)
    assert len(platform.messages(Uplink.STATUS)) == 1  # once

    # Back without a register (as the C++ miner reconnects): its heartbeat brings it back.
    farm.bridge.on_connected(client)
    farm.publish(client, "sim-worker-000", Uplink.HEARTBEAT, mock_heartbeat("sim-worker-000"))
    assert len(platform.messages(Uplink.REGISTER)) == 2
    assert len(platform.messages(Uplink.HEARTBEAT)) == 1


def test_the_cpp_last_will_is_offline(farm: Farm) -> None:
    client = cpp_client_id(MAC)
    farm.publish(client, MAC, Uplink.REGISTER, cpp_register(MAC, PROVIDER))
    platform = farm.platform()
    wait_for(lambda: platform.messages(Uplink.REGISTER), "the register")
    farm.publish(client, MAC, Uplink.STATUS, cpp_last_will(MAC))
    farm.bridge.on_disconnected(client)
    assert [s.state for s in platform.messages(Uplink.STATUS)] == [WorkerState.OFFLINE]


def test_a_rig_that_reconnects_silently_is_announced_with_its_last_register(
    tmp_path: Path,
) -> None:
    first = Farm(tmp_path / "fleet")
    first.publish(cpp_client_id(MAC), MAC, Uplink.REGISTER, cpp_register(MAC, PROVIDER))
    wait_for(lambda: first.platform().messages(Uplink.REGISTER), "the register")
    first.bridge.stop()

    # The bridge restarts; the C++ miner reconnects and only resubscribes.
    again = Farm(tmp_path / "fleet")
    try:
        again.bridge.on_connected(cpp_client_id(MAC))
        platform = again.platform()
        assert platform.messages(Uplink.REGISTER) == []
        again.clock[0] += REGISTER_GRACE_SECONDS + 0.1
        (register,) = wait_for(lambda: platform.messages(Uplink.REGISTER), "the announcement")
        assert (register.gpu_count, register.total_memory_gb) == (2, 34)  # remembered
    finally:
        again.bridge.stop()


def test_a_block_waits_in_the_outbox_until_the_platform_takes_it(tmp_path: Path) -> None:
    farm = Farm(tmp_path / "fleet", up=False)
    key = generate_key()
    client = cpp_client_id(MAC)
    farm.publish(client, MAC, Uplink.REGISTER, cpp_register(MAC, PROVIDER))
    farm.publish(client, MAC, Uplink.BLOCK, cpp_block(MAC, key=key, address=PROVIDER, difficulty=8))
    outbox = tmp_path / "fleet" / MAC / OUTBOX_FILE
    platform = farm.platform()
    assert platform.messages(Uplink.BLOCK) == []
    farm.bridge.stop()  # the bridge stops before the platform came up: the block stays
    with Outbox(outbox) as kept:
        assert kept.count(kind="block") == 1

    restarted = Farm(tmp_path / "fleet")
    try:
        assert restarted.bridge.resume() == [MAC]  # delivered without the rig coming back
        platform = restarted.platform()
        (block,) = wait_for(lambda: platform.messages(Uplink.BLOCK), "the block")
        assert isinstance(block, BlockFound)
        assert block.worker_id == platform.worker_id
        assert (block.hash, block.difficulty) == (compute_hash(key, PROVIDER, 8), 8)
        wait_for(lambda: restarted.bridge.summary()["delivered"] == 1, "the count")
        assert platform.messages(Uplink.REGISTER) == []  # the rig is not there: not announced
    finally:
        restarted.bridge.stop()
    with Outbox(outbox) as kept:
        assert kept.count() == 0


def test_blocks_found_while_the_platform_is_down_follow_its_return(farm: Farm) -> None:
    client = cpp_client_id(MAC)
    farm.publish(client, MAC, Uplink.REGISTER, cpp_register(MAC, PROVIDER))
    platform = farm.platform()
    wait_for(lambda: platform.messages(Uplink.REGISTER), "the register")
    platform.go_down()
    keys = [generate_key() for _ in range(3)]
    for key in keys:
        farm.publish(
            client, MAC, Uplink.BLOCK, cpp_block(MAC, key=key, address=PROVIDER, difficulty=8)
        )
    time.sleep(0.2)
    assert platform.messages(Uplink.BLOCK) == []
    platform.come_up()
    blocks = wait_for(lambda: len(platform.messages(Uplink.BLOCK)) == 3, "three blocks")
    assert blocks
    assert [b.key for b in platform.messages(Uplink.BLOCK)] == keys  # in order
    assert len(platform.messages(Uplink.REGISTER)) == 2  # registered again on reconnect


def test_bad_blocks_are_counted_and_dropped(farm: Farm) -> None:
    client = cpp_client_id(MAC)
    farm.publish(client, MAC, Uplink.REGISTER, cpp_register(MAC, OTHER))
    platform = farm.platform()
    wait_for(lambda: platform.messages(Uplink.REGISTER), "the register")
    wrong_salt = cpp_block(MAC, key=generate_key(), address=PROVIDER, difficulty=8)
    wrong_salt["account"] = RENTER
    farm.publish(client, MAC, Uplink.BLOCK, wrong_salt)
    elsewhere = cpp_block(MAC, key=generate_key(), address=OTHER, difficulty=8)
    farm.publish(client, MAC, Uplink.BLOCK, elsewhere)  # self-mined for OTHER: not ours
    farm.bridge.on_message(client, f"xenminer/{MAC}/block", b"{not json")
    wait_for(lambda: farm.bridge.summary()["dropped"] == 3, "three drops")
    link = farm.bridge.link(MAC)
    assert {k: v for k, v in link.counters.items() if k.startswith("dropped:")} == {
        "dropped:salt_mismatch": 1,
        "dropped:foreign_account": 1,
        "dropped:malformed": 1,
    }
    assert platform.messages(Uplink.BLOCK) == []
    assert link.pending_blocks() == 0


def test_a_taken_over_session_keeps_the_rig_online(farm: Farm) -> None:
    farm.publish("xenminer_" + MAC, MAC, Uplink.REGISTER, cpp_register(MAC, PROVIDER))
    farm.publish("debug-client", MAC, Uplink.HEARTBEAT, cpp_heartbeat(MAC, PROVIDER))
    platform = farm.platform()
    wait_for(lambda: platform.messages(Uplink.REGISTER), "the register")
    farm.bridge.on_disconnected("debug-client")
    assert platform.messages(Uplink.STATUS) == []  # another session still speaks for it
    farm.bridge.on_disconnected("xenminer_" + MAC)
    assert [s.state for s in platform.messages(Uplink.STATUS)] == [WorkerState.OFFLINE]


def test_stopping_the_bridge_marks_its_rigs_offline(tmp_path: Path) -> None:
    farm = Farm(tmp_path / "fleet", name_prefix="farm-")
    farm.publish(cpp_client_id(MAC), MAC, Uplink.REGISTER, cpp_register(MAC, PROVIDER))
    platform = farm.platform()
    wait_for(lambda: platform.messages(Uplink.REGISTER), "the register")
    farm.bridge.stop()
    assert [s.state for s in platform.messages(Uplink.STATUS)] == [WorkerState.OFFLINE]
    assert platform.stopped
    assert farm.enroller.names == [f"farm-{MAC}"]


def test_a_rig_that_left_while_the_platform_was_away_is_offline_on_its_return(
    farm: Farm,
) -> None:
    client = mock_client_id("sim-worker-000")
    farm.publish(client, "sim-worker-000", Uplink.REGISTER, mock_register("x", OTHER))
    platform = farm.platform()
    wait_for(lambda: platform.messages(Uplink.REGISTER), "the register")
    platform.go_down()  # e.g. the platform's broker restarts: the link's will may be lost
    farm.bridge.on_disconnected(client)
    assert platform.messages(Uplink.STATUS) == []
    platform.come_up()
    assert [s.state for s in platform.messages(Uplink.STATUS)] == [WorkerState.OFFLINE]
    assert len(platform.messages(Uplink.REGISTER)) == 1  # not announced: it is not there


def test_a_heartbeat_before_the_platform_is_up_follows_the_register(tmp_path: Path) -> None:
    farm = Farm(tmp_path / "fleet", up=False)
    try:
        client = cpp_client_id(MAC)
        farm.publish(client, MAC, Uplink.REGISTER, cpp_register(MAC, PROVIDER))
        farm.publish(client, MAC, Uplink.HEARTBEAT, cpp_heartbeat(MAC, PROVIDER, hashrate=77.0))
        platform = farm.platform()
        assert platform.sent == []
        platform.come_up()
        # The link's thread may still be taking the two in when the platform comes up: they
        # reach it then, in order, either way.
        wait_for(lambda: len(platform.sent) >= 2, "the register and the heartbeat")
        assert [parse_topic(name).suffix for name, _, _ in platform.sent] == [
            Uplink.REGISTER,
            Uplink.HEARTBEAT,
        ]
        (heartbeat,) = platform.messages(Uplink.HEARTBEAT)
        assert (heartbeat.worker_id, heartbeat.hashrate) == (platform.worker_id, 77.0)
    finally:
        farm.bridge.stop()
