"""The embedded broker (amqtt) with the rules mosquitto gets from its config.

amqtt asks TLS for a client certificate but accepts none (``CERT_OPTIONAL``), has no
certificate identities, no per-client topic patterns, no message size cap and no way to
close a client's connection from outside, so this module adds them: a broker subclass that
requires the certificate, keeps refused CONNECTs harmless, disconnects a client whose
PUBLISH payload is over IoT Core's cap before reading it, refuses retained messages (a
retained PUBLISH or last will), and closes the sessions of an
identity (or of revoked certificates); an auth plugin (certificate from the local CA, not
revoked, client id = CN for a rig) and a topic plugin (a rig only under ``xenminer/<CN>/``;
the service identity everywhere).

Both plugins are named by dotted path in the broker config; amqtt builds them itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amqtt.adapters import ReaderAdapter
from amqtt.broker import Broker
from amqtt.contexts import Action, BaseContext
from amqtt.mqtt.connack import NOT_AUTHORIZED, ConnackPacket
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session
from cryptography import x509

from functions.local.ca import SERVICE_IDENTITY, LocalCertificateAuthority, common_name
from functions.ports.aws_iot import MAX_MQTT_PAYLOAD_BYTES
from protocol.topics import TOPIC_ROOT

log = logging.getLogger(__name__)

# The TLS object of the connection being served: each client connection is its own asyncio
# task, so this is per connection.
_CONNECTION_TLS: contextvars.ContextVar[ssl.SSLObject | None] = contextvars.ContextVar(
    "xenblocks_connection_tls", default=None
)


def peer_certificate(tls: ssl.SSLObject | None) -> x509.Certificate | None:
    der = tls.getpeercert(binary_form=True) if tls is not None else None
    return x509.load_der_x509_certificate(der) if der else None


def authorized_identity(
    ca: LocalCertificateAuthority, tls: ssl.SSLObject | None, client_id: str | None
) -> str | None:
    """The CN of a connection that may use ``client_id``, or None to refuse it.

    The TLS layer already verified the chain to the local CA (and the clientAuth purpose).
    """
    cert = peer_certificate(tls)
    if cert is None:
        return None
    name = common_name(cert)
    if name is None or ca.is_revoked(cert):
        return None
    if name == SERVICE_IDENTITY or client_id == name:
        return name
    return None


def connection_identity(session: Session | None) -> str | None:
    """The CN of the certificate the session connected with (never its claimed username)."""
    cert = peer_certificate(session.ssl_object if session is not None else None)
    return common_name(cert) if cert is not None else None


class CertificateAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    """A client certificate from the local CA, not revoked; a rig's client id is its CN."""

    @dataclass
    class Config:
        ca_directory: str

    def __init__(self, context: BaseContext) -> None:
        super().__init__(context)
        # Its own view of the CA directory: revocations made anywhere show through the index.
        self._ca = LocalCertificateAuthority(Path(self.config.ca_directory))

    async def authenticate(self, *, session: Session) -> bool:
        name = authorized_identity(self._ca, session.ssl_object, session.client_id)
        if name is None:
            log.info(
                "refused client %r: certificate missing, revoked or not its own", session.client_id
            )
            return False
        return True


class TopicAclPlugin(BaseTopicPlugin):  # type: ignore[misc]
    """``xenminer/<CN>/…`` for a rig (publish, subscribe and receive); all for the service."""

    @dataclass
    class Config:
        pass

    async def topic_filtering(
        self,
        *,
        session: Session | None = None,
        topic: str | None = None,
        action: Action | None = None,
    ) -> bool:
        name = connection_identity(session)
        if name is None or topic is None:
            return False
        if name == SERVICE_IDENTITY:
            return True
        # A filter with a wildcard above the rig's own level is refused outright (mosquitto
        # accepts it and filters on delivery: either way nothing foreign arrives).
        return topic.startswith(f"{TOPIC_ROOT}/{name}/")


class CappedReader(ReaderAdapter):  # type: ignore[misc]
    """A connection's reader that refuses a PUBLISH payload over ``limit`` bytes unread.

    amqtt reads a PUBLISH payload in one ``read`` of its whole length; no other packet reads
    more than 64 KiB at once (every other field carries a two-byte length). A refused read
    ends the stream for good (EOF from then on), so nothing inside the refused payload is
    ever parsed as a packet, and amqtt closes the connection as the client having gone.
    """

    def __init__(self, reader: ReaderAdapter, limit: int = MAX_MQTT_PAYLOAD_BYTES) -> None:
        self._reader = reader
        self._limit = limit
        self.refused = False

    async def read(self, n: int = -1) -> bytes:
        if self.refused:
            return b""
        if n > self._limit:
            self.refused = True
            log.info("disconnecting a client: a %d-byte payload is over %d", n, self._limit)
            return b""
        data: bytes = await self._reader.read(n)
        return data

    def feed_eof(self) -> None:
        self._reader.feed_eof()


