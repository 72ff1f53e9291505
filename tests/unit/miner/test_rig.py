"""The rig's protocol state machine, with a fake engine and connection and a real outbox."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from miner.engine import DeviceSpec, ErrorCallback, FindCallback
from miner.network import NetworkError, SubmitResult
from miner.outbox import Outbox
from miner.rig import NETWORK, NETWORK_XUNI, PLATFORM, Rig, RigSettings, xuni_window_closes
from miner.search import Find, FindKind, Job
from protocol.codec import encode, parse_uplink
from protocol.downlink import AssignTask, Control, RegisterAck, Release, SetConfig
from protocol.topics import Downlink, Uplink
from protocol.uplink import (
    BlockFound,
    Heartbeat,
    NetworkStatus,
    NetworkVerdict,
    Register,
    Share,
    Status,
    WorkerState,
)
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


SAVED = SubmitResult(True, 200, "Hash verified successfully and block saved.")
LOW_DIFFICULTY = (
    "Hash does not contain 'm=37000'. Your memory_cost setting in your miner will be autoadjusted."
)


class FakeNetwork:
    """The node: a difficulty to read (or not, when ``down``) and scripted answers."""

    def __init__(self) -> None:
        self.submitted: list[dict[str, Any]] = []
        self.fail = False
        self.down = False
        self.value = 1727
        self.polls = 0
        self.answers: list[SubmitResult] = []

    def difficulty(self) -> int:
        self.polls += 1
        if self.down:
            raise NetworkError("GET http://node.test/difficulty failed after 6 attempt(s)")
        return self.value

    def submit_block(self, **fields: Any) -> SubmitResult:
        if self.fail:
            raise NetworkError("POST http://node.test/verify failed after 6 attempt(s): HTTP 502")
        self.submitted.append(fields)
        return self.answers.pop(0) if self.answers else SAVED


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def fake_rig(
    settings: RigSettings,
    outbox: Outbox,
    network: Any = None,
    clock: Callable[[], float] = time.time,
) -> Rig:
    """A rig on a fake engine and fake telemetry, with ``outbox``, ``network`` (None: it
    submits to no node) and ``clock``."""
    return Rig(
        settings,
        engine_factory=FakeEngine,
        outbox=outbox,
        telemetry=FakeTelemetry(),
        network=network,
        clock=clock,
    )


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
    rig = fake_rig(settings, outbox, network, clock)
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


def test_the_status_a_command_causes_echoes_its_correlation_id(parts):
    rig, connection, _, clock = parts
    _task(rig, RegisterAck(accepted=True, correlation_id="ack-1"))
    _task(rig, _assign().model_copy(update={"correlation_id": "rent-req.42"}))
    _task(rig, Release(lease_id="lease-1", correlation_id="stop-req_7"))
    _task(rig, _assign().model_copy(update={"lease_id": "lease-2"}))  # an older platform's
    clock.now += 601
    rig.tick()  # lease-2 runs its time: no command caused that

    echoed = [(s.state, s.correlation_id) for s in connection.messages(Uplink.STATUS)]
    assert echoed == [
        (WorkerState.AVAILABLE, "ack-1"),
        (WorkerState.LEASED, "rent-req.42"),
        (WorkerState.MINING, "rent-req.42"),
        (WorkerState.COMPLETED, "stop-req_7"),
        (WorkerState.AVAILABLE, "stop-req_7"),
        (WorkerState.LEASED, None),
        (WorkerState.MINING, None),
        (WorkerState.COMPLETED, None),
        (WorkerState.AVAILABLE, None),
    ]
    # On the wire a status without one says nothing of it (v2 statuses stay as they were).
    payloads = [json.loads(p) for t, p, _ in connection.published if t.endswith("/status")]
    assert "correlation_id" not in payloads[-1]
    assert payloads[1]["correlation_id"] == "rent-req.42"


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
        rig = fake_rig(settings, outbox)
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


def _find(
    job: Job,
    kind: FindKind,
    *,
    block_kind: BlockKind = BlockKind.NORMAL,
    found_at: datetime | None = None,
    counter: int = 0,
) -> Find:
    key = job.stem + f"{counter:016x}"
    raw = argon2_raw(key, job.salt, job.difficulty)
    return Find(
        job=job,
        kind=kind,
        key=key,
        hash_b64=b64_nopad(raw),
        raw=raw,
        found_at=found_at or datetime(2026, 11, 21, 12, 30, tzinfo=UTC),
        block_kind=block_kind if kind is FindKind.BLOCK else None,
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


# -- the rig follows the network (issue #19) ----------------------------------------------


def _job(rig: Rig) -> Job:
    job = rig.engine.job
    assert job is not None
    return job


def _delivered(connection: FakeConnection, uplink: Uplink) -> list[Any]:
    return [
        parse_uplink(uplink, payload)
        for topic_name, payload in connection.delivered
        if topic_name == f"xenminer/{WORKER}/{uplink.value}"
    ]


def _verdicts(rig: Rig, connection: FakeConnection) -> list[NetworkVerdict]:
    rig._deliver_platform()
    return _delivered(connection, Uplink.VERDICT)


def _leased(rig: Rig) -> Job:
    """Registered (platform difficulty 100), the node read (1727), a lease assigned (64)."""
    _task(rig, RegisterAck(accepted=True, difficulty=100))
    rig.tick()  # the first tick reads the network
    _task(rig, _assign())
    return _job(rig)


def test_the_network_difficulty_is_read_every_minute_during_a_lease_and_wins(parts):
    rig, _, network, clock = parts
    job = _leased(rig)
    assert network.polls == 1
    # The network's 1727 beats the assign_task's 64, lease or not.
    assert (job.lease_id, job.difficulty) == ("lease-1", 1727)
    assert rig.difficulty_source == "network"

    network.value = 2727  # the network steps up mid-lease
    for _ in range(59):
        clock.now += 1
        rig.tick()
    assert network.polls == 1  # not due before a minute
    assert _job(rig).difficulty == 1727
    clock.now += 1
    rig.tick()
    assert network.polls == 2
    job = _job(rig)
    assert (job.lease_id, job.address, job.prefix, job.difficulty) == (
        "lease-1",
        RENTER,
        PREFIX,
        2727,
    )
    assert rig.state is WorkerState.MINING
    for _ in range(600):  # ten more minutes of ticks: ten more reads, no fewer
        clock.now += 1
        rig.tick()
    assert network.polls == 12


def test_the_poll_interval_is_a_setting_never_above_a_minute(tmp_path: Path):
    with pytest.raises(ValueError, match="network_poll_seconds"):
        RigSettings(worker_id=WORKER, owner=PROVIDER, network_poll_seconds=61)
    with pytest.raises(ValueError, match="network_poll_seconds"):
        RigSettings(worker_id=WORKER, owner=PROVIDER, network_poll_seconds=0)
    clock = Clock()
    network = FakeNetwork()
    settings = RigSettings(worker_id=WORKER, owner=PROVIDER, network_poll_seconds=15)
    with Outbox(tmp_path / "o.sqlite3", clock=clock) as outbox:
        rig = fake_rig(settings, outbox, network, clock)
        for _ in range(60):
            rig.tick()
            clock.now += 1
    assert network.polls == 4


def test_the_network_wins_over_register_ack_assign_task_and_set_config(parts):
    rig, connection, _, _ = parts
    rig.tick()  # the node answers 1727
    _task(rig, RegisterAck(accepted=True, difficulty=100))
    assert _job(rig).difficulty == 1727
    _task(rig, _assign())  # difficulty 64
    assert _job(rig).difficulty == 1727
    _control(rig, Control(action="set_config", config=SetConfig(difficulty=200)))
    assert _job(rig).difficulty == 1727
    assert rig.platform_difficulty == 200
    assert rig.difficulty == 1727
    rig._send_heartbeat(rig.clock())
    assert connection.messages(Uplink.HEARTBEAT)[-1].difficulty == 1727
    assert rig.snapshot()["difficulty_source"] == "network"


def test_the_platform_difficulty_is_the_fallback_while_the_node_is_unreachable(parts):
    rig, _, network, clock = parts
    network.down = True
    _task(rig, RegisterAck(accepted=True, difficulty=100))
    rig.tick()
    assert network.polls == 1
    assert (_job(rig).difficulty, rig.difficulty_source) == (100, "platform")
    _task(rig, _assign())  # the platform's 64 while the node is away
    assert _job(rig).difficulty == 64

    network.down = False
    clock.now += 60
    rig.tick()
    assert (_job(rig).difficulty, rig.difficulty_source) == (1727, "network")
    _control(rig, Control(action="set_config", config=SetConfig(difficulty=300)))
    assert _job(rig).difficulty == 1727

    network.down = True  # away again: back to the platform's latest word
    clock.now += 60
    rig.tick()
    assert (_job(rig).difficulty, rig.difficulty_source) == (300, "platform")
    assert _job(rig).lease_id == "lease-1"


def test_without_a_platform_value_an_unreachable_node_keeps_its_last_difficulty(parts):
    rig, _, network, clock = parts
    rig.tick()
    _task(rig, RegisterAck(accepted=True))  # no difficulty from the platform
    assert _job(rig).difficulty == 1727
    network.down = True
    clock.now += 60
    rig.tick()
    assert _job(rig).difficulty == 1727


def test_without_a_network_the_platform_difficulty_rules(tmp_path: Path):
    clock = Clock()
    network = FakeNetwork()
    settings = RigSettings(worker_id=WORKER, owner=PROVIDER, submit_to_network=False)
    with Outbox(tmp_path / "o.sqlite3", clock=clock) as outbox:
        rig = fake_rig(settings, outbox, network, clock)
        rig.connection = FakeConnection()
        _task(rig, RegisterAck(accepted=True, difficulty=100))
        for _ in range(120):
            rig.tick()
            clock.now += 1
        assert network.polls == 0
        assert _job(rig).difficulty == 100
        _task(rig, _assign())
        assert _job(rig).difficulty == 64
        rig._found(_find(_job(rig), FindKind.BLOCK))
        assert outbox.count(NETWORK) == 0
        assert rig.snapshot()["network"] is False


def test_a_slow_node_never_holds_up_the_tick(tmp_path: Path):
    release = threading.Event()
    polled = threading.Event()

    class SlowNetwork(FakeNetwork):
        def difficulty(self) -> int:
            polled.set()
            release.wait(10)
            return 2000

    settings = RigSettings(worker_id=WORKER, owner=PROVIDER)
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        rig = fake_rig(settings, outbox, SlowNetwork())
        rig.start(FakeConnection())
        try:
            rig.tick()  # hands the read to the poller thread and returns
            assert polled.wait(5)
            assert rig.difficulty != 2000
            release.set()
            for _ in range(100):
                if rig.difficulty == 2000:
                    break
                threading.Event().wait(0.05)
            assert rig.difficulty == 2000
        finally:
            release.set()
            rig.stop()


def test_a_401_naming_the_memory_cost_reads_the_network_again_and_switches(parts):
    rig, connection, network, clock = parts
    job = _leased(rig)
    rig._found(_find(job, FindKind.BLOCK))
    network.value = 37000  # the network moved since the last read
    network.answers = [SubmitResult(False, 401, LOW_DIFFICULTY)]
    rig._deliver_network()
    assert network.polls == 2  # at once, not a minute later
    job = _job(rig)
    assert (job.difficulty, job.lease_id) == (37000, "lease-1")
    assert rig.counters.refused == 1
    assert rig.counters.accepted == 0
    (verdict,) = _verdicts(rig, connection)
    assert (verdict.status, verdict.http_status, verdict.message) == (
        NetworkStatus.REFUSED,
        401,
        LOW_DIFFICULTY,
    )
    assert (verdict.difficulty, verdict.network_difficulty) == (1727, 37000)
    assert verdict.lease_id == "lease-1"
    # The next regular read is a full interval after this one.
    clock.now += 59
    rig.tick()
    assert network.polls == 2


def test_a_401_naming_the_memory_cost_is_believed_when_the_node_cannot_be_read(parts):
    rig, _, network, _ = parts
    job = _leased(rig)
    rig._found(_find(job, FindKind.BLOCK))
    network.down = True
    network.answers = [SubmitResult(False, 401, LOW_DIFFICULTY)]
    rig._deliver_network()
    assert (_job(rig).difficulty, rig.network_difficulty) == (37000, 37000)


def test_other_refusals_do_not_read_the_network(parts):
    rig, _, network, _ = parts
    job = _leased(rig)
    rig._found(_find(job, FindKind.BLOCK))
    network.answers = [SubmitResult(False, 401, "Hash verification failed.")]
    rig._deliver_network()
    assert network.polls == 1
    assert _job(rig).difficulty == 1727


def test_block_already_exists_counts_as_accepted(parts):
    rig, connection, network, _ = parts
    job = _leased(rig)
    rig._found(_find(job, FindKind.BLOCK))
    network.answers = [
        SubmitResult(True, 400, "Block already exists, continue", duplicate=True),
    ]
    rig._deliver_network()
    assert rig.outbox.count(NETWORK) == 0
    assert (rig.counters.accepted, rig.counters.duplicates, rig.counters.refused) == (1, 1, 0)
    (verdict,) = _verdicts(rig, connection)
    assert (verdict.status, verdict.http_status) == (NetworkStatus.DUPLICATE, 400)
    snapshot = rig.snapshot()
    assert (snapshot["accepted"], snapshot["duplicates"], snapshot["refused"]) == (1, 1, 0)


def test_a_verdict_follows_each_block_report_with_the_nodes_answer(parts):
    rig, connection, network, _ = parts
    job = _leased(rig)
    first = _find(job, FindKind.BLOCK, counter=1)
    second = _find(job, FindKind.BLOCK, counter=2)
    rig._found(first)
    rig._found(second)
    network.answers = [SAVED, SubmitResult(False, 401, "Hash verification failed.")]
    rig._deliver_network()
    rig._deliver_platform()
    topics = [topic_name.rsplit("/", 1)[1] for topic_name, _ in connection.delivered]
    assert topics == ["block", "block", "verdict", "verdict"]  # each after its block
    accepted, refused = _delivered(connection, Uplink.VERDICT)
    assert isinstance(accepted, NetworkVerdict)
    assert (accepted.worker_id, accepted.lease_id, accepted.hash) == (
        WORKER,
        "lease-1",
        first.hash_b64,
    )
    assert (accepted.status, accepted.http_status, accepted.message) == (
        NetworkStatus.ACCEPTED,
        200,
        SAVED.message,
    )
    assert (accepted.difficulty, accepted.network_difficulty) == (1727, 1727)
    assert accepted.timestamp == int(rig.clock())
    assert (refused.hash, refused.status, refused.http_status) == (
        second.hash_b64,
        NetworkStatus.REFUSED,
        401,
    )
    assert refused.message == "Hash verification failed."
    assert (rig.counters.accepted, rig.counters.refused) == (1, 1)
    assert rig.outbox.count() == 0
    lines = rig.snapshot()
    assert (lines["accepted"], lines["refused"]) == (1, 1)


def test_unreachable_is_sent_once_and_the_final_answer_follows(parts):
    rig, connection, network, clock = parts
    job = _leased(rig)
    found = _find(job, FindKind.BLOCK)
    rig._found(found)
    network.fail = True
    rig._deliver_network()
    for _ in range(3):  # the outbox retries it; no more "unreachable"
        clock.now += 600
        rig._deliver_network()
    assert rig.outbox.count(NETWORK) == 1
    assert rig.outbox.pending(NETWORK, due_only=False)[0].attempts == 4
    (unreachable,) = _verdicts(rig, connection)
    assert unreachable.status is NetworkStatus.UNREACHABLE
    assert unreachable.http_status is None
    assert unreachable.message is not None
    assert "HTTP 502" in unreachable.message
    assert unreachable.hash == found.hash_b64
    assert rig.counters.unreachable == 1

    network.fail = False
    clock.now += 600
    rig._deliver_network()
    assert rig.outbox.count(NETWORK) == 0
    verdicts = _verdicts(rig, connection)
    assert [v.status for v in verdicts] == [NetworkStatus.UNREACHABLE, NetworkStatus.ACCEPTED]
    assert rig.counters.accepted == 1


def test_xuni_is_submitted_ahead_of_queued_blocks(parts):
    rig, connection, network, clock = parts
    job = _leased(rig)
    now = datetime.fromtimestamp(clock.now, UTC)  # 08:00 UTC: inside a XUNI window
    blocks = [_find(job, FindKind.BLOCK, found_at=now, counter=n) for n in range(3)]
    xuni = _find(job, FindKind.BLOCK, block_kind=BlockKind.XUNI, found_at=now, counter=9)
    for find in blocks:
        rig._found(find)
    rig._found(xuni)
    assert (rig.outbox.count(NETWORK), rig.outbox.count(NETWORK_XUNI)) == (3, 1)
    rig._deliver_network(limit=2)
    keys = [fields["key"] for fields in network.submitted]
    assert keys == [xuni.key, blocks[0].key]
    rig._deliver_network()
    assert [fields["key"] for fields in network.submitted][2:] == [
        blocks[1].key,
        blocks[2].key,
    ]
    assert [v.hash for v in _verdicts(rig, connection)] == [
        xuni.hash_b64,
        *(find.hash_b64 for find in blocks),
    ]


def test_a_xuni_is_dropped_once_its_window_has_closed_never_submitted_late(parts):
    rig, connection, network, clock = parts
    job = _leased(rig)
    clock.now += 3 * 60 + 30  # 08:03:30
    now = datetime.fromtimestamp(clock.now, UTC)
    xuni = _find(job, FindKind.BLOCK, block_kind=BlockKind.XUNI, found_at=now, counter=1)
    tried = _find(job, FindKind.BLOCK, block_kind=BlockKind.XUNI, found_at=now, counter=2)
    block = _find(job, FindKind.BLOCK, found_at=now, counter=3)
    rig._found(tried)
    network.fail = True
    rig._deliver_network()  # the node is away: "unreachable" for this one
    rig._found(xuni)
    rig._found(block)
    clock.now += 90  # 08:05:00: the window has closed
    network.fail = False
    rig._deliver_network()
    assert [fields["key"] for fields in network.submitted] == [block.key]  # no XUNI
    assert rig.outbox.count(NETWORK_XUNI) == 0
    assert rig.counters.xuni_dropped == 2
    assert rig.snapshot()["xuni_dropped"] == 2
    verdicts = {v.hash: v for v in _verdicts(rig, connection)}
    # One verdict each: the tried one's "unreachable" went when its try failed.
    assert len(_delivered(connection, Uplink.VERDICT)) == 3
    assert verdicts[xuni.hash_b64].status is NetworkStatus.UNREACHABLE
    assert "window closed" in (verdicts[xuni.hash_b64].message or "")
    assert verdicts[tried.hash_b64].status is NetworkStatus.UNREACHABLE
    assert verdicts[block.hash_b64].status is NetworkStatus.ACCEPTED
    # Both XUNI were still reported to the platform as found.
    assert len(_delivered(connection, Uplink.BLOCK)) == 3


def test_xuni_windows_close_at_the_end_of_their_run_of_minutes():
    rules = BlockRules()

    def closes(hour: int, minute: int, second: int = 0) -> datetime | None:
        found = datetime(2027, 1, 15, hour, minute, second, tzinfo=UTC)
        moment = xuni_window_closes(found, rules)
        return None if moment is None else datetime.fromtimestamp(moment, UTC)

    assert closes(8, 3, 30) == datetime(2027, 1, 15, 8, 5, tzinfo=UTC)
    assert closes(8, 4, 59) == datetime(2027, 1, 15, 8, 5, tzinfo=UTC)
    # 55-59 and 0-4 are one window across the hour.
    assert closes(8, 57) == datetime(2027, 1, 15, 9, 5, tzinfo=UTC)
    assert closes(8, 30) == datetime(2027, 1, 15, 8, 30, tzinfo=UTC)  # in none: closed
    always = BlockRules(xuni_windows=((0, 59),))
    assert xuni_window_closes(datetime(2027, 1, 15, 8, 0, tzinfo=UTC), always) is None


def test_shares_carry_the_network_difficulty(parts):
    rig, connection, _, _ = parts
    job = _leased(rig)
    rig._found(_find(job, FindKind.SHARE))
    rig._deliver_platform()
    (share,) = _delivered(connection, Uplink.SHARE)
    assert share.difficulty == 1727


def test_an_outbox_entry_of_an_older_miner_is_still_submitted(parts):
    rig, connection, network, _ = parts
    job = _leased(rig)
    found = _find(job, FindKind.BLOCK)
    legacy = {
        "hash_raw": found.raw.hex(),
        "salt": job.salt.hex(),
        "difficulty": job.difficulty,
        "key": found.key,
        "account": job.address,
        "attempts": 1,
        "hashes_per_second": 1.0,
        "worker": WORKER,
    }
    rig.outbox.put(NETWORK, "verify", json.dumps(legacy).encode(), kind="block")
    rig._deliver_network()
    assert network.submitted[0]["key"] == found.key
    (verdict,) = _verdicts(rig, connection)
    assert (verdict.hash, verdict.lease_id) == (found.hash_b64, "")
