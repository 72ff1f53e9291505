"""The webhook sender: signature, retries, and where it may connect (no sockets).

A scripted resolver and connector stand in for DNS and TCP, a recording TLS context for
the handshake, and fake sockets carry the bytes ``http.client`` writes and reads, so the
real request path runs end to end in process.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import socket
import ssl

import pytest

from functions.observability import logger
from functions.ports.webhooks import (
    CONNECTION_FAILED,
    INVALID_URL,
    NOT_PUBLIC,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    UrllibWebhookSender,
    sign,
    verify,
)

URL = "https://hooks.example.com/x"
PUBLIC_IP = "93.184.216.34"
SECRET = "whsec_test"
BODY = b'{"type":"alert"}'


class FakeSocket:
    """What ``http.client`` needs of a socket: it keeps what is sent, answers ``reply``."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.sent = b""
        self.closed = False

    def sendall(self, data: bytes) -> None:
        self.sent += data

    def makefile(self, mode: str, *args: object, **kwargs: object) -> io.BytesIO:
        return io.BytesIO(self.reply)

    def close(self) -> None:
        self.closed = True


class Network:
    """DNS answers by name, and per connection the next scripted answer: a status, raw
    bytes, or an exception raised by the connect."""

    def __init__(self, *answers: object, dns: dict[str, list[list[str]]] | None = None) -> None:
        self.answers = list(answers)
        self.dns = dns if dns is not None else {"hooks.example.com": [[PUBLIC_IP]]}
        self.lookups: list[tuple[str, int]] = []
        self.connects: list[tuple[str, int, float]] = []
        self.sockets: list[FakeSocket] = []

    def resolve(self, host: str, port: int) -> list[str]:
        self.lookups.append((host, port))
        answers = self.dns.get(host)
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answers.pop(0) if len(answers) > 1 else answers[0]

    def connect(self, address: tuple[str, int], timeout: float) -> FakeSocket:
        self.connects.append((address[0], address[1], timeout))
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        reply = answer if isinstance(answer, bytes) else _status_line(answer)
        sock = FakeSocket(reply)
        self.sockets.append(sock)
        return sock


def _status_line(status: object) -> bytes:
    return f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode()


class RecordingTLS:
    """A TLS context that records the SNI name it is asked for, or fails the handshake."""

    verify_mode = ssl.CERT_REQUIRED
    check_hostname = True

    def __init__(self, failure: BaseException | None = None) -> None:
        self.server_hostnames: list[str | None] = []
        self.failure = failure

    def wrap_socket(self, sock: FakeSocket, *, server_hostname: str | None = None) -> FakeSocket:
        self.server_hostnames.append(server_hostname)
        if self.failure is not None:
            raise self.failure
        return sock


def sender_with(*answers, attempts=3, allow_private=False, dns=None, tls=None, blocked=None):
    network = Network(*answers, dns=dns)
    sleeps: list[float] = []
    tls = tls or RecordingTLS()
    sender = UrllibWebhookSender(
        timeout_seconds=2.5,
        attempts=attempts,
        sleep=sleeps.append,
        allow_private=allow_private,
        resolver=network.resolve,
        connect=network.connect,
        tls_context=tls,
        on_blocked=None if blocked is None else (lambda: blocked.append(1)),
    )
    return sender, network, sleeps, tls


def request_of(sock: FakeSocket) -> tuple[str, dict[str, str], bytes]:
    head, _, body = sock.sent.partition(b"\r\n\r\n")
    request_line, *lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return request_line, headers, body


# -- the signature ----------------------------------------------------------------------------


def test_sign_is_hmac_sha256_of_timestamp_dot_body():
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, 1_700_000_000, BODY) == f"sha256={expected}"


def test_verify_refuses_tampering_other_secrets_and_stale_timestamps():
    header = sign(SECRET, 1000, BODY)
    assert verify(SECRET, "1000", BODY, header, now=1000)
    assert verify(SECRET, "1000", BODY, header, now=1300)
    assert not verify(SECRET, "1000", BODY, header, now=1301)  # a replay, later
    assert not verify(SECRET, "1000", BODY + b" ", header, now=1000)
    assert not verify("whsec_other", "1000", BODY, header, now=1000)
    assert not verify(SECRET, "1001", BODY, header, now=1000)
    assert not verify(SECRET, "x", BODY, header, now=1000)


