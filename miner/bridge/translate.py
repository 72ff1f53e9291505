"""What XenblocksMiner rigs say on the farm's LAN ↔ this platform's protocol.

Pure functions, no I/O: the bridge (``miner.bridge.service``) calls them with decoded JSON.
The rig side is what the C++ miner (``MqttClient.cpp``, ``WorkerReporter.cpp``,
``PlatformManager.cpp``) and ``scripts/mock_fleet.py`` really send, not only the v2 files:

- client id ``xenminer_<worker id>`` (C++) or ``sim-<worker id>`` (mock_fleet);
- ``register`` with the rig's mining address, which is any address (mock_fleet's is not an
  address at all): the platform takes only the enrolling wallet's, so the owner's is sent;
- ``heartbeat`` with ``address``, ``prefix``, ``block_pattern`` besides the v2 fields (dropped),
  the hashrate a number (a decimal string is accepted too);
- ``block`` whose ``hash`` is the full encoded ``$argon2id$v=19$m=…,t=1,p=1$<salt>$<hash>``
  (C++) or raw base64 (v2): the encoded form is checked (its salt is the claimed account,
  its ``m`` the claimed difficulty) and becomes the raw hash plus ``difficulty`` = ``m``;
- ``status`` with ``state``, or ``{"status": "offline"}`` (the C++ last will and clean stop).

The platform side is ``protocol.messages``; what goes back to a rig is exactly the v2
fields the C++ miner reads (``register_ack``, ``assign_task``, ``release``, control actions,
and ``set_config`` with ``difficulty``, ``address``, ``prefix``, ``block_pattern``).
"""

from __future__ import annotations

import math
import re
from typing import Any

from pydantic import ValidationError

from protocol.addresses import to_checksum
from protocol.downlink import AssignTask, Control, RegisterAck, Release, TaskMessage
from protocol.encoded_hash import EncodedHashError, decode_block_hash, is_encoded_hash
from protocol.errors import ProtocolError
from protocol.fields import MAX_GPUS
from protocol.topics import validate_worker_id
from protocol.uplink import (
    BlockFound,
    GpuInfo,
    GpuTelemetry,
    Heartbeat,
    Register,
    Share,
    ShareMode,
    Status,
    WorkerState,
)

# Client ids of the rigs we know: the C++ miner's, then mock_fleet's.
RIG_CLIENT_PREFIXES = ("xenminer_", "sim-")
UNKNOWN_VERSION = "unknown"

_XUNI = re.compile(r"XUNI[0-9]")
_DECIMAL = re.compile(r"[0-9]{1,20}(\.[0-9]{1,20})?")
_STATES = {state.value.upper(): state for state in WorkerState}


class Untranslatable(ValueError):
    """A rig's message the platform cannot be sent. ``reason`` is short and stable (logs,
    counters): ``malformed``, ``bad_encoding``, ``bad_account``, ``salt_mismatch``,
    ``difficulty_mismatch``, ``foreign_account``, ``unknown_state``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


# -- identities --------------------------------------------------------------------------


def rig_id_from_client_id(client_id: str | None) -> str | None:
    """The worker id in a known rig client id (``xenminer_<id>``, ``sim-<id>``), else None."""
    if not client_id:
        return None
    for prefix in RIG_CLIENT_PREFIXES:
        if client_id.startswith(prefix):
            try:
                return validate_worker_id(client_id[len(prefix) :])
            except ProtocolError:
                return None
    return None


def rig_address(payload: dict[str, Any]) -> str | None:
    """The mining address a rig's register or heartbeat names, as sent (None if none)."""
    for name in ("eth_address", "address"):
        value = payload.get(name)
        if isinstance(value, str) and value:
            return value[:64]
    return None


# -- rig → platform ----------------------------------------------------------------------


def register_for(payload: dict[str, Any], *, worker_id: str, owner: str, now: int) -> Register:
    """The platform's ``register`` for a rig's, under the owner's address (the only one the
    platform accepts: the rig's own is reported by ``rig_address``). Missing figures are
    derived (an empty payload stands for a rig whose register the bridge never saw)."""
    gpus = _gpus(payload.get("gpus"))
    try:
        return Register(
            worker_id=worker_id,
            eth_address=owner,
            gpu_count=_count(payload, "gpu_count", default=len(gpus)),
            total_memory_gb=_count(
                payload, "total_memory_gb", default=sum(gpu.memory_gb for gpu in gpus)
            ),
            gpus=gpus,
            version=_text(payload.get("version"), 128) or UNKNOWN_VERSION,
            timestamp=_count(payload, "timestamp", default=now),
            # The bridge turns the rig's block pattern into a lease's share pattern.
            share_mode=ShareMode.BLOCK_PATTERN,
        )
    except ValidationError as error:
        raise _malformed(error, "register") from None


