"""The ``WebhookSender`` port: POST a signed JSON body to an owner's URL, with retries.

Every request carries ``X-Xenblocks-Timestamp: <epoch seconds>`` and
``X-Xenblocks-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`` keyed with the
rule's secret. A receiver recomputes the signature with ``sign`` (or calls ``verify``) and
refuses stale timestamps, so a captured request cannot be replayed later.

Owners choose the URLs, so a delivery must not become a way into this side's network
(server-side request forgery). Outside the local stage the sender, on every attempt:

1. reads the URL's host as a resolver would (``functions.netguard``: ``https://127.1`` is
   loopback) and resolves a name itself (``getaddrinfo``);
2. refuses the delivery, before any connection, if ANY address is not globally routable;
3. connects to those checked addresses, never to the name again, so a second DNS answer
   cannot swap in a private address (DNS rebinding), while TLS still sends the name as SNI
   and verifies the certificate against it, and the ``Host`` header carries it;
4. follows no redirect: an answer is reported as its status.

What the owner sees of a failed attempt is the HTTP status, or one message for every
network failure (refused, timed out, reset, TLS, not HTTP), so a webhook cannot be used to
tell an open port from a closed one. The real reason goes to the log.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from functions.netguard import (
    Host,
    HostRefused,
    IPAddress,
    is_public_address,
    parse_address,
    url_host,
)
from functions.observability import logger
from functions.settings import Settings

SIGNATURE_HEADER = "X-Xenblocks-Signature"
TIMESTAMP_HEADER = "X-Xenblocks-Timestamp"
USER_AGENT = "xenblocks-alerts/1"
# How old a timestamp ``verify`` accepts by default.
DEFAULT_TOLERANCE_SECONDS = 300
# Answers worth another try: the receiver is overloaded, restarting or timed out.
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})

# What the owner reads in ``delivery_error`` (besides "HTTP <status>").
CONNECTION_FAILED = "could not deliver (connection failed)"
NOT_PUBLIC = "could not deliver (the host is not a public internet address)"
INVALID_URL = "could not deliver (invalid webhook URL)"
NOT_HTTP = "only http(s) URLs are allowed"

# A name → the addresses it resolves to, as text (``getaddrinfo``'s sockaddr[0]).
Resolver = Callable[[str, int], Sequence[str]]
# (address, port), timeout → a connected socket (``socket.create_connection``).
Connector = Callable[[tuple[str, int], float], socket.socket]


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to for a TCP connection, in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _create_connection(address: tuple[str, int], timeout: float) -> socket.socket:
    return socket.create_connection(address, timeout)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: ``sha256=<hex>`` over ``b"<timestamp>." + body``."""
    message = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: int,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """A receiver's check: the signature matches and the timestamp is recent."""
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)


@dataclass(frozen=True)
class DeliveryResult:
    ok: bool
    attempts: int
    status: int | None = None  # the last HTTP status, if any answer came
    error: str | None = None  # why the last attempt failed


class WebhookSender(Protocol):
    def send(self, url: str, secret: str, body: bytes, *, timestamp: int) -> DeliveryResult:
        """POST ``body`` signed with ``secret``; never raises for a failed delivery."""
        ...


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: Host
    port: int
    path: str  # path and query, as the request line carries them


class _Blocked(Exception):
    """The host resolved to an address a delivery must not reach."""


def _open_pinned(
    addresses: Sequence[IPAddress], port: int, timeout: float, connect: Connector
) -> socket.socket:
    """A socket to the first of ``addresses`` that answers: the checked ones, no look-up."""
    last: OSError = OSError("no address to connect to")
    for address in addresses:
        try:
            return connect((str(address), port), timeout)
        except OSError as error:
            last = error
    raise last


