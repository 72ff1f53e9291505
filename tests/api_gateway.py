"""Calling the API Lambda the way API Gateway (HTTP API, payload v2) does, in-process."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from functions.local.lambda_context import LocalLambdaContext


def http_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An API Gateway v2 (HTTP API) proxy event, as Lambda receives it."""
    all_headers = {
        "content-type": "application/json",
        **{k.lower(): v for k, v in (headers or {}).items()},
    }
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": urlencode(params or {}),
        "headers": all_headers,
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "1.2.3.4"},
            "stage": "$default",
            "requestId": "r1",
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "api.example.com",
            "timeEpoch": 0,
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


class GatewayResponse:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.status_code: int = raw["statusCode"]
        self.text: str = raw.get("body") or ""
        self.headers: dict[str, str] = raw.get("headers") or {}

    def json(self) -> Any:
        return json.loads(self.text) if self.text else None


class GatewayClient:
    """TestClient-like calls (get/post/patch/delete) through a Lambda handler."""

    def __init__(self, handler: Callable[[dict[str, Any], Any], dict[str, Any]]) -> None:
        self._handler = handler

    def request(self, method: str, path: str, **kwargs: Any) -> GatewayResponse:
        event = http_event(
            method,
            path,
            kwargs.get("json"),
            headers=kwargs.get("headers"),
            params=kwargs.get("params"),
        )
        return GatewayResponse(self._handler(event, LocalLambdaContext(function_name="api")))

    def get(self, path: str, **kwargs: Any) -> GatewayResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> GatewayResponse:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> GatewayResponse:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> GatewayResponse:
        return self.request("DELETE", path, **kwargs)