def heartbeat_for(payload: dict[str, Any], *, worker_id: str, now: int) -> Heartbeat:
    """The platform's ``heartbeat``: v2 figures, the hashrate as a number, the C++ extras
    (``address``, ``prefix``, ``block_pattern``) left out; per-GPU telemetry kept when it is
    this platform's own extension."""
    hashrate = _number(payload.get("hashrate"))
    if hashrate is None or hashrate < 0:
        raise Untranslatable("malformed", "heartbeat.hashrate is not a number of H/s")
    try:
        return Heartbeat(
            worker_id=worker_id,
            hashrate=hashrate,
            active_gpus=_count(payload, "active_gpus"),
            accepted_blocks=_count(payload, "accepted_blocks"),
            difficulty=_count(payload, "difficulty"),
            uptime_sec=_count(payload, "uptime_sec"),
            timestamp=_count(payload, "timestamp", default=now),
            gpus=_telemetry(payload.get("gpus")),
        )
    except ValidationError as error:
        raise _malformed(error, "heartbeat") from None


def is_offline_status(payload: dict[str, Any]) -> bool:
    """``{"status": "offline"}`` (the C++ last will) or ``{"state": "offline"}``."""
    return any(
        isinstance(payload.get(name), str) and payload[name].lower() == "offline"
        for name in ("status", "state")
    )


def status_for(payload: dict[str, Any], *, worker_id: str, now: int) -> Status:
    """The platform's ``status``; the C++ ``{"status": "offline"}`` is state ``offline``."""
    if is_offline_status(payload):
        state = WorkerState.OFFLINE
    else:
        name = payload.get("state")
        found = _STATES.get(name.upper()) if isinstance(name, str) else None
        if found is None:
            raise Untranslatable("unknown_state", f"status.state {str(name)[:40]!r}")
        state = found
    lease_id = payload.get("lease_id")
    try:
        return Status(
            worker_id=worker_id,
            state=state,
            lease_id=lease_id if isinstance(lease_id, str) and lease_id else None,
            detail=_text(payload.get("detail"), 512),
            timestamp=_count(payload, "timestamp", default=now),
        )
    except ValidationError as error:
        raise _malformed(error, "status") from None


def offline_status(worker_id: str, now: int) -> Status:
    return Status(worker_id=worker_id, state=WorkerState.OFFLINE, timestamp=now)


def block_for(payload: dict[str, Any], *, worker_id: str, now: int) -> BlockFound:
    """The platform's ``block``. An encoded hash must be for the claimed account (its salt)
    and difficulty (its ``m``, when the rig also says ``difficulty``); it is sent as the raw
    hash with ``difficulty`` = ``m``. A raw hash is sent as it is."""
    account_text = payload.get("account")
    try:
        account = to_checksum(account_text) if isinstance(account_text, str) else None
    except ProtocolError:
        account = None
    if account is None:
        raise Untranslatable("bad_account", f"block.account {str(account_text)[:60]!r}")
    claimed = payload.get("difficulty")
    claimed = claimed if isinstance(claimed, int) and not isinstance(claimed, bool) else None
    hash_text = payload.get("hash")
    if not isinstance(hash_text, str):
        raise Untranslatable("malformed", "block.hash is missing")
    hash_b64, difficulty = hash_text, claimed
    if is_encoded_hash(hash_text):
        try:
            decoded = decode_block_hash({**payload, "account": account, "difficulty": claimed})
        except EncodedHashError as error:
            raise Untranslatable(error.code, error.reason) from None
        hash_b64, difficulty = decoded["hash"], decoded["difficulty"]
    lease_id = payload.get("lease_id", "")
    try:
        return BlockFound(
            worker_id=worker_id,
            lease_id=lease_id if isinstance(lease_id, str) else "",
            hash=hash_b64,
            key=payload.get("key"),
            account=account,
            attempts=_count(payload, "attempts"),
            hashrate=_decimal(payload.get("hashrate")),
            timestamp=_count(payload, "timestamp", default=now),
            difficulty=difficulty,
        )
    except ValidationError as error:
        raise _malformed(error, "block") from None


def is_network_block(hash_b64: str, block_pattern: str) -> bool:
    """Whether a rig's hit is a block it would report without a lease's pattern: its usual
    block pattern (XEN11 unless the bridge set another) or XUNI. Under a lease the rig's
    block pattern is the lease's (a part of it), so most hits are shares only."""
    return block_pattern in hash_b64 or _XUNI.search(hash_b64) is not None


def share_for(block: BlockFound) -> Share | None:
    """The lease's share a rig's hit under a lease stands for (the same proof: key, hash,
    account, memory cost); None when it names no lease or no memory cost to check it at."""
    if not block.lease_id or block.difficulty is None:
        return None
    return Share(
        worker_id=block.worker_id,
        lease_id=block.lease_id,
        hash=block.hash,
        key=block.key,
        account=block.account,
        difficulty=block.difficulty,
        timestamp=block.timestamp,
    )


