"""Every API request's correlation id (``functions.observability``): chosen before anything
else runs, on every log line of the request and every command it publishes to a rig, and
returned in the response's ``X-Correlation-Id`` header.

The id is the caller's ``X-Correlation-Id`` when it is a sane token (1 to 64 of
``[A-Za-z0-9._-]``), else API Gateway's request id (an HTTP API's ends in ``=`` padding,
which is dropped: the rest still finds its access log line), else a new uuid4 hex.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from functions.observability import CORRELATION_HEADER, adopt_correlation_id, correlation_id_from

_HEADER = CORRELATION_HEADER.lower().encode("latin-1")


class CorrelationIds:
    """Pure ASGI middleware, the outermost: even a request refused before routing has one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        correlation_id = correlation_id_from(_given(scope), _api_gateway_request_id(scope))
        # The request runs in a task of its own (uvicorn, Mangum): set for the rest of it,
        # so the unhandled-error handler, outside every middleware, still has it.
        adopt_correlation_id(correlation_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[CORRELATION_HEADER] = correlation_id
            await send(message)

        await self.app(scope, receive, send_with_id)


def _given(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == _HEADER:
            return str(value.decode("latin-1"))
    return None


def _api_gateway_request_id(scope: Scope) -> str | None:
    """The request id of the API Gateway event Mangum put in ``scope["aws.event"]``."""
    event: Any = scope.get("aws.event")
    context = event.get("requestContext") if isinstance(event, dict) else None
    request_id = context.get("requestId") if isinstance(context, dict) else None
    return request_id.rstrip("=") if isinstance(request_id, str) else None
