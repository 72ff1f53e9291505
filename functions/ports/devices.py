"""The ``DevicePublisher`` port: commands from the cloud to one rig.

Adapters only publish bytes on a topic (AWS: ``iot-data publish``; local: the broker with
the platform's service identity). ``DeviceCommands`` picks the topic and encodes the message,
so every command goes out the same way whatever the adapter, with the correlation id of
the request or run that sent it (``functions.observability``) unless it has one already.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from functions.observability import current_correlation_id
from protocol.codec import encode
from protocol.downlink import Control, TaskMessage
from protocol.topics import Downlink, topic


class DevicePublisher(Protocol):
    def publish(self, topic: str, payload: bytes, *, qos: int = 1) -> None:
        """Publish or raise; a command is never dropped silently."""
        ...


class DeviceCommands:
    def __init__(
        self,
        publisher: DevicePublisher,
        *,
        correlation: Callable[[], str | None] = current_correlation_id,
    ) -> None:
        self._publisher = publisher
        self._correlation = correlation

    def task(self, worker_id: str, message: TaskMessage) -> None:
        """``register_ack``, ``assign_task`` or ``release`` on the rig's task topic."""
        self._publisher.publish(topic(worker_id, Downlink.TASK), encode(self._stamped(message)))

    def control(self, worker_id: str, message: Control) -> None:
        """``pause``, ``resume``, ``shutdown`` or ``set_config`` on the rig's control topic."""
        self._publisher.publish(topic(worker_id, Downlink.CONTROL), encode(self._stamped(message)))

    def _stamped(self, message: TaskMessage | Control) -> TaskMessage | Control:
        """``message`` with the current correlation id, when it has none and there is one."""
        correlation_id = self._correlation() if message.correlation_id is None else None
        if correlation_id is None:
            return message
        return message.model_copy(update={"correlation_id": correlation_id})


class RecordingPublisher:
    """A publisher that keeps what it was asked to send (unit tests, dry runs)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, int]] = []

    def publish(self, topic: str, payload: bytes, *, qos: int = 1) -> None:
        self.sent.append((topic, payload, qos))
