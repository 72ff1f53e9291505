"""An MQTT client over mutual TLS for the local broker: the platform's side of the wire.

``ServiceClient`` implements the ``DevicePublisher`` port (publish and wait for the PUBACK,
or raise) and lets the rule bridge subscribe. Tests use it as a rig too: the certificate
decides who it is. paho runs the network loop in its own thread and reconnects by itself;
subscriptions are made again on every reconnect.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

log = logging.getLogger(__name__)

MessageCallback = Callable[[str, bytes], None]


class MqttError(RuntimeError):
    """The broker could not be reached, refused us, or did not acknowledge in time."""


class ConnectionRefused(MqttError):
    """The broker answered CONNECT with a refusal (``reason`` names it)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"the broker refused the connection: {reason}")


class SubscriptionRefused(MqttError):
    pass


class ServiceClient:
    """One MQTT 3.1.1 connection with a client certificate, used from any thread."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        ca_path: Path,
        cert_path: Path | None,
        key_path: Path | None,
        client_id: str,
        timeout: float = 10.0,
        keepalive: int = 30,
        clean_session: bool = True,
    ) -> None:
        self.host, self.port, self.client_id = host, port, client_id
        self.timeout = timeout
        self._keepalive = keepalive
        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,
            clean_session=clean_session,
        )
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_path))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if cert_path is not None or key_path is not None:
            if cert_path is None or key_path is None:
                raise ValueError("cert_path and key_path go together")
            context.load_cert_chain(str(cert_path), str(key_path))
        self._client.tls_set_context(context)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe

        self._lock = threading.Lock()
        self._connack = threading.Condition(self._lock)
        self._connect_result: ReasonCode | None = None
        self._closed_before_connack = False
        self._subscriptions: dict[str, tuple[int, MessageCallback]] = {}
        self._suback = threading.Condition(self._lock)
        self._granted: dict[int, list[ReasonCode]] = {}
        self._resubscribed: set[int] = set()  # mids nobody waits for
        self._started = False

    # -- lifecycle ---------------------------------------------------------------------

    def connect(self) -> None:
        """Connect and wait for the CONNACK; raise MqttError (ConnectionRefused) otherwise.

        The handshake runs on this thread; paho's network thread starts only once the
        broker accepted us, so a refusal leaves nothing running or retrying.
        """
        with self._lock:
            self._connect_result, self._closed_before_connack = None, False
        try:
            self._client.connect(self.host, self.port, keepalive=self._keepalive)
        except (OSError, ssl.SSLError) as error:
            raise MqttError(f"cannot reach {self.host}:{self.port} over TLS: {error}") from error
        result, closed = self._await_connack(time.monotonic() + self.timeout)
        if result is not None and not result.is_failure:
            self._client.loop_start()
            self._started = True
            return
        self._client.disconnect()
        if result is not None:
            raise ConnectionRefused(str(result))
        if closed:
            # TLS 1.3 clients learn that their certificate was refused only after the
            # handshake, when the broker closes the connection.
            raise MqttError(
                f"{self.host}:{self.port} closed the connection before CONNACK "
                "(client certificate refused?)"
            )
        raise MqttError(f"no CONNACK from {self.host}:{self.port} within {self.timeout}s")

    def _await_connack(self, deadline: float) -> tuple[ReasonCode | None, bool]:
        while True:
            with self._lock:
                result, closed = self._connect_result, self._closed_before_connack
            if result is not None or closed or time.monotonic() > deadline:
                return result, closed
            if self._client.loop(timeout=0.05) != mqtt.MQTT_ERR_SUCCESS:
                with self._lock:
                    return self._connect_result, True

    def close(self) -> None:
        """Disconnect and stop the network thread; safe to call twice."""
        self._client.disconnect()
        if self._started:
            self._client.loop_stop()
            self._started = False

    def __enter__(self) -> ServiceClient:
        self.connect()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        return bool(self._client.is_connected())

    # -- DevicePublisher ---------------------------------------------------------------

    def set_will(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """The last will the broker publishes if this connection drops (before ``connect``)."""
        self._client.will_set(topic, payload, qos=1, retain=retain)

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Publish and wait until the broker has it (PUBACK for QoS 1); raise otherwise.

        After a timeout paho still holds a QoS 1 message and sends it if the connection
        comes back: at least once, like every QoS 1 command, so rigs treat them as repeatable.
        """
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            raise MqttError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")
        # Not connected: paho keeps a QoS>0 message and sends it on reconnect, so waiting
        # still tells whether it got through in time.
        try:
            info.wait_for_publish(timeout=self.timeout)
        except (RuntimeError, ValueError) as error:
            raise MqttError(f"publish to {topic} failed: {error}") from error
        if not info.is_published():
            raise MqttError(f"publish to {topic} not acknowledged within {self.timeout}s")

    # -- subscriptions -----------------------------------------------------------------

    def subscribe(self, topic_filter: str, callback: MessageCallback, qos: int = 1) -> None:
        """Deliver messages matching ``topic_filter`` to ``callback(topic, payload)``.

        Waits for the SUBACK; raises SubscriptionRefused when the broker says no. The
        callback runs on paho's thread; an exception in it is logged, never lost silently.
        """

        def deliver(_client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
            try:
                callback(message.topic, bytes(message.payload))
            except Exception:
                log.exception("message callback for %s failed on %s", topic_filter, message.topic)

        with self._lock:
            self._subscriptions[topic_filter] = (qos, callback)
        self._client.message_callback_add(topic_filter, deliver)
        result, mid = self._client.subscribe(topic_filter, qos=qos)
        if result != mqtt.MQTT_ERR_SUCCESS or mid is None:
            raise MqttError(f"subscribe to {topic_filter} failed: {mqtt.error_string(result)}")
        with self._suback:
            if not self._suback.wait_for(lambda: mid in self._granted, timeout=self.timeout):
                raise MqttError(f"no SUBACK for {topic_filter} within {self.timeout}s")
            codes = self._granted.pop(mid)
        if any(code.is_failure for code in codes):
            with self._lock:
                self._subscriptions.pop(topic_filter, None)
            self._client.message_callback_remove(topic_filter)
            raise SubscriptionRefused(f"the broker refused the subscription to {topic_filter}")

    # -- paho callbacks (network thread) -----------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: Any,
        _flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        with self._connack:
            self._connect_result = reason_code
            self._connack.notify_all()
            again = [] if reason_code.is_failure else list(self._subscriptions.items())
        for topic_filter, (qos, _callback) in again:
            # A clean session: the broker forgot them. The SUBACK comes on this thread, so
            # the mid is known before it arrives.
            _result, mid = client.subscribe(topic_filter, qos=qos)
            if mid is not None:
                with self._lock:
                    self._resubscribed.add(mid)

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        with self._connack:
            result = self._connect_result
            if result is None:
                self._closed_before_connack = True
                self._connack.notify_all()
        if result is not None and not result.is_failure and reason_code.is_failure:
            log.warning("%s lost the connection to the broker: %s", self.client_id, reason_code)

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        with self._suback:
            if mid in self._resubscribed:
                self._resubscribed.discard(mid)
                if any(code.is_failure for code in reason_codes):
                    log.warning("%s: a subscription was refused on reconnect", self.client_id)
                return
            self._granted[mid] = reason_codes
            self._suback.notify_all()
