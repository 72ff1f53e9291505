"""The rig's protocol state machine, with a fake engine and connection and a real outbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from miner.engine import DeviceSpec, ErrorCallback, FindCallback
from miner.outbox import Outbox
from miner.rig import NETWORK, PLATFORM, Rig, RigSettings
from miner.search import Find, FindKind, Job
from protocol.codec import encode, parse_uplink
from protocol.downlink import AssignTask, Control, RegisterAck, Release, SetConfig
from protocol.topics import Downlink, Uplink
from protocol.uplink import BlockFound, Heartbeat, Register, Share, Status, WorkerState
from protocol.xenblocks import BlockKind, BlockRules, argon2_raw, b64_nopad
from tests.factories import PROVIDER, RENTER

WORKER = "rig-0123456789abcdef"
PREFIX = "00112233445566aa"
HEARTBEAT_TOPIC = f"$aws/rules/xenblocks_prod_heartbeat/xenminer/{WORKER}/heartbeat"


class FakeEngine:
    def __init__(self, on_find: FindCallback, on_error: ErrorCallback) -> None:
        self.devices = [DeviceSpec("cpu", 0)]
        self.on_find, self.on_error = on_find, on_error
        self.posted: list[Job | None] = []
        self.started = self.stopped = False

    @property
    def job(self) -> Job | None:
        return self.posted[-1] if self.posted else None

    def start(self) -> None:
        self.started = True

    def post(self, job: Job | None) -> None:
        self.posted.append(job)

    def rates(self) -> dict[int, float]:
        return {0: 250.0}

    def hashrate(self) -> float:
        return 250.0

    def block_attempts(self) -> int:
        return 4242

    def stop(self) -> None:
        self.stopped = True


class FakeConnection:
    state = "connected"

    def __init__(self) -> None:
        self.connected = True
        self.accept = True
        self.published: list[tuple[str, bytes, int]] = []
        self.delivered: list[tuple[str, bytes]] = []

    def publish(self, topic_name: str, payload: bytes, *, qos: int = 1) -> None:
        self.published.append((topic_name, payload, qos))

    def deliver(self, topic_name: str, payload: bytes, *, timeout: float = 10.0) -> bool:
        if not (self.connected and self.accept):
            return False
        self.delivered.append((topic_name, payload))
        return True

    def messages(self, uplink: Uplink) -> list[Any]:
        return [
            parse_uplink(uplink, payload)
            for topic_name, payload, _ in self.published
            if topic_name.endswith(f"/{uplink.value}")
        ]


class FakeTelemetry:
    def gpus(self) -> list[Any]:
        return []

    def sample(self, hashrates: dict[int, float]) -> list[Any]:
        return []


class FakeNetwork:
    def __init__(self) -> None:
        self.submitted: list[dict[str, Any]] = []
        self.fail = False

    def difficulty(self) -> int:
        return 1727

    def submit_block(self, **fields: Any) -> str:
        if self.fail:
            raise RuntimeError("node unreachable")
        self.submitted.append(fields)
        return "accepted"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def parts(tmp_path: Path):
    clock = Clock()
    outbox = Outbox(tmp_path / "outbox.sqlite3", clock=clock)
    network = FakeNetwork()
    settings = RigSettings(
        worker_id=WORKER,
        owner=PROVIDER,
        publish_topics={"heartbeat": HEARTBEAT_TOPIC},
        rules=BlockRules(difficulty=1727, block_pattern="XEN1"),
        heartbeat_seconds=30,
    )
    rig = Rig(
        settings,
        engine_factory=FakeEngine,
        outbox=outbox,
        telemetry=FakeTelemetry(),
        network=network,
        clock=clock,
    )
    connection = FakeConnection()
    rig.connection = connection  # started without the courier thread: tests deliver by hand
    yield rig, connection, network, clock
    outbox.close()


def _task(rig: Rig, message: Any) -> None:
    rig.on_message(Downlink.TASK, encode(message))


def _control(rig: Rig, message: Control) -> None:
    rig.on_message(Downlink.CONTROL, encode(message))


def _states(connection: FakeConnection) -> list[WorkerState]:
    return [status.state for status in connection.messages(Uplink.STATUS)]


def _assign(duration: int = 600) -> AssignTask:
    return AssignTask(
        lease_id="lease-1",
        consumer_id=RENTER,
        consumer_address=RENTER,
        prefix=PREFIX,
        duration_sec=duration,
        difficulty=64,
        share_pattern="Qz[AB]",
    )


def test_a_connection_registers_and_an_accepted_ack_starts_self_mining(parts):
    rig, connection, _, _ = parts
    rig.on_connect()
    (register,) = connection.messages(Uplink.REGISTER)
    assert isinstance(register, Register)
    assert register.worker_id == WORKER
    assert register.eth_address == PROVIDER
    assert rig.state is WorkerState.IDLE

    _task(rig, RegisterAck(accepted=True, difficulty=100))
    assert rig.state is WorkerState.AVAILABLE
    assert _states(connection) == [WorkerState.AVAILABLE]
    job = rig.engine.job
    assert job is not None
    assert (job.address, job.difficulty, job.lease_id) == (PROVIDER, 100, "")


def test_a_refused_registration_stops_the_rig_with_the_reason(parts):
    rig, connection, _, _ = parts
    _task(rig, RegisterAck(accepted=False, reason="certificate revoked"))
    assert rig.state is WorkerState.ERROR
    assert rig.fatal is not None
    assert "certificate revoked" in rig.fatal
    assert rig.stop_requested.is_set()
    assert rig.current_job() is None
    assert _states(connection) == [WorkerState.ERROR]


def test_a_lease_mines_for_the_renter_until_its_time_is_up(parts):
    rig, connection, _, clock = parts
    _task(rig, RegisterAck(accepted=True, difficulty=100))
    _task(rig, _assign(duration=600))
    assert rig.state is WorkerState.MINING
    job = rig.engine.job
    assert job is not None
    assert (job.address, job.lease_id, job.prefix, job.difficulty) == (
        RENTER,
        "lease-1",
        PREFIX,
        64,
    )
    assert job.stem.startswith(PREFIX)
    assert str(job.share_pattern) == "Qz[AB]"

    # The platform re-sends the task after a reconnect: same lease, same keys.
    _task(rig, _assign(duration=590))
    assert rig.engine.job is job

    clock.now += 601
    rig.tick()
    assert rig.lease is None
    assert rig.state is WorkerState.AVAILABLE
    assert _states(connection) == [
        WorkerState.AVAILABLE,
        WorkerState.LEASED,
        WorkerState.MINING,
        WorkerState.COMPLETED,
        WorkerState.AVAILABLE,
    ]
    completed = [s for s in connection.messages(Uplink.STATUS) if s.state is WorkerState.COMPLETED]
    assert completed[0].lease_id == "lease-1"
    back = rig.engine.job
    assert back is not None
    assert back.address == PROVIDER
    assert back.lease_id == ""


def test_only_a_release_of_our_lease_ends_it(parts):
    rig, _, _, _ = parts
    _task(rig, RegisterAck(accepted=True))
    _task(rig, _assign())
    _task(rig, Release(lease_id="someone-else"))
    assert rig.lease is not None
    _task(rig, Release(lease_id="lease-1"))
    assert rig.lease is None
    assert rig.counters.leases_completed == 1


def test_pause_resume_and_set_config(parts):
    rig, _, _, _ = parts
    _task(rig, RegisterAck(accepted=True, difficulty=100))
    _control(rig, Control(action="pause"))
    assert rig.engine.job is None
    _control(rig, Control(action="resume"))
    assert rig.engine.job is not None
    _control(
        rig,
        Control(action="set_config", config=SetConfig(difficulty=200, heartbeat_sec=10)),
    )
    job = rig.engine.job
    assert job is not None
    assert job.difficulty == 200
    assert rig.heartbeat_seconds == 10
    _control(rig, Control(action="shutdown"))
    assert rig.stop_requested.is_set()


def test_without_self_mining_an_available_rig_stands_still(tmp_path: Path):
    settings = RigSettings(worker_id=WORKER, owner=PROVIDER, self_mine=False)
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        rig = Rig(settings, engine_factory=FakeEngine, outbox=outbox, telemetry=FakeTelemetry())
        rig.connection = FakeConnection()
        _task(rig, RegisterAck(accepted=True))
        assert rig.current_job() is None
        _task(rig, _assign())
        assert rig.current_job() is not None


def test_malformed_commands_are_ignored(parts):
    rig, _, _, _ = parts
    rig.on_message(Downlink.TASK, b'{"command": "assign_task", "lease_id": 5}')
    rig.on_message(Downlink.CONTROL, b"not json")
    assert rig.state is WorkerState.IDLE


def _find(job: Job, kind: FindKind) -> Find:
    key = job.stem + "0" * 16
    raw = argon2_raw(key, job.salt, job.difficulty)
    return Find(
        job=job,
        kind=kind,
        key=key,
        hash_b64=b64_nopad(raw),
        raw=raw,
        found_at=datetime(2026, 11, 21, 12, 30, tzinfo=UTC),
        block_kind=BlockKind.NORMAL if kind is FindKind.BLOCK else None,
    )


def test_a_block_is_stored_before_it_is_published_and_kept_until_acknowledged(parts):
    rig, connection, network, _ = parts
    _task(rig, RegisterAck(accepted=True))
    _task(rig, _assign())  # difficulty 64
    job = rig.engine.job
    assert job is not None
    connection.accept = False  # the broker is away
    rig._found(_find(job, FindKind.BLOCK))
    assert rig.outbox.count(PLATFORM) == 1
    assert rig.outbox.count(NETWORK) == 1
    rig._deliver_platform()
    assert rig.outbox.count(PLATFORM) == 1  # not acknowledged: still there

    connection.accept = True
    rig._deliver_platform()
    assert rig.outbox.count(PLATFORM) == 0
    ((topic_name, payload),) = connection.delivered
    assert topic_name == f"xenminer/{WORKER}/block"
    block = parse_uplink(Uplink.BLOCK, payload)
    assert isinstance(block, BlockFound)
    assert (block.lease_id, block.account, block.attempts, block.difficulty) == (
        "lease-1",
        RENTER,
        4242,
        64,
    )
    assert block.key.startswith(PREFIX)
    assert block.hash == b64_nopad(argon2_raw(block.key, job.salt, 64))
    assert rig.counters.blocks_acknowledged == 1

    network.fail = True
    rig._deliver_network()
    assert rig.outbox.count(NETWORK) == 1
    network.fail = False
    rig.outbox.mark_attempt(rig.outbox.pending(NETWORK, due_only=False)[0].id, None, retry_in=0)
    rig._deliver_network()
    assert rig.outbox.count(NETWORK) == 0
    (submitted,) = network.submitted
    assert submitted["key"] == block.key
    assert submitted["hash_raw"] == argon2_raw(block.key, job.salt, 64)
    assert submitted["salt"] == job.salt
    assert submitted["account"] == RENTER
    assert submitted["worker"] == WORKER


def test_a_share_goes_to_the_platform_only(parts):
    rig, connection, network, _ = parts
    _task(rig, RegisterAck(accepted=True))
    _task(rig, _assign())  # difficulty 64
    job = rig.engine.job
    assert job is not None
    rig._found(_find(job, FindKind.SHARE))
    rig._deliver_platform()
    rig._deliver_network()
    ((_, payload),) = connection.delivered
    share = parse_uplink(Uplink.SHARE, payload)
    assert isinstance(share, Share)
    assert (share.lease_id, share.account, share.difficulty) == ("lease-1", RENTER, 64)
    assert network.submitted == []


def test_heartbeats_go_through_the_enrolled_topic_at_qos_0(parts):
    rig, connection, _, clock = parts
    _task(rig, RegisterAck(accepted=True, difficulty=100))
    rig.tick()
    rig.tick()  # not due again yet
    beats = [(t, p, q) for t, p, q in connection.published if t == HEARTBEAT_TOPIC]
    assert len(beats) == 1
    _, payload, qos = beats[0]
    assert qos == 0
    heartbeat = parse_uplink(Uplink.HEARTBEAT, payload)
    assert isinstance(heartbeat, Heartbeat)
    assert heartbeat.hashrate == 250.0
    assert heartbeat.difficulty == 100
    clock.now += 30
    rig.tick()
    assert len([t for t, _, _ in connection.published if t == HEARTBEAT_TOPIC]) == 2


def test_heartbeats_keep_a_fixed_cadence_whatever_the_ticks_lag(parts):
    rig, connection, _, clock = parts
    _task(rig, RegisterAck(accepted=True, difficulty=100))
    start = clock.now
    rig.tick()
    sent = [clock.now]
    for _ in range(40):  # ticks come about a second apart, each a little late
        clock.now += 0.9
        rig.tick()
        beats = [t for t, _, _ in connection.published if t == HEARTBEAT_TOPIC]
        if len(beats) > len(sent):
            sent.append(clock.now)
    for _ in range(400):
        clock.now += 0.9
        rig.tick()
    beats = [t for t, _, _ in connection.published if t == HEARTBEAT_TOPIC]
    # 400 more ticks of 0.9 s: the beats stay on the 30 s grid (no drift of a tick a beat).
    elapsed = clock.now - start
    assert len(beats) == int(elapsed // 30) + 1
    assert len(sent) == 2
    assert sent[1] - start < 31


def test_a_failing_device_puts_the_rig_in_error(parts):
    rig, connection, _, _ = parts
    _task(rig, RegisterAck(accepted=True))
    rig.engine.on_error(0, "CUDA error: out of memory")
    assert rig.state is WorkerState.ERROR
    statuses = connection.messages(Uplink.STATUS)
    assert isinstance(statuses[-1], Status)
    assert "out of memory" in (statuses[-1].detail or "")
    assert rig.current_job() is None


def test_the_snapshot_names_what_the_status_line_shows(parts):
    rig, _, _, _ = parts
    _task(rig, RegisterAck(accepted=True))
    _task(rig, _assign())
    snapshot = rig.snapshot()
    assert snapshot["lease"] == "lease-1"
    assert snapshot["lease_seconds_left"] == 600
    assert snapshot["devices"] == {"cpu#0": 250.0}
    assert json.dumps(snapshot)
