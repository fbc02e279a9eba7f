"""The guarded outbound fetch, against real HTTP(S) servers on 127.0.0.1 (nothing leaves the machine).

Loopback is refused by default, so the tests open exactly 127.0.0.1/32; names are made up and
resolve through an injected resolver, which also proves the socket goes to the vetted address.
"""

from __future__ import annotations

import contextlib
import datetime
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from pdfjobs import errors
from pdfjobs.outbound import check_url, fetch, parse_networks

LOOPBACK = parse_networks("127.0.0.1/32")
pytestmark = pytest.mark.timeout(30)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a dripping handler must not hold up the fixture's teardown

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[dict[str, Any]] = []  # one entry per request: path, method, headers, body


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def _route(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        self.server.seen.append(
            {"path": parts.path, "method": self.command, "headers": dict(self.headers), "body": body}
        )
        path = parts.path
        if path == "/hello":
            self._send(200, b"hello", content_type="text/plain; charset=utf-8")
        elif path == "/echo":
            self._send(200, f"{self.command} {body.decode()} {self.headers.get('Authorization')}".encode())
        elif path == "/bytes":
            self._send(200, b"x" * int(query["n"]))
        elif path == "/bytes-unannounced":  # no Content-Length: read until the connection closes
            self.close_connection = True
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(b"y" * int(query["n"]))
        elif path == "/drip":  # announces a body, then sends it a byte at a time
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self._drip(b"z" * 1000)
        elif path == "/drip-headers":  # never finishes its header block
            self.close_connection = True
            self._drip(b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 1000)
        elif path == "/status":
            self._send(int(query["code"]), b"status body")
        elif path == "/to":  # a redirect to wherever ?location= says, with ?code= (302 by default)
            self._send(int(query.get("code", 302)), b"", location=query["location"])
        elif path.startswith("/chain/"):  # /chain/3 -> /chain/2 -> ... -> /chain/0 (200)
            left = int(path.rsplit("/", 1)[1])
            if left:
                self._send(302, b"", location=f"/chain/{left - 1}")
            else:
                self._send(200, b"end of chain")
        elif path == "/loop":
            self._send(302, b"", location="/loop")
        else:
            self._send(404, b"not found")

    def _send(self, status: int, body: bytes, *, content_type: str = "text/plain", location: str = "") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if location:
            self.send_header("Location", location)
        self.end_headers()
        self.wfile.write(body)

    def _drip(self, data: bytes) -> None:
        self.close_connection = True
        for index in range(len(data)):
            try:
                self.wfile.write(data[index : index + 1])
                self.wfile.flush()
            except OSError:
                return  # the client gave up, as it should
            time.sleep(0.02)


def _serve(server: _Server) -> Iterator[_Server]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def server() -> Iterator[_Server]:
    yield from _serve(_Server())


@pytest.fixture
def base(server: _Server) -> str:
    server.seen.clear()
    return f"http://127.0.0.1:{server.server_address[1]}"


def get(url: str, **kwargs: Any) -> Any:
    kwargs.setdefault("max_bytes", 100_000)
    kwargs.setdefault("timeout", 5)
    kwargs.setdefault("allowed_networks", LOOPBACK)
    return fetch(url, **kwargs)


# --- which addresses are refused (table-driven; refused before any connection is made) ----------------


def resolving_to(*addresses: str) -> Any:
    def resolver(host: str, port: int) -> Sequence[str]:
        return list(addresses)

    return resolver


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",  # loopback
        "127.8.9.10",
        "::1",
        "10.0.0.7",  # private
        "172.16.0.1",
        "172.31.255.254",
        "192.168.1.20",
        "169.254.169.254",  # cloud metadata (link-local)
        "fd00:ec2::254",  # the IPv6 metadata address
        "fe80::1",
        "100.64.0.1",  # carrier-grade NAT
        "100.100.100.200",
        "0.0.0.0",  # noqa: S104 - unspecified
        "::",
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "::ffff:169.254.169.254",
        "64:ff9b::a9fe:a9fe",  # NAT64 of the metadata address
        "224.0.0.251",  # multicast
        "ff02::1",
        "240.0.0.1",  # reserved
    ],
)
def test_non_public_addresses_are_refused_before_connecting(address: str) -> None:
    with pytest.raises(errors.BlockedUrl, match="non-public"):
        fetch("http://innocent.example/", max_bytes=100, timeout=1, resolver=resolving_to(address))
    # A public answer next to it does not launder it (one bad answer refuses the name).
    with pytest.raises(errors.BlockedUrl):
        fetch("http://innocent.example/", max_bytes=100, timeout=1, resolver=resolving_to("93.184.216.34", address))


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700:4700::1111", "8.8.8.8"])
def test_public_addresses_pass_the_check(address: str) -> None:
    # Checked only: the test never connects to the internet.
    target = check_url("https://innocent.example/a", resolver=resolving_to(address))
    assert target.addresses == (address,)
    assert (target.host, target.port) == ("innocent.example", 443)