def check_block_account(block: BlockFound, owner: str) -> None:
    """A self-mined block (no lease) counts only for the owner: the platform would refuse
    one for another account, and count it against the rig (a strike). Untranslatable
    (``foreign_account``) instead; under a lease the platform checks the renter's."""
    if not block.lease_id and block.account != to_checksum(owner):
        raise Untranslatable(
            "foreign_account", f"self-mined for {block.account}, not the owner {owner}"
        )


# -- platform → rig ----------------------------------------------------------------------


def rig_task(message: TaskMessage) -> dict[str, Any]:
    """A task message in the v2 fields the C++ miner reads (this platform's extensions,
    ``difficulty`` and ``share_pattern``, left out: it follows the node's difficulty and
    sends no shares)."""
    if isinstance(message, RegisterAck):
        ack: dict[str, Any] = {"command": "register_ack", "accepted": message.accepted}
        if message.reason is not None:
            ack["reason"] = message.reason
        return ack
    if isinstance(message, AssignTask):
        return {
            "command": "assign_task",
            "lease_id": message.lease_id,
            "consumer_id": message.consumer_id,
            "consumer_address": message.consumer_address,
            "prefix": message.prefix,
            "duration_sec": message.duration_sec,
        }
    if isinstance(message, Release):
        return {"command": "release", "lease_id": message.lease_id}
    raise TypeError(f"not a task message: {type(message).__name__}")


def rig_control(control: Control) -> dict[str, Any] | None:
    """A control command as the C++ miner reads it; None when nothing in it applies.

    pause, resume and shutdown pass as they are; of ``set_config`` the C++ miner applies
    ``difficulty`` (``heartbeat_sec`` and ``share_pattern`` have no meaning to it).
    """
    if control.action != "set_config":
        return {"action": control.action}
    if control.config is None or control.config.difficulty is None:
        return None
    return rig_set_config(difficulty=control.config.difficulty)


def rig_set_config(
    *,
    difficulty: int | None = None,
    address: str | None = None,
    prefix: str | None = None,
    block_pattern: str | None = None,
) -> dict[str, Any] | None:
    """``{"action": "set_config", "config": {...}}`` with the fields given; None if none."""
    fields = {
        "difficulty": difficulty,
        "address": address,
        "prefix": prefix,
        "block_pattern": block_pattern,
    }
    config = {name: value for name, value in fields.items() if value is not None}
    return {"action": "set_config", "config": config} if config else None


# -- helpers -----------------------------------------------------------------------------


def _malformed(error: ValidationError, what: str) -> Untranslatable:
    return Untranslatable("malformed", str(ProtocolError.from_validation(error, what)))


def _number(value: object) -> float | None:
    """A finite number from a JSON number or a decimal string (v2 writes "1250.75")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not _DECIMAL.fullmatch(value):
            return None
    elif not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _count(payload: dict[str, Any], name: str, default: int = 0) -> Any:
    """A whole, non-negative number (C++ may send a float); missing: ``default``; anything
    else is passed on for the model to refuse with the field's name."""
    value = payload.get(name)
    if value is None:
        return default
    if isinstance(value, float) and math.isfinite(value) and value >= 0:
        return int(value)
    return value


def _decimal(value: object) -> Any:
    """The block's hashrate as v2's decimal string; a number is written with 2 decimals."""
    if value is None:
        return "0"
    if isinstance(value, str):
        return value.strip()
    number = _number(value)
    return f"{number:.2f}" if number is not None and number >= 0 else value


def _text(value: object, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) else None


def _gpus(value: object) -> list[GpuInfo]:
    """The rig's GPUs; an entry that is not a GPU is left out (the figures still count)."""
    if not isinstance(value, list):
        return []
    gpus: list[GpuInfo] = []
    for entry in value[:MAX_GPUS]:
        if not isinstance(entry, dict):
            continue
        try:
            gpus.append(
                GpuInfo(
                    index=_count(entry, "index", default=len(gpus)),
                    name=_text(entry.get("name"), 128) or "unknown",
                    memory_gb=_count(entry, "memory_gb"),
                    bus_id=_count(entry, "bus_id"),
                )
            )
        except ValidationError:
            continue
    return gpus


def _telemetry(value: object) -> list[GpuTelemetry] | None:
    """Per-GPU telemetry when the rig sends it in this platform's form, else None."""
    if not isinstance(value, list) or not value:
        return None
    try:
        return [GpuTelemetry.model_validate(entry) for entry in value[:MAX_GPUS]]
    except ValidationError:
        return None
