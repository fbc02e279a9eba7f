"""The one guard for every outbound fetch (HTML resources, webhook deliveries): which URLs may
be fetched at all, and at which vetted addresses.

A URL passes only when it is http(s), carries no credentials, and every address its host
resolves to is public. Loopback, private, link-local (cloud metadata lives at 169.254.169.254
and fd00:ec2::254), carrier-grade NAT, multicast, reserved and unspecified addresses are
refused, including IPv4 hidden inside IPv6 (mapped, NAT64, 6to4) and numeric spellings such as
`http://2130706433/`, because the check runs on resolved addresses, not on the text.

The caller must connect to one of the returned addresses and never resolve the name again:
otherwise a DNS answer that changes between check and connect (rebinding) walks past the guard.
`fetch` does exactly that, and is the one way this service makes an outbound HTTP request:
every hop (redirects included) is checked, the socket goes to a vetted address only, the body
is capped in bytes and the whole exchange in time.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, urljoin, urlsplit

from pdfjobs.errors import BlockedUrl, InvalidUrl, UrlFetchFailed

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


# --- the guarded fetch -----------------------------------------------------------------------------------

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "pdfjobs"
_CHUNK_BYTES = 64 * 1024
# Dropped when a redirect leaves the origin they were meant for.
_CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
# Set by fetch itself, never by a caller.
_FORBIDDEN_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_PATH_SAFE = "/%:@!$&'()*+,;=~"


@dataclass(frozen=True)
class FetchResult:
    """The final response of a fetch (after any redirects that were followed)."""

    final_url: str
    status: int
    headers: dict[str, str] = field(repr=False)  # lower-case names; repeated headers joined with ", "
    body: bytes = field(repr=False)
    content_type: str  # the media type, lower-case, without parameters; "" when none was sent

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def charset(self) -> str | None:
        for parameter in self.headers.get("content-type", "").split(";")[1:]:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "charset" and value.strip():
                return value.strip().strip('"')
        return None


def fetch(
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    allowed_networks: Iterable[IPNetwork] = (),
    resolver: Resolver = system_resolver,
    max_redirects: int = 5,
    follow_redirects: bool = True,
    method: str = "GET",
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> FetchResult:
    """One guarded HTTP(S) request: `url` and every redirect it leads to go through check_url.

    - The socket connects only to an address check_url vetted (the name is never resolved again);
      https verifies the certificate for the URL's host name (SNI), and Host names it too.
    - Redirects (301/302/303/307/308) are followed up to `max_redirects`, each location checked
      again; with follow_redirects=False the 3xx response itself is returned.
    - At most `max_bytes` of body, and `timeout` seconds for everything (connects, headers, body
      and redirects together: a server dripping bytes cannot hold the caller longer).
    - A non-2xx final status is returned, not raised: the caller decides.

    Raises InvalidUrl / BlockedUrl (a hop refused by check_url) and UrlFetchFailed (cannot connect,
    TLS failure, timed out, body over the limit, too many redirects, broken HTTP; its details name
    the reason: "connect", "tls", "timeout", "too_large", "redirects" or "protocol"). The body is
    returned as sent (`Accept-Encoding: identity` is asked for; nothing is decompressed here).
    """
    networks = tuple(allowed_networks)
    deadline = _Deadline(timeout)
    request_headers = {"user-agent": USER_AGENT, "accept": "*/*", "accept-encoding": "identity"}
    for name, value in (headers or {}).items():
        if name.lower() not in _FORBIDDEN_HEADERS:
            request_headers[name.lower()] = value
    method = method.upper()
    current = url.strip()
    for hop in range(max_redirects + 1):
        target = check_url(current, resolver=resolver, allowed_networks=networks)
        result = _exchange(target, method, body, request_headers, max_bytes, deadline, ssl_context)
        location = result.headers.get("location", "").strip()
        if not follow_redirects or result.status not in REDIRECT_STATUSES or not location:
            return result
        if hop == max_redirects:
            raise UrlFetchFailed(
                f"{_where(target)} redirected more than {max_redirects} times.", details={"reason": "redirects"}
            )
        try:
            following = urljoin(current, location)
        except ValueError as error:
            raise InvalidUrl(f"{_where(target)} redirected to a malformed URL.") from error
        if result.status == 303 or (result.status in (301, 302) and method == "POST"):
            # What browsers do: the redirected request is a GET without the body.
            method = "HEAD" if method == "HEAD" else "GET"
            body = None
            request_headers.pop("content-type", None)
        if _origin(following) != _origin(current):
            for name in _CREDENTIAL_HEADERS:
                request_headers.pop(name, None)
        current = following
    raise AssertionError("unreachable")


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self._end - time.monotonic()

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP connection to one vetted address, whatever its host name resolves to now."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address
        self.raw_socket: socket.socket | None = None
        self.aborted = False

    def connect(self) -> None:
        self.sock = self._open()

    def _open(self) -> socket.socket:
        raw = socket.create_connection((self.address, self.port), self.timeout)
        self.raw_socket = raw
        if self.aborted:  # the deadline passed while connecting
            raw.close()
            raise TimeoutError("the deadline passed")
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return raw

    def abort(self) -> None:
        """Called by the deadline's timer (another thread): unblock whatever read is waiting."""
        self.aborted = True
        if self.raw_socket is not None:
            with contextlib.suppress(OSError):
                # The plain socket's shutdown, also under TLS (SSLSocket.shutdown would drop its state).
                socket.socket.shutdown(self.raw_socket, socket.SHUT_RDWR)