class PinnedHTTPConnection(http.client.HTTPConnection):
    """``HTTPConnection`` to ``host`` that connects to the given addresses, not the name."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        addresses: Sequence[IPAddress],
        timeout: float,
        connect: Connector = _create_connection,
    ) -> None:
        super().__init__(host, port, timeout=timeout)
        self._pinned = tuple(addresses)
        self._pinned_timeout = timeout
        self._pinned_connect = connect

    def connect(self) -> None:
        self.sock = _open_pinned(
            self._pinned, self.port, self._pinned_timeout, self._pinned_connect
        )


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """``HTTPSConnection`` to the given addresses; SNI and the certificate check use ``host``."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        addresses: Sequence[IPAddress],
        timeout: float,
        context: ssl.SSLContext,
        connect: Connector = _create_connection,
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._pinned = tuple(addresses)
        self._pinned_timeout = timeout
        self._pinned_connect = connect
        self._tls = context

    def connect(self) -> None:
        raw = _open_pinned(self._pinned, self.port, self._pinned_timeout, self._pinned_connect)
        try:
            self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise


class UrllibWebhookSender:
    """Delivery over ``http.client`` to checked, pinned addresses: ``attempts`` tries with
    exponential backoff between them. (The name is historical: ``urllib`` cannot pin.)

    ``allow_private`` (the local stage only, from the settings, never from the URL) lets
    deliveries reach loopback and private addresses, where local receivers listen.
    ``on_blocked`` is called once per delivery refused for its addresses (a metric).
    """

    def __init__(
        self,
        *,
        timeout_seconds: float,
        attempts: int,
        backoff_seconds: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        allow_private: bool = False,
        resolver: Resolver = resolve,
        connect: Connector = _create_connection,
        tls_context: ssl.SSLContext | None = None,
        on_blocked: Callable[[], None] | None = None,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self._timeout = timeout_seconds
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._sleep = sleep
        self._allow_private = allow_private
        self._resolve = resolver
        self._connect = connect
        # Certificates verified against the URL's host name (check_hostname, CERT_REQUIRED).
        self._tls = tls_context or _default_tls_context()
        self._on_blocked = on_blocked
        self._lock = threading.Lock()  # deliveries run on a thread pool

    @classmethod
    def from_settings(
        cls, settings: Settings, *, on_blocked: Callable[[], None] | None = None
    ) -> UrllibWebhookSender:
        return cls(
            timeout_seconds=settings.webhook_timeout_seconds,
            attempts=settings.webhook_attempts,
            allow_private=settings.is_local,
            on_blocked=on_blocked,
        )

    def send(self, url: str, secret: str, body: bytes, *, timestamp: int) -> DeliveryResult:
        try:
            target = _target(url)
        except HostRefused as refused:
            logger.warning("webhook refused: invalid host", extra={"reason": str(refused)})
            return DeliveryResult(ok=False, attempts=0, error=INVALID_URL)
        if target is None:
            return DeliveryResult(ok=False, attempts=0, error=NOT_HTTP)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(secret, timestamp, body),
        }
        result = DeliveryResult(ok=False, attempts=0)
        for attempt in range(1, self._attempts + 1):
            if attempt > 1:
                self._sleep(self._backoff * 2 ** (attempt - 2))
            try:
                addresses = self._addresses(target)
            except _Blocked:
                self._count_blocked()
                return DeliveryResult(ok=False, attempts=attempt - 1, error=NOT_PUBLIC)
            except OSError as error:  # the name did not resolve (now)
                self._log_failure(target, (), attempt, error)
                result = DeliveryResult(False, attempt, error=CONNECTION_FAILED)
                continue
            result, retry = self._attempt(target, addresses, headers, body, attempt)
            if result.ok or not retry:
                break
        return result

    def _addresses(self, target: _Target) -> tuple[IPAddress, ...]:
        """The addresses to connect to; ``_Blocked`` if any of them is not public."""
        if target.host.address is not None:
            addresses: tuple[IPAddress | None, ...] = (target.host.address,)
        else:
            resolved = self._resolve(target.host.name, target.port)
            addresses = tuple(parse_address(text) for text in resolved)
        checked = tuple(a for a in addresses if a is not None)
        if not checked or len(checked) != len(addresses):
            logger.warning(
                "webhook blocked: unreadable addresses",
                extra={"webhook_host": target.host.name, "webhook_port": target.port},
            )
            raise _Blocked
        if not self._allow_private:
            refused = [a for a in checked if not is_public_address(a)]
            if refused:
                logger.warning(
                    "webhook blocked: not a public address",
                    extra={
                        "webhook_host": target.host.name,
                        "webhook_port": target.port,
                        "webhook_addresses": [str(a) for a in checked],
                        "refused_addresses": [str(a) for a in refused],
                    },
                )
                raise _Blocked
        return checked

    def _attempt(
        self,
        target: _Target,
        addresses: tuple[IPAddress, ...],
        headers: dict[str, str],
        body: bytes,
        attempt: int,
    ) -> tuple[DeliveryResult, bool]:
        """One POST: its result and whether another try could help."""
        connection = self._connection(target, addresses)
        try:
            connection.request("POST", target.path, body=body, headers=headers)
            response = connection.getresponse()
            status = int(response.status)
            response.close()
        except (OSError, http.client.HTTPException, ValueError) as error:
            # Refused, timed out, reset, TLS, not HTTP: one message to the owner, who
            # could otherwise map which ports answer; the reason goes to the log.
            self._log_failure(target, addresses, attempt, error)
            return DeliveryResult(False, attempt, error=CONNECTION_FAILED), True
        finally:
            connection.close()
        if 200 <= status < 300:
            return DeliveryResult(True, attempt, status=status), False
        failed = DeliveryResult(False, attempt, status=status, error=f"HTTP {status}")
        return failed, status in _RETRY_STATUSES

    def _connection(
        self, target: _Target, addresses: tuple[IPAddress, ...]
    ) -> http.client.HTTPConnection:
        if target.scheme == "https":
            return PinnedHTTPSConnection(
                target.host.name,
                target.port,
                addresses=addresses,
                timeout=self._timeout,
                context=self._tls,
                connect=self._connect,
            )
        return PinnedHTTPConnection(
            target.host.name,
            target.port,
            addresses=addresses,
            timeout=self._timeout,
            connect=self._connect,
        )

    def _count_blocked(self) -> None:
        if self._on_blocked is not None:
            with self._lock:
                self._on_blocked()

    @staticmethod
    def _log_failure(
        target: _Target, addresses: Sequence[IPAddress], attempt: int, error: BaseException
    ) -> None:
        logger.warning(
            "webhook attempt failed",
            extra={
                "webhook_host": target.host.name,
                "webhook_port": target.port,
                "webhook_addresses": [str(a) for a in addresses],
                "attempt": attempt,
                "reason": f"{type(error).__name__}: {error}"[:300],
            },
        )


def _default_tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()  # CERT_REQUIRED, check_hostname
    context.set_alpn_protocols(["http/1.1"])
    return context


def _target(url: str) -> _Target | None:
    """Where ``url`` points; None if it is not http(s), ``HostRefused`` if it is malformed."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise HostRefused("is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        return None
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    default_port = 443 if parts.scheme == "https" else 80
    return _Target(parts.scheme, url_host(parts), default_port if port is None else port, path)


class RecordingWebhookSender:
    """A sender that keeps what it was asked to send and answers as told (tests, dry runs)."""

    def __init__(self, *, ok: bool = True, attempts: int = 1) -> None:
        self.sent: list[tuple[str, str, bytes, int]] = []
        self._ok = ok
        self._attempts = attempts

    def send(self, url: str, secret: str, body: bytes, *, timestamp: int) -> DeliveryResult:
        self.sent.append((url, secret, body, timestamp))
        if self._ok:
            return DeliveryResult(ok=True, attempts=1, status=200)
        return DeliveryResult(ok=False, attempts=self._attempts, error="refused by the test")
