"""The bridge's LAN side: an embedded MQTT 3.1.1 broker (amqtt) the farm's rigs connect to.

Plain TCP and no passwords, as the C++ miner and mock_fleet speak it: anyone who reaches
the port can speak for a rig, so it binds to 127.0.0.1 unless told otherwise. Rigs may
publish only their uplinks (``xenminer/<id>/{register,heartbeat,status,block,…}``) and
subscribe only to their own ``task`` and ``control`` topics; only the bridge publishes
those. The broker runs its own asyncio loop in a thread and tells the bridge, on that
thread, of every connection, disconnection (clean or not, last will or not) and message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BasePlugin, BaseTopicPlugin
from amqtt.session import Session

from protocol.errors import ProtocolError
from protocol.topics import Downlink, Uplink, parse_topic

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 1883


class LanError(RuntimeError):
    """The LAN broker cannot listen (a port in use, an address not of this machine)."""


class LanEvents(Protocol):
    """What the broker reports, on its own thread; each call must return quickly."""

    def on_connected(self, client_id: str) -> None: ...

    def on_disconnected(self, client_id: str) -> None: ...

    def on_message(self, client_id: str, topic: str, payload: bytes) -> None: ...


# Plugins are built by amqtt from dotted paths; each broker finds its bridge here by a key.
_SINKS: dict[str, LanEvents] = {}


class LanAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    """Every client is let in: rigs on the LAN connect without credentials."""

    @dataclass
    class Config:
        pass

    async def authenticate(self, *, session: Session) -> bool:
        return True


class LanTopicPlugin(BaseTopicPlugin):  # type: ignore[misc]
    """Rigs publish uplinks and subscribe to their own downlinks, nothing else."""

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
        if action == Action.RECEIVE:
            return True  # what a rig may subscribe to is checked when it subscribes
        if topic is None:
            return False
        try:
            parsed = parse_topic(topic)  # wildcards and foreign trees are refused here
        except ProtocolError:
            return False
        if action == Action.PUBLISH:
            return isinstance(parsed.suffix, Uplink)
        return isinstance(parsed.suffix, Downlink)


class LanEventsPlugin(BasePlugin):  # type: ignore[misc]
    """Hands the broker's events to the bridge registered under ``sink``."""

    @dataclass
    class Config:
        sink: str

    def _sink(self) -> LanEvents | None:
        return _SINKS.get(self.config.sink)

    async def on_broker_client_connected(
        self, *, client_id: str, client_session: Session, **_: Any
    ) -> None:
        sink = self._sink()
        if sink is not None:
            _safely(sink.on_connected, client_id)

    async def on_broker_client_disconnected(
        self, *, client_id: str, client_session: Session, **_: Any
    ) -> None:
        current = self.context.get_session(client_id)
        if (
            current is not None
            and current is not client_session
            and current.transitions.is_connected()
        ):
            return  # taken over by a new connection with the same client id: still there
        sink = self._sink()
        if sink is not None:
            _safely(sink.on_disconnected, client_id)

    async def on_broker_message_broadcast(self, *, client_id: str, message: Any, **_: Any) -> None:
        sink = self._sink()
        if sink is not None and message is not None and message.topic:
            _safely(sink.on_message, client_id, message.topic, bytes(message.data or b""))


def _safely(handler: Any, *args: Any) -> None:
    try:
        handler(*args)
    except Exception:
        log.exception("the bridge failed to handle a LAN event")


def broker_config(host: str, port: int, sink: str) -> dict[str, Any]:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        # Naming plugins replaces amqtt's defaults ($SYS topics, packet logging).
        "plugins": {
            f"{__name__}.LanAuthPlugin": {},
            f"{__name__}.LanTopicPlugin": {},
            f"{__name__}.LanEventsPlugin": {"sink": sink},
        },
    }


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[IPv6]:PORT``, ``HOST`` or ``:PORT`` → (host, port); ValueError."""
    text = text.strip()
    host, port_text = text, ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"--listen {text!r}: expected [IPv6]:PORT")
        host, port_text = text[: end + 1], text[end + 1 :].removeprefix(":")
    elif ":" in text:
        host, port_text = text.rsplit(":", 1)
    host = host or DEFAULT_HOST
    if not port_text:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"--listen {text!r}: the port must be 1-65535")
    return host, int(port_text)


class LanBroker:
    """The embedded broker in a thread. ``start`` returns once it listens (or LanError)."""

    def __init__(self, host: str, port: int, events: LanEvents) -> None:
        self.host = host
        self.port = port
        self._key = secrets.token_hex(8)
        _SINKS[self._key] = events
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._broker: Broker | None = None
        self._started: Future[None] = Future()
        self._thread = threading.Thread(target=self._run, name=f"bridge-lan-{port}", daemon=True)

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> None:
        self._thread.start()
        try:
            self._started.result(timeout=timeout)
        except Exception as error:
            self.stop()
            raise LanError(f"cannot listen on {self.host}:{self.port}: {_cause(error)}") from None

    def publish(self, topic: str, payload: bytes, *, qos: int = 1) -> None:
        """Send ``payload`` to the rigs subscribed to ``topic`` (from any thread)."""
        broker = self._broker
        if broker is None or not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(
            broker.internal_message_broadcast(topic, payload, qos), self._loop
        )

    def stop(self, timeout: float = 15.0) -> None:
        """Close every rig's connection and stop listening."""
        if self._thread.is_alive() and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout=timeout)
        _SINKS.pop(self._key, None)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            self._stop = asyncio.Event()
            broker = Broker(broker_config(self.host, self.port, self._key))
            await broker.start()
            self._broker = broker
            self._started.set_result(None)
            log.info("listening for rigs on %s", self.url)
            await self._stop.wait()
            await broker.shutdown()

        try:
            self._loop.run_until_complete(main())
        except BaseException as error:
            if not self._started.done():
                self._started.set_exception(error)
            else:
                log.exception("the LAN broker stopped with an error")
        finally:
            with contextlib.suppress(Exception):
                self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()


def _cause(error: BaseException) -> str:
    """The innermost reason (amqtt wraps the OSError of a port in use)."""
    while error.__cause__ is not None:
        error = error.__cause__
    return str(error) or type(error).__name__