class _PinnedTlsConnection(_PinnedConnection):
    """HTTPS to one vetted address; the certificate is verified for the host name (SNI)."""

    default_port = http.client.HTTPS_PORT

    def __init__(self, host: str, port: int, *, address: str, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, address=address, timeout=timeout)
        self.context = context

    def connect(self) -> None:
        raw = self._open()
        self.sock = self.context.wrap_socket(raw, server_hostname=self.host)


def _exchange(
    target: VettedTarget,
    method: str,
    body: bytes | None,
    headers: dict[str, str],
    max_bytes: int,
    deadline: _Deadline,
    context: ssl.SSLContext | None,
) -> FetchResult:
    """One request and its response, on a connection to one of the target's vetted addresses."""
    where = _where(target)
    parts = urlsplit(target.url.strip())
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        path += "?" + quote(parts.query, safe=_PATH_SAFE + "?")
    conn = _connect(target, deadline, context)
    watchdog = threading.Timer(max(deadline.remaining(), 0.0), conn.abort)
    watchdog.daemon = True
    watchdog.start()
    try:
        conn.request(method, path, body=body, headers={_title(name): value for name, value in headers.items()})
        response = conn.getresponse()
        declared = response.getheader("content-length", "").strip()
        if declared.isdigit() and int(declared) > max_bytes:
            raise _too_large(where, max_bytes)
        chunks: list[bytes] = []
        received = 0
        while True:
            chunk = response.read1(min(_CHUNK_BYTES, max_bytes - received + 1))
            if deadline.expired or conn.aborted:
                raise TimeoutError("the deadline passed")
            if not chunk:
                break
            received += len(chunk)
            if received > max_bytes:
                raise _too_large(where, max_bytes)
            chunks.append(chunk)
        response_headers: dict[str, str] = {}
        for name, value in response.getheaders():
            key = name.lower()
            response_headers[key] = f"{response_headers[key]}, {value}" if key in response_headers else value
        content_type = response_headers.get("content-type", "").split(";", 1)[0].strip().lower()
        return FetchResult(
            final_url=target.url.strip(),
            status=response.status,
            headers=response_headers,
            body=b"".join(chunks),
            content_type=content_type,
        )
    except UrlFetchFailed:
        raise
    except ssl.SSLCertVerificationError as error:
        raise UrlFetchFailed(
            f"The TLS certificate of {where} could not be verified ({error.verify_message}).", details={"reason": "tls"}
        ) from error
    except (OSError, http.client.HTTPException, ValueError) as error:
        if conn.aborted or deadline.expired or isinstance(error, TimeoutError):
            raise _timed_out(where, deadline) from error
        raise UrlFetchFailed(f"Fetching {where} failed: {_reason(error)}.", details={"reason": "protocol"}) from error
    finally:
        watchdog.cancel()
        conn.close()


def _connect(target: VettedTarget, deadline: _Deadline, context: ssl.SSLContext | None) -> _PinnedConnection:
    """A connected connection to the first vetted address that answers."""
    where = _where(target)
    tls = (context or _default_tls_context()) if target.scheme == "https" else None
    failure: BaseException | None = None
    for address in target.addresses:
        remaining = deadline.remaining()
        if remaining <= 0:
            break
        conn: _PinnedConnection
        if tls is not None:
            conn = _PinnedTlsConnection(target.host, target.port, address=address, timeout=remaining, context=tls)
        else:
            conn = _PinnedConnection(target.host, target.port, address=address, timeout=remaining)
        try:
            conn.connect()
            return conn
        except ssl.SSLCertVerificationError as error:
            conn.close()
            raise UrlFetchFailed(
                f"The TLS certificate of {where} could not be verified ({error.verify_message}).",
                details={"reason": "tls"},
            ) from error
        except OSError as error:
            conn.close()
            failure = error
            if isinstance(error, TimeoutError):
                break
    if failure is None or isinstance(failure, TimeoutError) or deadline.expired:
        raise _timed_out(where, deadline) from failure
    raise UrlFetchFailed(
        f"Could not connect to {where}: {_reason(failure)}.", details={"reason": "connect"}
    ) from failure


def _too_large(where: str, max_bytes: int) -> Exception:
    return UrlFetchFailed(
        f"The response from {where} is larger than the limit of {max_bytes} bytes.",
        details={"reason": "too_large", "limitBytes": max_bytes},
    )


def _timed_out(where: str, deadline: _Deadline) -> Exception:
    return UrlFetchFailed(
        f"Fetching {where} timed out (the limit is {deadline.seconds:g} s).",
        details={"reason": "timeout", "limitSeconds": deadline.seconds},
    )


@functools.cache
def _default_tls_context() -> ssl.SSLContext:
    """The system trust store, loaded once (loading it costs tens of milliseconds)."""
    return ssl.create_default_context()


def _where(target: VettedTarget) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    default = ALLOWED_SCHEMES[target.scheme] == target.port
    return f"{target.scheme}://{host}" + ("" if default else f":{target.port}")


def _origin(url: str) -> tuple[str, str, int | None]:
    try:
        parts = urlsplit(url)
        return parts.scheme.lower(), (parts.hostname or ""), parts.port
    except ValueError:
        return "", url, None


def _title(name: str) -> str:
    return "-".join(word.capitalize() for word in name.split("-"))


def _reason(error: BaseException) -> str:
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return str(text).rstrip(".")
