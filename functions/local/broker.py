"""The local MQTT broker: mutual TLS against the local CA and per-rig topic ACLs.

mosquitto when it is installed (a subprocess with a generated config), amqtt otherwise (in
a background thread). The rules are the same for both:

- TLS 1.2 or newer; a client certificate signed by the local CA is required, and a revoked
  one is refused;
- the identity is the certificate's common name; a rig may publish, subscribe and receive
  only under ``xenminer/<its CN>/``; ``SERVICE_IDENTITY`` (the platform) may use every topic;
- a PUBLISH whose payload is over IoT Core's cap (``MAX_MQTT_PAYLOAD_BYTES``) ends the
  client's connection and is never relayed, as IoT Core does;
- revoking a rig closes its open connection and drops its session: ``disconnect()``, which
  the CA's ``disconnect`` calls on every broker serving it in this process, first makes sure
  new connections are checked against the revocation, so the rig cannot come back;
- no identity may retain: a retained PUBLISH ends the connection and a CONNECT with a
  retained last will is refused (IoT Core without ``iot:RetainPublish``);
- no rig can take over another rig's connection by using its client id.

Where they differ: amqtt refuses a rig's CONNECT whose client id is not its CN (as IoT Core
does) and refuses a subscription outside its prefix; mosquitto 2.0 has no hook for either
with certificate identities, so it renames every client to its CN
(``use_username_as_clientid``: the impostor gets a connection under its own name, the owner
keeps its own) and grants the subscription, the ACL keeping every foreign message away.
Revocations reach amqtt at once; mosquitto reads the CRL at start and on SIGHUP, which
``sync_revocations()`` sends when the CRL changed. Neither closes an open connection by
itself: amqtt runs in this process and closes the session (without the rig's last will);
mosquitto 2.0 has no call for it and a CRL reload leaves open connections alone, so the
broker takes the revoked rig's connection over under its name (which mosquitto's log
lists), with a throwaway certificate: mosquitto closes the rig's connection on the second
CONNECT (and sends the rig's last will then). mosquitto caps the whole packet
(``max_packet_size``: the cap plus a PUBLISH's overhead under IoT Core's longest topic), so
a payload up to about 260 bytes over the cap passes under a short topic; amqtt caps the
payload exactly. A watcher (a thread for mosquitto, a task for amqtt) applies revocations
made by another process (a CLI) within ``WATCH_INTERVAL`` seconds.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import errno
import logging
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal

from cryptography import x509

from functions.local.ca import SERVICE_IDENTITY, LocalCertificateAuthority, certificate_id
from functions.local.children import die_with_parent
from functions.local.stack import PortInUse
from functions.ports.aws_iot import MAX_MQTT_PAYLOAD_BYTES
from protocol.topics import TOPIC_ROOT

if TYPE_CHECKING:
    from functions.local.amqtt_broker import MutualTlsBroker

log = logging.getLogger(__name__)

BrokerKind = Literal["auto", "mosquitto", "amqtt"]
# Debian puts mosquitto in /usr/sbin, which is not on a normal user's PATH.
_SBIN = ("/usr/sbin", "/usr/local/sbin", "/sbin")
_RELOAD_LINE = "Reloading config"
WATCH_INTERVAL = 0.5
# What an MQTT 3.1.1 PUBLISH carries besides its payload, with the longest topic IoT Core
# allows (256 bytes): a type byte, four remaining-length bytes, the topic's length and the
# packet id. mosquitto's max_packet_size counts them too.
PUBLISH_OVERHEAD_BYTES = 1 + 4 + 2 + 256 + 2
# mosquitto's connection_messages line for an accepted CONNECT: client id and username.
_CONNECTED = re.compile(
    r"New client connected from \S+ as (?P<client_id>.*) "
    r"\(p\d+, c\d+, k\d+, u'(?P<username>[^']*)'\)\.$"
)


class BrokerError(RuntimeError):
    pass


class BrokerUnavailable(BrokerError):
    """The requested broker is not installed."""


def find_mosquitto() -> str | None:
    path = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN])
    return shutil.which("mosquitto", path=path)


class RunningBroker(ABC):
    """A broker that is serving: where it is, what it trusts, and how to stop it."""

    kind: Literal["mosquitto", "amqtt"]

    def __init__(self, host: str, port: int, ca: LocalCertificateAuthority, state_dir: Path):
        self.host, self.port, self.state_dir = host, port, state_dir
        self.ca_path = ca.ca_path
        self._ca = ca
        self._forget_ca: Callable[[], None] | None = None
        # How often revocations made by another process are looked for.
        self.watch_interval = WATCH_INTERVAL

    def _serve_revocations(self) -> None:
        """Once serving: the CA's ``disconnect`` reaches this broker until it stops."""
        self._forget_ca = self._ca.on_disconnect(self.disconnect)

    def _leave_ca(self) -> None:
        if self._forget_ca is not None:
            self._forget_ca()
            self._forget_ca = None

    @property
    def url(self) -> str:
        return f"mqtts://{self.host}:{self.port}"

    @abstractmethod
    def stop(self) -> None:
        """Stop serving and release the port; safe to call twice."""

    @abstractmethod
    def sync_revocations(self) -> None:
        """Return once new connections are checked against every revocation made so far."""

    @abstractmethod
    def disconnect(self, worker_id: str) -> None:
        """Close every open connection of ``worker_id`` (its certificate's CN) and drop its
        session, once new connections are checked against every revocation made so far,
        so a revoked rig cannot come back. No connection is fine.

        Raises BrokerError when the broker does not do it.
        """

    def __enter__(self) -> RunningBroker:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def start_broker(
    ca: LocalCertificateAuthority,
    *,
    host: str = "127.0.0.1",
    port: int = 8883,
    state_dir: Path,
    kind: BrokerKind = "auto",
    startup_timeout: float = 10.0,
    watch_interval: float = WATCH_INTERVAL,
) -> RunningBroker:
    """Start a broker on ``host:port`` with its files in ``state_dir``; it serves at return.

    ``watch_interval``: how often revocations made by another process are looked for.

    Raises PortInUse when the port is taken, BrokerUnavailable when mosquitto is asked for
    but missing, and BrokerError when the broker does not come up.
    """
    if kind not in ("auto", "mosquitto", "amqtt"):
        raise ValueError(f"unknown broker kind {kind!r}")
    mosquitto = find_mosquitto() if kind != "amqtt" else None
    if kind == "mosquitto" and mosquitto is None:
        raise BrokerUnavailable(
            "mosquitto is not installed (apt-get install mosquitto, or use the amqtt broker)"
        )
    if kind == "auto" and mosquitto is None:
        log.info("mosquitto is not installed; using the embedded amqtt broker")
    _check_port_free(host, port)
    state_dir.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = ca.server_certificate([host], directory=state_dir)
    if mosquitto is not None:
        return _Mosquitto.start(
            mosquitto,
            ca,
            host,
            port,
            state_dir,
            cert_path,
            key_path,
            startup_timeout,
            watch_interval,
        )
    return _Amqtt.start(
        ca, host, port, state_dir, cert_path, key_path, startup_timeout, watch_interval
    )


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        # What the brokers set too: a port in TIME_WAIT is free, a listening one is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise PortInUse(f"MQTT port {port} on {host} is in use; pick another") from error
            raise


