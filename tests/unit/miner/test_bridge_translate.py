"""The bridge's translations, from the payloads the C++ miner and mock_fleet.py really send."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from miner.bridge.translate import (
    Untranslatable,
    block_for,
    check_block_account,
    heartbeat_for,
    is_offline_status,
    register_for,
    rig_address,
    rig_control,
    rig_id_from_client_id,
    rig_set_config,
    rig_task,
    status_for,
)
from protocol.addresses import salt_bytes, same_address
from protocol.downlink import AssignTask, Control, RegisterAck, Release, SetConfig
from protocol.encoded_hash import parse_encoded_hash
from protocol.uplink import WorkerState
from protocol.xenblocks import compute_hash, generate_key
from tests.factories import PROVIDER, RENTER
from tests.xenminer_rigs import (
    cpp_block,
    cpp_client_id,
    cpp_encoded_hash,
    cpp_heartbeat,
    cpp_last_will,
    cpp_register,
    cpp_status,
    mock_block,
    mock_client_id,
    mock_eth_address,
    mock_heartbeat,
    mock_register,
)

MAC = "0A:1B:2C:3D:4E:5F"  # the C++ miner's worker id: its MAC address
PLATFORM_ID = "wk-0123456789abcdef"
NOW = 1_760_000_000
OTHER = "0x" + "5" * 40  # another mining address, all digits: valid in any case
KEY = "9f" * 32
V2_DIR = Path(__file__).resolve().parents[3] / "protocol" / "v2"


def v2_validator(definition: str) -> Draft202012Validator:
    document = json.loads((V2_DIR / "platform_to_worker.json").read_text())
    document.pop("oneOf")
    return Draft202012Validator({**document, "$ref": f"#/$defs/{definition}"})


# -- identities --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("client_id", "rig_id"),
    [
        (cpp_client_id(MAC), MAC),
        (mock_client_id("sim-worker-007"), "sim-worker-007"),
        ("xenminer_", None),
        ("xenminer_a/b", None),
        ("mosquitto_sub-123", None),
        (None, None),
    ],
)
def test_the_rig_id_in_a_client_id(client_id: str | None, rig_id: str | None) -> None:
    assert rig_id_from_client_id(client_id) == rig_id


def test_addresses_compare_in_any_case() -> None:
    assert same_address(PROVIDER.lower(), PROVIDER)
    assert not same_address(OTHER, PROVIDER)
    assert not same_address(mock_eth_address(), PROVIDER)  # 32 hex digits: no address
    assert not same_address(None, PROVIDER)


# -- register ----------------------------------------------------------------------------


def test_a_cpp_register_is_sent_under_the_owner_address_with_its_gpus() -> None:
    payload = cpp_register(MAC, OTHER, now=NOW)
    register = register_for(payload, worker_id=PLATFORM_ID, owner=PROVIDER, now=NOW + 5)
    assert register.worker_id == PLATFORM_ID  # the platform's id, never the rig's
    assert register.eth_address == PROVIDER
    assert rig_address(payload) == OTHER  # what the rig itself mines for, for the log
    assert (register.gpu_count, register.total_memory_gb) == (2, 34)
    assert [(g.index, g.name, g.memory_gb, g.bus_id) for g in register.gpus] == [
        (0, "NVIDIA GeForce RTX 4090", 24, 1),
        (1, "NVIDIA GeForce RTX 3080", 10, 2),
    ]
    assert (register.version, register.timestamp) == ("2.0.0", NOW)


def test_a_mock_fleet_register_with_no_real_address_is_the_owners() -> None:
    register = register_for(
        mock_register("sim-worker-000", mock_eth_address(), now=NOW),
        worker_id=PLATFORM_ID,
        owner=PROVIDER,
        now=NOW,
    )
    assert register.eth_address == PROVIDER
    assert (register.gpu_count, register.total_memory_gb, len(register.gpus)) == (1, 24, 1)


def test_a_register_the_bridge_never_saw_is_made_up_from_what_it_knows() -> None:
    register = register_for({"gpu_count": 3}, worker_id=PLATFORM_ID, owner=PROVIDER, now=NOW)
    assert (register.gpu_count, register.total_memory_gb, register.gpus) == (3, 0, [])
    assert (register.version, register.timestamp) == ("unknown", NOW)


def test_odd_gpu_entries_are_left_out_and_floats_made_whole() -> None:
    payload = cpp_register(MAC, OTHER, now=NOW)
    payload["gpus"] = [
        {"index": 0.0, "name": "A" * 300, "memory_gb": 24.0, "bus_id": 1},
        "not a gpu",
        {"index": -1, "name": "bad", "memory_gb": 1, "bus_id": 0},
    ]
    register = register_for(payload, worker_id=PLATFORM_ID, owner=PROVIDER, now=NOW)
    assert [(g.index, len(g.name), g.memory_gb) for g in register.gpus] == [(0, 128, 24)]


def test_a_register_with_a_nonsense_figure_is_refused_naming_it() -> None:
    payload = cpp_register(MAC, OTHER)
    payload["gpu_count"] = "two"
    with pytest.raises(Untranslatable) as refused:
        register_for(payload, worker_id=PLATFORM_ID, owner=PROVIDER, now=NOW)
    assert refused.value.reason == "malformed"
    assert "gpu_count" in refused.value.detail


# -- heartbeat ---------------------------------------------------------------------------


def test_a_cpp_heartbeat_keeps_the_v2_figures_and_drops_its_extras() -> None:
    payload = cpp_heartbeat(MAC, OTHER, hashrate=3456.5, difficulty=1727, now=NOW)
    heartbeat = heartbeat_for(payload, worker_id=PLATFORM_ID, now=NOW + 1)
    assert heartbeat.model_dump(exclude_none=True) == {
        "worker_id": PLATFORM_ID,
        "hashrate": 3456.5,
        "active_gpus": 2,
        "accepted_blocks": 3,
        "difficulty": 1727,
        "uptime_sec": 7200,
        "timestamp": NOW,
    }
    assert rig_address(payload) == OTHER


@pytest.mark.parametrize(("sent", "number"), [(0, 0.0), (150, 150.0), ("1250.75", 1250.75)])
def test_a_hashrate_becomes_a_number(sent: Any, number: float) -> None:
    payload = mock_heartbeat("sim-worker-000", now=NOW)
    payload["hashrate"] = sent
    assert heartbeat_for(payload, worker_id=PLATFORM_ID, now=NOW).hashrate == number


@pytest.mark.parametrize("sent", [None, "fast", -1.0, True, "1e999"])
def test_a_heartbeat_without_a_hashrate_is_refused(sent: Any) -> None:
    payload = mock_heartbeat("sim-worker-000", now=NOW)
    payload["hashrate"] = sent
    with pytest.raises(Untranslatable, match="malformed"):
        heartbeat_for(payload, worker_id=PLATFORM_ID, now=NOW)


def test_a_mock_fleet_heartbeat() -> None:
    heartbeat = heartbeat_for(mock_heartbeat("sim-worker-000", now=NOW), worker_id="w", now=NOW)
    assert (heartbeat.hashrate, heartbeat.active_gpus, heartbeat.difficulty) == (161.37, 1, 8)


# -- status ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [cpp_last_will(MAC, now=NOW), cpp_status(MAC, "offline", now=NOW)],
    ids=["the last will", "a stop"],
)
def test_the_cpp_offline_forms_are_the_platform_offline_status(payload: dict[str, Any]) -> None:
    assert is_offline_status(payload)
    status = status_for(payload, worker_id=PLATFORM_ID, now=NOW)
    assert (status.state, status.worker_id, status.timestamp) == (
        WorkerState.OFFLINE,
        PLATFORM_ID,
        NOW,
    )


def test_a_cpp_state_change_passes_with_its_lease() -> None:
    status = status_for(
        cpp_status(MAC, "MINING", lease_id="lease-1", now=NOW), worker_id=PLATFORM_ID, now=NOW
    )
    assert (status.state, status.lease_id, status.detail) == (WorkerState.MINING, "lease-1", None)
    assert status_for(cpp_status(MAC, "available"), worker_id="w", now=NOW).state == "AVAILABLE"


def test_an_unknown_state_is_refused() -> None:
    assert not is_offline_status(cpp_status(MAC, "DANCING"))
    with pytest.raises(Untranslatable, match="unknown_state"):
        status_for(cpp_status(MAC, "DANCING"), worker_id=PLATFORM_ID, now=NOW)


# -- block -------------------------------------------------------------------------------


def test_the_encoded_hash_is_taken_apart() -> None:
    encoded = cpp_encoded_hash(KEY, PROVIDER, 8)
    assert encoded.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    parts = parse_encoded_hash(encoded)
    assert parts.memory_cost == 8
    assert parts.salt == salt_bytes(PROVIDER)
    assert parts.hash_b64 == compute_hash(KEY, PROVIDER, 8)


def test_a_cpp_block_becomes_the_raw_hash_at_its_memory_cost() -> None:
    payload = cpp_block(MAC, key=KEY, address=PROVIDER, difficulty=8, now=NOW)
    block = block_for(payload, worker_id=PLATFORM_ID, now=NOW + 3)
    assert block.hash == compute_hash(KEY, PROVIDER, 8)  # what the platform recomputes
    assert block.difficulty == 8
    assert block.account == PROVIDER  # checksummed
    assert (block.key, block.lease_id, block.attempts) == (KEY, "", 123456)
    assert (block.hashrate, block.timestamp, block.worker_id) == ("3456.50", NOW, PLATFORM_ID)
    check_block_account(block, PROVIDER.lower())  # the owner's own: kept


def test_a_lowercase_account_like_the_cpp_salt_hex_is_accepted() -> None:
    payload = cpp_block(MAC, key=KEY, address=PROVIDER, difficulty=8)
    payload["account"] = payload["account"].lower()
    assert block_for(payload, worker_id=PLATFORM_ID, now=NOW).account == PROVIDER


def test_a_hash_whose_salt_is_not_the_claimed_account_is_refused() -> None:
    payload = cpp_block(MAC, key=KEY, address=PROVIDER, difficulty=8)
    payload["account"] = RENTER
    with pytest.raises(Untranslatable) as refused:
        block_for(payload, worker_id=PLATFORM_ID, now=NOW)
    assert refused.value.reason == "salt_mismatch"


def test_a_hash_at_another_memory_cost_than_the_claimed_difficulty_is_refused() -> None:
    payload = cpp_block(MAC, key=KEY, address=PROVIDER, difficulty=8)
    payload["difficulty"] = 1727
    with pytest.raises(Untranslatable, match="difficulty_mismatch"):
        block_for(payload, worker_id=PLATFORM_ID, now=NOW)
    payload["difficulty"] = 8
    assert block_for(payload, worker_id=PLATFORM_ID, now=NOW).difficulty == 8


@pytest.mark.parametrize(
    "encoded",
    [
        "$argon2id$v=19$m=8,t=2,p=1$AAAA$BBBB",  # t=2: not XenBlocks
        "$argon2i$v=19$m=8,t=1,p=1$AAAA$BBBB",  # argon2i
        "$argon2id$v=16$m=8,t=1,p=1$AAAA$BBBB",  # Argon2 1.0
        "$argon2id$v=19$m=4,t=1,p=1$AAAA$BBBB",  # below Argon2's minimum
        "$argon2id$v=19$m=8,t=1,p=1$AAAA$BBBB",  # not a 64-byte hash
        "$argon2id$v=19$m=8,t=1,p=1$AAAA",  # no hash
    ],
)
def test_a_malformed_encoded_hash_is_refused(encoded: str) -> None:
    payload = cpp_block(MAC, key=KEY, address=PROVIDER, difficulty=8, encoded=encoded)
    with pytest.raises(Untranslatable, match="bad_encoding"):
        block_for(payload, worker_id=PLATFORM_ID, now=NOW)


def test_a_raw_hash_passes_as_v2_sends_it() -> None:
    key = generate_key()
    payload = cpp_block(MAC, key=key, address=PROVIDER, difficulty=8, now=NOW)
    payload["hash"] = compute_hash(key, PROVIDER, 8)
    block = block_for(payload, worker_id=PLATFORM_ID, now=NOW)
    assert (block.hash, block.difficulty) == (payload["hash"], None)


def test_a_mock_fleet_block_names_no_address_and_is_refused() -> None:
    with pytest.raises(Untranslatable) as refused:
        block_for(mock_block("sim-worker-000", mock_eth_address()), worker_id="w", now=NOW)
    assert refused.value.reason == "bad_account"


def test_a_mock_fleet_block_for_the_owner_passes_for_the_platform_to_judge() -> None:
    block = block_for(mock_block("sim-worker-000", PROVIDER, now=NOW), worker_id="w", now=NOW)
    assert block.hash.startswith("0000")
    assert block.hashrate == "161.37"


def test_a_numeric_hashrate_is_written_as_v2_decimal_text() -> None:
    payload = cpp_block(MAC, key=KEY, address=PROVIDER, difficulty=8)
    payload["hashrate"] = 1250.754
    assert block_for(payload, worker_id=PLATFORM_ID, now=NOW).hashrate == "1250.75"


def test_a_self_mined_block_for_another_address_is_not_the_platforms() -> None:
    key = generate_key()
    block = block_for(
        cpp_block(MAC, key=key, address=OTHER, difficulty=8), worker_id=PLATFORM_ID, now=NOW
    )
    with pytest.raises(Untranslatable, match="foreign_account"):
        check_block_account(block, PROVIDER)
    # Under a lease the renter's address is the salt: the platform judges the lease.
    leased = block_for(
        cpp_block(MAC, key=key, address=OTHER, difficulty=8, lease_id="lease-1"),
        worker_id=PLATFORM_ID,
        now=NOW,
    )
    check_block_account(leased, PROVIDER)


# -- platform → rig ----------------------------------------------------------------------


def test_task_messages_reach_the_rig_in_the_v2_fields_it_reads() -> None:
    # This platform's extensions (difficulty, share_pattern, correlation_id) stay behind.
    accepted = rig_task(
        RegisterAck(accepted=True, difficulty=1727, share_pattern="XEN", correlation_id="r-1")
    )
    assert accepted == {"command": "register_ack", "accepted": True}
    refused = rig_task(RegisterAck(accepted=False, reason="unknown worker"))
    assert refused == {"command": "register_ack", "accepted": False, "reason": "unknown worker"}
    task = rig_task(
        AssignTask(
            lease_id="lease-1",
            consumer_id=RENTER,
            consumer_address=RENTER,
            prefix="00112233445566AA",
            duration_sec=600,
            difficulty=1727,
            share_pattern="XEN",
            correlation_id="rent-1",
        )
    )
    assert task == {
        "command": "assign_task",
        "lease_id": "lease-1",
        "consumer_id": RENTER,
        "consumer_address": RENTER,
        "prefix": "00112233445566aa",
        "duration_sec": 600,
    }
    release = rig_task(Release(lease_id="lease-1", correlation_id="stop-1"))
    assert release == {"command": "release", "lease_id": "lease-1"}
    for definition, message in [
        ("register_ack", accepted),
        ("register_ack", refused),
        ("assign_task", task),
        ("release", release),
    ]:
        v2_validator(definition).validate(message)


@pytest.mark.parametrize("action", ["pause", "resume", "shutdown"])
def test_control_actions_pass_as_they_are(action: str) -> None:
    command = rig_control(Control(action=action, correlation_id="req-1"))  # type: ignore[arg-type]
    assert command == {"action": action}
    v2_validator("control").validate(command)


def test_set_config_keeps_what_the_cpp_miner_applies() -> None:
    both = Control(action="set_config", config=SetConfig(difficulty=1800, heartbeat_sec=10))
    assert rig_control(both) == {"action": "set_config", "config": {"difficulty": 1800}}
    nothing = Control(action="set_config", config=SetConfig(heartbeat_sec=10))
    assert rig_control(nothing) is None


def test_the_bridge_own_set_config_for_a_rig() -> None:
    assert rig_set_config() is None
    assert rig_set_config(address=PROVIDER, block_pattern="XEN1") == {
        "action": "set_config",
        "config": {"address": PROVIDER, "block_pattern": "XEN1"},
    }
