"""The ``WebhookSender`` port: POST a signed JSON body to an owner's URL, with retries.

Every request carries ``X-Xenblocks-Timestamp: <epoch seconds>`` and
``X-Xenblocks-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`` keyed with the
rule's secret. A receiver recomputes the signature with ``sign`` (or calls ``verify``) and
refuses stale timestamps, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from functions.settings import Settings

SIGNATURE_HEADER = "X-Xenblocks-Signature"
TIMESTAMP_HEADER = "X-Xenblocks-Timestamp"
USER_AGENT = "xenblocks-alerts/1"
# How old a timestamp ``verify`` accepts by default.
DEFAULT_TOLERANCE_SECONDS = 300
# Answers worth another try: the receiver is overloaded, restarting or timed out.
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_MAX_ERROR_CHARS = 200


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


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect could point anywhere (and would turn the POST into a GET): refuse it.
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class UrllibWebhookSender:
    """Delivery over ``urllib.request``: ``attempts`` tries, exponential backoff between them."""

    def __init__(
        self,
        *,
        timeout_seconds: float,
        attempts: int,
        backoff_seconds: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        opener: urllib.request.OpenerDirector | None = None,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self._timeout = timeout_seconds
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._sleep = sleep
        self._opener = opener or urllib.request.build_opener(_NoRedirects())

    @classmethod
    def from_settings(cls, settings: Settings) -> UrllibWebhookSender:
        return cls(
            timeout_seconds=settings.webhook_timeout_seconds, attempts=settings.webhook_attempts
        )

    def send(self, url: str, secret: str, body: bytes, *, timestamp: int) -> DeliveryResult:
        if urlsplit(url).scheme not in ("http", "https"):
            return DeliveryResult(ok=False, attempts=0, error="only http(s) URLs are allowed")
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
            result, retry = self._attempt(url, headers, body, attempt)
            if result.ok or not retry:
                break
        return result

    def _attempt(
        self, url: str, headers: dict[str, str], body: bytes, attempt: int
    ) -> tuple[DeliveryResult, bool]:
        """One POST: its result and whether another try could help."""
        # The scheme was checked in send(): http(s) only, never file: or custom schemes.
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                status = int(response.status)
        except urllib.error.HTTPError as error:
            status = error.code
            error.close()
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            return DeliveryResult(False, attempt, error=_short(f"{reason}")), True
        if 200 <= status < 300:
            return DeliveryResult(True, attempt, status=status), False
        failed = DeliveryResult(False, attempt, status=status, error=f"HTTP {status}")
        return failed, status in _RETRY_STATUSES


def _short(text: str) -> str:
    return text[:_MAX_ERROR_CHARS]


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
