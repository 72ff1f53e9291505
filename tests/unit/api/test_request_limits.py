"""Request limits before routing: oversized and deeply nested bodies get the one error
format, and the process (and the next request) carries on."""

from __future__ import annotations

import pytest

from functions.api.limits import MAX_BODY_BYTES
from protocol.jsonlimits import MAX_JSON_DEPTH
from tests.wallet import Wallet

# The finding: 100,000 nested arrays (200 KB) where the address goes, unauthenticated.
CRASH_BODY = b'{"address": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
# Under the size cap, still far deeper than any message of ours.
DEEP_BODY = b'{"address": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/api/auth/verify", CRASH_BODY, 413, "payload_too_large"),
        ("/api/auth/verify", DEEP_BODY, 422, "invalid_input"),
        ("/api/leases", DEEP_BODY, 422, "invalid_input"),
        (
            "/api/devices",
            b'{"csr_pem": "' + b"A" * (MAX_BODY_BYTES + 1) + b'"}',
            413,
            "payload_too_large",
        ),
    ],
)
def test_hostile_bodies_are_refused_before_any_parser(client, path, body, status, code):
    response = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert_error(response, status, code)
    # The process is alive and the next request is served.
    assert client.get("/api/health").json()["status"] == "ok"


def test_a_declared_length_over_the_cap_is_refused_unread(client):
    """A 50 MB body is refused from its Content-Length (over a real socket, the e2e test
    shows the answer comes before the body is sent)."""

    def body():
        for _ in range(50):
            yield b"[" * (1 << 20)

    response = client.post(
        "/api/auth/verify",
        content=body(),
        headers={"Content-Type": "application/json", "Content-Length": str(50 << 20)},
    )
    assert_error(response, 413, "payload_too_large")


def test_a_chunked_body_is_cut_off_at_the_cap(client):
    def body():
        for _ in range(10):
            yield b" " * (MAX_BODY_BYTES // 4)

    response = client.post(
        "/api/auth/verify", content=body(), headers={"Content-Type": "application/json"}
    )
    assert_error(response, 413, "payload_too_large")


def test_nesting_at_the_limit_reaches_the_route(client):
    """The limit refuses only what no message of ours needs: at the limit, the route's own
    validation answers."""
    nested = b"[" * (MAX_JSON_DEPTH - 1) + b"]" * (MAX_JSON_DEPTH - 1)
    response = client.post(
        "/api/auth/verify",
        content=b'{"address": ' + nested + b', "signature": "0x00"}',
        headers={"Content-Type": "application/json"},
    )
    assert_error(response, 422, "invalid_input")
    assert "address" in response.json()["error"]["message"]


def test_an_ordinary_sign_in_still_works(client):
    wallet = Wallet.numbered(7)
    assert wallet.sign_in(client)