def test_opening_loopback_does_not_open_the_rest() -> None:
    for address in ("127.0.0.2", "169.254.169.254", "10.0.0.1"):
        with pytest.raises(errors.BlockedUrl):
            fetch(
                "http://x.example/", max_bytes=10, timeout=1, allowed_networks=LOOPBACK, resolver=resolving_to(address)
            )


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("file:///etc/passwd", errors.BlockedUrl),
        ("ftp://127.0.0.1/", errors.BlockedUrl),
        ("http://user:pw@127.0.0.1/", errors.BlockedUrl),
        ("http://127.0.0.1:99999/", errors.InvalidUrl),
    ],
)
def test_urls_that_are_not_plain_http_are_refused(url: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        get(url)


# --- real exchanges with the loopback server -----------------------------------------------------------


def test_a_200_with_its_body_headers_and_content_type(base: str, server: _Server) -> None:
    result = get(f"{base}/hello")
    assert (result.status, result.body, result.ok) == (200, b"hello", True)
    assert result.content_type == "text/plain"
    assert result.charset == "utf-8"
    assert result.headers["content-length"] == "5"
    assert result.final_url == f"{base}/hello"
    sent = server.seen[-1]["headers"]
    assert sent["Accept-Encoding"] == "identity"
    assert sent["User-Agent"].startswith("pdfjobs")


def test_the_socket_goes_to_the_vetted_address_and_host_names_the_url(server: _Server) -> None:
    port = server.server_address[1]
    calls: list[str] = []

    def resolver(host: str, port: int) -> Sequence[str]:
        calls.append(host)
        # A rebinding resolver: only the first answer is loopback (the vetted one); any later
        # lookup would send the connection elsewhere.
        return ["127.0.0.1"] if len(calls) == 1 else ["10.99.99.99"]

    result = get(f"http://made-up-name.test:{port}/hello", resolver=resolver)
    assert result.body == b"hello"
    assert calls == ["made-up-name.test"]  # resolved once, never again
    assert server.seen[-1]["headers"]["Host"] == f"made-up-name.test:{port}"


def test_a_non_2xx_status_is_returned_not_raised(base: str) -> None:
    result = get(f"{base}/status?code=404")
    assert (result.status, result.ok, result.body) == (404, False, b"status body")
    assert get(f"{base}/status?code=503").status == 503


def test_a_body_over_the_limit_is_refused_with_the_limit_named(base: str) -> None:
    assert len(get(f"{base}/bytes?n=1000", max_bytes=1000).body) == 1000  # exactly the limit is fine
    with pytest.raises(errors.UrlFetchFailed, match="limit of 999 bytes") as failed:
        get(f"{base}/bytes?n=1000", max_bytes=999)  # announced by Content-Length
    assert failed.value.details == {"reason": "too_large", "limitBytes": 999}
    assert len(get(f"{base}/bytes-unannounced?n=5000", max_bytes=5000).body) == 5000
    with pytest.raises(errors.UrlFetchFailed, match="limit of 4000 bytes"):
        get(f"{base}/bytes-unannounced?n=50000", max_bytes=4000)  # counted while reading


@pytest.mark.parametrize("path", ["/drip", "/drip-headers"])
def test_a_dripping_server_cannot_hold_us_past_the_deadline(base: str, path: str) -> None:
    # Every byte arrives well within any per-read timeout; only an overall deadline stops this.
    started = time.monotonic()
    with pytest.raises(errors.UrlFetchFailed, match="timed out") as failed:
        get(f"{base}{path}", timeout=0.8)
    elapsed = time.monotonic() - started
    assert 0.7 < elapsed < 2.0
    assert failed.value.code == "url.fetch_failed"
    assert failed.value.details is not None and failed.value.details["reason"] == "timeout"


def test_connection_refused_is_a_fetch_failure() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the block ends: nobody listens there
    with pytest.raises(errors.UrlFetchFailed, match="Could not connect") as failed:
        get(f"http://127.0.0.1:{port}/")
    assert failed.value.details == {"reason": "connect"}


# --- redirects -------------------------------------------------------------------------------------------


def test_a_redirect_chain_is_followed_to_its_end(base: str, server: _Server) -> None:
    result = get(f"{base}/chain/3", max_redirects=3)
    assert (result.status, result.body) == (200, b"end of chain")
    assert result.final_url == f"{base}/chain/0"
    assert [seen["path"] for seen in server.seen] == ["/chain/3", "/chain/2", "/chain/1", "/chain/0"]


def test_too_many_redirects_fail(base: str) -> None:
    with pytest.raises(errors.UrlFetchFailed, match="more than 2") as failed:
        get(f"{base}/chain/3", max_redirects=2)
    assert failed.value.details == {"reason": "redirects"}
    with pytest.raises(errors.UrlFetchFailed, match="redirected more than 5 times"):
        get(f"{base}/loop")


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://[::1]/",
        "http://127.0.0.2/",
        "http://10.0.0.1/",
        "//169.254.169.254/",  # scheme-relative
        "file:///etc/passwd",
        "gopher://127.0.0.1/",
    ],
)
def test_a_redirect_to_a_refused_place_is_refused(base: str, location: str) -> None:
    with pytest.raises(errors.BlockedUrl):
        get(f"{base}/to?location={location}")


