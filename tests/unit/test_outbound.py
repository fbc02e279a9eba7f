"""The outbound URL guard, table-driven over address classes (no network: names resolve through a table)."""

from __future__ import annotations

import socket
from collections.abc import Sequence

import pytest

from pdfjobs import errors
from pdfjobs.outbound import check_url, is_public, parse_networks, system_resolver

NAMES = {
    "example.com": ["93.184.216.34"],
    "dual.example": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
    "rebind.example": ["93.184.216.34", "10.0.0.7"],  # one public, one private answer
    "metadata.example": ["169.254.169.254"],
    "v6only.example": ["2606:4700:4700::1111"],
}


def table_resolver(host: str, port: int) -> Sequence[str]:
    if host in NAMES:
        return NAMES[host]
    if host.endswith(".invalid"):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return system_resolver(host, port)  # numeric hosts and localhost resolve without a network


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/style.css",
        "https://example.com:8443/a?b=c",
        "https://dual.example/",
        "https://v6only.example/",
        "http://93.184.216.34/",
        "https://[2606:4700:4700::1111]/",
    ],
)
def test_public_destinations_pass_with_their_vetted_addresses(url: str) -> None:
    target = check_url(url, resolver=table_resolver)
    assert target.addresses and all(address for address in target.addresses)
    assert target.scheme in ("http", "https")


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("file:///etc/passwd", "url.blocked"),
        ("ftp://example.com/x", "url.blocked"),
        ("gopher://example.com/", "url.blocked"),
        ("javascript:alert(1)", "url.blocked"),
        ("//example.com/no-scheme", "url.blocked"),
        ("http://user:secret@example.com/", "url.blocked"),
        ("http:///no-host", "url.invalid"),
        ("http://example.com:99999/", "url.invalid"),
        ("http://" + "a" * 2100 + ".com/", "url.invalid"),
        # cloud metadata, by address and by name
        ("http://169.254.169.254/latest/meta-data/", "url.blocked"),
        ("http://metadata.example/", "url.blocked"),
        ("http://[fd00:ec2::254]/", "url.blocked"),
        ("http://100.100.100.200/", "url.blocked"),  # carrier-grade NAT range (another cloud's metadata)
        # loopback in every spelling
        ("http://127.0.0.1:3000/", "url.blocked"),
        ("http://localhost/", "url.blocked"),
        ("http://2130706433/", "url.blocked"),
        ("http://0x7f000001/", "url.blocked"),
        ("http://017700000001/", "url.blocked"),
        ("http://127.1/", "url.blocked"),
        ("http://[::1]/", "url.blocked"),
        ("http://[::ffff:127.0.0.1]/", "url.blocked"),
        ("http://[64:ff9b::7f00:1]/", "url.blocked"),  # NAT64 of loopback
        ("http://[2002:7f00:1::]/", "url.blocked"),  # 6to4 of loopback
        # private, link-local, unspecified, multicast, reserved
        ("http://10.0.0.1/", "url.blocked"),
        ("http://172.16.5.4/", "url.blocked"),
        ("http://192.168.1.1/", "url.blocked"),
        ("http://[fe80::1]/", "url.blocked"),
        ("http://[fc00::1]/", "url.blocked"),
        ("http://0.0.0.0/", "url.blocked"),
        ("http://224.0.0.1/", "url.blocked"),
        ("http://240.0.0.1/", "url.blocked"),
        ("http://198.18.0.1/", "url.blocked"),  # benchmarking range
        # a name with one private answer among public ones (rebinding bait)
        ("http://rebind.example/", "url.blocked"),
        ("http://does-not-resolve.invalid/", "url.blocked"),
    ],
)
def test_everything_else_is_refused_with_a_clear_code(url: str, code: str) -> None:
    with pytest.raises(errors.PdfJobsError) as refused:
        check_url(url, resolver=table_resolver)
    assert refused.value.code == code
    assert refused.value.status == 400


def test_an_operator_can_open_a_range_on_purpose() -> None:
    opened = parse_networks("127.0.0.0/8, 10.1.0.0/16")
    assert check_url("http://127.0.0.1:8080/hook", allowed_networks=opened).addresses == ("127.0.0.1",)
    assert check_url("http://10.1.2.3/", allowed_networks=opened).port == 80
    with pytest.raises(errors.BlockedUrl):
        check_url("http://10.2.0.1/", allowed_networks=opened)
    with pytest.raises(errors.BlockedUrl):
        check_url("http://169.254.169.254/", allowed_networks=opened)


def test_embedded_ipv4_is_judged_as_ipv4() -> None:
    import ipaddress

    assert is_public(ipaddress.ip_address("64:ff9b::5db8:d822"))  # NAT64 of 93.184.216.34
    assert not is_public(ipaddress.ip_address("64:ff9b::a00:1"))  # NAT64 of 10.0.0.1
    assert not is_public(ipaddress.ip_address("::ffff:169.254.169.254"))
