"""Every malformed message is refused with a ProtocolError naming the offending field."""

import copy
import json
import math
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from protocol.errors import ProtocolError
from protocol.messages import (
    AssignTask,
    BlockFound,
    Control,
    Heartbeat,
    RegisterAck,
    Release,
    SetConfig,
    Status,
    TaskCommand,
    TaskMessage,
    encode,
    parse_control,
    parse_task,
    parse_uplink,
)
from protocol.topics import Uplink

ADDRESS = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
KEY = "a1b2c3d4e5f6a7b8" + "0" * 48
GPU = {"index": 0, "name": "NVIDIA GeForce RTX 4090", "memory_gb": 24, "bus_id": 1}
TELEMETRY = {"index": 0, "hashrate": 600.5, "temperature_c": 61.0, "fan_pct": 40, "power_w": 300}
VALID_UPLINK: dict[Uplink, dict[str, Any]] = {
    Uplink.REGISTER: {
        "worker_id": "rig-1",
        "eth_address": ADDRESS,
        "gpu_count": 1,
        "total_memory_gb": 24,
        "gpus": [GPU],
        "version": "2.0.0",
        "timestamp": 1700000000,
    },
    Uplink.HEARTBEAT: {
        "worker_id": "rig-1",
        "hashrate": 1250.75,
        "active_gpus": 1,
        "accepted_blocks": 0,
        "difficulty": 1727,
        "uptime_sec": 60,
        "timestamp": 1700000000,
        "gpus": [TELEMETRY],
    },
    Uplink.STATUS: {"worker_id": "rig-1", "state": "MINING", "lease_id": "l-1", "timestamp": 1},
    Uplink.BLOCK: {
        "worker_id": "rig-1",
        "lease_id": "l-1",
        "hash": "XEN11abc+/",
        "key": KEY,
        "account": ADDRESS,
        "attempts": 10,
        "hashrate": "1250.75",
        "timestamp": 1700000000,
    },
    Uplink.SHARE: {
        "worker_id": "rig-1",
        "lease_id": "l-1",
        "hash": "Xeabc+/",
        "key": KEY,
        "account": ADDRESS,
        "difficulty": 1727,
        "timestamp": 1700000000,
    },
    Uplink.VERDICT: {
        "worker_id": "rig-1",
        "lease_id": "l-1",
        "hash": "XEN11abc+/",
        "status": "duplicate",
        "http_status": 400,
        "message": "Block already exists, continue",
        "difficulty": 1727,
        "timestamp": 1700000000,
    },
}
VALID_ASSIGN = {
    "command": "assign_task",
    "lease_id": "l-1",
    "consumer_id": "c-1",
    "consumer_address": ADDRESS,
    "prefix": "a1b2c3d4e5f6a7b8",
    "duration_sec": 3600,
    "difficulty": 1727,
    "share_pattern": "Xe[ABCD]",
}


DELETE = object()


