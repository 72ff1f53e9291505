"""The MQTT routing table: which rig topics reach which ingest route, and in what shape.

One list, read by the CDK app (one IoT topic rule per route) and by the local rule bridge
(one subscription per route), so both deliver the same event to the same handler:

    {"route": "<name>", "worker_id": "<topic(2)>", "payload": "<base64 of the raw bytes>",
     "received_at": <epoch milliseconds>}

The payload travels as base64 of the bytes the rig sent, not as parsed JSON, so the
handler's own strict decoder sees exactly what was published (size, duplicate keys, bad
UTF-8) and a bad payload is refused, logged and counted in one place. The worker id comes
from the topic, which the IoT policy (or the local ACL) ties to the certificate.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any, TypeVar

from protocol.errors import ProtocolError
from protocol.topics import Uplink, parse_topic, subscription_filter, validate_worker_id

# IoT rule names allow letters, digits and underscores.
_RULE_NAME = re.compile(r"^[a-zA-Z0-9_]{1,128}$")


@dataclass(frozen=True)
class Route:
    name: str
    suffix: Uplink
    # Heartbeats are most of the traffic: rigs in AWS publish them through Basic Ingest
    # ($aws/rules/<rule>/...), which skips the broker's messaging charge.
    basic_ingest: bool = False
    # Batched routes reach ingest through a Kinesis stream, many messages per invocation
    # (one rule action per message, but one Lambda request per batch); the rest invoke the
    # ingest function once per message, which is what a register, block or share needs.
    batched: bool = False

    @property
    def topic_filter(self) -> str:
        return subscription_filter(self.suffix)

    def rule_name(self, stage: str) -> str:
        name = f"xenblocks_{stage.replace('-', '_')}_{self.name}"
        if not _RULE_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a valid IoT rule name")
        return name

    def sql(self) -> str:
        """The IoT rule's SQL: the event shape above, from the route's topic filter."""
        return (
            f"SELECT '{self.name}' AS route, topic(2) AS worker_id, "  # noqa: S608 (IoT SQL, our constants)
            "encode(*, 'base64') AS payload, timestamp() AS received_at "
            f"FROM '{self.topic_filter}'"
        )

    def ingest_topic(self, stage: str, topic: str) -> str:
        """Where a rig publishes ``topic`` in AWS: through Basic Ingest when the route uses it."""
        return f"$aws/rules/{self.rule_name(stage)}/{topic}" if self.basic_ingest else topic


ROUTES: tuple[Route, ...] = (
    Route("register", Uplink.REGISTER),
    Route("heartbeat", Uplink.HEARTBEAT, basic_ingest=True, batched=True),
    Route("status", Uplink.STATUS),
    Route("block", Uplink.BLOCK),
    Route("share", Uplink.SHARE),
    Route("verdict", Uplink.VERDICT),
)

T = TypeVar("T")

_BY_NAME = {route.name: route for route in ROUTES}
_BY_SUFFIX = {route.suffix: route for route in ROUTES}


def route_named(name: str) -> Route:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ProtocolError(f"unknown route {name!r}", field="route") from None


def route_for_topic(topic: str) -> tuple[Route, str]:
    """The route and worker id of a concrete uplink topic (the local bridge's FROM + topic(2))."""
    parsed = parse_topic(topic)
    if not isinstance(parsed.suffix, Uplink):
        raise ProtocolError("not an uplink topic", field="topic")
    return _BY_SUFFIX[parsed.suffix], parsed.worker_id


@dataclass(frozen=True)
class IngestEvent:
    route: Route
    worker_id: str
    payload: bytes
    received_at_ms: int

    def to_event(self) -> dict[str, Any]:
        return {
            "route": self.route.name,
            "worker_id": self.worker_id,
            "payload": base64.b64encode(self.payload).decode(),
            "received_at": self.received_at_ms,
        }

    @classmethod
    def from_record_data(cls, data: bytes) -> IngestEvent:
        """Parse a stream record's data: the rule's event as JSON (the Kinesis action)."""
        try:
            event = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ProtocolError("a stream record must hold the rule's JSON event") from None
        return cls.from_event(event)

    @classmethod
    def from_event(cls, event: object) -> IngestEvent:
        """Parse a rule's event; ProtocolError naming the field when it is malformed."""
        if not isinstance(event, dict):
            raise ProtocolError("an ingest event must be an object")
        route = route_named(_field(event, "route", str))
        worker_id = _field(event, "worker_id", str)
        try:
            validate_worker_id(worker_id)
        except ProtocolError:
            raise ProtocolError("invalid worker id", field="worker_id") from None
        encoded = _field(event, "payload", str)
        try:
            payload = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError("not base64", field="payload") from None
        received_at = _field(event, "received_at", int)
        if received_at < 0:
            raise ProtocolError("must not be negative", field="received_at")
        return cls(route, worker_id, payload, received_at)


def _field(event: dict[Any, Any], name: str, kind: type[T]) -> T:
    value = event.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ProtocolError(f"must be a {kind.__name__}", field=name)
    return value
