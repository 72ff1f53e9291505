"""The wire messages and their codec, importable from one place.

Models live in protocol.uplink (rig → cloud) and protocol.downlink (cloud → rig); bytes
are turned into them by protocol.codec.
"""

from protocol.codec import (
    MAX_PAYLOAD_BYTES,
    decode_json,
    encode,
    last_will,
    parse_control,
    parse_task,
    parse_uplink,
)
from protocol.downlink import (
    AssignTask,
    Control,
    ControlAction,
    MeasuredBy,
    RegisterAck,
    Release,
    SetConfig,
    TaskCommand,
    TaskMessage,
)
from protocol.uplink import (
    BlockFound,
    GpuInfo,
    GpuTelemetry,
    Heartbeat,
    NetworkStatus,
    NetworkVerdict,
    Register,
    Share,
    ShareMode,
    Status,
    UplinkMessage,
    WorkerState,
)

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "AssignTask",
    "BlockFound",
    "Control",
    "ControlAction",
    "GpuInfo",
    "GpuTelemetry",
    "Heartbeat",
    "MeasuredBy",
    "NetworkStatus",
    "NetworkVerdict",
    "Register",
    "RegisterAck",
    "Release",
    "SetConfig",
    "Share",
    "ShareMode",
    "Status",
    "TaskCommand",
    "TaskMessage",
    "UplinkMessage",
    "WorkerState",
    "decode_json",
    "encode",
    "last_will",
    "parse_control",
    "parse_task",
    "parse_uplink",
]
