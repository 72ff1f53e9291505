"""Bytes on the wire ↔ message models.

Every payload is untrusted: it is size-limited, must be UTF-8 JSON holding one object,
and may not use NaN/Infinity or repeat a key (where parsers disagree on which one wins).
"""

import json
import math
from collections.abc import Mapping
from typing import Any, NoReturn, TypeVar, get_args

from pydantic import BaseModel, ValidationError

from protocol.downlink import (
    AssignTask,
    Control,
    ControlAction,
    RegisterAck,
    Release,
    TaskMessage,
)
from protocol.errors import ProtocolError
from protocol.jsonlimits import MAX_JSON_DEPTH, json_depth_exceeds
from protocol.topics import Uplink, topic
from protocol.uplink import (
    BlockFound,
    Heartbeat,
    NetworkVerdict,
    Register,
    Share,
    Status,
    UplinkMessage,
    WorkerState,
)

MAX_PAYLOAD_BYTES = 16 * 1024

M = TypeVar("M", bound=BaseModel)

_UPLINK_MODELS: dict[Uplink, type[UplinkMessage]] = {
    Uplink.REGISTER: Register,
    Uplink.HEARTBEAT: Heartbeat,
    Uplink.STATUS: Status,
    Uplink.BLOCK: BlockFound,
    Uplink.SHARE: Share,
    Uplink.VERDICT: NetworkVerdict,
}
_TASK_MODELS: dict[str, type[TaskMessage]] = {
    "register_ack": RegisterAck,
    "assign_task": AssignTask,
    "release": Release,
}
_CONTROL_ACTIONS: frozenset[str] = frozenset(get_args(ControlAction))


def decode_json(raw: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    """The JSON object in ``raw``, or ProtocolError.

    A mapping is an event already decoded upstream (an IoT rule's Lambda event) and is
    taken as it is; the models still check every value in it.
    """
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        data = raw.encode() if isinstance(raw, str) else raw
        if len(data) > MAX_PAYLOAD_BYTES:
            raise ProtocolError(f"payload is over {MAX_PAYLOAD_BYTES} bytes")
        if json_depth_exceeds(data):
            raise ProtocolError(f"payload nests deeper than {MAX_JSON_DEPTH} levels")
        decoded = json.loads(
            data.decode(),
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            object_pairs_hook=_object_without_duplicates,
        )
    except UnicodeError:
        raise ProtocolError("payload is not valid UTF-8") from None
    except ProtocolError:
        raise
    except (ValueError, RecursionError):
        raise ProtocolError("payload is not valid JSON") from None
    if not isinstance(decoded, dict):
        raise ProtocolError("payload must be a JSON object")
    return decoded


def _reject_constant(name: str) -> NoReturn:
    raise ProtocolError(f"{name} is not a number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # e.g. 1e999
        raise ProtocolError("a number is out of range")
    return value


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ProtocolError("payload repeats a key")
    return result


def _validate(model: type[M], data: dict[str, Any], message_type: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ProtocolError.from_validation(error, message_type) from None


def parse_uplink(suffix: Uplink, raw: bytes | str | Mapping[str, Any]) -> UplinkMessage:
    """The message a rig published on its ``suffix`` topic."""
    return _validate(_UPLINK_MODELS[suffix], decode_json(raw), suffix.value)


def parse_task(raw: bytes | str | Mapping[str, Any]) -> TaskMessage:
    """A message on a rig's ``task`` topic, chosen by its ``command``."""
    data = decode_json(raw)
    command = data.get("command")
    if not isinstance(command, str) or command not in _TASK_MODELS:
        raise ProtocolError(f"must be one of {', '.join(_TASK_MODELS)}", field="command")
    return _validate(_TASK_MODELS[command], data, command)


def parse_control(raw: bytes | str | Mapping[str, Any]) -> Control:
    data = decode_json(raw)
    action = data.get("action")
    if not isinstance(action, str) or action not in _CONTROL_ACTIONS:
        raise ProtocolError(f"must be one of {', '.join(sorted(_CONTROL_ACTIONS))}", field="action")
    return _validate(Control, data, "control")


def encode(message: BaseModel) -> bytes:
    """Compact JSON; unset optional fields are left out, as v2 peers expect."""
    return message.model_dump_json(exclude_none=True).encode()


def last_will(worker_id: str, now: int) -> tuple[str, bytes]:
    """The topic and payload a rig registers as its MQTT last will."""
    will_topic = topic(worker_id, Uplink.STATUS)  # first: it raises ProtocolError on a bad id
    offline = Status(worker_id=worker_id, state=WorkerState.OFFLINE, timestamp=now)
    return will_topic, encode(offline)
