"""The local WebSocket endpoint: API Gateway's WebSocket API, played by one Starlette app.

It does what API Gateway and the live Lambdas do together: a connection is signed in or
anonymous (``?token=``), stored in the connections table, answered on
``{"action": "snapshot"}`` / ``{"action": "ping"}``, and forgotten when it closes. The hub is
also the ``Broadcaster`` the live service posts through; each connection's frames go out at
most once per coalescing window, several merged into one (a leading-edge throttle: a quiet
connection gets a change at once, a busy one a frame a window). Unlike API Gateway it also
sends a snapshot as soon as a connection opens.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from functions.errors import InvalidInput, Unauthorized
from functions.logic.live import coalesce, error_reply, frame
from functions.models.live import LiveMessage, MessageType

if TYPE_CHECKING:
    from functions.logic.live_updates import LiveService

log = logging.getLogger(__name__)
SNAPSHOT_REQUEST = '{"action": "snapshot"}'
# API Gateway's frame limit is 128 KiB; dashboards only send small requests.
MAX_CLIENT_FRAME = 32 * 1024


class _Client:
    """One open connection: its socket and its throttled outbox."""

    def __init__(self, websocket: WebSocket, window: float) -> None:
        self.websocket = websocket
        self.window = window
        self.pending: list[LiveMessage] = []
        self.ready = asyncio.Event()
        self.send_lock = asyncio.Lock()
        self.last_frame = 0.0

    def push(self, text: str) -> None:
        """Queue a broadcast frame (runs on the event loop)."""
        try:
            body = json.loads(text)
            items = body["data"] if body["type"] == MessageType.BATCH else [body]
            self.pending.extend(LiveMessage.model_validate(item) for item in items)
        except (ValueError, KeyError, TypeError, ValidationError):
            log.exception("dropped a frame the hub could not read")
            return
        self.ready.set()

    async def send(self, text: str) -> None:
        async with self.send_lock:
            await self.websocket.send_text(text)

    async def write_broadcasts(self) -> None:
        while True:
            await self.ready.wait()
            wait = self.last_frame + self.window - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)  # more changes gather meanwhile
            self.ready.clear()
            messages, self.pending = coalesce(self.pending), []
            if not messages:
                continue
            self.last_frame = time.monotonic()
            await self.send(frame(messages, time.time()))


class LiveHub:
    def __init__(self, *, coalesce_seconds: float) -> None:
        self.coalesce_seconds = coalesce_seconds
        self._service: LiveService | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clients: dict[str, _Client] = {}
        self._lock = threading.Lock()
        self.app = Starlette(routes=[WebSocketRoute("/", self._endpoint)])

    def bind(self, service: LiveService) -> None:
        self._service = service

    @property
    def connected(self) -> int:
        return len(self._clients)

    # --- Broadcaster -------------------------------------------------------------------

    def send(self, connection_id: str, frame_text: str) -> bool:
        with self._lock:
            client = self._clients.get(connection_id)
        if client is None or self._loop is None or self._loop.is_closed():
            return False
        self._loop.call_soon_threadsafe(client.push, frame_text)
        return True

    # --- the endpoint --------------------------------------------------------------------

    async def _endpoint(self, websocket: WebSocket) -> None:
        service = self._service
        if service is None:
            raise RuntimeError("LiveHub.bind() was not called")
        self._loop = asyncio.get_running_loop()
        connection_id = secrets.token_urlsafe(12)
        token = websocket.query_params.get("token")
        try:
            await asyncio.to_thread(service.connect, connection_id, token)
        except Unauthorized as error:
            await self._refuse(websocket, str(error))
            return
        await websocket.accept()
        client = _Client(websocket, self.coalesce_seconds)
        with self._lock:
            self._clients[connection_id] = client
        writer = asyncio.create_task(client.write_broadcasts())
        try:
            await self._answer(service, connection_id, client, SNAPSHOT_REQUEST)
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    text = message.get("bytes") or b""
                await self._answer(service, connection_id, client, text)
        except WebSocketDisconnect:
            pass
        finally:
            with self._lock:
                self._clients.pop(connection_id, None)
            writer.cancel()
            await asyncio.to_thread(service.disconnect, connection_id)

    async def _answer(
        self, service: LiveService, connection_id: str, client: _Client, text: str | bytes
    ) -> None:
        try:
            if len(text) > MAX_CLIENT_FRAME:
                raise InvalidInput(f"a request is at most {MAX_CLIENT_FRAME} bytes")
            reply = await asyncio.to_thread(service.request, connection_id, text)
        except InvalidInput as error:
            log.info("live request refused: %s", error)
            reply = error_reply(error, time.time())
        await client.send(reply.model_dump_json())

    @staticmethod
    async def _refuse(websocket: WebSocket, reason: str) -> None:
        """401 on the handshake, as API Gateway answers a refusing ``$connect``."""
        extensions: dict[str, Any] = websocket.scope.get("extensions") or {}
        if "websocket.http.response" in extensions:
            await websocket.send_denial_response(PlainTextResponse(reason, status_code=401))
        else:
            await websocket.close(code=1008, reason=reason)
