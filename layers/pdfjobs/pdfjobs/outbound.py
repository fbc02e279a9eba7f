"""The one guard for every outbound fetch (HTML resources, webhook deliveries): which URLs may
be fetched at all, and at which vetted addresses.

A URL passes only when it is http(s), carries no credentials, and every address its host
resolves to is public. Loopback, private, link-local (cloud metadata lives at 169.254.169.254
and fd00:ec2::254), carrier-grade NAT, multicast, reserved and unspecified addresses are
refused, including IPv4 hidden inside IPv6 (mapped, NAT64, 6to4) and numeric spellings such as
`http://2130706433/`, because the check runs on resolved addresses, not on the text.

The caller must connect to one of the returned addresses and never resolve the name again:
otherwise a DNS answer that changes between check and connect (rebinding) walks past the guard.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from pdfjobs.errors import BlockedUrl, InvalidUrl

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]

ALLOWED_SCHEMES = {"http": 80, "https": 443}
MAX_URL_LENGTH = 2048
# Prefixes that carry an IPv4 address inside an IPv6 one: judge the IPv4 address instead.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")


@dataclass(frozen=True)
class VettedTarget:
    """A URL that may be fetched, and the only addresses it may be fetched from."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def system_resolver(host: str, port: int) -> Sequence[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def check_url(
    url: str,
    *,
    resolver: Resolver = system_resolver,
    allowed_networks: Iterable[IPNetwork] = (),
) -> VettedTarget:
    """The vetted target of `url`, or InvalidUrl / BlockedUrl saying why not.

    `allowed_networks` lets an operator open specific ranges on purpose (a webhook receiver on
    an internal network, tests on loopback); nothing is open by default.
    """
    if len(url) > MAX_URL_LENGTH:
        raise InvalidUrl(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:
        raise InvalidUrl(f"The URL is malformed: {error}.") from error
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise BlockedUrl(f"Only http and https URLs are fetched, not {scheme or 'scheme-less'} ones.")
    if parts.username is not None or parts.password is not None:
        raise BlockedUrl("URLs with credentials in them are not fetched.")
    host = parts.hostname
    if not host:
        raise InvalidUrl("The URL has no host.")
    port = port or ALLOWED_SCHEMES[scheme]
    try:
        resolved = list(resolver(host, port))
    except (OSError, UnicodeError) as error:
        raise BlockedUrl(f"The host {host!r} does not resolve.") from error
    if not resolved:
        raise BlockedUrl(f"The host {host!r} does not resolve.")
    opened = tuple(allowed_networks)
    for text in resolved:
        address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id
        if not any(address in network for network in opened) and not is_public(address):
            raise BlockedUrl(f"The host {host!r} resolves to a non-public address ({address}).")
    return VettedTarget(url=url, scheme=scheme, host=host, port=port, addresses=tuple(resolved))


def is_public(address: IPAddress) -> bool:
    """Whether an address is on the public internet (IPv4 inside IPv6 judged as IPv4)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_public(embedded)
    return bool(address.is_global) and not address.is_multicast


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    return None


def parse_networks(spec: str) -> tuple[IPNetwork, ...]:
    """Comma-separated CIDRs (an operator setting), e.g. "10.1.0.0/16, 127.0.0.1/32"."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip())