def test_follow_redirects_false_returns_the_3xx(base: str, server: _Server) -> None:
    result = get(f"{base}/to?location=http://169.254.169.254/", follow_redirects=False)
    assert result.status == 302
    assert result.headers["location"] == "http://169.254.169.254/"
    assert len(server.seen) == 1


def test_redirect_methods_follow_browser_rules(base: str) -> None:
    post: dict[str, Any] = {"method": "POST", "body": b"payload", "headers": {"Authorization": "Bearer t"}}
    # 303: the next request is a GET without the body; same origin keeps the credentials.
    assert get(f"{base}/to?location=/echo&code=303", **post).body == b"GET  Bearer t"
    # 307 and 308 repeat the request as it was.
    assert get(f"{base}/to?location=/echo&code=307", **post).body == b"POST payload Bearer t"
    assert get(f"{base}/to?location=/echo&code=308", **post).body == b"POST payload Bearer t"


def test_credentials_are_not_carried_to_another_origin(base: str, server: _Server) -> None:
    port = server.server_address[1]
    other = f"http://other-origin.test:{port}/echo"
    result = get(
        f"{base}/to?location={other}",
        headers={"Authorization": "Bearer t", "X-Trace": "1"},
        resolver=lambda host, port: ["127.0.0.1"],
    )
    assert result.body == b"GET  None"
    assert server.seen[-1]["headers"]["X-Trace"] == "1"


# --- https: connect to the vetted address, verify the certificate for the name --------------------------


def _self_signed(name: str, directory: Path) -> tuple[Path, Path, str]:
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(pem)
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path, pem.decode()


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[_Server, str]]:
    cert, key, pem = _self_signed("pinned.test", tmp_path_factory.mktemp("tls"))
    server = _Server()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    for running in _serve(server):
        yield running, pem


def test_https_verifies_the_certificate_for_the_name_not_the_address(tls_server: tuple[_Server, str]) -> None:
    server, pem = tls_server
    port = server.server_address[1]
    trust = ssl.create_default_context(cadata=pem)
    to_loopback = resolving_to("127.0.0.1")
    result = get(f"https://pinned.test:{port}/hello", resolver=to_loopback, ssl_context=trust)
    assert (result.status, result.body) == (200, b"hello")
    assert server.seen[-1]["headers"]["Host"] == f"pinned.test:{port}"
    # Same socket address, another name: the certificate does not cover it.
    with pytest.raises(errors.UrlFetchFailed, match="certificate") as failed:
        get(f"https://other-name.test:{port}/hello", resolver=to_loopback, ssl_context=trust)
    assert failed.value.details == {"reason": "tls"}
    # And a certificate nobody vouches for is refused with the default trust store.
    with pytest.raises(errors.UrlFetchFailed, match="certificate"):
        get(f"https://pinned.test:{port}/hello", resolver=to_loopback)
