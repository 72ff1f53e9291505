"""Messages a rig publishes (rig → cloud), as in the v2 ``worker_to_platform.json``.

``GpuTelemetry``, ``Heartbeat.gpus``, ``Status.correlation_id``, ``Share`` and
``NetworkVerdict`` are this platform's extensions; they are optional or on their own topic,
so v2 messages stay valid.
"""

from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, StrictFloat, model_validator

from protocol.addresses import EthAddress
from protocol.base import Message
from protocol.encoded_hash import decode_block_hash, is_encoded_hash
from protocol.fields import (
    MAX_GPUS,
    CorrelationId,
    DecimalText,
    Difficulty,
    Hashrate,
    HashText,
    Identifier,
    KeyText,
    LongText,
    NonNegativeInt,
    OptionalIdentifier,
    ShortText,
    Timestamp,
    WorkerId,
)


class GpuInfo(Message):
    index: NonNegativeInt
    name: ShortText
    memory_gb: NonNegativeInt
    bus_id: NonNegativeInt


class ShareMode(StrEnum):
    """How a rig can prove the work it delivers under a lease (extension, ``register``).

    A rig that says nothing sends no shares (the v2 files, the C++ miner): it is measured
    by its verified blocks alone.
    """

    PATTERN = "pattern"  # any share pattern (protocol.shares): this platform's miner
    # A literal the rig reports like a block (the C++ miner's ``block_pattern``), so the
    # pattern must be part of XEN11 for real blocks to be still found: the bridge's rigs.
    BLOCK_PATTERN = "block_pattern"


class Register(Message):
    worker_id: WorkerId
    eth_address: EthAddress
    gpu_count: NonNegativeInt
    total_memory_gb: NonNegativeInt
    gpus: list[GpuInfo] = Field(max_length=MAX_GPUS)
    version: ShortText
    timestamp: Timestamp
    share_mode: ShareMode | None = None


class GpuTelemetry(Message):
    index: NonNegativeInt
    hashrate: Hashrate
    temperature_c: StrictFloat | None = None
    fan_pct: Annotated[StrictFloat, Field(ge=0, le=100)] | None = None
    power_w: Annotated[StrictFloat, Field(ge=0)] | None = None


class Heartbeat(Message):
    worker_id: WorkerId
    hashrate: Hashrate
    active_gpus: NonNegativeInt
    accepted_blocks: NonNegativeInt
    difficulty: NonNegativeInt  # as the rig last saw it; 0 before it knows
    uptime_sec: NonNegativeInt
    timestamp: Timestamp
    gpus: list[GpuTelemetry] | None = Field(default=None, max_length=MAX_GPUS)
    # What the XenblocksMiner C++ rigs add (WorkerReporter::sendHeartbeat): the address it
    # mines for, as typed (any text), the key prefix and the block pattern it uses now
    # ("" for its defaults: no prefix, XEN11).
    address: ShortText | None = None
    prefix: ShortText | None = None
    block_pattern: ShortText | None = None


class WorkerState(StrEnum):
    IDLE = "IDLE"
    AVAILABLE = "AVAILABLE"
    LEASED = "LEASED"
    MINING = "MINING"
    COMPLETED = "COMPLETED"
    ERROR = "ERROR"
    OFFLINE = "offline"  # lower case in v2: it is the MQTT last will, not a state machine state


class Status(Message):
    worker_id: WorkerId
    state: WorkerState
    lease_id: OptionalIdentifier | None = None
    detail: LongText | None = None
    timestamp: Timestamp
    # The command's (protocol.downlink) when the status answers one: a lease taken or left.
    correlation_id: CorrelationId | None = None

    @model_validator(mode="before")
    @classmethod
    def _cpp_last_will(cls, data: Any) -> Any:
        """The C++ rigs' last will (and clean stop) says ``"status": "offline"`` where v2
        says ``"state"``: the same state."""
        if isinstance(data, dict) and "state" not in data and data.get("status") == "offline":
            data = {name: value for name, value in data.items() if name != "status"}
            data["state"] = WorkerState.OFFLINE.value
        return data


class BlockFound(Message):
    """A block a rig reports. The model checks form only; protocol.xenblocks judges it."""

    worker_id: WorkerId
    lease_id: OptionalIdentifier  # "" when the rig is mining for itself
    hash: HashText
    key: KeyText
    account: EthAddress
    attempts: NonNegativeInt
    hashrate: DecimalText  # v2 sends a decimal string such as "1250.75"
    timestamp: Timestamp
    # Extension: the memory cost the rig hashed with; absent means the current difficulty.
    difficulty: Difficulty | None = None

    @model_validator(mode="before")
    @classmethod
    def _encoded_hash(cls, data: Any) -> Any:
        """The C++ rigs send the node's encoded form: checked against the report, then its
        raw part and its ``m`` are what the report says (protocol.encoded_hash)."""
        hash_text = data.get("hash") if isinstance(data, dict) else None
        if isinstance(hash_text, str) and is_encoded_hash(hash_text):
            return decode_block_hash(data)
        return data

    @property
    def hashrate_value(self) -> float:
        return float(self.hashrate)


class Share(Message):
    """A proof-of-work share found during a lease (extension, ``share`` topic)."""

    worker_id: WorkerId
    lease_id: Identifier
    hash: HashText
    key: KeyText
    account: EthAddress
    difficulty: Difficulty
    timestamp: Timestamp


class NetworkStatus(StrEnum):
    """What the XenBlocks node made of a submitted block."""

    ACCEPTED = "accepted"  # 200: saved
    DUPLICATE = "duplicate"  # 400 "Block already exists": saved earlier (after a retry)
    REFUSED = "refused"  # 401 (or another final 4xx): the node's reason in ``message``
    UNREACHABLE = "unreachable"  # the rig gave up after transient failures (5xx, timeouts)


class NetworkVerdict(Message):
    """The node's answer to a block the rig submitted (extension, ``verdict`` topic).

    ``hash`` is the raw base64 hash the rig reported on its ``block`` topic; ``difficulty``
    the memory cost it submitted at, ``network_difficulty`` what the node published when
    the rig last asked.
    """

    worker_id: WorkerId
    lease_id: OptionalIdentifier  # "" when the rig mined for itself
    hash: HashText
    status: NetworkStatus
    http_status: Annotated[int, Field(ge=100, le=599, strict=True)] | None = None
    message: LongText | None = None
    difficulty: Difficulty | None = None
    network_difficulty: Difficulty | None = None
    timestamp: Timestamp


UplinkMessage = Register | Heartbeat | Status | BlockFound | Share | NetworkVerdict
