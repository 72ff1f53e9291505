"""The rig's MQTT connection to the platform (paho-mqtt 2.x).

Mutual TLS with the enrolled device certificate, client id = worker id (the broker and
AWS IoT refuse anything else), a last will that marks the rig offline, and reconnection
with exponential backoff (paho doubles the delay from 1 s up to ``max_backoff``). The
connection is started asynchronously: a rig whose broker is down keeps mining and queues
what it finds; ``state`` says what the connection is doing for the status line.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from protocol.codec import last_will
from protocol.topics import Downlink, topic

if TYPE_CHECKING:
    from miner.enrolment.bundle import CertificateBundle

log = logging.getLogger(__name__)

MessageHandler = Callable[[Downlink, bytes], None]


class ClientSetupError(ValueError):
    """The certificate, key or CA cannot be used (missing, unreadable, not matching)."""


@dataclass(frozen=True)
class BrokerEndpoint:
    host: str
    port: int
    ca_path: Path
    cert_path: Path
    key_path: Path

    @classmethod
    def of(cls, bundle: CertificateBundle) -> BrokerEndpoint:
        """The platform's broker as an enrolled rig's bundle names it, with its certificate."""
        return cls(
            host=bundle.mqtt_host,
            port=bundle.mqtt_port,
            ca_path=bundle.ca_path,
            cert_path=bundle.certificate_path,
            key_path=bundle.private_key_path,
        )


class PlatformClient:
    """One MQTT session for one rig; thread-safe publishing, callbacks on paho's thread."""

    def __init__(
        self,
        endpoint: BrokerEndpoint,
        worker_id: str,
        *,
        on_message: MessageHandler,
        on_connect: Callable[[], None] | None = None,
        keepalive: int = 30,
        max_backoff: int = 60,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.endpoint = endpoint
        self.worker_id = worker_id
        self._on_message = on_message
        self._on_connect_hook = on_connect
        self._keepalive = keepalive
        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=worker_id,
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        self._client.tls_set_context(_tls_context(endpoint))
        will_topic, will_payload = last_will(worker_id, int(clock()))
        self._client.will_set(will_topic, will_payload, qos=1, retain=False)
        self._client.reconnect_delay_set(min_delay=1, max_delay=max_backoff)
        self._client.on_connect = self._connected
        self._client.on_disconnect = self._disconnected
        self._client.on_connect_fail = self._connect_failed
        self._client.on_message = self._received
        self._connected_event = threading.Event()
        self._lock = threading.Lock()
        self.state = "connecting"
        self.last_error: str | None = None
        self.connects = 0
        self._started = False

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Begin connecting in the background; paho retries until ``stop``."""
        self._client.connect_async(self.endpoint.host, self.endpoint.port, self._keepalive)
        self._client.loop_start()
        self._started = True

    def stop(self) -> None:
        """Disconnect cleanly (the broker then does not send the last will)."""
        if self._started:
            self._client.disconnect()
            self._client.loop_stop()
            self._started = False
        self._connected_event.clear()
        self.state = "stopped"

    @property
    def connected(self) -> bool:
        return self._connected_event.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected_event.wait(timeout)

    # -- publishing --------------------------------------------------------------------

    def publish(self, topic_name: str, payload: bytes, *, qos: int = 1) -> mqtt.MQTTMessageInfo:
        return self._client.publish(topic_name, payload, qos=qos)

    def deliver(self, topic_name: str, payload: bytes, *, timeout: float = 10.0) -> bool:
        """Publish at QoS 1 and wait for the PUBACK: True once the broker has it."""
        if not self.connected:
            return False
        info = self._client.publish(topic_name, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return False
        try:
            info.wait_for_publish(timeout=timeout)
        except (RuntimeError, ValueError):
            return False
        return info.is_published()

    # -- paho callbacks ----------------------------------------------------------------

    def _connected(
        self,
        client: mqtt.Client,
        _userdata: Any,
        _flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            self.state = "refused"
            self.last_error = f"the broker refused the connection: {reason_code}"
            log.error("%s (is the certificate revoked?)", self.last_error)
            return
        for suffix in Downlink:
            client.subscribe(topic(self.worker_id, suffix), qos=1)
        self.connects += 1
        self.state = "connected"
        self.last_error = None
        self._connected_event.set()
        log.info("connected to %s:%d", self.endpoint.host, self.endpoint.port)
        if self._on_connect_hook is not None:
            self._on_connect_hook()

    def _disconnected(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        was_connected = self._connected_event.is_set()
        self._connected_event.clear()
        if self.state != "stopped":
            self.state = "reconnecting"
        if was_connected:
            log.warning("lost the connection to the broker (%s); reconnecting", reason_code)

    def _connect_failed(self, _client: mqtt.Client, _userdata: Any) -> None:
        self.state = "unreachable"
        self.last_error = (
            f"cannot reach the broker at {self.endpoint.host}:{self.endpoint.port}; retrying"
        )
        log.warning(self.last_error)

    def _received(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        suffix = message.topic.rsplit("/", 1)[-1]
        try:
            downlink = Downlink(suffix)
        except ValueError:
            log.warning("ignoring a message on unexpected topic %s", message.topic)
            return
        try:
            self._on_message(downlink, bytes(message.payload))
        except Exception:
            log.exception("handling a %s message failed", downlink.value)


def _tls_context(endpoint: BrokerEndpoint) -> ssl.SSLContext:
    for label, path in (
        ("CA certificate", endpoint.ca_path),
        ("certificate", endpoint.cert_path),
        ("private key", endpoint.key_path),
    ):
        if not path.is_file():
            raise ClientSetupError(
                f"the {label} {path} is missing: run `xenblocks-miner enroll` first"
            )
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(endpoint.ca_path))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(endpoint.cert_path), str(endpoint.key_path))
    except (ssl.SSLError, OSError) as error:
        raise ClientSetupError(
            f"cannot use the certificate in {endpoint.cert_path.parent}: {error}"
        ) from error
    return context
