"""The urllib sender's retry policy and the signature, with a scripted opener (no sockets)."""

from __future__ import annotations

import hashlib
import hmac
import io
import urllib.error
from contextlib import contextmanager

import pytest

from functions.ports.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    UrllibWebhookSender,
    sign,
    verify,
)

URL = "https://hooks.example.com/x"
SECRET = "whsec_test"
BODY = b'{"type":"alert"}'


class ScriptedOpener:
    """Answers each request with the next status, or raises the next exception."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests = []

    @contextmanager
    def _response(self, status):
        yield type("Response", (), {"status": status})()

    def open(self, request, timeout):
        self.requests.append((request, timeout))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if answer >= 400:
            raise urllib.error.HTTPError(request.full_url, answer, "no", {}, io.BytesIO())
        return self._response(answer)


def sender_with(*answers, attempts=3):
    opener = ScriptedOpener(*answers)
    sleeps = []
    sender = UrllibWebhookSender(
        timeout_seconds=2.5, attempts=attempts, sleep=sleeps.append, opener=opener
    )
    return sender, opener, sleeps


def test_sign_is_hmac_sha256_of_timestamp_dot_body():
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, 1_700_000_000, BODY) == f"sha256={expected}"


def test_verify_refuses_tampering_other_secrets_and_stale_timestamps():
    header = sign(SECRET, 1000, BODY)
    assert verify(SECRET, "1000", BODY, header, now=1000)
    assert verify(SECRET, "1000", BODY, header, now=1300)
    assert not verify(SECRET, "1000", BODY, header, now=1301)  # a replay, later
    assert not verify(SECRET, "1000", BODY + b" ", header, now=1000)
    assert not verify("whsec_other", "1000", BODY, header, now=1000)
    assert not verify(SECRET, "1001", BODY, header, now=1000)
    assert not verify(SECRET, "x", BODY, header, now=1000)


def test_a_delivery_carries_the_signature_headers_and_the_timeout():
    sender, opener, sleeps = sender_with(204)
    result = sender.send(URL, SECRET, BODY, timestamp=1234)
    assert (result.ok, result.attempts, result.status) == (True, 1, 204)
    ((request, timeout),) = opener.requests
    assert timeout == 2.5
    assert request.get_method() == "POST"
    assert request.data == BODY
    headers = {k.lower(): v for k, v in request.header_items()}
    assert headers[TIMESTAMP_HEADER.lower()] == "1234"
    assert headers[SIGNATURE_HEADER.lower()] == sign(SECRET, 1234, BODY)
    assert headers["content-type"] == "application/json"
    assert sleeps == []


def test_server_errors_and_timeouts_are_retried_with_exponential_backoff():
    sender, _, sleeps = sender_with(503, urllib.error.URLError("timed out"), 200)
    result = sender.send(URL, SECRET, BODY, timestamp=1)
    assert (result.ok, result.attempts) == (True, 3)
    assert sleeps == [1.0, 2.0]


def test_it_gives_up_after_the_attempts_with_the_last_error():
    sender, opener, sleeps = sender_with(500, 502, 500, attempts=3)
    result = sender.send(URL, SECRET, BODY, timestamp=1)
    assert (result.ok, result.attempts, result.status, result.error) == (
        False,
        3,
        500,
        "HTTP 500",
    )
    assert len(opener.requests) == 3
    assert sleeps == [1.0, 2.0]


@pytest.mark.parametrize("status", [400, 401, 404, 410, 302])
def test_a_refusal_is_not_retried(status):
    sender, _, sleeps = sender_with(status)
    result = sender.send(URL, SECRET, BODY, timestamp=1)
    assert (result.ok, result.attempts, result.status) == (False, 1, status)
    assert sleeps == []


def test_only_http_urls_are_ever_opened():
    sender, opener, _ = sender_with()
    result = sender.send("file:///etc/passwd", SECRET, BODY, timestamp=1)
    assert (result.ok, result.attempts) == (False, 0)
    assert opener.requests == []


def test_timeout_and_attempts_come_from_the_settings(settings):
    opener = ScriptedOpener(500, 500)
    tuned = settings.model_copy(update={"webhook_attempts": 2, "webhook_timeout_seconds": 0.5})
    sender = UrllibWebhookSender.from_settings(tuned)
    sender._opener = opener
    sender._sleep = lambda seconds: None
    assert sender.send(URL, SECRET, BODY, timestamp=1).attempts == 2
    assert [timeout for _, timeout in opener.requests] == [0.5, 0.5]
    with pytest.raises(ValueError, match="attempts"):
        UrllibWebhookSender(timeout_seconds=1, attempts=0)