def _accepts(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


# -- mosquitto ----------------------------------------------------------------------------


def mosquitto_acl() -> str:
    return (
        "# The platform may use every topic.\n"
        f"user {SERVICE_IDENTITY}\n"
        "topic readwrite #\n\n"
        "# A rig (username = its certificate's CN) only its own topics.\n"
        f"pattern readwrite {TOPIC_ROOT}/%u/#\n"
    )


def mosquitto_config(
    ca: LocalCertificateAuthority,
    host: str,
    port: int,
    acl_path: Path,
    cert_path: Path,
    key_path: Path,
    persistence_dir: Path | None = None,
) -> str:
    # As root, mosquitto would switch to the 'mosquitto' user, who cannot read our files.
    user = pwd.getpwuid(os.geteuid()).pw_name
    # With persistence, the rule bridge's durable session (its subscriptions and the
    # messages queued for it) survives a broker restart: what a rig published and saw
    # acknowledged still reaches the ingest handler, as with IoT Core's rules.
    persistence = (
        [
            "persistence true",
            f"persistence_location {persistence_dir}/",
            "autosave_interval 1",
            "max_queued_messages 100000",
        ]
        if persistence_dir is not None
        else ["persistence false"]
    )
    return "\n".join(
        [
            "# Generated by xenblocks for the local stack; rewritten at every start.",
            "per_listener_settings false",
            "allow_anonymous false",
            *persistence,
            f"user {user}",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            f"acl_file {acl_path}",
            # IoT Core's payload cap; mosquitto disconnects a client whose packet is bigger.
            f"max_packet_size {MAX_MQTT_PAYLOAD_BYTES + PUBLISH_OVERHEAD_BYTES}",
            # No identity is granted iot:RetainPublish: a retained PUBLISH ends the client's
            # connection and a CONNECT with a retained will is refused, as on IoT Core.
            "retain_available false",
            "",
            f"listener {port} {host}",
            f"cafile {ca.ca_path}",
            f"certfile {cert_path}",
            f"keyfile {key_path}",
            f"crlfile {ca.crl_path}",
            "require_certificate true",
            "use_identity_as_username true",
            # A client's id becomes its CN, whatever it asked for: no rig can take over
            # (and so knock offline) another rig's connection. IoT Core refuses such a
            # CONNECT outright; mosquitto 2.0 has no hook to refuse it (amqtt does).
            "use_username_as_clientid true",
            "tls_version tlsv1.2",
            "",
        ]
    )


class _Mosquitto(RunningBroker):
    kind: Literal["mosquitto", "amqtt"] = "mosquitto"

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        log_file: IO[bytes],
        log_offset: int,
        ca: LocalCertificateAuthority,
        host: str,
        port: int,
        state_dir: Path,
    ) -> None:
        super().__init__(host, port, ca, state_dir)
        self.process = process
        self.log_path = state_dir / "mosquitto.log"
        self._log_file = log_file
        self._lock = threading.Lock()
        self._loaded_crl = _stamp(ca.crl_path)
        self._stopping = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name=f"mosquitto-crl-{port}")
        # Closing connections: one at a time; what the log told so far (this process's part).
        self._closing = threading.RLock()
        self._log_read = log_offset
        self._users: dict[str, str] = {}  # client id -> user (CN) of its latest connection
        self._revoked = set(ca.revocations())  # certificate ids whose rigs were closed

    @classmethod
    def start(
        cls,
        executable: str,
        ca: LocalCertificateAuthority,
        host: str,
        port: int,
        state_dir: Path,
        cert_path: Path,
        key_path: Path,
        timeout: float,
        watch_interval: float,
    ) -> _Mosquitto:
        acl_path, config_path = state_dir / "mosquitto.acl", state_dir / "mosquitto.conf"
        acl_path.write_text(mosquitto_acl())
        config_path.write_text(
            mosquitto_config(ca, host, port, acl_path, cert_path, key_path, state_dir)
        )
        log_file = (state_dir / "mosquitto.log").open("ab")
        log_offset = log_file.tell()  # earlier runs' lines are not this broker's
        process = subprocess.Popen(  # noqa: S603 - our own executable and config
            [executable, "-c", str(config_path)],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent(),  # SIGTERM when we die without stopping it
        )
        broker = cls(process, log_file, log_offset, ca, host, port, state_dir)
        broker.watch_interval = watch_interval
        atexit.register(broker.stop)
        deadline = time.monotonic() + timeout
        while not _accepts(host, port):
            if process.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if process.poll() is not None or not _accepts(host, port):
            broker.stop()
            raise BrokerError(
                f"mosquitto did not start on {host}:{port}; its log "
                f"({broker.log_path}) ends with:\n{broker.log_tail()}"
            )
        broker._watcher.start()
        broker._serve_revocations()
        log.info("mosquitto %s serving on %s:%d", executable, host, port)
        return broker

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def sync_revocations(self, timeout: float = 5.0) -> None:
        """SIGHUP when the CRL changed, then wait for mosquitto to say it reloaded.

        mosquitto is single-threaded: once it logged the reload, every connection it
        handles next is checked against the new CRL.
        """
        with self._lock:
            stamp = _stamp(self._ca.crl_path)
            if stamp == self._loaded_crl or self.process.poll() is not None:
                return
            offset = self.log_path.stat().st_size
            self.process.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + timeout
            while not self._logged_since(offset, _RELOAD_LINE):
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise BrokerError(f"mosquitto did not reload its CRL:\n{self.log_tail()}")
                time.sleep(0.02)
            self._loaded_crl = stamp

    def _logged_since(self, offset: int, text: str) -> bool:
        with self.log_path.open("rb") as log_file:
            log_file.seek(offset)
            return text.encode() in log_file.read()

    def disconnect(self, worker_id: str) -> None:
        with self._closing:
            self.sync_revocations()
            self._close_connections_of({worker_id})

    def _close_newly_revoked(self) -> None:
        """Close the connections of rigs whose certificate was revoked since last time."""
        with self._closing:
            # The CA writes the CRL before it lets go of its lock: the reload below holds
            # every revocation read here.
            revoked = self._ca.revocations()
            new = {worker for cert_id, worker in revoked.items() if cert_id not in self._revoked}
            self.sync_revocations()
            if new:
                self._close_connections_of(new)
            self._revoked.update(revoked)

    def _close_connections_of(self, users: Iterable[str]) -> None:
        """Take over the connection of each of ``users`` that has connected.

        mosquitto closes a client id's connection when another CONNECT uses the id, and
        every client's id is its CN (``use_username_as_clientid``): the take-over connects
        under the rig's own name, with a throwaway certificate for it that is revoked at
        once; the rig's certificate can no longer connect (the caller reloaded the CRL
        first). A name whose connection already ended is taken over too, which only drops
        what mosquitto kept of its session.
        """
        from functions.local.mqtt_client import MqttError, ServiceClient

        users = set(users)
        self._read_log()
        names = sorted({user for user in self._users.values() if user in users})
        for name in names:
            with tempfile.TemporaryDirectory(prefix="takeover-") as directory:
                cert_path, key_path = self._ca.issue_identity(name, Path(directory))
                taker = ServiceClient(
                    host=self.host,
                    port=self.port,
                    ca_path=self.ca_path,
                    cert_path=cert_path,
                    key_path=key_path,
                    client_id=name,
                    clean_session=True,
                    timeout=5.0,
                )
                try:
                    taker.connect()  # the CONNACK comes after mosquitto closed the old one
                except MqttError as error:
                    raise BrokerError(
                        f"mosquitto did not let the platform close {name!r}: {error}"
                    ) from error
                finally:
                    taker.close()
                    throwaway = certificate_id(
                        x509.load_pem_x509_certificate(cert_path.read_bytes())
                    )
                    self._ca.revoke(name, throwaway)
                    self._revoked.add(throwaway)  # not a revocation to act on
            log.info("closed the connection of %r (revoked)", name)

    def _read_log(self) -> None:
        """Who holds each client id, from the log lines written since the last read."""
        with self.log_path.open("rb") as log_file:
            log_file.seek(self._log_read)
            chunk = log_file.read()
        end = chunk.rfind(b"\n") + 1  # a line being written is read next time
        self._log_read += end
        for line in chunk[:end].decode(errors="replace").splitlines():
            connected = _CONNECTED.search(line)
            if connected is not None:
                self._users[connected["client_id"]] = connected["username"]

    def _watch(self) -> None:
        """Revocations made by another process (a CLI) reach mosquitto too."""
        while not self._stopping.wait(self.watch_interval):
            try:
                self._close_newly_revoked()
            except Exception:  # the watcher carries on; the next round tries again
                log.exception("mosquitto on port %d did not take a revocation", self.port)

    def stop(self) -> None:
        self._leave_ca()
        self._stopping.set()
        if self._watcher.is_alive() and self._watcher is not threading.current_thread():
            self._watcher.join()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()
        atexit.unregister(self.stop)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_mtime_ns, stat.st_size


