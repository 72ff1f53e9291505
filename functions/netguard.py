"""Where requests to owner-supplied URLs may go: host canonicalisation and public addresses.

Webhook URLs are typed by owners, so a request to one must never reach this side's own
network: loopback, the Lambda runtime API, the instance metadata service, a VPC or any
other address that is not globally routable (server-side request forgery).

A host is read the way a resolver reads it before anything is decided about it:

* names go through IDNA (``bücher.example`` → ``xn--bcher-kva.example``, fullwidth digits
  → ASCII), are lowercased and lose one trailing dot;
* a host whose last label is numeric (digits, or ``0x`` hex) is an IPv4 address in any of
  ``inet_aton``'s forms: ``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``127.1``, ``0``
  are all read as the address they denote, and a numeric host that is no valid address is
  refused (it would otherwise be left to a resolver's interpretation);
* a bracketed host is an IPv6 address; a zone id (``%25eth0``) is refused.

``is_public_address`` then says whether an address may be connected to: IPv4 outside every
special-purpose block (loopback, RFC 1918, link-local, CGNAT 100.64/10, 0/8, benchmarking,
documentation, multicast, reserved, broadcast), IPv6 only in global unicast ``2000::/3``
outside its special blocks (Teredo, documentation, ORCHID...), and an IPv6 address that
embeds an IPv4 one (NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``) only when that IPv4 address
is public too. IPv4-mapped and -compatible addresses (``::ffff:a.b.c.d``, ``::a.b.c.d``) are
never public: nothing legitimate is published that way.

A name's addresses can change after a URL is checked, so a name is resolved again at send
time and every address it resolves to must be public (``functions.ports.webhooks``).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import TypeAlias
from urllib.parse import SplitResult

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address

# Every IPv4 block of the IANA special-purpose registry that is not globally reachable,
# plus multicast, 6to4 relays and the reserved 240/4 (which holds 255.255.255.255).
_V4_BLOCKED = tuple(
    ipaddress.IPv4Network(block)
    for block in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches the local host on Linux
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local: instance metadata lives at 169.254.169.254
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # TEST-NET-1
        "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
        "192.168.0.0/16",
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # TEST-NET-2
        "203.0.113.0/24",  # TEST-NET-3
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and the limited broadcast address
    )
)
_V6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_V6_BLOCKED = tuple(
    ipaddress.IPv6Network(block)
    for block in (
        "2001::/23",  # IETF protocol assignments: Teredo 2001::/32, ORCHID, AMT, ...
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation (RFC 9637)
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # embeds an IPv4 address in its low 32 bits
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")  # embeds one in bits 16..48

_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_HEX = re.compile(r"0x[0-9a-f]*")
_MAX_NAME = 253


class HostRefused(ValueError):
    """A host that is not a valid name or address (the message completes "webhook_url ...")."""


@dataclass(frozen=True)
class Host:
    """A URL's host, canonical: an ASCII name, or an address (``name`` is then its text)."""

    name: str
    address: IPAddress | None = None


def url_host(parts: SplitResult) -> Host:
    """The canonical host of a split URL; ``HostRefused`` when it has none or a bad one."""
    netloc_host = parts.netloc.rpartition("@")[2]
    host = parts.hostname
    if not host:
        raise HostRefused("must name a host")
    if netloc_host.startswith("["):
        return _bracketed(host)
    return canonical_host(host)


def canonical_host(text: str) -> Host:
    """A host as a resolver would read it: an IPv4 address in any numeric form, or a name."""
    if "%" in text:
        raise HostRefused("must not percent-encode its host")
    try:
        ascii_host = text.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise HostRefused("has an invalid host name") from None
    if ascii_host.endswith("."):
        ascii_host = ascii_host[:-1]
    labels = ascii_host.split(".")
    if not ascii_host or len(ascii_host) > _MAX_NAME:
        raise HostRefused("has an invalid host name")
    if _numeric(labels[-1]):
        address = parse_ipv4(labels)
        return Host(str(address), address)
    if not all(_LABEL.fullmatch(label) for label in labels):
        raise HostRefused("has an invalid host name")
    return Host(ascii_host)


def parse_ipv4(labels: list[str]) -> ipaddress.IPv4Address:
    """``inet_aton``: 1 to 4 decimal, ``0x`` hex or ``0`` octal parts, the last filling the rest."""
    if not 1 <= len(labels) <= 4:
        raise HostRefused("has a numeric host that is not an IPv4 address")
    try:
        values = [_number(label) for label in labels]
    except ValueError:
        raise HostRefused("has a numeric host that is not an IPv4 address") from None
    *leading, last = values
    if any(v > 0xFF for v in leading) or last >= 1 << (8 * (4 - len(leading))):
        raise HostRefused("has a numeric host that is not an IPv4 address")
    value = last
    for index, part in enumerate(leading):
        value |= part << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def parse_address(text: str) -> IPAddress | None:
    """An address as a resolver returns it (``fe80::1%eth0`` keeps its zone); None if not one."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def is_public_address(address: IPAddress) -> bool:
    """Whether a request may connect to ``address``: globally routable, nothing special."""
    if isinstance(address, ipaddress.IPv4Address):
        return address.is_global and not any(address in block for block in _V4_BLOCKED)
    if address.scope_id:
        return False
    if address in _NAT64:
        return is_public_address(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address in _SIX_TO_FOUR:
        embedded = address.sixtofour
        return embedded is not None and is_public_address(embedded)
    return (
        address in _V6_GLOBAL_UNICAST
        and address.is_global
        and not any(address in block for block in _V6_BLOCKED)
    )


_INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa", ".arpa")


def is_internal_name(name: str) -> bool:
    """A name that only means something inside a network: ``localhost``, ``*.internal``,
    or a single label (the resolver's search domains would complete it)."""
    return name == "localhost" or "." not in name or name.endswith(_INTERNAL_SUFFIXES)


def _bracketed(host: str) -> Host:
    address_text, zone_mark, _ = host.partition("%")
    if zone_mark:
        raise HostRefused("must not carry an IPv6 zone id")
    try:
        address = ipaddress.IPv6Address(address_text)
    except ValueError:
        raise HostRefused("has an invalid IPv6 address") from None
    return Host(str(address), address)


def _numeric(label: str) -> bool:
    return label.isdigit() or _HEX.fullmatch(label) is not None


def _number(label: str) -> int:
    if label.startswith("0x"):
        return int(label[2:] or "0", 16)
    if not label.isdigit():
        raise ValueError(label)
    if len(label) > 1 and label.startswith("0"):
        return int(label, 8)  # ValueError on 8 or 9
    return int(label, 10)
