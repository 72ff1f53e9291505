"""The local stand-in for Telegram's Bot API ``sendMessage`` and Discord's webhooks.

One small HTTP server that answers as the real services do for what the alerts job sends,
so the job's senders run unchanged against it (``telegram_api_url`` and ``discord_api_url``
both point here; ``chat_api_url`` in local.json):

- ``POST /bot<token>/sendMessage`` with JSON ``{chat_id, text}``: 200 ``{"ok": true,
  "result": {...}}``; 404 for a malformed token or an unknown method, 401 for a bot that is
  not known (with ``telegram_tokens`` given), 400 for a missing ``chat_id`` or ``text``
  or a text over 4096 characters; error bodies are ``{"ok": false, "error_code",
  "description"}``.
- ``POST /api[/v<n>]/webhooks/<id>/<token>`` with JSON ``{content}``: 204 (200 and the
  message with ``?wait=true``); 404 ``Unknown Webhook`` for an id not known, 401 ``Invalid
  Webhook Token`` for a wrong token (with ``discord_webhooks`` given), 400 for an empty
  or over-long content; error bodies are ``{"message", "code"}``.
- ``GET /_local/messages``: everything received, ``{"telegram": [...], "discord": [...]}``
  (the bot's id, never its token; the webhook's id), for tests and curious newcomers.

Without ``telegram_tokens`` / ``discord_webhooks`` every well-formed token is a live bot
and every well-formed webhook exists.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from functions.models.alerts import TELEGRAM_TOKEN_PATTERN

_TELEGRAM_PATH = re.compile(r"/bot(?P<token>[^/]*)/(?P<method>[A-Za-z]+)")
_DISCORD_PATH = re.compile(r"/api(?:/v\d{1,2})?/webhooks/(?P<id>\d{15,25})/(?P<token>[^/]+)")
_MAX_BODY = 64 * 1024
TELEGRAM_TEXT_LIMIT = 4096
DISCORD_CONTENT_LIMIT = 2000


class ChatApis(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        telegram_tokens: set[str] | None = None,
        discord_webhooks: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__((host, port), _Handler)
        self.telegram_tokens = telegram_tokens
        self.discord_webhooks = discord_webhooks
        self._received: dict[str, list[dict[str, Any]]] = {"telegram": [], "discord": []}
        self._arrived = threading.Condition()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def received(self) -> dict[str, list[dict[str, Any]]]:
        with self._arrived:
            return {api: list(items) for api, items in self._received.items()}

    def keep(self, api: str, item: dict[str, Any]) -> None:
        with self._arrived:
            self._received[api].append(item)
            self._arrived.notify_all()

    def wait_for(self, api: str, count: int, *, timeout: float) -> list[dict[str, Any]]:
        """The first ``count`` messages ``api`` got, once here; TimeoutError if not."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self._received[api]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{api}: {len(self._received[api])} of {count} arrived")
                self._arrived.wait(left)
            return list(self._received[api][:count])


class _Handler(BaseHTTPRequestHandler):
    server: ChatApis
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if urlsplit(self.path).path == "/_local/messages":
            self._json(200, self.server.received())
        else:
            self._json(404, {"message": "404: Not Found"})

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        body = self._body()
        telegram = _TELEGRAM_PATH.fullmatch(parts.path)
        if telegram is not None:
            self._telegram(telegram["token"], telegram["method"], body)
            return
        discord = _DISCORD_PATH.fullmatch(parts.path)
        if discord is not None:
            wait = parse_qs(parts.query).get("wait", ["false"])[0] == "true"
            self._discord(discord["id"], discord["token"], body, wait=wait)
            return
        self._json(404, {"message": "404: Not Found", "code": 0})

    # -- Telegram -----------------------------------------------------------------------

    def _telegram(self, token: str, method: str, body: Any) -> None:
        if not re.fullmatch(TELEGRAM_TOKEN_PATTERN, token):
            self._telegram_error(404, "Not Found")
            return
        known = self.server.telegram_tokens
        if known is not None and token not in known:
            self._telegram_error(401, "Unauthorized")
            return
        if method != "sendMessage":
            self._telegram_error(404, "Not Found: method not found")
            return
        if not isinstance(body, dict):
            self._telegram_error(400, "Bad Request: can't parse JSON object")
            return
        chat_id, text = body.get("chat_id"), body.get("text")
        if chat_id in (None, ""):
            self._telegram_error(400, "Bad Request: chat_id is empty")
            return
        if not isinstance(text, str) or not text.strip():
            self._telegram_error(400, "Bad Request: message text is empty")
            return
        if len(text) > TELEGRAM_TEXT_LIMIT:
            self._telegram_error(400, "Bad Request: message is too long")
            return
        bot_id = token.split(":", 1)[0]
        message_id = len(self.server.received()["telegram"]) + 1
        now = int(time.time())
        self.server.keep(
            "telegram", {"bot_id": bot_id, "chat_id": str(chat_id), "text": text, "date": now}
        )
        result = {"message_id": message_id, "date": now, "chat": {"id": chat_id}, "text": text}
        self._json(200, {"ok": True, "result": result})

    def _telegram_error(self, status: int, description: str) -> None:
        self._json(status, {"ok": False, "error_code": status, "description": description})

    # -- Discord ------------------------------------------------------------------------

    def _discord(self, webhook_id: str, token: str, body: Any, *, wait: bool) -> None:
        known = self.server.discord_webhooks
        if known is not None and webhook_id not in known:
            self._json(404, {"message": "Unknown Webhook", "code": 10015})
            return
        if known is not None and known[webhook_id] != token:
            self._json(401, {"message": "Invalid Webhook Token", "code": 50027})
            return
        content = body.get("content") if isinstance(body, dict) else None
        if not isinstance(content, str) or not content.strip():
            self._json(400, {"message": "Cannot send an empty message", "code": 50006})
            return
        if len(content) > DISCORD_CONTENT_LIMIT:
            self._json(400, {"message": "Invalid Form Body", "code": 50035})
            return
        self.server.keep("discord", {"webhook_id": webhook_id, "content": content})
        if wait:
            self._json(200, {"id": str(len(self.server.received()["discord"])), "content": content})
            return
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    # -- plumbing -----------------------------------------------------------------------

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            self.close_connection = True  # the rest is never read: no next request on it
        raw = self.rfile.read(min(length, _MAX_BODY))
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    def _json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the stack's output stays readable


@contextlib.contextmanager
def chat_apis(**options: Any) -> Iterator[ChatApis]:
    """Serve the stand-in on a thread for the ``with`` block."""
    server = ChatApis(**options)
    thread = threading.Thread(target=server.serve_forever, name="chat-apis", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
