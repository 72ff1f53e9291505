"""MQTT topics: ``xenminer/{worker_id}/{suffix}``.

The worker id is the AWS IoT thing name, so it follows the thing-name rules; validating it
before building a topic also keeps MQTT wildcards and separators out of topics.
"""

import re
from dataclasses import dataclass
from enum import StrEnum

from protocol.errors import ProtocolError

TOPIC_ROOT = "xenminer"
WORKER_ID_PATTERN = r"^[A-Za-z0-9_:-]{1,128}$"
_WORKER_ID = re.compile(WORKER_ID_PATTERN)


class Uplink(StrEnum):
    """Topic suffixes a rig publishes to (rig → cloud)."""

    REGISTER = "register"
    HEARTBEAT = "heartbeat"
    STATUS = "status"
    BLOCK = "block"
    SHARE = "share"
    VERDICT = "verdict"  # the XenBlocks node's answer to a submitted block


class Downlink(StrEnum):
    """Topic suffixes a rig subscribes to (cloud → rig)."""

    TASK = "task"
    CONTROL = "control"


_SUFFIXES: dict[str, Uplink | Downlink] = {suffix.value: suffix for suffix in (*Uplink, *Downlink)}


@dataclass(frozen=True)
class ParsedTopic:
    worker_id: str
    suffix: Uplink | Downlink


def validate_worker_id(worker_id: str) -> str:
    if not _WORKER_ID.fullmatch(worker_id):
        raise ProtocolError("must be 1-128 characters of A-Z a-z 0-9 _ : -", field="worker_id")
    return worker_id


def topic(worker_id: str, suffix: Uplink | Downlink) -> str:
    return f"{TOPIC_ROOT}/{validate_worker_id(worker_id)}/{suffix}"


def parse_topic(topic: str) -> ParsedTopic:
    """Split a concrete topic into its worker id and suffix, or raise ProtocolError."""
    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != TOPIC_ROOT:
        raise ProtocolError(f"expected {TOPIC_ROOT}/{{worker_id}}/{{suffix}}", field="topic")
    _, worker_id, suffix = parts
    if not _WORKER_ID.fullmatch(worker_id):
        raise ProtocolError("invalid worker id", field="topic")
    if suffix not in _SUFFIXES:
        raise ProtocolError(f"unknown topic suffix {suffix!r}", field="topic")
    return ParsedTopic(worker_id=worker_id, suffix=_SUFFIXES[suffix])


def subscription_filter(suffix: Uplink | Downlink) -> str:
    """The filter matching ``suffix`` for every worker (what an IoT rule selects)."""
    return f"{TOPIC_ROOT}/+/{suffix}"


def worker_topic_prefix(worker_id: str) -> str:
    """Everything a worker may publish and subscribe to starts with this."""
    return f"{TOPIC_ROOT}/{validate_worker_id(worker_id)}/"