# -- amqtt --------------------------------------------------------------------------------


class _Amqtt(RunningBroker):
    kind: Literal["mosquitto", "amqtt"] = "amqtt"

    def __init__(
        self, ca: LocalCertificateAuthority, host: str, port: int, state_dir: Path
    ) -> None:
        super().__init__(host, port, ca, state_dir)
        self._loop = asyncio.new_event_loop()
        self._stop_event: asyncio.Event | None = None
        self._started: Future[MutualTlsBroker] = Future()
        self._thread = threading.Thread(target=self._run, name=f"amqtt-{port}", daemon=True)
        self._config: dict[str, object] = {}

    @classmethod
    def start(
        cls,
        ca: LocalCertificateAuthority,
        host: str,
        port: int,
        state_dir: Path,
        cert_path: Path,
        key_path: Path,
        timeout: float,
        watch_interval: float,
    ) -> _Amqtt:
        from functions.local.amqtt_broker import broker_config

        broker = cls(ca, host, port, state_dir)
        broker.watch_interval = watch_interval
        broker._config = broker_config(ca, host, port, cert_path, key_path)
        broker._thread.start()
        try:
            broker._started.result(timeout=timeout)
        except BaseException as error:
            broker.stop()
            raise BrokerError(f"amqtt did not start on {host}:{port}: {error}") from error
        atexit.register(broker.stop)
        broker._serve_revocations()
        log.info("amqtt serving on %s:%d", host, port)
        return broker

    def _run(self) -> None:
        from functions.local.amqtt_broker import serve

        asyncio.set_event_loop(self._loop)
        self._loop.set_exception_handler(_quiet_tls_failures)

        async def main() -> None:
            self._stop_event = asyncio.Event()
            started: asyncio.Future[MutualTlsBroker] = self._loop.create_future()
            started.add_done_callback(self._report_started)
            await serve(
                self._config,
                self._ca,
                started,
                self._stop_event,
                watch_interval=self.watch_interval,
            )

        try:
            self._loop.run_until_complete(main())
        except BaseException as error:
            if not self._started.done():
                self._started.set_exception(error)
            log.exception("amqtt on port %d stopped with an error", self.port)
        finally:
            with contextlib.suppress(Exception):
                self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    def _report_started(self, started: asyncio.Future[MutualTlsBroker]) -> None:
        error = started.exception()
        if error is not None:
            self._started.set_exception(error)
        else:
            self._started.set_result(started.result())

    def sync_revocations(self) -> None:
        """Nothing to wait for: every CONNECT reads the CA's revocations."""

    def disconnect(self, worker_id: str, timeout: float = 10.0) -> None:
        broker = self._started.result(timeout=0)
        closing = asyncio.run_coroutine_threadsafe(
            broker.disconnect_identity(worker_id), self._loop
        )
        try:
            closing.result(timeout=timeout)
        except Exception as error:
            closing.cancel()
            raise BrokerError(f"amqtt did not close the connections of {worker_id}") from error

    def stop(self) -> None:
        self._leave_ca()
        if self._thread.is_alive():
            stop_event = self._stop_event
            if stop_event is not None:
                self._loop.call_soon_threadsafe(stop_event.set)
            self._thread.join(timeout=10)
            if self._thread.is_alive():
                raise BrokerError(f"amqtt on port {self.port} did not stop")
        atexit.unregister(self.stop)


def _quiet_tls_failures(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
    """A refused client certificate is an expected event, not a broker error."""
    error = context.get("exception")
    if isinstance(error, ssl.SSLError | ConnectionResetError):
        log.info("TLS connection refused: %s", error)
        return
    loop.default_exception_handler(context)