# -- a delivery -------------------------------------------------------------------------------


def test_a_delivery_connects_to_the_checked_ip_with_the_name_for_sni_and_host():
    sender, network, sleeps, tls = sender_with(204)
    result = sender.send(URL, SECRET, BODY, timestamp=1234)

    assert (result.ok, result.attempts, result.status, result.error) == (True, 1, 204, None)
    assert network.lookups == [("hooks.example.com", 443)]
    assert network.connects == [(PUBLIC_IP, 443, 2.5)]  # the address, never the name
    assert tls.server_hostnames == ["hooks.example.com"]
    (sock,) = network.sockets
    request_line, headers, body = request_of(sock)
    assert request_line == "POST /x HTTP/1.1"
    assert headers["host"] == "hooks.example.com"
    assert headers[TIMESTAMP_HEADER.lower()] == "1234"
    assert headers[SIGNATURE_HEADER.lower()] == sign(SECRET, 1234, BODY)
    assert headers["content-type"] == "application/json"
    assert headers["content-length"] == str(len(BODY))
    assert body == BODY
    assert sock.closed
    assert sleeps == []


def test_a_port_and_a_query_reach_the_host_header_and_the_request_line():
    sender, network, _, tls = sender_with(200)
    url = "https://HOOKS.Example.com.:8443/a/b?k=v#frag"
    assert sender.send(url, SECRET, BODY, timestamp=1).ok

    assert network.lookups == [("hooks.example.com", 8443)]
    assert network.connects == [(PUBLIC_IP, 8443, 2.5)]
    assert tls.server_hostnames == ["hooks.example.com"]
    request_line, headers, _ = request_of(network.sockets[0])
    assert request_line == "POST /a/b?k=v HTTP/1.1"
    assert headers["host"] == "hooks.example.com:8443"


def test_an_idn_host_is_resolved_and_verified_as_its_ascii_name():
    sender, network, _, tls = sender_with(200, dns={"xn--bcher-kva.example": [[PUBLIC_IP]]})
    assert sender.send("https://Bücher.example/h", SECRET, BODY, timestamp=1).ok
    assert network.lookups == [("xn--bcher-kva.example", 443)]
    assert tls.server_hostnames == ["xn--bcher-kva.example"]


def test_a_name_with_several_public_addresses_tries_them_in_order():
    dns = {"hooks.example.com": [["2606:2800:220:1:248:1893:25c8:1946", PUBLIC_IP]]}
    sender, network, _, _ = sender_with(ConnectionRefusedError(111, "refused"), 200, dns=dns)
    result = sender.send(URL, SECRET, BODY, timestamp=1)
    assert (result.ok, result.attempts) == (True, 1)
    assert [c[0] for c in network.connects] == ["2606:2800:220:1:248:1893:25c8:1946", PUBLIC_IP]


def test_the_default_tls_context_verifies_certificates_and_host_names():
    sender = UrllibWebhookSender(timeout_seconds=1, attempts=1)
    assert sender._tls.verify_mode is ssl.CERT_REQUIRED
    assert sender._tls.check_hostname


# -- retries ----------------------------------------------------------------------------------


def test_server_errors_and_timeouts_are_retried_with_exponential_backoff():
    sender, network, sleeps, _ = sender_with(503, TimeoutError("timed out"), 200)
    result = sender.send(URL, SECRET, BODY, timestamp=1)
    assert (result.ok, result.attempts) == (True, 3)
    assert sleeps == [1.0, 2.0]
    assert len(network.lookups) == 3  # resolved again, and checked again, on every attempt


def test_it_gives_up_after_the_attempts_with_the_last_error():
    sender, network, sleeps, _ = sender_with(500, 502, 500, attempts=3)
    result = sender.send(URL, SECRET, BODY, timestamp=1)
    assert (result.ok, result.attempts, result.status, result.error) == (
        False,
        3,
        500,
        "HTTP 500",
    )
    assert len(network.connects) == 3
    assert sleeps == [1.0, 2.0]


