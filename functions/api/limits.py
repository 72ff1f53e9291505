"""Request limits enforced before any route, dependency or parser sees the request.

A body over ``MAX_BODY_BYTES`` is answered 413 without being read (from its declared
length) or as soon as the bytes read pass the cap (chunked bodies); a body nesting JSON
deeper than ``MAX_JSON_DEPTH`` is answered 422 before FastAPI parses it (see
``protocol.jsonlimits`` for why a deep document is a crash, not just a bad request).
Both answers use the API's one error format. The largest body any route takes is an
enrolment's CSR (about 1 KB), so the cap leaves a wide margin.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from functions.api.errors import error_response
from functions.observability import logger
from protocol.jsonlimits import MAX_JSON_DEPTH, json_depth_exceeds

MAX_BODY_BYTES = 64 * 1024


class RequestLimits:
    """Pure ASGI middleware: buffers at most ``max_body_bytes`` of a request body, checks
    its JSON depth, then hands the app the same body."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_json_depth: int = MAX_JSON_DEPTH,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self._refuse(scope, send, 413, "payload_too_large", self._too_large())
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                await self._refuse(scope, send, 413, "payload_too_large", self._too_large())
                return
            if not message.get("more_body", False):
                break
        if body and json_depth_exceeds(bytes(body), self.max_json_depth):
            reason = f"the body nests JSON deeper than {self.max_json_depth} levels"
            await self._refuse(scope, send, 422, "invalid_input", reason)
            return
        await self.app(scope, _replay(bytes(body), receive), send)

    def _too_large(self) -> str:
        return f"the request body is over {self.max_body_bytes} bytes"

    @staticmethod
    async def _refuse(scope: Scope, send: Send, status: int, code: str, message: str) -> None:
        logger.warning(
            "request refused before routing",
            extra={"method": scope.get("method"), "path": scope.get("path"), "reason": code},
        )
        response = error_response(status, code, message)
        # The rest of a refused body is not read: the connection cannot be reused.
        response.headers["Connection"] = "close"
        await response({"type": "http"}, _nothing, send)


def _content_length(scope: Scope) -> int | None:
    """The declared body length; an unreadable header counts as too large."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() and len(text) < 19 else 2**63
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields the buffered body once, then what the server sends next
    (a disconnect)."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _nothing() -> Message:
    return {"type": "http.disconnect"}