def changed(payload: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``payload`` with the dotted ``path`` set to ``value`` (or deleted)."""
    result = copy.deepcopy(payload)
    *parents, last = path.split(".")
    target: Any = result
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return result


@pytest.mark.parametrize("suffix", list(Uplink))
def test_valid_uplink_parses(suffix: Uplink) -> None:
    assert parse_uplink(suffix, VALID_UPLINK[suffix]).worker_id == "rig-1"


UPLINK_CASES = [
    # wrong types
    (Uplink.HEARTBEAT, "hashrate", "1250.75", "heartbeat.hashrate"),
    (Uplink.HEARTBEAT, "timestamp", 1700000000.5, "heartbeat.timestamp"),
    (Uplink.HEARTBEAT, "timestamp", 1700000000.0, "heartbeat.timestamp"),
    (Uplink.HEARTBEAT, "timestamp", "1700000000", "heartbeat.timestamp"),
    (Uplink.HEARTBEAT, "active_gpus", True, "heartbeat.active_gpus"),
    (Uplink.HEARTBEAT, "hashrate", True, "heartbeat.hashrate"),
    (Uplink.HEARTBEAT, "worker_id", 5, "heartbeat.worker_id"),
    (Uplink.HEARTBEAT, "gpus", {}, "heartbeat.gpus"),
    (Uplink.HEARTBEAT, "gpus.0.temperature_c", "61", "heartbeat.gpus.0.temperature_c"),
    (Uplink.REGISTER, "gpus.0.index", "0", "register.gpus.0.index"),
    (Uplink.REGISTER, "gpus.0.memory_gb", 24.5, "register.gpus.0.memory_gb"),
    (Uplink.STATUS, "state", "mining", "status.state"),
    (Uplink.STATUS, "state", "OFFLINE", "status.state"),
    # missing fields
    (Uplink.HEARTBEAT, "uptime_sec", DELETE, "heartbeat.uptime_sec"),
    (Uplink.REGISTER, "gpus", DELETE, "register.gpus"),
    (Uplink.REGISTER, "gpus.0.bus_id", DELETE, "register.gpus.0.bus_id"),
    (Uplink.BLOCK, "lease_id", DELETE, "block.lease_id"),
    (Uplink.STATUS, "timestamp", DELETE, "status.timestamp"),
    # out of range
    (Uplink.HEARTBEAT, "hashrate", -1.0, "heartbeat.hashrate"),
    (Uplink.HEARTBEAT, "hashrate", math.nan, "heartbeat.hashrate"),
    (Uplink.HEARTBEAT, "hashrate", math.inf, "heartbeat.hashrate"),
    (Uplink.HEARTBEAT, "accepted_blocks", -1, "heartbeat.accepted_blocks"),
    (Uplink.HEARTBEAT, "timestamp", 2**63, "heartbeat.timestamp"),
    (Uplink.HEARTBEAT, "gpus.0.fan_pct", 101.0, "heartbeat.gpus.0.fan_pct"),
    (Uplink.HEARTBEAT, "gpus.0.power_w", -1.0, "heartbeat.gpus.0.power_w"),
    (Uplink.HEARTBEAT, "gpus.0.hashrate", math.nan, "heartbeat.gpus.0.hashrate"),
    (Uplink.HEARTBEAT, "gpus.0.temperature_c", math.inf, "heartbeat.gpus.0.temperature_c"),
    (Uplink.BLOCK, "attempts", -1, "block.attempts"),
    (Uplink.SHARE, "difficulty", 7, "share.difficulty"),
    # oversize and ill-formed strings
    (Uplink.REGISTER, "gpus.0.name", "x" * 129, "register.gpus.0.name"),
    (Uplink.REGISTER, "version", "x" * 129, "register.version"),
    (Uplink.REGISTER, "gpus", [GPU] * 65, "register.gpus"),
    (Uplink.STATUS, "detail", "x" * 513, "status.detail"),
    (Uplink.STATUS, "lease_id", "l" * 129, "status.lease_id"),
    (Uplink.STATUS, "correlation_id", "", "status.correlation_id"),
    (Uplink.STATUS, "correlation_id", "c" * 65, "status.correlation_id"),
    (Uplink.STATUS, "correlation_id", "req 1", "status.correlation_id"),
    (Uplink.STATUS, "correlation_id", "req-1\n", "status.correlation_id"),
    (Uplink.STATUS, "correlation_id", 42, "status.correlation_id"),
    (Uplink.HEARTBEAT, "correlation_id", "req-1", "heartbeat.correlation_id"),  # status only
    (Uplink.HEARTBEAT, "worker_id", "", "heartbeat.worker_id"),
    (Uplink.HEARTBEAT, "worker_id", "rig/1", "heartbeat.worker_id"),
    (Uplink.HEARTBEAT, "worker_id", "r" * 129, "heartbeat.worker_id"),
    (Uplink.BLOCK, "key", "z" * 64, "block.key"),
    (Uplink.BLOCK, "key", "a" * 15, "block.key"),
    (Uplink.BLOCK, "key", "a" * 129, "block.key"),
    (Uplink.BLOCK, "hash", "", "block.hash"),
    (Uplink.BLOCK, "hash", "XEN11-abc", "block.hash"),
    (Uplink.BLOCK, "hash", "A" * 129, "block.hash"),
    (Uplink.BLOCK, "hashrate", "-1", "block.hashrate"),
    (Uplink.BLOCK, "hashrate", "nan", "block.hashrate"),
    (Uplink.BLOCK, "hashrate", "1e5", "block.hashrate"),
    (Uplink.BLOCK, "hashrate", "", "block.hashrate"),
    (Uplink.BLOCK, "hashrate", 1250.75, "block.hashrate"),
    (Uplink.BLOCK, "lease_id", "lease 1", "block.lease_id"),
    (Uplink.SHARE, "lease_id", "", "share.lease_id"),
    # bad addresses
    (Uplink.REGISTER, "eth_address", ADDRESS[:-1], "register.eth_address"),
    (Uplink.REGISTER, "eth_address", ADDRESS[:-1] + "g", "register.eth_address"),
    (Uplink.REGISTER, "eth_address", ADDRESS[:-1] + "D", "register.eth_address"),
    (Uplink.BLOCK, "account", "0x" + "0" * 39, "block.account"),
    (Uplink.SHARE, "account", 1, "share.account"),
    # unknown fields
    (Uplink.HEARTBEAT, "extra", 1, "heartbeat.extra"),
    (Uplink.REGISTER, "gpus.0.uuid", "GPU-1", "register.gpus.0.uuid"),
    (Uplink.HEARTBEAT, "gpus.0.clock_mhz", 1800, "heartbeat.gpus.0.clock_mhz"),
]


@pytest.mark.parametrize(("suffix", "path", "value", "field"), UPLINK_CASES)
def test_malformed_uplink_names_the_field(
    suffix: Uplink, path: str, value: Any, field: str
) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_uplink(suffix, changed(VALID_UPLINK[suffix], path, value))

    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


def test_error_reads_field_then_reason() -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_uplink(Uplink.HEARTBEAT, changed(VALID_UPLINK[Uplink.HEARTBEAT], "hashrate", -1))

    assert str(caught.value) == "heartbeat.hashrate: Input should be greater than or equal to 0"


def test_bad_checksum_reason_is_plain() -> None:
    bad = changed(VALID_UPLINK[Uplink.REGISTER], "eth_address", ADDRESS[:-1] + "D")

    with pytest.raises(ProtocolError) as caught:
        parse_uplink(Uplink.REGISTER, bad)

    assert caught.value.reason == "bad EIP-55 checksum"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"worker_id":"rig-1","hashrate":NaN}',
        b'{"worker_id":"rig-1","hashrate":Infinity}',
        b'{"worker_id":"rig-1","hashrate":-Infinity}',
        b'{"worker_id":"rig-1","hashrate":1e999}',
    ],
)
def test_non_finite_json_numbers_are_refused(raw: bytes) -> None:
    with pytest.raises(ProtocolError, match="number"):
        parse_uplink(Uplink.HEARTBEAT, raw)


def test_integer_hashrate_is_a_float() -> None:
    heartbeat = parse_uplink(
        Uplink.HEARTBEAT, changed(VALID_UPLINK[Uplink.HEARTBEAT], "hashrate", 7)
    )

    assert isinstance(heartbeat, Heartbeat)
    assert heartbeat.hashrate == 7.0


def test_optional_telemetry_may_be_absent() -> None:
    gpu = {"index": 1, "hashrate": 0}
    heartbeat = parse_uplink(
        Uplink.HEARTBEAT, changed(VALID_UPLINK[Uplink.HEARTBEAT], "gpus", [gpu])
    )

    assert isinstance(heartbeat, Heartbeat)
    assert heartbeat.gpus is not None
    assert heartbeat.gpus[0].temperature_c is None


def test_block_exposes_its_hashrate_as_a_number() -> None:
    block = parse_uplink(Uplink.BLOCK, VALID_UPLINK[Uplink.BLOCK])

    assert isinstance(block, BlockFound)
    assert block.hashrate_value == 1250.75


def test_self_mined_block_has_an_empty_lease() -> None:
    block = parse_uplink(Uplink.BLOCK, changed(VALID_UPLINK[Uplink.BLOCK], "lease_id", ""))

    assert isinstance(block, BlockFound)
    assert block.lease_id == ""


def test_addresses_are_stored_in_checksum_form() -> None:
    register = changed(VALID_UPLINK[Uplink.REGISTER], "eth_address", ADDRESS.lower())

    assert parse_uplink(Uplink.REGISTER, register).model_dump()["eth_address"] == ADDRESS


def test_messages_are_immutable() -> None:
    heartbeat = parse_uplink(Uplink.HEARTBEAT, VALID_UPLINK[Uplink.HEARTBEAT])

    with pytest.raises(ValueError, match="frozen"):
        heartbeat.worker_id = "other"  # type: ignore[misc]


def test_valid_assign_task_parses() -> None:
    task = parse_task(VALID_ASSIGN)

    assert isinstance(task, AssignTask)
    assert task.consumer_address == ADDRESS
    assert task.share_pattern == "Xe[ABCD]"


def test_assign_task_defaults() -> None:
    minimal = {
        k: VALID_ASSIGN[k] for k in ("command", "lease_id", "consumer_id", "consumer_address")
    }
    task = parse_task(minimal)

    assert isinstance(task, AssignTask)
    assert (task.prefix, task.duration_sec, task.difficulty, task.share_pattern) == (
        "",
        3600,
        None,
        None,
    )


def test_uppercase_prefix_is_lowercased() -> None:
    task = parse_task(changed(VALID_ASSIGN, "prefix", "A1B2C3D4E5F6A7B8"))

    assert isinstance(task, AssignTask)
    assert task.prefix == "a1b2c3d4e5f6a7b8"


TASK_CASES = [
    ({"command": "mine_harder"}, "command"),
    ({"lease_id": "l-1"}, "command"),
    ({"command": 5}, "command"),
    ({"command": ["release"]}, "command"),
    ({"command": "register_ack"}, "register_ack.accepted"),
    ({"command": "register_ack", "accepted": "true"}, "register_ack.accepted"),
    ({"command": "register_ack", "accepted": 1}, "register_ack.accepted"),
    ({"command": "register_ack", "accepted": False}, "register_ack.reason"),
    ({"command": "register_ack", "accepted": True, "difficulty": 4}, "register_ack.difficulty"),
    (
        {"command": "register_ack", "accepted": True, "share_pattern": "X-"},
        "register_ack.share_pattern",
    ),
    ({"command": "release", "lease_id": "l-1", "extra": True}, "release.extra"),
    ({"command": "release", "lease_id": 7}, "release.lease_id"),
    (changed(VALID_ASSIGN, "prefix", "a1b2c3d4e5f6a7b"), "assign_task.prefix"),
    (changed(VALID_ASSIGN, "prefix", "a1b2c3d4e5f6a7b8c"), "assign_task.prefix"),
    (changed(VALID_ASSIGN, "prefix", "g1b2c3d4e5f6a7b8"), "assign_task.prefix"),
    (changed(VALID_ASSIGN, "duration_sec", 0), "assign_task.duration_sec"),
    (changed(VALID_ASSIGN, "duration_sec", 60.0), "assign_task.duration_sec"),
    (changed(VALID_ASSIGN, "consumer_address", ADDRESS[:-1] + "D"), "assign_task.consumer_address"),
    (changed(VALID_ASSIGN, "consumer_id", DELETE), "assign_task.consumer_id"),
    (changed(VALID_ASSIGN, "lease_id", ""), "assign_task.lease_id"),
    (changed(VALID_ASSIGN, "share_pattern", "Xe[A-D]"), "assign_task.share_pattern"),
    (changed(VALID_ASSIGN, "share_pattern", "X" * 81), "assign_task.share_pattern"),
    (changed(VALID_ASSIGN, "correlation_id", "req/1"), "assign_task.correlation_id"),
    ({"command": "release", "correlation_id": "c" * 65}, "release.correlation_id"),
    (
        {"command": "register_ack", "accepted": True, "correlation_id": ""},
        "register_ack.correlation_id",
    ),
]


@pytest.mark.parametrize(("payload", "field"), TASK_CASES)
def test_malformed_task_names_the_field(payload: dict[str, Any], field: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_task(payload)

    assert caught.value.field == field


def test_rejection_with_a_reason_parses() -> None:
    ack = parse_task({"command": "register_ack", "accepted": False, "reason": "banned"})

    assert ack == RegisterAck(accepted=False, reason="banned")


def test_set_config_parses() -> None:
    control = parse_control(
        {"action": "set_config", "config": {"heartbeat_sec": 30, "share_pattern": "Xe"}}
    )

    assert control == Control(
        action="set_config", config=SetConfig(heartbeat_sec=30, share_pattern="Xe")
    )


CONTROL_CASES = [
    ({"action": "reboot"}, "action"),
    ({}, "action"),
    ({"action": None}, "action"),
    ({"action": ["pause"]}, "action"),
    ({"action": "pause", "reason": "maintenance"}, "control.reason"),
    ({"action": "pause", "config": {"heartbeat_sec": 30}}, "control.config"),
    ({"action": "set_config"}, "control.config"),
    ({"action": "set_config", "config": {"heartbeat_sec": 4}}, "control.config.heartbeat_sec"),
    ({"action": "set_config", "config": {"heartbeat_sec": 3601}}, "control.config.heartbeat_sec"),
    ({"action": "set_config", "config": {"difficulty": 1.5}}, "control.config.difficulty"),
    ({"action": "set_config", "config": {"threads": 4}}, "control.config.threads"),
    ({"action": "pause", "correlation_id": "req;1"}, "control.correlation_id"),
    (
        {"action": "set_config", "config": {"difficulty": 1800, "correlation_id": "req-1"}},
        "control.config.correlation_id",  # on the command, not in its config
    ),
]


@pytest.mark.parametrize(("payload", "field"), CONTROL_CASES)
def test_malformed_control_names_the_field(payload: dict[str, Any], field: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_control(payload)

    assert caught.value.field == field


@pytest.mark.parametrize(
    "payload",
    [
        {"command": "release", "lease_id": "l-1", "correlation_id": "req-1"},
        {"command": "register_ack", "accepted": True, "correlation_id": "x" * 64},
        changed(VALID_ASSIGN, "correlation_id", "0123456789abcdef0123456789abcdef"),
    ],
)
def test_a_task_may_carry_a_correlation_id(payload: dict[str, Any]) -> None:
    task = parse_task(payload)
    assert task.correlation_id == payload["correlation_id"]
    assert json.loads(encode(task))["correlation_id"] == payload["correlation_id"]
    # Without one nothing is said of it: what v2 peers get stays as it was.
    assert "correlation_id" not in json.loads(
        encode(task.model_copy(update={"correlation_id": None}))
    )


def test_a_control_and_a_status_may_carry_a_correlation_id() -> None:
    control = parse_control({"action": "pause", "correlation_id": "a.B_c-9"})
    assert control.correlation_id == "a.B_c-9"
    status = parse_uplink(Uplink.STATUS, {**VALID_UPLINK[Uplink.STATUS], "correlation_id": "r-1"})
    assert isinstance(status, Status)
    assert status.correlation_id == "r-1"


def test_task_command_is_a_discriminated_field_type() -> None:
    adapter: TypeAdapter[TaskMessage] = TypeAdapter(TaskCommand)

    assert adapter.validate_python({"command": "release"}) == Release()
    with pytest.raises(ValidationError):
        adapter.validate_python({"command": "assign_task", "lease_id": "l-1"})
