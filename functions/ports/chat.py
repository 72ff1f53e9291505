"""The chat ports: a Telegram bot's ``sendMessage`` and a Discord webhook's execution.

Both POST JSON to the deployment's own base URL (``telegram_api_url``, ``discord_api_url``;
the local stack points them at ``functions.local.chat_apis``), never to a host an owner
typed: the owner supplies a token and a chat id, or a Discord webhook URL whose id and token
are moved onto ``discord_api_url``. So, unlike webhooks, these need no address checks.

Attempts and the timeout of each are the webhook settings'; 408, 425, 429 and 5xx answers
and network failures are tried again after 1 s, 2 s... What the owner reads of a failure is
``HTTP <status>`` or one message for any network failure; the URL (it holds the token) is
never logged, only its host.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

from functions.models.alerts import DISCORD_WEBHOOK_PATTERN
from functions.observability import logger
from functions.ports.webhooks import CONNECTION_FAILED, USER_AGENT, DeliveryResult
from functions.settings import Settings

# Telegram takes 4096 characters of text, Discord 2000 of content.
TELEGRAM_TEXT_LIMIT = 4096
DISCORD_CONTENT_LIMIT = 2000
INVALID_DISCORD_URL = "could not deliver (invalid Discord webhook URL)"
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_DISCORD_URL = re.compile(DISCORD_WEBHOOK_PATTERN)


class TelegramSender(Protocol):
    def send(self, bot_token: str, chat_id: str, text: str) -> DeliveryResult:
        """Post ``text`` to the chat as the bot; never raises for a failed delivery."""
        ...


class DiscordSender(Protocol):
    def send(self, webhook_url: str, text: str) -> DeliveryResult:
        """Post ``text`` through the webhook; never raises for a failed delivery."""
        ...


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A 3xx is an answer, reported as its status, never followed."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class JsonPoster:
    """POST a JSON body with retries: the part both chat senders share."""

    def __init__(
        self,
        *,
        timeout_seconds: float,
        attempts: int,
        backoff_seconds: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self._timeout = timeout_seconds
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._sleep = sleep
        self._opener = urllib.request.build_opener(_NoRedirects)

    @classmethod
    def from_settings(cls, settings: Settings) -> JsonPoster:
        return cls(
            timeout_seconds=settings.webhook_timeout_seconds, attempts=settings.webhook_attempts
        )

    def post(self, url: str, payload: Mapping[str, Any], *, channel: str) -> DeliveryResult:
        body = json.dumps(payload, separators=(",", ":")).encode()
        result = DeliveryResult(ok=False, attempts=0)
        for attempt in range(1, self._attempts + 1):
            if attempt > 1:
                self._sleep(self._backoff * 2 ** (attempt - 2))
            result, retry = self._attempt(url, body, attempt, channel)
            if result.ok or not retry:
                break
        return result

    def _attempt(
        self, url: str, body: bytes, attempt: int, channel: str
    ) -> tuple[DeliveryResult, bool]:
        # The URL is on the deployment's own http(s) base (a validated setting).
        request = urllib.request.Request(  # noqa: S310
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
        )
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                status = int(response.status)
        except urllib.error.HTTPError as answer:
            status = int(answer.code)
            answer.close()
        except (OSError, ValueError) as error:
            logger.warning(
                "chat delivery attempt failed",
                extra={
                    "channel": channel,
                    "host": urlsplit(url).netloc,
                    "attempt": attempt,
                    "reason": type(error).__name__,
                },
            )
            return DeliveryResult(False, attempt, error=CONNECTION_FAILED), True
        if 200 <= status < 300:
            return DeliveryResult(True, attempt, status=status), False
        logger.warning(
            "chat delivery refused",
            extra={"channel": channel, "host": urlsplit(url).netloc, "status": status},
        )
        failed = DeliveryResult(False, attempt, status=status, error=f"HTTP {status}")
        return failed, status in _RETRY_STATUSES


class HttpTelegramSender:
    """``POST {telegram_api_url}/bot<token>/sendMessage`` with ``{chat_id, text}``."""

    def __init__(self, base_url: str, poster: JsonPoster) -> None:
        self._base = base_url.rstrip("/")
        self._poster = poster

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpTelegramSender:
        return cls(settings.telegram_api_url, JsonPoster.from_settings(settings))

    def send(self, bot_token: str, chat_id: str, text: str) -> DeliveryResult:
        url = f"{self._base}/bot{bot_token}/sendMessage"
        payload = {"chat_id": chat_id, "text": text[:TELEGRAM_TEXT_LIMIT]}
        return self._poster.post(url, payload, channel="telegram")


class HttpDiscordSender:
    """``POST`` ``{content}`` to the webhook's path on ``discord_api_url`` (204 on success)."""

    def __init__(self, base_url: str, poster: JsonPoster) -> None:
        self._base = base_url.rstrip("/")
        self._poster = poster

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpDiscordSender:
        return cls(settings.discord_api_url, JsonPoster.from_settings(settings))

    def send(self, webhook_url: str, text: str) -> DeliveryResult:
        match = _DISCORD_URL.fullmatch(webhook_url)
        if match is None:
            return DeliveryResult(ok=False, attempts=0, error=INVALID_DISCORD_URL)
        url = f"{self._base}/api/webhooks/{match['id']}/{match['token']}"
        payload = {"content": text[:DISCORD_CONTENT_LIMIT]}
        return self._poster.post(url, payload, channel="discord")


class RecordingTelegramSender:
    """A Telegram port for tests: keeps what it was asked to send, answers as told."""

    def __init__(self, *, ok: bool = True) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self._ok = ok

    def send(self, bot_token: str, chat_id: str, text: str) -> DeliveryResult:
        self.sent.append((bot_token, chat_id, text))
        return _recorded(self._ok)


class RecordingDiscordSender:
    """A Discord port for tests: keeps what it was asked to send, answers as told."""

    def __init__(self, *, ok: bool = True) -> None:
        self.sent: list[tuple[str, str]] = []
        self._ok = ok

    def send(self, webhook_url: str, text: str) -> DeliveryResult:
        self.sent.append((webhook_url, text))
        return _recorded(self._ok)


def _recorded(ok: bool) -> DeliveryResult:
    if ok:
        return DeliveryResult(ok=True, attempts=1, status=200)
    return DeliveryResult(ok=False, attempts=1, status=401, error="HTTP 401")
