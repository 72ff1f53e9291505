"""Every API request has a correlation id: the caller's when it is sane, else API Gateway's
request id, else a new one; answered in ``X-Correlation-Id`` and on each of its log lines."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from mangum import Mangum

from functions.api.app import create_app
from functions.local.lambda_context import LocalLambdaContext
from functions.observability import current_correlation_id, logger
from tests.api_client import api_context, client_for

HEADER = "X-Correlation-Id"
NEW_ID = re.compile(r"[0-9a-f]{32}")  # uuid4 hex


@pytest.fixture
def context(settings, tables):
    return api_context(settings, tables)


@pytest.fixture
def client(context):
    return client_for(context)


@pytest.mark.parametrize("given", ["req-1", "a.B_c-9", "x" * 64, "0123456789abcdef"])
def test_a_sane_id_from_the_caller_is_answered_back(client, given):
    response = client.get("/api/health", headers={HEADER: given})
    assert response.status_code == 200
    assert response.headers[HEADER] == given


def test_without_one_each_request_gets_a_new_one(client):
    first = client.get("/api/health").headers[HEADER]
    second = client.get("/api/health").headers[HEADER]
    assert NEW_ID.fullmatch(first)
    assert NEW_ID.fullmatch(second)
    assert first != second


@pytest.mark.parametrize(
    "given",
    ["", "x" * 65, "has space", "semi;colon", 'quote"d', "new\nline", "ünïcode", "a=b", "a/b"],
)
def test_an_insane_id_from_the_caller_is_replaced(client, given):
    response = client.get("/api/health", headers={HEADER: given.encode("utf-8")})
    assert response.status_code == 200
    assert NEW_ID.fullmatch(response.headers[HEADER])


def test_the_request_s_log_lines_carry_it_even_when_refused_before_routing(client, caplog):
    body = b"[" * 20_000 + b"]" * 20_000  # refused by the request limits, before any route
    response = client.post(
        "/api/auth/verify",
        content=body,
        headers={"Content-Type": "application/json", HEADER: "deep-1"},
    )
    assert response.status_code == 422
    assert response.headers[HEADER] == "deep-1"
    [refusal] = [r for r in caplog.records if r.getMessage() == "request refused before routing"]
    assert refusal.correlation_id == "deep-1"
    assert current_correlation_id() is None  # nothing leaks into the caller's context


def test_an_unhandled_error_is_logged_and_answered_with_it(context, caplog):
    app = create_app(context)

    @app.get("/api/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    client = TestClient(app, raise_server_exceptions=False)
    response = client.get("/api/boom", headers={HEADER: "boom-1"})

    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert response.headers[HEADER] == "boom-1"
    [record] = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert (record.correlation_id, record.method, record.path) == ("boom-1", "GET", "/api/boom")
    assert record.exc_info is not None
    printed = json.loads(logger.registered_formatter.format(record))
    assert printed["correlation_id"] == "boom-1"
    assert "a bug" in printed["exception"]


def _gateway_event(request_id: str, headers: dict[str, str] | None = None) -> dict[str, object]:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/api/health",
        "rawQueryString": "",
        "headers": headers or {},
        "requestContext": {
            "http": {
                "method": "GET",
                "path": "/api/health",
                "protocol": "HTTP/1.1",
                "sourceIp": "1.2.3.4",
            },
            "stage": "$default",
            "requestId": request_id,
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "api.example.com",
            "timeEpoch": 0,
        },
        "body": None,
        "isBase64Encoded": False,
    }


@pytest.mark.parametrize(
    ("request_id", "headers", "expected"),
    [
        # An HTTP API's request id, its base64 padding dropped.
        ("Xr2ArhCXIAMEVKw=", None, "Xr2ArhCXIAMEVKw"),
        ("c6af9ac6-7b61-11e6-9a41-93e8deadbeef", None, "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"),
        # The caller's own id wins; an insane one falls back to the request id.
        ("Xr2ArhCXIAMEVKw=", {"x-correlation-id": "mine-1"}, "mine-1"),
        ("Xr2ArhCXIAMEVKw=", {"x-correlation-id": "not mine!"}, "Xr2ArhCXIAMEVKw"),
    ],
)
def test_behind_api_gateway_its_request_id_is_the_fallback(context, request_id, headers, expected):
    handler = Mangum(create_app(context), lifespan="off")
    response = handler(_gateway_event(request_id, headers), LocalLambdaContext(function_name="api"))
    assert response["statusCode"] == 200
    assert response["headers"][HEADER.lower()] == expected


def test_a_request_id_that_is_no_sane_token_gives_a_new_one(context):
    handler = Mangum(create_app(context), lifespan="off")
    event = _gateway_event("id with spaces")
    response = handler(event, LocalLambdaContext(function_name="api"))
    assert NEW_ID.fullmatch(response["headers"][HEADER.lower()])
