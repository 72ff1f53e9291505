"""The ``DevicePublisher`` port: commands from the cloud to one rig.

Adapters only publish bytes on a topic (AWS: ``iot-data publish``; local: the broker with
the platform's service identity). ``DeviceCommands`` picks the topic and encodes the message,
so every command goes out the same way whatever the adapter.
"""

from __future__ import annotations

from typing import Protocol

from protocol.codec import encode
from protocol.downlink import Control, TaskMessage
from protocol.topics import Downlink, topic


class DevicePublisher(Protocol):
    def publish(self, topic: str, payload: bytes, *, qos: int = 1) -> None:
        """Publish or raise; a command is never dropped silently."""
        ...


class DeviceCommands:
    def __init__(self, publisher: DevicePublisher) -> None:
        self._publisher = publisher

    def task(self, worker_id: str, message: TaskMessage) -> None:
        """``register_ack``, ``assign_task`` or ``release`` on the rig's task topic."""
        self._publisher.publish(topic(worker_id, Downlink.TASK), encode(message))

    def control(self, worker_id: str, message: Control) -> None:
        """``pause``, ``resume``, ``shutdown`` or ``set_config`` on the rig's control topic."""
        self._publisher.publish(topic(worker_id, Downlink.CONTROL), encode(message))


class RecordingPublisher:
    """A publisher that keeps what it was asked to send (unit tests, dry runs)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, int]] = []

    def publish(self, topic: str, payload: bytes, *, qos: int = 1) -> None:
        self.sent.append((topic, payload, qos))
