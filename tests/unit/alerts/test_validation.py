"""Rule input checks, without tables: threshold ranges per kind and webhook URLs."""

from __future__ import annotations

import pytest

from functions.errors import InvalidInput
from functions.logic.alert_rules import (
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
    "url",
    [
        # IPv4 loopback in every form a resolver (inet_aton) reads as 127.0.0.1, and 0
        "https://2130706433:8443/x",
        "https://0x7f000001:8443/x",
        "https://0177.0.0.1:8443/x",
        "https://127.1:8443/x",
        "https://0:8443/x",
        "https://0x7F.0.0.1/x",
        "https://0x7f.1/x",
        "https://127.0.0.1./x",  # trailing dot
        "https://\uff11\uff12\uff17.\uff10.\uff10.\uff11/x",  # fullwidth digits (IDNA → ASCII)
        "https://127.0.0.1\u3002/x",  # ideographic full stop
        "https://0.0.0.0/x",
        "https://017700000001/x",
        # other non-public IPv4 blocks
        "https://100.64.0.1/x",  # CGNAT
        "https://192.168.1.1/x",
        "https://172.16.0.1/x",
        "https://224.0.0.1/x",  # multicast
        "https://240.0.0.1/x",  # reserved
        "https://255.255.255.255/x",
        "https://198.18.0.1/x",
        "https://192.0.2.1/x",
        # IPv6: loopback, mapped / compatible / NAT64 / 6to4 / Teredo embedding, zones
        "https://[::1]/x",
        "https://[::]/x",
        "https://[::ffff:127.0.0.1]/x",
        "https://[::ffff:7f00:1]/x",
        "https://[::FFFF:7F00:1]/x",
        "https://[::ffff:a9fe:a9fe]/x",
        "https://[::127.0.0.1]/x",
        "https://[::8.8.8.8]/x",
        "https://[64:ff9b::7f00:1]/x",
        "https://[64:ff9b::10.0.0.1]/x",
        "https://[2002:7f00:1::1]/x",  # 6to4 of 127.0.0.1
        "https://[2002:a9fe:a9fe::]/x",  # 6to4 of 169.254.169.254
        "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/x",  # Teredo
        "https://[fe80::1%25eth0]/x",
        "https://[fe80::1]/x",
        "https://[fd00:ec2::254]/x",  # the IPv6 instance metadata address
        "https://[fc00::1]/x",
        "https://[fec0::1]/x",
        "https://[ff02::1]/x",
        "https://[2001:db8::1]/x",
        # numeric hosts that are not addresses, and other malformed hosts
        "https://256.0.0.1/x",
        "https://1.2.3.4.5/x",
        "https://4294967296/x",
        "https://08.0.0.1/x",
        "https://0x1g.0.0.1/x",
        "https://foo.123/x",
        "https://%31%32%37.0.0.1/x",
        "https://[v1.127.0.0.1]/x",
        "https://[::1/x",
        "https://a..b.example.com/x",
        "https://exa mple.com/x",
        # names that are internal by their form
        "https://localhost./x",
        "https://LOCALHOST/x",
        "https://api.localhost/x",
        "https://intranet/x",  # single label: completed by the resolver's search domains
        "https://router.home.arpa/x",
        "https://1.0.0.127.in-addr.arpa/x",
    ],
)
def test_every_spelling_of_a_non_public_address_is_refused(url):
    with pytest.raises(InvalidInput, match="webhook_url"):
        validate_webhook_url(url, local=False)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/x?k=v",
        "https://93.184.216.34:8443/hook",
        "https://HOOKS.Example.COM./x",
        "https://b\u00fccher.example/hook",
        "https://a_b.example.com/hook",
        "https://[2606:2800:220:1:248:1893:25c8:1946]/hook",
        "https://[64:ff9b::5db8:d822]/hook",  # NAT64 of a public address
        "https://[2002:5db8:d822::1]/hook",  # 6to4 of a public address
        "https://1.1.1.1/hook",
        "https://16843009/hook",  # 1.1.1.1 as one number: odd, but public
    ],
)
def test_public_https_webhooks_are_accepted(url):
    assert validate_webhook_url(url, local=False) == url


def test_the_local_stage_also_allows_http_to_private_hosts():
    for url in ("http://127.0.0.1:9000/h", "http://localhost:9000/h", "http://[::1]:9000/h"):
        assert validate_webhook_url(url, local=True) == url
    for url in ("ftp://127.0.0.1/x", "http://1.2.3.4.5/x", "http://[fe80::1%25lo]/x"):
        with pytest.raises(InvalidInput):
            validate_webhook_url(url, local=True)


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
