"""``miner.enrolment.platform``: the API URL, sign-in, and every way the platform can fail."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from miner.enrolment.bundle import CertificateBundle
from miner.enrolment.errors import EnrollInputError, PlatformError
from miner.enrolment.flow import enroll
from miner.enrolment.platform import PlatformApi, normalize_api_url
from tests.api_client import token_for
from tests.factories import NOW, PROVIDER
from tests.unit.miner.enrolment.support import (
    API,
    AppTransport,
    Canned,
    run_cli,
    session_with,
)


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("https://platform.test", "https://platform.test"),
        ("https://platform.test/", "https://platform.test"),
        ("https://platform.test/api/", "https://platform.test"),
        ("http://localhost:8000", "http://localhost:8000"),
        (" https://cdn.test/prod ", "https://cdn.test/prod"),
    ],
)
def test_api_urls_are_normalized(url, base):
    assert normalize_api_url(url) == base


@pytest.mark.parametrize(
    "url",
    [
        "platform.test",
        "ftp://platform.test",
        "https://",
        "https://h/?q=1",
        "https://u:p@h",
        "http://h:x",
    ],
)
def test_bad_api_urls_are_refused(url):
    with pytest.raises(EnrollInputError, match="--api"):
        normalize_api_url(url)


def test_a_bad_token_is_a_clear_401(session, bundle_dir):
    with pytest.raises(PlatformError) as caught:
        enroll(API, token="nonsense", name="a", bundle_dir=bundle_dir, session=session)
    assert caught.value.status == 401
    assert "the platform refused the token: it is invalid or expired" in str(caught.value)
    assert not CertificateBundle.exists(bundle_dir)

    code, out, err = run_cli(
        "--api", API, "--token", token_for(PROVIDER, now=NOW - 10**6), "--dir", str(bundle_dir),
        session=session,
    )  # fmt: skip
    assert (code, out) == (1, "")
    assert err.startswith("xenblocks-miner enroll: the platform refused the token")
    assert "Traceback" not in err


def test_a_refused_signature_is_a_clear_401(client, wallet_hex, bundle_dir):
    def tamper(method: str, path: str, body: Any) -> Any:
        if path == "/api/auth/nonce":
            body["message"] = body["message"].replace("Sign in to", "Log in to")
        return body

    session = session_with(AppTransport(client, rewrite=tamper))
    with pytest.raises(PlatformError) as caught:
        enroll(API, wallet_key=wallet_hex, name="a", bundle_dir=bundle_dir, session=session)
    assert caught.value.status == 401
    assert str(caught.value) == (
        "the platform refused the wallet's signature "
        "(the signature does not match this address's sign-in message)"
    )


def test_the_wallet_never_signs_anything_but_a_sign_in_for_itself(client, wallet_hex, bundle_dir):
    def hostile(method: str, path: str, body: Any) -> Any:
        if path == "/api/auth/nonce":
            body["message"] = "Transfer everything to 0xBAD"
        return body

    transport = AppTransport(client, rewrite=hostile)
    with pytest.raises(PlatformError, match="not signing it"):
        enroll(
            API, wallet_key=wallet_hex, name="a", bundle_dir=bundle_dir,
            session=session_with(transport),
        )  # fmt: skip
    assert [path for _, path in transport.sent] == ["/api/auth/nonce"]


def test_the_apis_own_error_message_is_surfaced(session):
    api = PlatformApi(API, session=session)
    with pytest.raises(PlatformError) as caught:
        api.enrol(token_for(PROVIDER), "not a csr", "a")
    assert caught.value.status == 422
    assert caught.value.code == "invalid_input"
    assert str(caught.value) == (
        "enrolling the rig failed: the platform refused (HTTP 422, invalid_input): "
        "csr_pem is not a PEM certificate request"
    )


def test_a_4xx_error_body_is_surfaced_through_the_cli(bundle_dir):
    body = {"error": {"code": "conflict", "message": "enrolment is closed for maintenance"}}
    canned = Canned(409, json.dumps(body).encode(), {"Content-Type": "application/json"})
    code, _, err = run_cli(
        "--api", API, "--token", "t", "--dir", str(bundle_dir), session=session_with(canned)
    )
    assert code == 1
    assert err == (
        "xenblocks-miner enroll: checking the token failed: the platform refused "
        "(HTTP 409, conflict): enrolment is closed for maintenance\n"
    )


@pytest.mark.parametrize(
    ("adapter", "message"),
    [
        (
            Canned(raises=requests.ConnectionError("refused")),
            "cannot reach the platform API at https://platform.test (refused); check --api",
        ),
        (
            Canned(raises=requests.ConnectTimeout("slow")),
            "the platform API at https://platform.test did not answer in time",
        ),
        (
            Canned(200, b"<html>a dashboard</html>", {"Content-Type": "text/html"}),
            "unexpected answer from https://platform.test/api/auth/me (HTTP 200); "
            "is --api the platform API's URL?",
        ),
        (
            Canned(502, b"<html>Bad Gateway</html>"),
            "unexpected answer from https://platform.test/api/auth/me (HTTP 502)",
        ),
        (
            Canned(500, b'{"error": {"code": "internal_error", "message": "logged"}}'),
            "the platform failed (HTTP 500, internal_error): logged",
        ),
        (
            Canned(301, b"", {"Location": "https://www.platform.test/api/auth/me"}),
            "the API redirects to https://www.platform.test/api/auth/me; use that as --api",
        ),
        (Canned(200, b'{"address": ""}'), "unexpected answer"),
    ],
)
def test_network_and_unexpected_answers_are_one_line_failures(adapter, message, bundle_dir):
    code, out, err = run_cli(
        "--api", API, "--token", "t", "--dir", str(bundle_dir), session=session_with(adapter)
    )
    assert (code, out) == (1, "")
    assert message in err
    assert err.count("\n") == 1
    assert not CertificateBundle.exists(bundle_dir)


def test_urllib3_connection_errors_read_well():
    from urllib3.exceptions import MaxRetryError, NewConnectionError

    class Connection:
        def __str__(self) -> str:
            return "HTTPSConnection(host='x', port=443)"

    inner = NewConnectionError(
        Connection(),  # type: ignore[arg-type]
        "Failed to establish a new connection: [Errno 111] Connection refused",
    )
    error = requests.ConnectionError(MaxRetryError(None, "/api", inner))  # type: ignore[arg-type]
    session = session_with(Canned(raises=error))
    with pytest.raises(PlatformError) as caught:
        PlatformApi(API, session=session).whoami("t")
    assert "(Failed to establish a new connection: [Errno 111] Connection refused)" in str(
        caught.value
    )
