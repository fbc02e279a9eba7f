"""HTML to PDF with WeasyPrint, where every resource goes through the outbound guard.

`render_html` runs in an isolated engine worker (pdfjobs.isolation.run_isolated): it takes and
returns plain data. The HTML is inline text (an uploaded HTML file is passed as text too) or a URL
fetched through `outbound.fetch`; relative references resolve against the fetched page's final
URL, or for inline HTML against `base_url` (without one they cannot resolve and are listed as
refused).

WeasyPrint never reads a local file: its fetcher is replaced by one that serves `data:` URLs
itself, sends http(s) through `outbound.fetch` (every hop vetted, size and time capped) and
refuses every other scheme (`file:` included, so `<link>`, `@import`, `url()`, `<img>`,
`<object>`, `<embed>`, attachments and `local()` fonts can not reach the disk). The document's
resources share a budget (count and total bytes, `data:` URLs included). A resource that is
refused (policy: scheme, address, limits) or failed (connection, HTTP status) is skipped and
listed in the result; with strict=True any such resource makes the job fail with
HtmlResourceRefused naming them.

Options are applied as a user stylesheet whose declarations are `!important`, so they win over
the document's own `@page` rules (as Chrome does unless told to prefer the CSS page size). Every
value put into that stylesheet is validated against a strict pattern or escaped as a CSS string.

WeasyPrint is imported inside the functions: the API imports this module to validate options.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import contextlib
import logging
import os
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from pdfjobs import errors, outbound

# Named page sizes, portrait (width, height).
PAGE_SIZES: dict[str, tuple[str, str]] = {
    "a3": ("297mm", "420mm"),
    "a4": ("210mm", "297mm"),
    "a5": ("148mm", "210mm"),
    "letter": ("8.5in", "11in"),
    "legal": ("8.5in", "14in"),
    "tabloid": ("11in", "17in"),
}
ORIENTATIONS = ("portrait", "landscape")
MEDIA_TYPES = ("print", "screen")
MAX_HEADER_LENGTH = 500
_LENGTH = r"\d{1,5}(?:\.\d{1,4})?(?:mm|cm|in|pt|px)"
_LENGTH_RE = re.compile(rf"^(?:{_LENGTH}|0)$")
_PAGE_SIZE_RE = re.compile(rf"^({_LENGTH}) ({_LENGTH})$")
_POINTS_PER_UNIT = {"mm": 72 / 25.4, "cm": 72 / 2.54, "in": 72.0, "pt": 1.0, "px": 0.75}
_MIN_PAGE_POINTS = 36.0  # half an inch
_MAX_PAGE_POINTS = 14400.0  # 200 inches: the largest page a PDF viewer must support
_PLACEHOLDER_RE = re.compile(r"\{(page|pages)\}")
_SHORT_URL = 120  # listed URLs longer than this (data: URLs) are shortened
_MAX_WARNINGS = 50
_MAX_LISTED = 500  # resources listed in the result; any more are only counted
_RELATIVE_WITHOUT_BASE = "Relative URI reference without a base URI"

FETCHED, REFUSED, FAILED = "fetched", "refused", "failed"


@dataclass(frozen=True)
class HtmlOptions:
    """Page and rendering options; constructing one validates it (ValidationFailed, naming the field).

    - page_size: "A4" (default), "Letter", "Legal", "A3", "A5", "Tabloid" (any case), or an
      explicit "<width> <height>" such as "210mm 297mm" or "8.5in 11in" (mm, cm, in, pt, px).
    - orientation: "portrait" or "landscape"; landscape puts the long edge horizontal, portrait
      keeps a named size upright and an explicit size as written.
    - margin_*: CSS lengths such as "10mm", "0.5in", "12pt" or "0".
    - print_background: False (default, like Chrome's printBackground) drops every CSS background
      colour and image, pages included; True paints them.
    - header / footer: plain text in the top / bottom page margin, centred; "{page}" and "{pages}"
      become the page number and the page count. It needs a margin tall enough to show.
    - media: which @media rules apply: "print" (default) or "screen".
    """

    page_size: str = "A4"
    orientation: str = "portrait"
    margin_top: str = "10mm"
    margin_right: str = "10mm"
    margin_bottom: str = "10mm"
    margin_left: str = "10mm"
    print_background: bool = False
    header: str | None = None
    footer: str | None = None
    media: str = "print"

    def __post_init__(self) -> None:
        if self.orientation not in ORIENTATIONS:
            raise _invalid("orientation", f"must be one of {', '.join(ORIENTATIONS)}")
        if self.media not in MEDIA_TYPES:
            raise _invalid("media", f"must be one of {', '.join(MEDIA_TYPES)}")
        width, height = self.page_dimensions()  # validates page_size
        for name in ("margin_top", "margin_right", "margin_bottom", "margin_left"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _LENGTH_RE.match(value):
                raise _invalid(name, "must be a length such as 10mm, 1.5cm, 0.5in, 12pt, 16px or 0")
        if _points(self.margin_left) + _points(self.margin_right) >= _points(width):
            raise _invalid("margin_left", "the left and right margins leave no room on the page")
        if _points(self.margin_top) + _points(self.margin_bottom) >= _points(height):
            raise _invalid("margin_top", "the top and bottom margins leave no room on the page")
        for name in ("header", "footer"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or len(value) > MAX_HEADER_LENGTH):
                raise _invalid(name, f"must be text of at most {MAX_HEADER_LENGTH} characters")
        if not isinstance(self.print_background, bool):
            raise _invalid("print_background", "must be true or false")

    def page_dimensions(self) -> tuple[str, str]:
        """(width, height) as validated CSS lengths, orientation applied."""
        size = self.page_size.strip() if isinstance(self.page_size, str) else ""
        named = PAGE_SIZES.get(size.lower())
        if named is not None:
            width, height = named
        elif match := _PAGE_SIZE_RE.match(size):
            width, height = match.group(1), match.group(2)
        else:
            raise _invalid(
                "page_size",
                f"must be one of {', '.join(name.title() for name in PAGE_SIZES)} or two lengths such as '210mm 297mm'",
            )
        for length in (width, height):
            if not _MIN_PAGE_POINTS <= _points(length) <= _MAX_PAGE_POINTS:
                raise _invalid("page_size", "each side must be between 0.5in and 200in")
        if self.orientation == "landscape" and _points(width) < _points(height):
            width, height = height, width
        return width, height

    def stylesheet(self) -> str:
        """The user stylesheet applying these options (every interpolated value validated or escaped)."""
        width, height = self.page_dimensions()
        margins = f"{self.margin_top} {self.margin_right} {self.margin_bottom} {self.margin_left}"
        rules = [f"@page {{ size: {width} {height} !important; margin: {margins} !important;"]
        for where, text in (("top", self.header), ("bottom", self.footer)):
            if text:
                rules.append(
                    f"  @{where}-center {{ content: {_css_content(text)} !important; font-size: 9pt !important;"
                    " color: #333 !important; white-space: pre-wrap !important; }"
                )
        if not self.print_background:
            rules.append("  background: none !important;")
        rules.append("}")
        if not self.print_background:
            rules.append(
                "*, *::before, *::after, *::marker { background-color: transparent !important;"
                " background-image: none !important; }"
            )
        return "\n".join(rules) + "\n"


@dataclass(frozen=True)
class FetchLimits:
    """What one document may fetch: per resource, all resources together, and the page itself."""

    resource_max_bytes: int = 10 * 1024 * 1024
    resources_total_bytes: int = 50 * 1024 * 1024
    resource_max_count: int = 200
    resource_timeout_seconds: float = 10.0
    html_max_bytes: int = 5 * 1024 * 1024  # the inline HTML, or the fetched page's body
    html_timeout_seconds: float = 20.0  # fetching the page at `url`


@dataclass
class RenderedHtml:
    """What render_html did: page count, every resource the document asked for, WeasyPrint's complaints.

    resources: [{"url", "status": "fetched"|"refused"|"failed", "reason": str|None, "bytes": int|None}],
    in the order they were asked for, one entry per distinct URL (long data: URLs shortened).
    """

    page_count: int
    resources: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    resources_not_listed: int = 0  # distinct URLs beyond the first 500 (their problems still count)
    unlisted_problems: int = 0  # refused or failed among the resources not listed

    @property
    def problems(self) -> list[dict[str, Any]]:
        """The listed resources that were refused or failed."""
        return [entry for entry in self.resources if entry["status"] != FETCHED]

    def raise_for_problems(self) -> None:
        """HtmlResourceRefused naming every refused or failed resource, if there is any."""
        problems = self.problems
        count = len(problems) + self.unlisted_problems
        if count:
            named = "; ".join(f"{entry['url']} ({entry['status']}: {entry['reason']})" for entry in problems[:10])
            more = f" and {count - 10} more" if count > 10 else ""
            raise errors.HtmlResourceRefused(
                f"{count} resource(s) could not be used: {named}{more}.",
                details={"resources": problems},
            )


def render_html(
    destination: str,
    *,
    html: str | None = None,
    url: str | None = None,
    base_url: str | None = None,
    options: HtmlOptions | None = None,
    limits: FetchLimits | None = None,
    allowed_networks: str = "",
    strict: bool = False,
) -> RenderedHtml:
    """Render inline `html` or the page at `url` to a PDF at `destination`.

    `allowed_networks` is the operator's comma-separated CIDR list opened to outbound fetches
    (outbound.parse_networks); nothing non-public is open by default. With `url`, `base_url` is
    ignored: the page's final URL (after redirects) is the base.

    Raises:
    - ValidationFailed: not exactly one of html/url, inline HTML over limits.html_max_bytes, or
      a base_url that is not an absolute http(s) URL;
    - InvalidUrl / BlockedUrl / UrlFetchFailed: the page at `url` (or a redirect) is refused or
      cannot be fetched, answers a non-2xx status, is over html_max_bytes or is not HTML;
    - HtmlRenderFailed: WeasyPrint could not render the document;
    - HtmlResourceRefused: strict=True and a resource was refused or failed (no PDF is left behind).
    MemoryError is left alone (the worker turns it into EngineResourceLimit).
    """
    options = options or HtmlOptions()
    limits = limits or FetchLimits()
    networks = outbound.parse_networks(allowed_networks)
    if (html is None) == (url is None):
        raise _invalid("source", "give exactly one of html and url")
    encoding: str | None = None
    source: str | bytes
    if url is not None:
        source, base_url, encoding = _fetch_page(url, limits, networks)
    else:
        assert html is not None
        size = len(html.encode("utf-8", "surrogatepass"))
        if size > limits.html_max_bytes:
            raise _invalid("html", f"the HTML is {size} bytes; the limit is {limits.html_max_bytes} bytes")
        if base_url is not None:
            _check_base_url(base_url)
        source = html

    ledger = _Ledger(limits, networks)
    with _captured_weasyprint_log(ledger) as warnings:
        page_count = _render(source, base_url, encoding, options, ledger, destination)
    result = RenderedHtml(
        page_count=page_count,
        resources=ledger.listing(),
        warnings=warnings,
        resources_not_listed=ledger.not_listed,
        unlisted_problems=ledger.unlisted_problems,
    )
    if strict and (result.problems or result.unlisted_problems):
        with contextlib.suppress(OSError):
            os.remove(destination)
        result.raise_for_problems()
    return result


def _render(
    source: str | bytes,
    base_url: str | None,
    encoding: str | None,
    options: HtmlOptions,
    ledger: _Ledger,
    destination: str,
) -> int:
    from weasyprint import CSS, HTML  # lazy: heavy, and only workers render

    fetcher = _fetcher_class()(ledger)
    try:
        document = HTML(
            string=source, base_url=base_url, encoding=encoding, url_fetcher=fetcher, media_type=options.media
        )
        user_css = CSS(string=options.stylesheet(), url_fetcher=fetcher)
        rendered = document.render(stylesheets=[user_css], presentational_hints=True)
        page_count = len(rendered.pages)
        if page_count == 0:
            raise errors.HtmlRenderFailed("The HTML rendered to no pages.")
        rendered.write_pdf(destination)
    except (errors.PdfJobsError, MemoryError):
        raise
    except Exception as error:
        raise errors.HtmlRenderFailed(
            f"The HTML could not be rendered to PDF: {type(error).__name__}: {str(error)[:300]}"
        ) from error
    return page_count


# --- the page itself ------------------------------------------------------------------------------------


_HTML_TYPES = ("text/html", "application/xhtml+xml", "")


def _fetch_page(
    url: str, limits: FetchLimits, networks: tuple[outbound.IPNetwork, ...]
) -> tuple[bytes, str, str | None]:
    """(body, final URL, charset) of the page at `url`."""
    page = outbound.fetch(
        url,
        max_bytes=limits.html_max_bytes,
        timeout=limits.html_timeout_seconds,
        allowed_networks=networks,
        headers={"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"},
    )
    if not page.ok:
        raise errors.UrlFetchFailed(
            f"The URL answered HTTP {page.status}.", details={"reason": "status", "status": page.status}
        )
    if page.content_type not in _HTML_TYPES:
        raise errors.UrlFetchFailed(
            f"The URL returned {page.content_type}, not HTML.",
            details={"reason": "content_type", "contentType": page.content_type},
        )
    charset = page.charset
    if charset is not None:
        try:
            codecs.lookup(charset)
        except LookupError:
            charset = None
    return page.body, page.final_url, charset


def _check_base_url(base_url: str) -> None:
    try:
        parts = urlsplit(base_url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in outbound.ALLOWED_SCHEMES or not parts.hostname:
        raise _invalid("base_url", "must be an absolute http or https URL")


# --- resources ------------------------------------------------------------------------------------------


class _Refused(Exception):
    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _Ledger:
    """Policy and bookkeeping for one document's resources (no WeasyPrint in here)."""

    def __init__(self, limits: FetchLimits, networks: tuple[outbound.IPNetwork, ...]) -> None:
        self.limits = limits
        self.networks = networks
        self.total_bytes = 0
        self.attempts = 0  # http(s) and data: URLs asked for (what resource_max_count limits)
        self.not_listed = 0
        self.unlisted_problems = 0
        self._entries: dict[str, dict[str, Any]] = {}  # by URL, in the order first asked for
        # What a URL gave the first time (WeasyPrint may ask again): the answer, or the refusal.
        self._answers: dict[str, tuple[str, bytes, str] | _Refused] = {}

    def get(self, url: str) -> tuple[str, bytes, str]:
        """(final URL, body, Content-Type) of `url`, or _Refused."""
        answer = self._answers.get(url)
        if answer is None:
            try:
                answer = self._get(url)
                self._note(url, FETCHED, None, len(answer[1]))
            except _Refused as refused:
                answer = refused
                self._note(url, refused.status, refused.reason, None)
            self._answers[url] = answer
        if isinstance(answer, _Refused):
            raise answer
        return answer

    def note_unresolvable(self, reference: str) -> None:
        self._note(reference, REFUSED, "a relative URL, and the document has no base URL to resolve it against", None)

    def listing(self) -> list[dict[str, Any]]:
        return [dict(entry) for entry in self._entries.values()]

    def _note(self, url: str, status: str, reason: str | None, size: int | None) -> None:
        if url in self._entries:
            return
        if len(self._entries) < _MAX_LISTED:
            self._entries[url] = {"url": _shorten(url), "status": status, "reason": reason, "bytes": size}
        else:
            self.not_listed += 1
            self.unlisted_problems += status != FETCHED

    def _get(self, url: str) -> tuple[str, bytes, str]:
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme not in ("http", "https", "data"):
            if scheme == "file":
                raise _Refused(REFUSED, "local files are never read")
            raise _Refused(REFUSED, f"only http, https and data: URLs are fetched, not {scheme or 'relative'} ones")
        self.attempts += 1
        if self.attempts > self.limits.resource_max_count:
            raise _Refused(REFUSED, f"the document asks for more than {self.limits.resource_max_count} resources")
        allowance = min(self.limits.resource_max_bytes, self.limits.resources_total_bytes - self.total_bytes)
        over = (
            f"larger than the limit of {self.limits.resource_max_bytes} bytes per resource"
            if allowance == self.limits.resource_max_bytes
            else f"over the limit of {self.limits.resources_total_bytes} bytes for all resources together"
        )
        if scheme == "data":
            content_type, body = _decode_data_url(url, allowance, over)
            final_url = url
        else:
            final_url, body, content_type = self._fetch(url, allowance, over)
        self.total_bytes += len(body)
        return final_url, body, content_type

    def _fetch(self, url: str, allowance: int, over: str) -> tuple[str, bytes, str]:
        if allowance <= 0:
            raise _Refused(REFUSED, over)
        try:
            result = outbound.fetch(
                url,
                max_bytes=allowance,
                timeout=self.limits.resource_timeout_seconds,
                allowed_networks=self.networks,
            )
        except (errors.InvalidUrl, errors.BlockedUrl) as error:
            raise _Refused(REFUSED, error.message) from error
        except errors.UrlFetchFailed as error:
            reason = (error.details or {}).get("reason")
            if reason == "too_large":
                raise _Refused(REFUSED, over) from error
            if reason == "timeout":
                raise _Refused(REFUSED, error.message) from error
            raise _Refused(FAILED, error.message) from error
        if not result.ok:
            raise _Refused(FAILED, f"HTTP status {result.status}")
        return result.final_url, result.body, result.headers.get("content-type", "")


def _decode_data_url(url: str, allowance: int, over: str) -> tuple[str, bytes]:
    """(Content-Type, bytes) of a data: URL (RFC 2397), within `allowance` bytes."""
    header, comma, payload = url[5:].partition(",")
    if not comma:
        raise _Refused(FAILED, "a malformed data: URL")
    # The payload is part of the HTML, already in memory and within html_max_bytes: decode, then count.
    parameters = header.split(";")
    is_base64 = parameters[-1].strip().lower() == "base64"
    if is_base64:
        parameters = parameters[:-1]
    content_type = ";".join(parameters).strip() or "text/plain;charset=US-ASCII"
    raw = unquote_to_bytes(payload)
    if is_base64:
        compact = b"".join(raw.split())
        try:
            body = base64.b64decode(compact + b"=" * (-len(compact) % 4))
        except (binascii.Error, ValueError) as error:
            raise _Refused(FAILED, "a malformed base64 data: URL") from error
    else:
        body = raw
    if len(body) > allowance:
        raise _Refused(REFUSED, over)
    return content_type, body


def _shorten(url: str) -> str:
    if len(url) <= _SHORT_URL:
        return url
    return f"{url[:60]}…({len(url)} characters)"


_FETCHER_CLASS: Any = None


def _fetcher_class() -> Any:
    """WeasyPrint's URLFetcher, subclassed so that every fetch goes through a _Ledger (made on first use).

    WeasyPrint 70 wants a URLFetcher (not a plain function): its fetch helper reads the fetcher's
    `_fail_on_errors` when a fetch fails, and the response must be a URLFetcherResponse.
    """
    global _FETCHER_CLASS
    if _FETCHER_CLASS is None:
        from weasyprint.urls import URLFetcher, URLFetcherResponse

        class GuardedFetcher(URLFetcher):
            def __init__(self, ledger: _Ledger) -> None:
                # No handler WeasyPrint's opener would use is ever reached: fetch is replaced.
                super().__init__(allowed_protocols=("http", "https", "data"), allow_redirects=False)
                self.ledger = ledger

            def fetch(self, url: str, headers: Any = None) -> Any:
                try:
                    final_url, body, content_type = self.ledger.get(url)
                except _Refused as refused:
                    raise ValueError(f"{refused.status}: {refused.reason}") from None
                response_headers = {"Content-Type": content_type} if content_type else {}
                return URLFetcherResponse(final_url, body=body, headers=response_headers, status=200)

            def open(self, url: Any, data: Any = None, timeout: Any = None) -> Any:
                return self.fetch(url if isinstance(url, str) else url.full_url)

        _FETCHER_CLASS = GuardedFetcher
    return _FETCHER_CLASS


# --- WeasyPrint's log -----------------------------------------------------------------------------------


class _Collector(logging.Handler):
    def __init__(self, ledger: _Ledger) -> None:
        super().__init__(logging.WARNING)
        self.ledger = ledger
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if str(record.msg).startswith(_RELATIVE_WITHOUT_BASE) and record.args:
                args = record.args if isinstance(record.args, tuple) else (record.args,)
                self.ledger.note_unresolvable(str(args[0]))
            if len(self.messages) < _MAX_WARNINGS:
                self.messages.append(record.getMessage()[:500])
        except Exception:  # a log handler must never break the render
            self.handleError(record)


@contextlib.contextmanager
def _captured_weasyprint_log(ledger: _Ledger) -> Iterator[list[str]]:
    """WeasyPrint's warnings and errors for this render, kept out of the process log."""
    logger = logging.getLogger("weasyprint")
    collector = _Collector(ledger)
    propagate, level = logger.propagate, logger.level
    logger.addHandler(collector)
    logger.propagate = False
    logger.setLevel(logging.WARNING)
    try:
        yield collector.messages
    finally:
        logger.removeHandler(collector)
        logger.propagate = propagate
        logger.setLevel(level)


# --- CSS helpers ----------------------------------------------------------------------------------------


def _css_string(text: str) -> str:
    """`text` as a double-quoted CSS string: quotes, backslashes and control characters escaped."""
    out = []
    for char in text:
        if char in '"\\' or unicodedata.category(char)[0] == "C":
            out.append(f"\\{ord(char):06x} " if char not in "\r\n" else "\\00000a ")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _css_content(text: str) -> str:
    """A `content` value: the text as CSS strings, with {page} and {pages} as page counters."""
    parts = []
    for index, piece in enumerate(_PLACEHOLDER_RE.split(text.replace("\r\n", "\n"))):
        if index % 2:
            parts.append(f"counter({piece})")
        elif piece:
            parts.append(_css_string(piece))
    return " ".join(parts) or '""'


def _points(length: str) -> float:
    if length == "0":
        return 0.0
    return float(length[:-2]) * _POINTS_PER_UNIT[length[-2:]]


def _invalid(name: str, message: str) -> errors.PdfJobsError:
    return errors.ValidationFailed(f"{name}: {message}.", details={"field": name, "message": message})
