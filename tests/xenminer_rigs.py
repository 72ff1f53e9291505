"""What existing XenblocksMiner rigs publish, byte for byte as their sources build it.

The C++ miner: ``src/WorkerReporter.cpp`` (register, heartbeat, status, block),
``src/MqttClient.cpp`` (client id ``xenminer_<id>``, the retained last will
``{"worker_id", "status": "offline", "timestamp"}``, the same payload before a clean
disconnect), ``src/PlatformManager.cpp`` (``sendStatusUpdate("offline")`` on stop,
``onBlockFound`` with the encoded hash ``Argon2idHasher::generateHash`` returns),
``src/MineUnit.cpp`` (the salt is the address's hex, the account ``"0x" + hexsalt``).
``scripts/mock_fleet.py``: client id ``sim-<id>``, an ``eth_address`` of ``0x`` and 32 hex
digits, raw hashes, heartbeats at QoS 0, no last will.
"""

from __future__ import annotations

import json
import time
from typing import Any

from protocol.addresses import salt_bytes
from protocol.xenblocks import argon2_raw, encoded_hash

CPP_VERSION = "2.0.0"


def cpp_client_id(worker_id: str) -> str:
    return f"xenminer_{worker_id}"


def mock_client_id(worker_id: str) -> str:
    return f"sim-{worker_id}"


def _now() -> int:
    return int(time.time())


def cpp_register(worker_id: str, eth_address: str, *, now: int | None = None) -> dict[str, Any]:
    """``WorkerReporter::sendRegistration``: two GPUs as ``gpuInfo`` (``memory`` in GB)."""
    gpus = [
        {"index": 0, "name": "NVIDIA GeForce RTX 4090", "memory_gb": 24, "bus_id": 1},
        {"index": 1, "name": "NVIDIA GeForce RTX 3080", "memory_gb": 10, "bus_id": 2},
    ]
    return {
        "worker_id": worker_id,
        "eth_address": eth_address,
        "gpu_count": len(gpus),
        "total_memory_gb": sum(gpu["memory_gb"] for gpu in gpus),
        "gpus": gpus,
        "version": CPP_VERSION,
        "timestamp": now if now is not None else _now(),
    }


def cpp_heartbeat(
    worker_id: str,
    address: str,
    *,
    hashrate: float = 3456.5,
    difficulty: int = 1727,
    prefix: str = "",
    block_pattern: str = "",
    now: int | None = None,
) -> dict[str, Any]:
    """``WorkerReporter::sendHeartbeat``: the v2 fields plus address, prefix, block_pattern."""
    return {
        "worker_id": worker_id,
        "hashrate": hashrate,  # a float
        "active_gpus": 2,
        "accepted_blocks": 3,
        "difficulty": difficulty,
        "address": address,
        "prefix": prefix,
        "block_pattern": block_pattern,
        "uptime_sec": 7200,
        "timestamp": now if now is not None else _now(),
    }


def cpp_status(
    worker_id: str, state: str, *, lease_id: str = "", detail: str = "", now: int | None = None
) -> dict[str, Any]:
    """``WorkerReporter::sendStatusUpdate``: lease_id and detail only when not empty."""
    payload: dict[str, Any] = {
        "worker_id": worker_id,
        "state": state,
        "timestamp": now if now is not None else _now(),
    }
    if lease_id:
        payload["lease_id"] = lease_id
    if detail:
        payload["detail"] = detail
    return payload


def cpp_last_will(worker_id: str, *, now: int | None = None) -> dict[str, Any]:
    """``MqttClient::connect``'s last will (retained), also sent by ``disconnect``."""
    return {"worker_id": worker_id, "status": "offline", "timestamp": now or _now()}


def cpp_encoded_hash(key: str, address: str, difficulty: int) -> str:
    """``Argon2idHasher(1, difficulty, 1, hexsalt, 64).generateHash(key)``."""
    salt = salt_bytes(address)
    return encoded_hash(argon2_raw(key, salt, difficulty), salt, difficulty)


def cpp_block(
    worker_id: str,
    *,
    key: str,
    address: str,
    difficulty: int,
    lease_id: str = "",
    hashrate: float = 3456.5,
    now: int | None = None,
    encoded: str | None = None,
) -> dict[str, Any]:
    """``WorkerReporter::sendBlockFound`` with the encoded hash, the account ``0x`` + the
    salt's hex as the rig typed it, attempts a number, the hashrate ``%.2f``."""
    return {
        "worker_id": worker_id,
        "lease_id": lease_id,
        "hash": encoded if encoded is not None else cpp_encoded_hash(key, address, difficulty),
        "key": key,
        "account": "0x" + address[2:],
        "attempts": 123456,
        "hashrate": f"{hashrate:.2f}",
        "timestamp": now if now is not None else _now(),
    }


def mock_register(worker_id: str, eth_address: str, *, now: int | None = None) -> dict[str, Any]:
    """``FleetSimulator._send_register`` (one RTX 4090)."""
    return {
        "worker_id": worker_id,
        "eth_address": eth_address,
        "gpu_count": 1,
        "total_memory_gb": 24,
        "gpus": [{"index": 0, "name": "NVIDIA GeForce RTX 4090", "memory_gb": 24, "bus_id": 0}],
        "version": "2.0.0",
        "timestamp": now if now is not None else _now(),
    }


def mock_eth_address() -> str:
    """``make_eth_address``: ``"0x" + uuid4().hex[:40]``, which is only 32 hex digits."""
    return "0x" + "7c9e66797425440d944be07fc1f90ae7"


def mock_heartbeat(worker_id: str, *, hashrate: float = 161.37, now: int | None = None) -> dict:
    """``FleetSimulator._send_heartbeat``: published at QoS 0."""
    return {
        "worker_id": worker_id,
        "hashrate": round(hashrate, 2),
        "active_gpus": 1,
        "accepted_blocks": 0,
        "difficulty": 8,
        "uptime_sec": 0,
        "timestamp": now if now is not None else _now(),
    }


def mock_block(worker_id: str, eth_address: str, *, now: int | None = None) -> dict[str, Any]:
    """``FleetSimulator._send_block``: a made-up raw hash and a 64-hex key."""
    return {
        "worker_id": worker_id,
        "lease_id": "",
        "hash": "0000" + "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e",
        "key": "550e8400e29b41d4a716446655440000".ljust(64, "0"),
        "account": eth_address,
        "attempts": 250000,
        "hashrate": "161.37",
        "timestamp": now if now is not None else _now(),
    }


def dumps(payload: dict[str, Any]) -> bytes:
    """As nlohmann's ``dump()`` and Python's ``json.dumps`` put it on the wire."""
    return json.dumps(payload).encode()
