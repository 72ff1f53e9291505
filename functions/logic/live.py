"""Live updates, the pure part: coalescing messages into frames and reading client requests.

A connection gets at most one frame per coalescing window. Within a frame, a worker, lease,
block or alert appears once, with its latest state: a rig that heartbeats ten times in a
window is one ``worker`` message, and a thousand-rig fleet is one frame, not a thousand.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from functions.errors import InvalidInput
from functions.models.live import LiveMessage, MessageType
from protocol.jsonlimits import MAX_JSON_DEPTH, json_depth_exceeds

# The field naming the thing a message is about: later messages about it replace earlier.
_IDENTITY = {
    MessageType.WORKER: "worker_id",
    MessageType.LEASE: "lease_id",
    MessageType.BLOCK: "hash",
    MessageType.ALERT: "event_id",
}
# A request frame is small: anything larger is not one of ours.
MAX_REQUEST_BYTES = 4096


def _identity(position: int, message: LiveMessage) -> Hashable:
    if message.type in (MessageType.FLEET, MessageType.SNAPSHOT):
        return message.type
    field = _IDENTITY.get(message.type)
    if field is not None and isinstance(message.data, dict) and field in message.data:
        return (message.type, message.data[field])
    return position  # nothing to merge it with


def coalesce(messages: Iterable[LiveMessage]) -> list[LiveMessage]:
    """One message per thing, the latest, in the order of their latest change."""
    latest: dict[Hashable, LiveMessage] = {}
    for position, message in enumerate(messages):
        if message.type is MessageType.BATCH:
            raise ValueError("coalesce flat messages, not batches")
        key = _identity(position, message)
        latest.pop(key, None)  # re-inserting moves it to the end
        latest[key] = message
    return list(latest.values())


def frame(messages: list[LiveMessage], now: float) -> str:
    """The JSON text of one frame: the message itself, or a ``batch`` of several."""
    if not messages:
        raise ValueError("a frame needs at least one message")
    if len(messages) == 1:
        return messages[0].model_dump_json()
    batch = LiveMessage(
        type=MessageType.BATCH, data=[m.model_dump(mode="json") for m in messages], ts=now
    )
    return batch.model_dump_json()


class Action(StrEnum):
    SNAPSHOT = "snapshot"
    PING = "ping"


class ClientRequest(BaseModel):
    """What a dashboard may send: ``{"action": "snapshot"}`` or ``{"action": "ping"}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    action: Action


def parse_request(text: str | bytes) -> ClientRequest:
    if len(text) > MAX_REQUEST_BYTES:
        raise InvalidInput(f"a request is at most {MAX_REQUEST_BYTES} bytes")
    if json_depth_exceeds(text):
        raise InvalidInput(f"a request nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        body: Any = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput('a request is a JSON object like {"action": "ping"}') from None
    try:
        return ClientRequest.model_validate(body)
    except ValidationError:
        actions = ", ".join(a.value for a in Action)
        raise InvalidInput(f'a request is {{"action": …}} with one of: {actions}') from None


def error_reply(error: InvalidInput, now: float) -> LiveMessage:
    """What a client gets for a request we could not read."""
    return LiveMessage(type=MessageType.ERROR, data={"message": str(error)}, ts=now)
