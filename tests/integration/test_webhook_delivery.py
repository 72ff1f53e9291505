"""Webhook delivery over real HTTP(S): receivers on 127.0.0.1 in threads, dead and odd ports.

The local stage's sender (``allow_private``) reaches them; a deployed stage's never does,
whatever spelling of 127.0.0.1 the URL uses.
"""

from __future__ import annotations

import datetime
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from functions.dal.alerts import AlertRepository
from functions.dal.telemetry import TelemetryRepository
from functions.dal.workers import WorkerRepository
from functions.logic.alert_rules import AlertRuleService, RuleDraft
from functions.logic.alerts import AlertJob
from functions.models.alerts import AlertKind, DeliveryStatus
from functions.models.workers import Worker
from functions.ports.webhooks import (
    CONNECTION_FAILED,
    NOT_PUBLIC,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    UrllibWebhookSender,
    verify,
)
from functions.settings import Settings
from tests.factories import NOW, PROVIDER

SECRET = "whsec_integration"
BODY = b'{"type":"alert","event":{"n":1}}'


class Receiver(ThreadingHTTPServer):
    """Answers POSTs with scripted statuses (200 once the script runs out), keeps requests."""

    def __init__(self, statuses: list[int]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.statuses = list(statuses)
        self.requests: list[tuple[dict[str, str], bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append((dict(self.headers), body))
        status = self.server.statuses.pop(0) if self.server.statuses else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output quiet


@pytest.fixture
def receiver(request) -> Iterator[Receiver]:
    server = Receiver(getattr(request, "param", []))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def dead_url() -> str:
    """A loopback port nothing listens on: connections are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def make_sender(sleeps: list[float], attempts: int = 3) -> UrllibWebhookSender:
    # The local stage's sender: loopback receivers are allowed.
    return UrllibWebhookSender(
        timeout_seconds=5, attempts=attempts, sleep=sleeps.append, allow_private=True
    )


def test_the_receiver_verifies_the_signature(receiver):
    sleeps: list[float] = []
    result = make_sender(sleeps).send(receiver.url, SECRET, BODY, timestamp=NOW)

    assert (result.ok, result.attempts, result.status) == (True, 1, 200)
    ((headers, body),) = receiver.requests
    assert body == BODY
    assert headers[TIMESTAMP_HEADER] == str(NOW)
    assert verify(SECRET, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER], now=NOW)
    assert not verify(
        "whsec_wrong", headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER], now=NOW
    )


@pytest.mark.parametrize("receiver", [[500]], indirect=True)
def test_a_500_then_a_200_is_retried_once(receiver):
    sleeps: list[float] = []
    result = make_sender(sleeps).send(receiver.url, SECRET, BODY, timestamp=NOW)

    assert (result.ok, result.attempts, result.status) == (True, 2, 200)
    assert len(receiver.requests) == 2
    assert receiver.requests[0][1] == receiver.requests[1][1] == BODY
    assert sleeps == [1.0]


def test_a_dead_url_gives_up_after_the_attempts():
    sleeps: list[float] = []
    result = make_sender(sleeps, attempts=3).send(dead_url(), SECRET, BODY, timestamp=NOW)

    assert (result.ok, result.attempts, result.status) == (False, 3, None)
    assert result.error
    assert sleeps == [1.0, 2.0]


# -- through the alerts job, on moto ---------------------------------------------------------


@pytest.fixture
def settings() -> Settings:
    # The local stage: http:// webhooks to loopback receivers are allowed.
    return Settings(stage="local", webhook_attempts=3, webhook_timeout_seconds=5)


def _fire_one(settings, tables, url: str, sleeps: list[float]):  # type: ignore[no-untyped-def]
    workers = WorkerRepository(tables)
    worker = workers.create(
        Worker(
            worker_id="rig-hook", owner=PROVIDER, created_at=NOW, online=False, last_seen=NOW - 3600
        )
    )
    alerts = AlertRepository(tables)
    created = AlertRuleService(settings, alerts, workers).create(
        PROVIDER,
        RuleDraft(
            name="down",
            kind=AlertKind.OFFLINE,
            threshold=5,
            worker_id=worker.worker_id,
            webhook_url=url,
        ),
        now=NOW,
    )
    job = AlertJob(
        settings,
        alerts,
        workers,
        TelemetryRepository(tables),
        UrllibWebhookSender(
            timeout_seconds=settings.webhook_timeout_seconds,
            attempts=settings.webhook_attempts,
            sleep=sleeps.append,
            allow_private=settings.is_local,
        ),
    )
    summary = job.run(NOW)
    (event,) = alerts.list_events(PROVIDER, limit=5).items
    return created, summary, event


def test_the_job_delivers_a_signed_event_to_a_live_receiver(settings, tables, receiver):
    created, summary, event = _fire_one(settings, tables, receiver.url, [])

    assert (summary.events_fired, summary.deliveries_ok) == (1, 1)
    assert (event.delivery, event.attempts, event.delivered_at) == (
        DeliveryStatus.DELIVERED,
        1,
        NOW,
    )
    ((headers, body),) = receiver.requests
    assert verify(
        created.webhook_secret, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER], now=NOW
    )
    assert json.loads(body)["event"]["event_id"] == event.event_id


def test_the_job_records_a_dead_webhook_as_failed(settings, tables):
    sleeps: list[float] = []
    _, summary, event = _fire_one(settings, tables, dead_url(), sleeps)

    assert (summary.events_fired, summary.deliveries_ok, summary.deliveries_failed) == (1, 0, 1)
    assert event.delivery is DeliveryStatus.FAILED
    assert event.attempts == settings.webhook_attempts
    assert event.delivery_error
    assert event.delivered_at is None
    assert sleeps == [1.0, 2.0]


# -- a deployed stage's sender: no loopback in any spelling -----------------------------------


def test_a_deployed_sender_never_reaches_a_loopback_receiver(receiver):
    port = receiver.server_address[1]
    sender = UrllibWebhookSender(timeout_seconds=2, attempts=3, sleep=lambda s: None)
    hosts = [
        "127.0.0.1",
        "2130706433",
        "0x7f000001",
        "0177.0.0.1",
        "127.1",
        "0",  # 0.0.0.0 reaches the local host on Linux
        "[::ffff:127.0.0.1]",
        "localhost",  # a name, resolved by the real resolver to loopback
    ]
    for host in hosts:
        result = sender.send(f"http://{host}:{port}/hook", SECRET, BODY, timestamp=NOW)
        assert (result.ok, result.attempts, result.error) == (False, 0, NOT_PUBLIC), host
    assert receiver.requests == []


# -- what the owner can tell about a port -----------------------------------------------------


@pytest.fixture
def odd_ports() -> Iterator[dict[str, int]]:
    """Loopback ports that accept but never speak HTTP: one closes at once, one greets like
    SSH, one stays silent (the attempt times out)."""
    listeners: dict[str, socket.socket] = {}
    for kind in ("closes", "ssh", "silent"):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listeners[kind] = listener
    held: list[socket.socket] = []

    def serve(kind: str, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            if kind == "closes":
                conn.close()
            elif kind == "ssh":
                conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
                conn.close()
            else:
                held.append(conn)

    threads = [threading.Thread(target=serve, args=item, daemon=True) for item in listeners.items()]
    for thread in threads:
        thread.start()
    yield {kind: listener.getsockname()[1] for kind, listener in listeners.items()}
    for listener in listeners.values():
        listener.close()
    for conn in held:
        conn.close()


def test_a_closed_port_reads_like_an_open_or_a_silent_one(odd_ports):
    sender = UrllibWebhookSender(
        timeout_seconds=0.5, attempts=2, sleep=lambda s: None, allow_private=True
    )
    urls = [dead_url()] + [f"http://127.0.0.1:{port}/hook" for port in odd_ports.values()]
    results = [sender.send(url, SECRET, BODY, timestamp=NOW) for url in urls]
    assert {(r.ok, r.attempts, r.status, r.error) for r in results} == {
        (False, 2, None, CONNECTION_FAILED)
    }


# -- a name pinned to its checked address, over TLS -------------------------------------------


def _certificate(name: str, directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_receiver(tmp_path) -> Iterator[tuple[Receiver, Path, list[str | None]]]:
    """An HTTPS receiver on 127.0.0.1 with a certificate for ``hooks.test``; keeps the SNI
    names it was asked for."""
    cert, key = _certificate("hooks.test", tmp_path)
    server_names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: server_names.append(name)
    server = Receiver([])
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, cert, server_names
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_a_name_is_delivered_to_its_checked_address_with_sni_and_host(tls_receiver):
    server, cert, server_names = tls_receiver
    port = server.server_address[1]
    lookups: list[tuple[str, int]] = []

    def resolver(host: str, port: int) -> list[str]:
        lookups.append((host, port))
        return {"hooks.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]}[host]

    sender = UrllibWebhookSender(
        timeout_seconds=5,
        attempts=1,
        allow_private=True,  # the receiver is on loopback
        resolver=resolver,
        tls_context=ssl.create_default_context(cafile=str(cert)),
    )
    result = sender.send(f"https://hooks.test:{port}/hook", SECRET, BODY, timestamp=NOW)
    assert (result.ok, result.status) == (True, 200), result
    assert lookups == [("hooks.test", port)]
    assert server_names == ["hooks.test"]
    ((headers, body),) = server.requests
    assert headers["Host"] == f"hooks.test:{port}"
    assert body == BODY

    # The same address under a name the certificate does not carry: verification fails,
    # and the owner reads the same message as for any other failed connection.
    result = sender.send(f"https://other.test:{port}/hook", SECRET, BODY, timestamp=NOW)
    assert (result.ok, result.error) == (False, CONNECTION_FAILED)
    assert server_names == ["hooks.test", "other.test"]
    assert len(server.requests) == 1
