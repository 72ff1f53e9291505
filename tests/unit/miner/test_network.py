"""The XenBlocks network client, against a scripted adapter mounted on a real Session."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from miner.network import (
    NetworkError,
    SubmitResult,
    XenBlocksNetwork,
    difficulty_in_message,
    parse_difficulty,
    parse_retry_after,
    validate_base_url,
    verify_body,
)
from protocol.addresses import salt_bytes
from protocol.uplink import NetworkStatus
from protocol.xenblocks import argon2_raw

BASE = "http://node.test"
ACCOUNT = "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"
KEY = "0123456789abcdef" * 4


def reply(
    status: int = 200, body: str | bytes = "", headers: Mapping[str, str] | None = None
) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body.encode() if isinstance(body, str) else body
    response.headers = CaseInsensitiveDict(headers or {})
    response.encoding = "utf-8"
    return response


class Script(BaseAdapter):
    """Answers each request with the next scripted response, or raises the next error."""

    def __init__(self, *answers: requests.Response | Exception) -> None:
        super().__init__()
        self.answers = list(answers)
        self.requests: list[requests.PreparedRequest] = []
        self.kwargs: list[dict[str, Any]] = []

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        self.requests.append(request)
        self.kwargs.append(kwargs)
        if not self.answers:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        answer.request = request
        answer.url = request.url or ""
        return answer

    def close(self) -> None:
        pass


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(
    *answers: requests.Response | Exception, **options: Any
) -> tuple[XenBlocksNetwork, Script, Sleeps]:
    script = Script(*answers)
    session = requests.Session()
    session.mount("http://", script)
    session.mount("https://", script)
    sleeps = Sleeps()
    options.setdefault("rand", lambda: 1.0)
    network = XenBlocksNetwork(BASE, session=session, sleep=sleeps, **options)
    return network, script, sleeps


def submit(network: XenBlocksNetwork, **overrides: Any) -> SubmitResult:
    salt = salt_bytes(ACCOUNT)
    arguments: dict[str, Any] = {
        "hash_raw": argon2_raw(KEY, salt, 8),
        "salt": salt,
        "difficulty": 8,
        "key": KEY,
        "account": ACCOUNT,
        "attempts": 12_345,
        "hashes_per_second": 1212.5,
        "worker": "rig-1",
    }
    arguments.update(overrides)
    return network.submit_block(**arguments)


# -- difficulty ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"difficulty": "1727"}', 1727),
        ('{"difficulty": 1727}', 1727),
        ('{"difficulty": " 64000 "}', 64000),
        ('{"difficulty": 1727.0}', 1727),
        ("1727", 1727),
        ('"1727"', 1727),
        ("  8\n", 8),
    ],
)
def test_difficulty_variants(body: str, expected: int) -> None:
    network, script, _ = client(reply(200, body))

    assert network.difficulty() == expected
    [request] = script.requests
    assert (request.method, request.url) == ("GET", f"{BASE}/difficulty")
    assert script.kwargs[0]["timeout"] == 10


@pytest.mark.parametrize(
    "body",
    [
        '{"difficulty": "0"}',
        '{"difficulty": 7}',
        '{"difficulty": -5}',
        '{"difficulty": "abc"}',
        '{"difficulty": true}',
        '{"difficulty": 17.5}',
        '{"difficulty": null}',
        '{"other": 1727}',
        "[1727]",
        "<html>Bad gateway</html>",
        "",
        '{"difficulty": "99999999999"}',
        '{"difficulty": "١٧٢٧"}',  # digits, but not ASCII ones
    ],
)
def test_bad_difficulty_answers_are_network_errors(body: str) -> None:
    network, _, _ = client(reply(200, body))

    with pytest.raises(NetworkError, match="difficulty"):
        network.difficulty()


def test_difficulty_4xx_is_an_error_without_retry() -> None:
    network, script, sleeps = client(reply(404, "Not Found"))

    with pytest.raises(NetworkError, match="HTTP 404"):
        network.difficulty()
    assert len(script.requests) == 1
    assert sleeps == []


def test_difficulty_retries_then_succeeds() -> None:
    network, script, sleeps = client(
        requests.ConnectionError("refused"),
        requests.Timeout("slow"),
        reply(503, "busy"),
        reply(200, '{"difficulty": "1800"}'),
        backoff=1.0,
    )

    assert network.difficulty() == 1800
    assert len(script.requests) == 4
    assert sleeps == [1.0, 2.0, 4.0]


# -- retries ------------------------------------------------------------------------------


def test_backoff_has_jitter_and_a_cap() -> None:
    network, _, sleeps = client(
        *[reply(500, "oops")] * 6, rand=lambda: 0.0, backoff=2.0, max_backoff=10.0
    )

    with pytest.raises(NetworkError):
        network.difficulty()
    # Half of 2, 4, 8, then the cap of 10 (rand() = 0 is the least jitter allows).
    assert sleeps == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_retry_after_seconds_is_respected() -> None:
    network, _, sleeps = client(
        reply(429, "slow down", {"Retry-After": "30"}),
        reply(200, '{"message": "ok"}'),
    )

    assert submit(network).accepted
    assert sleeps == [30.0]


def test_retry_after_is_capped_and_never_shortens_the_backoff() -> None:
    network, _, sleeps = client(
        reply(503, "", {"Retry-After": "86400"}),
        reply(503, "", {"Retry-After": "0"}),
        reply(200, "{}"),
        backoff=4.0,
        max_retry_after=120.0,
    )

    assert submit(network).accepted
    assert sleeps == [120.0, 8.0]


def test_parse_retry_after() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("17") == 17.0
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:45 GMT", now) == 45.0
    assert parse_retry_after("Wed, 01 Jan 2025 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-3") is None


def test_exhausted_retries_raise_network_error() -> None:
    network, script, sleeps = client(
        *[requests.ConnectionError("connection refused")] * 3, retries=2
    )

    with pytest.raises(NetworkError, match=r"after 3 attempt\(s\).*connection refused"):
        submit(network)
    assert len(script.requests) == 3
    assert len(sleeps) == 2


def test_no_retries_means_one_attempt() -> None:
    network, script, sleeps = client(reply(502, "bad gateway"), retries=0)

    with pytest.raises(NetworkError, match="HTTP 502: bad gateway"):
        submit(network)
    assert (len(script.requests), sleeps) == (1, [])


def test_a_non_transient_request_error_is_not_retried() -> None:
    network, script, sleeps = client(requests.TooManyRedirects("loop"))

    with pytest.raises(NetworkError, match="loop"):
        network.difficulty()
    assert (len(script.requests), sleeps) == (1, [])


# -- submit -------------------------------------------------------------------------------


def test_submit_sends_the_exact_body() -> None:
    network, script, _ = client(reply(200, '{"message": "Hash verified successfully"}'))

    result = submit(network)

    assert result == SubmitResult(accepted=True, status=200, message="Hash verified successfully")
    [request] = script.requests
    assert (request.method, request.url) == ("POST", f"{BASE}/verify")
    assert request.headers["Content-Type"] == "application/json"
    assert script.kwargs[0]["timeout"] == 10
    raw = argon2_raw(KEY, salt_bytes(ACCOUNT), 8)
    salt_b64 = base64.b64encode(salt_bytes(ACCOUNT)).decode().rstrip("=")
    hash_b64 = base64.b64encode(raw).decode().rstrip("=")
    assert request.body is not None
    assert json.loads(request.body) == {
        "hash_to_verify": f"$argon2id$v=19$m=8,t=1,p=1${salt_b64}${hash_b64}",
        "key": KEY,
        "account": ACCOUNT,
        "attempts": 12_345,
        "hashes_per_second": 1212.5,
        "worker": "rig-1",
    }


def test_submit_keeps_a_text_answer() -> None:
    network, _, _ = client(reply(200, "Block   accepted\n"))

    assert submit(network) == SubmitResult(True, 200, "Block accepted")


def test_final_400_is_a_rejection_without_retry() -> None:
    network, script, sleeps = client(reply(400, '{"message": "Hash already verified"}'))

    result = submit(network)
    assert result == SubmitResult(False, 400, "Hash already verified")
    assert (result.refused, result.duplicate, result.verdict) == (
        True,
        False,
        NetworkStatus.REFUSED,
    )
    assert (len(script.requests), sleeps) == (1, [])


@pytest.mark.parametrize(
    "body",
    [
        '{"message": "Block already exists, continue"}',
        "block already exists",
        '{"error": "Block already exists"}',
    ],
)
def test_block_already_exists_is_a_duplicate_counted_as_accepted(body: str) -> None:
    # After a retry whose first answer was lost, the node already holds the block.
    network, script, _ = client(reply(503, "busy"), reply(400, body))

    result = submit(network)
    assert (result.accepted, result.duplicate, result.refused) == (True, True, False)
    assert result.status == 400
    assert result.verdict is NetworkStatus.DUPLICATE
    assert result.network_difficulty is None
    assert len(script.requests) == 2


def test_an_accepted_block_is_no_duplicate() -> None:
    network, _, _ = client(reply(200, '{"message": "Hash verified successfully"}'))

    result = submit(network)
    assert (result.duplicate, result.verdict) == (False, NetworkStatus.ACCEPTED)


def test_a_401_for_the_memory_cost_names_the_network_difficulty() -> None:
    message = (
        "Hash does not contain 'm=37000'. Your memory_cost setting in your miner will be "
        "autoadjusted."
    )
    network, _, _ = client(
        reply(401, json.dumps({"message": message})),
        reply(401, '{"message": "XUNI Submitted outside of proper time frame."}'),
    )

    low = submit(network)
    assert (low.accepted, low.status, low.message) == (False, 401, message)
    assert low.verdict is NetworkStatus.REFUSED
    assert low.network_difficulty == 37000
    assert submit(network).network_difficulty is None


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Hash does not contain 'm=1727'.", 1727),
        ("m=7 is too small", None),
        ("m=99999999999", None),
        ("no memory cost here", None),
        ("xm=1727", None),
    ],
)
def test_difficulty_in_message(message: str, expected: int | None) -> None:
    assert difficulty_in_message(message) == expected


def test_rejection_message_falls_back_to_error_or_json() -> None:
    network, _, _ = client(reply(422, '{"error": "bad key"}'), reply(400, '["x"]'))

    assert submit(network).message == "bad key"
    assert submit(network).message == '["x"]'


def test_long_answers_are_truncated() -> None:
    network, _, _ = client(reply(400, "x" * 5000))

    assert len(submit(network).message) == 512


def test_submit_retries_server_errors_then_gets_accepted() -> None:
    network, script, sleeps = client(
        reply(500, "internal"),
        requests.exceptions.ReadTimeout("read timed out"),
        reply(200, '{"message": "saved"}'),
    )

    assert submit(network) == SubmitResult(True, 200, "saved")
    assert len(script.requests) == 3
    assert len(sleeps) == 2
    # Each retry sends the same body.
    assert len({request.body for request in script.requests}) == 1


@pytest.mark.parametrize(
    ("status", "headers"), [(404, {}), (405, {}), (301, {"Location": "https://node.test/verify"})]
)
def test_wrong_endpoint_is_an_error_not_a_rejection(status: int, headers: dict[str, str]) -> None:
    network, script, _ = client(reply(status, "nope", headers))

    with pytest.raises(NetworkError, match=f"HTTP {status}"):
        submit(network)
    assert len(script.requests) == 1  # a redirect is not followed


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ({"hash_raw": b"short"}, "hash_raw"),
        ({"salt": b""}, "salt"),
        ({"difficulty": 7}, "difficulty"),
        ({"difficulty": True}, "difficulty"),
        ({"key": "not-hex"}, "key"),
        ({"key": ""}, "key"),
        ({"account": ""}, "account"),
        ({"attempts": -1}, "attempts"),
        ({"hashes_per_second": float("nan")}, "hashes_per_second"),
        ({"hashes_per_second": -1.0}, "hashes_per_second"),
    ],
)
def test_bad_submissions_are_refused_before_sending(override: dict[str, Any], match: str) -> None:
    network, script, _ = client()

    with pytest.raises(ValueError, match=match):
        submit(network, **override)
    assert script.requests == []


def test_verify_body_matches_the_network_form() -> None:
    salt = salt_bytes(ACCOUNT)
    body = verify_body(
        hash_raw=bytes(64),
        salt=salt,
        difficulty=1727,
        key=KEY,
        account=ACCOUNT,
        attempts=0,
        hashes_per_second=0,
        worker="w",
    )
    assert body["hash_to_verify"].startswith("$argon2id$v=19$m=1727,t=1,p=1$")
    assert body["hashes_per_second"] == 0.0
    assert isinstance(body["hashes_per_second"], float)


# -- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://xenblocks.io", "http://xenblocks.io"),
        ("https://xenblocks.io/", "https://xenblocks.io"),
        ("  http://127.0.0.1:5000/api/ ", "http://127.0.0.1:5000/api"),
    ],
)
def test_base_url_is_normalised(url: str, expected: str) -> None:
    assert validate_base_url(url) == expected


@pytest.mark.parametrize(
    "url", ["ftp://xenblocks.io", "xenblocks.io", "http://", "", "http://h/?a=1", "http://h/#x"]
)
def test_bad_base_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="XenBlocks node URL"):
        XenBlocksNetwork(url)


def test_urls_are_built_under_a_path_prefix() -> None:
    script = Script(reply(200, '{"difficulty": 8}'))
    session = requests.Session()
    session.mount("https://", script)

    network = XenBlocksNetwork("https://node.test/api/", session=session)

    assert network.difficulty() == 8
    assert script.requests[0].url == "https://node.test/api/difficulty"


def test_own_session_is_closed_and_a_given_one_is_not() -> None:
    owned = XenBlocksNetwork(BASE)
    assert str(owned.session.headers["User-Agent"]).startswith("xenblocks-platform-miner/")
    owned.close()

    given = requests.Session()
    closed: list[bool] = []
    given.close = lambda: closed.append(True)  # type: ignore[method-assign]
    with XenBlocksNetwork(BASE, session=given):
        pass
    assert closed == []


def test_parse_difficulty_names_the_source() -> None:
    with pytest.raises(NetworkError, match="http://x/difficulty answered no difficulty"):
        parse_difficulty("{}", "http://x/difficulty")