@pytest.mark.parametrize("status", [400, 401, 404, 410, 302, 307])
def test_a_refusal_or_a_redirect_is_not_retried_nor_followed(status):
    sender, network, sleeps, _ = sender_with(status)
    result = sender.send(URL, SECRET, BODY, timestamp=1)
    assert (result.ok, result.attempts, result.status, result.error) == (
        False,
        1,
        status,
        f"HTTP {status}",
    )
    assert len(network.connects) == 1
    assert sleeps == []


def test_a_name_that_does_not_resolve_is_retried_with_the_generic_error():
    sender, network, sleeps, _ = sender_with(dns={})
    result = sender.send(URL, SECRET, BODY, timestamp=1)
    assert (result.ok, result.attempts, result.error) == (False, 3, CONNECTION_FAILED)
    assert network.connects == []
    assert sleeps == [1.0, 2.0]


def test_timeout_attempts_and_the_private_address_policy_come_from_the_settings(settings):
    tuned = settings.model_copy(update={"webhook_attempts": 2, "webhook_timeout_seconds": 0.5})
    sender = UrllibWebhookSender.from_settings(tuned)
    network = Network(500, 500)
    sender._resolve, sender._connect, sender._tls = network.resolve, network.connect, RecordingTLS()
    sender._sleep = lambda seconds: None
    assert sender.send(URL, SECRET, BODY, timestamp=1).attempts == 2
    assert [timeout for *_, timeout in network.connects] == [0.5, 0.5]
    assert sender._allow_private is False  # stage "test" is deployed-like
    local = UrllibWebhookSender.from_settings(settings.model_copy(update={"stage": "local"}))
    assert local._allow_private is True
    with pytest.raises(ValueError, match="attempts"):
        UrllibWebhookSender(timeout_seconds=1, attempts=0)


# -- where it may connect ---------------------------------------------------------------------


def test_only_http_urls_are_ever_opened():
    sender, network, _, _ = sender_with()
    result = sender.send("file:///etc/passwd", SECRET, BODY, timestamp=1)
    assert (result.ok, result.attempts) == (False, 0)
    assert network.lookups == network.connects == []


@pytest.mark.parametrize(
    "addresses",
    [
        ["127.0.0.1"],
        ["10.1.2.3"],
        ["169.254.169.254"],  # instance metadata
        ["::1"],
        ["0.0.0.0"],  # noqa: S104 (an address it must refuse)
        ["100.64.0.1"],
        ["224.0.0.1"],
        ["fd00::1"],
        ["fe80::1%eth0"],
        ["::ffff:127.0.0.1"],
        ["64:ff9b::a9fe:a9fe"],  # NAT64 of 169.254.169.254
        ["2002:a00:1::1"],  # 6to4 of 10.0.0.1
        [PUBLIC_IP, "10.0.0.5"],  # any private answer blocks the delivery
        ["2606:2800:220:1:248:1893:25c8:1946", "::1"],
        ["not-an-address"],
        [],
    ],
)
def test_a_name_resolving_to_a_non_public_address_is_never_connected_to(addresses):
    blocked: list[int] = []
    sender, network, sleeps, tls = sender_with(
        dns={"hooks.example.com": [addresses]}, blocked=blocked
    )
    result = sender.send(URL, SECRET, BODY, timestamp=1)

    assert (result.ok, result.attempts, result.status, result.error) == (
        False,
        0,
        None,
        NOT_PUBLIC,
    )
    assert network.connects == []
    assert tls.server_hostnames == []
    assert sleeps == []
    assert blocked == [1]


def test_a_second_dns_answer_cannot_rebind_the_retry_to_a_private_address():
    dns = {"hooks.example.com": [[PUBLIC_IP], ["127.0.0.1"]]}
    sender, network, _, _ = sender_with(503, 200, dns=dns)
    result = sender.send(URL, SECRET, BODY, timestamp=1)
    assert (result.ok, result.attempts, result.error) == (False, 1, NOT_PUBLIC)
    assert network.connects == [(PUBLIC_IP, 443, 2.5)]