class MutualTlsBroker(Broker):  # type: ignore[misc]
    """amqtt's broker with the client certificate required and checked before any session
    is touched."""

    def __init__(self, config: dict[str, Any], ca: LocalCertificateAuthority) -> None:
        super().__init__(config)
        self._ca = ca
        self._closing_tasks: set[asyncio.Future[Any]] = set()  # held until done

    async def disconnect_identity(self, name: str) -> int:
        """Close every connection made with a certificate for ``name`` and drop its session
        (subscriptions and queued messages), without its last will; how many sessions."""
        return await self._close_sessions(lambda session: connection_identity(session) == name)

    async def disconnect_revoked(self) -> int:
        """Close every connection whose certificate is revoked (by any process)."""

        def revoked(session: Session) -> bool:
            cert = peer_certificate(session.ssl_object)
            return cert is not None and self._ca.is_revoked(cert)

        return await self._close_sessions(revoked)

    async def _close_sessions(self, matches: Any) -> int:
        closing = [
            client_id
            for client_id, (session, _) in list(self._sessions.items())
            if matches(session)
        ]
        for client_id in closing:
            session, _ = self._sessions.get(client_id, (None, None))
            if session is not None:
                # Like IoT Core's DeleteConnection(preventWillMessage=True).
                session.will_flag = False
            log.info("closing the session of %r", client_id)
            # Stops the connection's handler (its reader, then the socket) and forgets the
            # session, as amqtt does for every session when it shuts down.
            await self._cleanup_session(client_id)
        return len(closing)

    @staticmethod
    def _create_ssl_context(listener: Any) -> ssl.SSLContext:
        context: ssl.SSLContext = Broker._create_ssl_context(listener)
        context.verify_mode = ssl.CERT_REQUIRED  # amqtt sets CERT_OPTIONAL
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    async def _client_connected(self, listener_name: str, reader: Any, writer: Any) -> None:
        _CONNECTION_TLS.set(writer.get_ssl_info())
        await super()._client_connected(listener_name, CappedReader(reader), writer)

    async def _delete_session(self, client_id: str) -> None:
        # amqtt drops a clean-session client's stored session before authenticating the
        # CONNECT: one that is going to be refused must not end someone else's session.
        tls = _CONNECTION_TLS.get()
        if tls is not None and authorized_identity(self._ca, tls, client_id) is None:
            return
        await super()._delete_session(client_id)

    async def _handle_client_session(
        self,
        reader: Any,
        writer: Any,
        client_session: Session,
        handler: Any,
        server: Any,
        listener_name: str,
    ) -> None:
        tls = _CONNECTION_TLS.get()
        if authorized_identity(self._ca, tls, client_session.client_id) is None:
            # Refused here, before amqtt's take-over closes the connection of the client id's
            # rightful owner and before a stored session is handed over.
            log.info("refused CONNECT from %r", client_session.client_id)
            await ConnackPacket.build(0, NOT_AUTHORIZED).to_stream(writer)
            await writer.close()
            return
        if client_session.will_flag and client_session.will_retain:
            # Nobody is granted iot:RetainPublish, a retained will included.
            log.info("refused CONNECT from %r: a retained last will", client_session.client_id)
            await ConnackPacket.build(0, NOT_AUTHORIZED).to_stream(writer)
            await writer.close()
            return
        # A stored session (clean_session false) keeps its old TLS object: check the live one.
        client_session.ssl_object = tls
        await super()._handle_client_session(
            reader, writer, client_session, handler, server, listener_name
        )

    async def _handle_message_delivery(
        self, client_session: Session, handler: Any, wait_deliver: asyncio.Future[Any]
    ) -> bool:
        """A retained PUBLISH ends the connection unrelayed (IoT Core without
        ``iot:RetainPublish``); everything else as amqtt does it."""
        message = wait_deliver.result() if wait_deliver.done() else None
        packet = getattr(message, "publish_packet", None)
        if packet is not None and packet.retain_flag:
            log.info("disconnecting %r: a retained publish", client_session.client_id)
            # Leaving amqtt's client loop alone keeps the socket open: close the session
            # from outside it, as disconnect_identity does.
            closing = asyncio.ensure_future(self._cleanup_session(client_session.client_id))
            self._closing_tasks.add(closing)
            closing.add_done_callback(self._closing_tasks.discard)
            return False
        result: bool = await super()._handle_message_delivery(client_session, handler, wait_deliver)
        return result


def broker_config(
    ca: LocalCertificateAuthority, host: str, port: int, cert_path: Path, key_path: Path
) -> dict[str, Any]:
    return {
        "listeners": {
            "default": {
                "type": "tcp",
                "bind": f"{host}:{port}",
                "ssl": True,
                "cafile": str(ca.ca_path),
                "certfile": str(cert_path),
                "keyfile": str(key_path),
            }
        },
        # Naming plugins replaces amqtt's defaults (anonymous auth, $SYS, packet logging).
        "plugins": {
            f"{__name__}.CertificateAuthPlugin": {"ca_directory": str(ca.directory)},
            f"{__name__}.TopicAclPlugin": {},
        },
    }


async def serve(
    config: dict[str, Any],
    ca: LocalCertificateAuthority,
    started: asyncio.Future[MutualTlsBroker],
    stop: asyncio.Event,
    *,
    watch_interval: float = 0.5,
) -> None:
    """Run the broker until ``stop`` is set; ``started`` resolves (or fails) once it listens.

    Every ``watch_interval`` it closes connections whose certificate was revoked meanwhile,
    by this process or another one (a CLI): ``disconnect_identity`` does it at once.
    """
    broker = MutualTlsBroker(config, ca)
    try:
        await broker.start()
    except BaseException as error:
        started.set_exception(error)
        return
    started.set_result(broker)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=watch_interval)
        if not stop.is_set():
            try:
                await broker.disconnect_revoked()
            except Exception:
                log.exception("closing revoked connections failed")
    await broker.shutdown()
