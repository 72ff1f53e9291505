"""Rule input checks, without tables: threshold ranges per kind and webhook URLs."""

from __future__ import annotations

import pytest

from functions.errors import InvalidInput
from functions.logic.alerts import (
    validate_cooldown,
    validate_name,
    validate_threshold,
    validate_webhook_url,
)
from functions.models.alerts import AlertKind


@pytest.mark.parametrize(
    ("kind", "threshold", "ok"),
    [
        (AlertKind.OFFLINE, 1, True),
        (AlertKind.OFFLINE, 1440, True),
        (AlertKind.OFFLINE, 0.5, False),
        (AlertKind.OFFLINE, 1441, False),
        (AlertKind.HASHRATE_DROP, 1, True),
        (AlertKind.HASHRATE_DROP, 99, True),
        (AlertKind.HASHRATE_DROP, 0, False),
        (AlertKind.HASHRATE_DROP, 100, False),
        (AlertKind.TEMPERATURE, 30, True),
        (AlertKind.TEMPERATURE, 120, True),
        (AlertKind.TEMPERATURE, 29.9, False),
        (AlertKind.TEMPERATURE, 121, False),
        (AlertKind.TEMPERATURE, float("nan"), False),
    ],
)
def test_thresholds_are_validated_per_kind(kind, threshold, ok):
    if ok:
        assert validate_threshold(kind, threshold) == threshold
    else:
        with pytest.raises(InvalidInput, match="threshold"):
            validate_threshold(kind, threshold)


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/x",  # https only outside the local stage
        "ftp://hooks.example.com/x",
        "file:///etc/passwd",
        "https://",
        "https://user:pw@hooks.example.com/x",
        "https://127.0.0.1/x",
        "https://10.1.2.3/x",
        "https://169.254.169.254/latest",
        "https://[::1]/x",
        "https://localhost:8443/x",
        "https://metadata.google.internal/x",
        "https://hooks.example.com:99999/x",
        "https://hooks.example.com/a b",
        "https://hooks.example.com/\x00",
        "https://hooks.example.com/" + "x" * 2048,
        "not a url",
    ],
)
def test_deployed_webhooks_must_be_public_https(url):
    with pytest.raises(InvalidInput, match="webhook_url"):
        validate_webhook_url(url, local=False)


@pytest.mark.parametrize(
    "url", ["https://hooks.example.com/x?k=v", "https://93.184.216.34:8443/hook"]
)
def test_public_https_webhooks_are_accepted(url):
    assert validate_webhook_url(url, local=False) == url


def test_the_local_stage_also_allows_http_to_private_hosts():
    assert validate_webhook_url("http://127.0.0.1:9000/h", local=True) == "http://127.0.0.1:9000/h"
    with pytest.raises(InvalidInput):
        validate_webhook_url("ftp://127.0.0.1/x", local=True)


@pytest.mark.parametrize(
    ("seconds", "ok"), [(59, False), (60, True), (604_800, True), (604_801, False)]
)
def test_cooldown_bounds(seconds, ok):
    if ok:
        assert validate_cooldown(seconds) == seconds
    else:
        with pytest.raises(InvalidInput):
            validate_cooldown(seconds)


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "tab\there"])
def test_names_must_be_short_and_printable(name):
    with pytest.raises(InvalidInput):
        validate_name(name)