@pytest.mark.parametrize(
    "url",
    [
        "https://2130706433:8443/x",
        "https://0x7f000001:8443/x",
        "https://0177.0.0.1:8443/x",
        "https://127.1:8443/x",
        "https://0:8443/x",
        "https://[::1]:8443/x",
        "https://[::ffff:7f00:1]:8443/x",
        "https://169.254.169.254/latest/meta-data/",
    ],
)
def test_a_stored_literal_private_url_is_blocked_at_send_time_without_a_lookup(url):
    sender, network, _, _ = sender_with()
    result = sender.send(url, SECRET, BODY, timestamp=1)
    assert (result.ok, result.attempts, result.error) == (False, 0, NOT_PUBLIC)
    assert network.lookups == network.connects == []


@pytest.mark.parametrize(
    "url", ["https://1.2.3.4.5/x", "https://[fe80::1%25eth0]/x", "https://h:x/"]
)
def test_a_malformed_host_is_refused_at_send_time(url):
    sender, network, _, _ = sender_with()
    result = sender.send(url, SECRET, BODY, timestamp=1)
    assert (result.ok, result.attempts, result.error) == (False, 0, INVALID_URL)
    assert network.lookups == network.connects == []


def test_a_public_ip_literal_is_connected_to_without_a_lookup():
    sender, network, _, tls = sender_with(200)
    assert sender.send(f"https://{PUBLIC_IP}:8443/h", SECRET, BODY, timestamp=1).ok
    assert network.lookups == []
    assert network.connects == [(PUBLIC_IP, 8443, 2.5)]
    assert tls.server_hostnames == [PUBLIC_IP]


def test_the_local_stage_delivers_over_http_to_loopback():
    dns = {"localhost": [["127.0.0.1"]]}
    sender, network, _, tls = sender_with(200, 200, allow_private=True, dns=dns)
    assert sender.send("http://127.0.0.1:9000/h", SECRET, BODY, timestamp=1).ok
    assert sender.send("http://localhost:9001/h", SECRET, BODY, timestamp=1).ok
    assert network.connects == [("127.0.0.1", 9000, 2.5), ("127.0.0.1", 9001, 2.5)]
    assert tls.server_hostnames == []  # plain http: no TLS
    assert request_of(network.sockets[1])[1]["host"] == "localhost:9001"


# -- what the owner is told -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "logged"),
    [
        (ConnectionRefusedError(111, "Connection refused"), "ConnectionRefusedError"),  # closed
        (TimeoutError("timed out"), "TimeoutError"),  # filtered
        (ConnectionResetError(104, "Connection reset by peer"), "ConnectionResetError"),
        (socket.gaierror(socket.EAI_AGAIN, "Temporary failure"), "gaierror"),
        (b"SSH-2.0-OpenSSH_9.6\r\n", "BadStatusLine"),  # open, but not HTTP
        (b"", "RemoteDisconnected"),  # open, closes at once
    ],
)
def test_every_network_failure_reads_the_same_to_the_owner(failure, logged, caplog):
    sender, _, sleeps, _ = sender_with(failure, failure, failure)
    with caplog.at_level(logging.WARNING, logger=logger.name):
        result = sender.send(URL, SECRET, BODY, timestamp=1)

    assert (result.ok, result.attempts, result.status, result.error) == (
        False,
        3,
        None,
        CONNECTION_FAILED,
    )
    assert sleeps == [1.0, 2.0]  # retried: the receiver may be restarting
    # The real reason is logged server-side, with where the attempt went.
    record = caplog.records[-1]
    assert record.getMessage() == "webhook attempt failed"
    assert (record.webhook_host, record.webhook_port) == ("hooks.example.com", 443)
    assert record.webhook_addresses == [PUBLIC_IP]
    assert record.attempt == 3
    assert record.reason.startswith(logged)


def test_a_tls_failure_reads_like_any_other_connection_failure():
    failure = ssl.SSLCertVerificationError(1, "certificate verify failed: Hostname mismatch")
    sender, network, _, tls = sender_with(200, tls=RecordingTLS(failure), attempts=1)
    result = sender.send(URL, SECRET, BODY, timestamp=1)
    assert (result.ok, result.error) == (False, CONNECTION_FAILED)
    assert tls.server_hostnames == ["hooks.example.com"]
    assert network.sockets[0].closed  # the raw socket does not leak
