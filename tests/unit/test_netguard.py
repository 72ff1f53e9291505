"""Host canonicalisation and the public-address rule shared by webhook checks and delivery."""

# ruff: noqa: S104 (0.0.0.0 is an address these rules must read and refuse, not a bind)

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import pytest

from functions.netguard import (
    HostRefused,
    canonical_host,
    is_internal_name,
    is_public_address,
    url_host,
)


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("0x", "0.0.0.0"),
        ("127.0.0.1.", "127.0.0.1"),
        ("169.254.43518", "169.254.169.254"),
        ("10.0x10203", "10.1.2.3"),
        ("\uff11\uff12\uff17.\uff10.\uff10.\uff11", "127.0.0.1"),
        ("4294967295", "255.255.255.255"),
    ],
)
def test_numeric_hosts_read_as_inet_aton_reads_them(host, address):
    canonical = canonical_host(host)
    assert canonical.address == ipaddress.IPv4Address(address)
    assert canonical.name == address


@pytest.mark.parametrize(
    "host",
    ["4294967296", "256.0.0.1", "1.2.3.4.5", "1.256.0", "08", "0x1g.0.0.1", "a.1", "1..1", ""],
)
def test_numeric_hosts_that_are_not_addresses_are_refused(host):
    with pytest.raises(HostRefused):
        canonical_host(host)


@pytest.mark.parametrize(
    ("host", "name"),
    [
        ("Hooks.Example.COM.", "hooks.example.com"),
        ("b\u00fccher.example", "xn--bcher-kva.example"),
        ("1password.com", "1password.com"),
        ("123.example.com", "123.example.com"),
    ],
)
def test_names_are_idna_lowercase_without_the_trailing_dot(host, name):
    assert canonical_host(host).name == name
    assert canonical_host(host).address is None


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("https://[::ffff:127.0.0.1]/", "::ffff:7f00:1"),
        ("https://[0:0:0:0:0:0:0:1]:80/", "::1"),
        ("https://u@[2606:2800:220:1:248:1893:25c8:1946]/", "2606:2800:220:1:248:1893:25c8:1946"),
    ],
)
def test_bracketed_hosts_are_ipv6_addresses(url, address):
    assert url_host(urlsplit(url)).address == ipaddress.IPv6Address(address)


@pytest.mark.parametrize("url", ["https://[fe80::1%25eth0]/", "https://[v1.x]/", "https:///x"])
def test_zone_ids_future_addresses_and_missing_hosts_are_refused(url):
    with pytest.raises(HostRefused):
        url_host(urlsplit(url))


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("1.1.1.1", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.31.255.255", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("0.1.2.3", False),
        ("224.0.0.251", False),
        ("239.255.255.250", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("192.0.0.170", False),
        ("192.88.99.1", False),
        ("198.19.0.1", False),
        ("203.0.113.1", False),
        ("2606:4700:4700::1111", True),
        ("64:ff9b::101:101", True),  # NAT64 of 1.1.1.1
        ("2002:101:101::1", True),  # 6to4 of 1.1.1.1
        ("::1", False),
        ("::", False),
        ("::ffff:8.8.8.8", False),  # mapped: never, whatever it embeds
        ("::ffff:127.0.0.1", False),
        ("::127.0.0.1", False),
        ("64:ff9b::7f00:1", False),
        ("64:ff9b::a9fe:a9fe", False),
        ("64:ff9b:1::101:101", False),  # local-use NAT64
        ("2002:7f00:1::", False),
        ("2002:c0a8:101::", False),
        ("2001::1", False),  # Teredo
        ("2001:db8::1", False),
        ("3fff::1", False),
        ("fc00::1", False),
        ("fd00:ec2::254", False),
        ("fe80::1", False),
        ("fe80::1%eth0", False),
        ("fec0::1", False),
        ("ff0e::1", False),
        ("100::1", False),
    ],
)
def test_only_globally_routable_addresses_are_public(address, public):
    assert is_public_address(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize(
    ("name", "internal"),
    [
        ("localhost", True),
        ("a.localhost", True),
        ("metadata.google.internal", True),
        ("printer.local", True),
        ("nas.home.arpa", True),
        ("intranet", True),
        ("hooks.example.com", False),
    ],
)
def test_internal_names_by_their_form(name, internal):
    assert is_internal_name(name) is internal
