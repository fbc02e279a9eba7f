"""HTML to PDF with real WeasyPrint, resources from a real HTTP server on 127.0.0.1.

Loopback is refused unless a test opens it (allowed_networks="127.0.0.1/32"); nothing leaves the machine.
"""

from __future__ import annotations

import base64
import contextlib
import io
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
from PIL import Image
from pypdf import PdfReader

from pdfjobs import errors, isolation
from pdfjobs.engines.html import FetchLimits, HtmlOptions, RenderedHtml, render_html

pytestmark = pytest.mark.timeout(60)
needs_pdftotext = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils is not installed")

LOOPBACK = "127.0.0.1/32"
PASSWD_MARK = "root:x:0:0"


def _png(color: tuple[int, int, int], size: int = 8) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), color).save(out, format="PNG")
    return out.getvalue()


PIXEL = _png((0, 0, 255))
ROUTES: dict[str, tuple[int, str, bytes]] = {
    "/style.css": (200, "text/css", b'.styled::after { content: "FROM-REMOTE-CSS"; }'),
    "/sub/style.css": (200, "text/css", b'.styled::after { content: "FROM-SUB-CSS"; }'),
    "/pixel.png": (200, "image/png", PIXEL),
    "/sub/pixel.png": (200, "image/png", PIXEL),
    "/big.png": (200, "image/png", b"\x89PNG" + b"\0" * 200_000),
    "/sub/page.html": (
        200,
        "text/html; charset=utf-8",
        b'<html><head><link rel="stylesheet" href="style.css"></head>'
        b'<body><p class="styled">Fetched page. </p><img src="pixel.png"></body></html>',
    ),
    "/missing.png": (404, "text/plain", b"no"),
    "/not-html": (200, "application/pdf", b"%PDF-1.7"),
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.paths: list[str] = []


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        if self.path == "/go":  # the page, through a redirect: relative URLs resolve against /sub/
            self._send(302, "text/plain", b"", location="/sub/page.html")
        elif self.path == "/to-metadata.png":
            self._send(302, "text/plain", b"", location="http://169.254.169.254/latest/meta-data/")
        elif self.path == "/slow.css":  # drips forever (until the client hangs up)
            self.close_connection = True
            self.send_response(200)
            self.send_header("Content-Type", "text/css")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            for _ in range(1000):
                try:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.05)
        else:
            status, content_type, body = ROUTES.get(self.path, (404, "text/plain", b"not found"))
            self._send(status, content_type, body)

    def _send(self, status: int, content_type: str, body: bytes, location: str = "") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if location:
            self.send_header("Location", location)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server() -> Iterator[_Server]:
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def base(server: _Server) -> str:
    server.paths.clear()
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out.pdf"


def render(out: Path, html: str | None = None, **kwargs: Any) -> RenderedHtml:
    return render_html(str(out), html=html, **kwargs)


def text_of(pdf: Path, page: int | None = None) -> str:
    pages = ["-f", str(page), "-l", str(page)] if page else []
    return subprocess.run(["pdftotext", *pages, str(pdf), "-"], capture_output=True, check=True, text=True).stdout


def by_url(result: RenderedHtml) -> dict[str, dict[str, Any]]:
    return {entry["url"]: entry for entry in result.resources}


# --- the document -----------------------------------------------------------------------------------------


@needs_pdftotext
def test_inline_html_renders_to_a_pdf_with_the_right_pages(out: Path) -> None:
    html = "".join(f'<p style="break-after: page">Page number {n}</p>' for n in range(1, 4))
    result = render(out, f"<html><body>{html}<p>Last</p></body></html>")
    assert result.page_count == 4
    reader = PdfReader(out)
    assert len(reader.pages) == 4
    assert "Page number 2" in reader.pages[1].extract_text()
    assert "Last" in text_of(out, 4)
    assert result.resources == []


@pytest.mark.parametrize(
    ("page_size", "orientation", "expected"),
    [
        ("A4", "portrait", (595.28, 841.89)),
        ("a4", "landscape", (841.89, 595.28)),
        ("Letter", "portrait", (612, 792)),
        ("Letter", "landscape", (792, 612)),
        ("Legal", "portrait", (612, 1008)),
        ("A5", "portrait", (419.53, 595.28)),
        ("Tabloid", "portrait", (792, 1224)),
        ("100mm 150mm", "portrait", (283.46, 425.2)),
        ("100mm 150mm", "landscape", (425.2, 283.46)),
        ("8.5in 5in", "portrait", (612, 360)),  # an explicit size is taken as written
    ],
)
def test_page_sizes_and_orientation(out: Path, page_size: str, orientation: str, expected: tuple[float, float]) -> None:
    # The document's own @page size loses to the option (as in Chrome by default).
    html = "<style>@page { size: A3 }</style><p>size</p>"
    render(out, html, options=HtmlOptions(page_size=page_size, orientation=orientation))
    box = PdfReader(out).pages[0].mediabox
    assert float(box.width) == pytest.approx(expected[0], abs=1)
    assert float(box.height) == pytest.approx(expected[1], abs=1)


@needs_pdftotext
def test_margins_move_the_text(out: Path, tmp_path: Path) -> None:
    def first_word_box(options: HtmlOptions) -> tuple[float, float]:
        render(out, "<body style='margin:0'><p style='margin:0'>Marker</p></body>", options=options)
        bbox = subprocess.run(["pdftotext", "-bbox", str(out), "-"], capture_output=True, check=True, text=True).stdout
        match = re.search(r'<word xMin="([\d.]+)" yMin="([\d.]+)"[^>]*>Marker<', bbox)
        assert match, bbox
        return float(match.group(1)), float(match.group(2))

    x1, y1 = first_word_box(HtmlOptions(margin_left="10mm", margin_top="10mm"))
    x2, y2 = first_word_box(HtmlOptions(margin_left="50mm", margin_top="1in"))
    assert x1 == pytest.approx(28.35, abs=2)  # 10 mm in points
    assert x2 - x1 == pytest.approx(40 * 72 / 25.4, abs=1)  # 40 mm further right
    assert y2 - y1 == pytest.approx(72 - 28.35, abs=1)  # 1 in instead of 10 mm down


@needs_pdftotext
def test_header_and_footer_with_page_numbers_on_every_page(out: Path) -> None:
    header = 'Quarterly "report" \\ {page} of {pages}'
    footer = 'Footer text"; } body { display: none } @page { content: "'  # CSS injection attempt: stays text
    html = "".join(f'<p style="break-after: page">Body {n}</p>' for n in range(1, 4))
    result = render(out, html, options=HtmlOptions(header=header, footer=footer, margin_top="20mm"))
    assert result.page_count == 3
    for page in (1, 2, 3):
        text = text_of(out, page)
        assert f'Quarterly "report" \\ {page} of 3' in text
        assert 'Footer text"; } body { display: none } @page { content: "' in text
        assert f"Body {page}" in text  # the body is still shown: the footer did not escape its string


def _pixel(pdf: Path, x: int = 300, y: int = 500) -> tuple[int, ...]:
    document = pdfium.PdfDocument(str(pdf))
    try:
        return tuple(document[0].render(scale=1).to_pil().convert("RGB").getpixel((x, y)))
    finally:
        document.close()


def test_print_background_false_drops_backgrounds_true_paints_them(out: Path) -> None:
    html = "<html><body style='background: rgb(255, 0, 0)'><div style='background: blue'>x</div></body></html>"
    render(out, html)  # print_background defaults to False
    assert _pixel(out) == (255, 255, 255)
    render(out, html, options=HtmlOptions(print_background=True))
    assert _pixel(out) == (255, 0, 0)


def test_media_option_selects_media_rules(out: Path) -> None:
    html = "<style>@media screen { body { background: rgb(0, 128, 0) } }</style><p>m</p>"
    render(out, html, options=HtmlOptions(print_background=True))
    assert _pixel(out) == (255, 255, 255)
    render(out, html, options=HtmlOptions(print_background=True, media="screen"))
    assert _pixel(out) == (0, 128, 0)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("page_size", "A4; } body { display: none"),
        ("page_size", "B7"),
        ("page_size", "210mm"),
        ("page_size", "1mm 1mm"),  # too small to be a page
        ("page_size", "9999in 11in"),
        ("orientation", "diagonal"),
        ("margin_top", "10mm; color: red"),
        ("margin_left", "1e3mm"),
        ("margin_right", "-5mm"),
        ("margin_bottom", "10"),
        ("margin_left", "200mm"),  # left + right leave no room on A4
        ("header", "x" * 501),
        ("media", "tv"),
    ],
)
def test_invalid_options_are_refused_naming_the_field(field: str, value: str) -> None:
    arguments: dict[str, Any] = {field: value}
    with pytest.raises(errors.ValidationFailed) as refused:
        HtmlOptions(**arguments)
    assert refused.value.details is not None
    assert refused.value.details["field"] == field


def test_inline_html_over_the_limit_and_a_non_http_base_url_are_refused(out: Path) -> None:
    with pytest.raises(errors.ValidationFailed, match="limit is 100 bytes"):
        render(out, "<p>" + "x" * 200 + "</p>", limits=FetchLimits(html_max_bytes=100))
    with pytest.raises(errors.ValidationFailed, match="base_url"):
        render(out, "<p>x</p>", base_url="file:///etc/")
    with pytest.raises(errors.ValidationFailed, match="exactly one"):
        render_html(str(out), html=None, url=None)
    assert not out.exists()


# --- resources --------------------------------------------------------------------------------------------

REMOTE = '<link rel="stylesheet" href="style.css"><p class="styled">Styled: </p><img src="/pixel.png">'


@needs_pdftotext
def test_resources_are_fetched_from_an_allowed_server(out: Path, base: str, server: _Server) -> None:
    result = render(out, REMOTE, base_url=f"{base}/", allowed_networks=LOOPBACK)
    listed = by_url(result)
    assert listed[f"{base}/style.css"]["status"] == "fetched"
    assert listed[f"{base}/pixel.png"] == {
        "url": f"{base}/pixel.png",
        "status": "fetched",
        "reason": None,
        "bytes": len(PIXEL),
    }
    assert "FROM-REMOTE-CSS" in text_of(out)
    assert len(PdfReader(out).pages[0].images) == 1
    assert sorted(server.paths) == ["/pixel.png", "/style.css"]


@needs_pdftotext
def test_loopback_is_refused_unless_opened(out: Path, base: str, server: _Server) -> None:
    result = render(out, REMOTE, base_url=f"{base}/")
    assert {entry["status"] for entry in result.resources} == {"refused"}
    assert "non-public address" in by_url(result)[f"{base}/style.css"]["reason"]
    assert "FROM-REMOTE-CSS" not in text_of(out)
    assert server.paths == []  # refused before connecting


@needs_pdftotext
def test_local_files_and_metadata_are_never_read(out: Path) -> None:
    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><image href="file:///etc/passwd"/></svg>'
    html = f"""<html><head>
        <link rel="stylesheet" href="file:///etc/passwd">
        <link rel="attachment" href="file:///etc/passwd" title="leak">
        <style>
          @import url("file:///etc/passwd");
          @font-face {{ font-family: leak; src: url(file:///etc/passwd); }}
          p {{ background-image: url(file:///etc/passwd); font-family: leak; }}
          .c::after {{ content: url(file:///etc/passwd); }}
        </style></head><body>
        <p class="c">Visible body</p>
        <img src="file:///etc/passwd"><img src="file:/etc/passwd"><img src="FILE:///etc/passwd?x">
        <object data="file:///etc/passwd"></object><embed src="file:///etc/passwd">
        <iframe src="file:///etc/passwd"></iframe>
        <a rel="attachment" href="file:///etc/passwd">attached</a>
        {svg}
        <img src="http://169.254.169.254/latest/meta-data/">
        <img src="http://[fd00:ec2::254]/latest/meta-data/">
        <img src="http://localhost/">
        <img src="gopher://example.com/">
        <img src="ftp://example.com/x.png">
    </body></html>"""
    result = render(out, html, options=HtmlOptions(print_background=True))
    text = text_of(out)
    assert "Visible body" in text
    assert PASSWD_MARK not in text
    reader = PdfReader(out)
    assert not reader.attachments
    assert PASSWD_MARK.encode() not in out.read_bytes()
    listed = by_url(result)
    for url in ("file:///etc/passwd", "file:/etc/passwd", "http://169.254.169.254/latest/meta-data/"):
        assert listed[url]["status"] == "refused", url
    assert listed["file:///etc/passwd"]["reason"] == "local files are never read"
    assert "non-public" in listed["http://[fd00:ec2::254]/latest/meta-data/"]["reason"]
    assert "non-public" in listed["http://localhost/"]["reason"]
    assert listed["gopher://example.com/"]["status"] == "refused"
    assert all(entry["status"] == "refused" for entry in result.resources)
    assert all(entry["bytes"] is None for entry in result.resources)


def test_local_fonts_are_refused_too(out: Path) -> None:
    # src: local() makes WeasyPrint look the font file up and fetch it as a file: URL; that is refused
    # like any other local file (text still renders in a system font chosen by family name).
    html = '<style>@font-face { font-family: X; src: local("DejaVu Sans") } p { font-family: X }</style><p>x</p>'
    result = render(out, html)
    assert result.resources
    assert all(entry["url"].startswith("file:") and entry["status"] == "refused" for entry in result.resources)
    assert result.page_count == 1


def test_a_base_element_pointing_at_the_disk_does_not_help(out: Path) -> None:
    result = render(out, '<base href="file:///etc/"><img src="passwd"><p>x</p>', base_url="https://example.com/")
    assert by_url(result)["file:///etc/passwd"]["status"] == "refused"


def test_relative_urls_without_a_base_are_listed_as_refused(out: Path) -> None:
    result = render(out, '<img src="images/logo.png"><p>x</p>')
    assert by_url(result)["images/logo.png"]["status"] == "refused"
    assert "no base URL" in by_url(result)["images/logo.png"]["reason"]


def test_redirects_to_metadata_missing_and_slow_resources(out: Path, base: str) -> None:
    html = (
        f'<link rel="stylesheet" href="{base}/slow.css">'
        f'<img src="{base}/to-metadata.png"><img src="{base}/missing.png"><p>x</p>'
    )
    started = time.monotonic()
    result = render(out, html, allowed_networks=LOOPBACK, limits=FetchLimits(resource_timeout_seconds=0.5))
    assert time.monotonic() - started < 3
    listed = by_url(result)
    assert listed[f"{base}/to-metadata.png"]["status"] == "refused"
    assert "169.254.169.254" in listed[f"{base}/to-metadata.png"]["reason"]
    assert listed[f"{base}/missing.png"] == {
        "url": f"{base}/missing.png",
        "status": "failed",
        "reason": "HTTP status 404",
        "bytes": None,
    }
    assert listed[f"{base}/slow.css"]["status"] == "refused"
    assert "timed out" in listed[f"{base}/slow.css"]["reason"]
    assert result.page_count == 1


def test_size_and_count_caps(out: Path, base: str) -> None:
    data_png = "data:image/png;base64," + base64.b64encode(PIXEL).decode()
    per_resource = len(PIXEL) + 5
    limits = FetchLimits(
        resource_max_bytes=per_resource, resources_total_bytes=len(PIXEL) * 2 + 10, resource_max_count=4
    )
    html = (
        f'<img src="{base}/big.png">'  # over the per-resource cap
        f'<img src="{base}/pixel.png"><img src="{data_png}">'  # together just under the total
        f'<img src="{base}/sub/pixel.png">'  # over the total
        f'<img src="{base}/style.css">'  # the fifth: over the count
    )
    result = render(out, html, allowed_networks=LOOPBACK, limits=limits)
    entries = result.resources
    assert [entry["status"] for entry in entries] == ["refused", "fetched", "fetched", "refused", "refused"]
    assert f"limit of {per_resource} bytes per resource" in entries[0]["reason"]
    assert entries[2]["bytes"] == len(PIXEL)  # the data: URL counts too
    assert entries[2]["url"].startswith("data:image/png;base64,") and entries[2]["url"].endswith("characters)")
    assert "all resources together" in entries[3]["reason"]
    assert "more than 4 resources" in entries[4]["reason"]


def test_strict_mode_raises_naming_the_refused_resources(out: Path) -> None:
    html = '<img src="file:///etc/passwd"><img src="http://169.254.169.254/x.png"><p>x</p>'
    with pytest.raises(errors.HtmlResourceRefused) as refused:
        render(out, html, strict=True)
    assert "file:///etc/passwd" in refused.value.message
    assert "http://169.254.169.254/x.png" in refused.value.message
    assert refused.value.details is not None and len(refused.value.details["resources"]) == 2
    assert not out.exists()  # no half-acceptable PDF is left behind
    # Without strict, the same document renders, and the caller can decide afterwards.
    result = render(out, html)
    assert out.exists() and len(result.problems) == 2
    with pytest.raises(errors.HtmlResourceRefused):
        result.raise_for_problems()
    assert render(out, "<p>clean</p>", strict=True).problems == []


# --- the page at a URL ------------------------------------------------------------------------------------


@needs_pdftotext
def test_a_page_url_is_fetched_and_its_relative_urls_follow_its_final_url(out: Path, base: str) -> None:
    result = render_html(str(out), html=None, url=f"{base}/go", allowed_networks=LOOPBACK)
    assert "Fetched page." in text_of(out)
    assert "FROM-SUB-CSS" in text_of(out)  # style.css resolved against /sub/page.html, not /go
    assert {entry["url"]: entry["status"] for entry in result.resources} == {
        f"{base}/sub/style.css": "fetched",
        f"{base}/sub/pixel.png": "fetched",
    }


@pytest.mark.parametrize(
    ("url", "error", "message"),
    [
        ("http://169.254.169.254/latest/meta-data/", errors.BlockedUrl, "non-public"),
        ("file:///etc/passwd", errors.BlockedUrl, "Only http and https"),
        ("{base}/to-metadata.png", errors.BlockedUrl, "169.254.169.254"),
        ("{base}/missing.png", errors.UrlFetchFailed, "HTTP 404"),
        ("{base}/not-html", errors.UrlFetchFailed, "not HTML"),
        ("{base}/sub/page.html", errors.UrlFetchFailed, "limit of 50 bytes"),
    ],
)
def test_a_page_url_that_is_refused_or_fails_raises(
    out: Path, base: str, url: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        render_html(
            str(out), url=url.format(base=base), allowed_networks=LOOPBACK, limits=FetchLimits(html_max_bytes=50)
        )
    assert not out.exists()


def test_loopback_page_is_blocked_by_default(out: Path, base: str) -> None:
    with pytest.raises(errors.BlockedUrl):
        render_html(str(out), url=f"{base}/sub/page.html")


# --- in an isolated worker, as the pipeline runs it ------------------------------------------------------


def test_rendering_through_run_isolated(out: Path) -> None:
    isolation.configure_workers(1)
    try:
        result = isolation.run_isolated(
            render_html,
            str(out),
            html="<p style='break-after: page'>one</p><p>two</p>",
            options=HtmlOptions(page_size="Letter", header="{page}/{pages}"),
            limits=FetchLimits(),
            allowed_networks="",
            timeout=60,
            memory_mb=1024,
        )
        assert isinstance(result, RenderedHtml)
        assert result.page_count == 2
        assert len(PdfReader(out).pages) == 2
        # A domain error crosses the process boundary as itself.
        with pytest.raises(errors.BlockedUrl, match="non-public"):
            isolation.run_isolated(render_html, str(out), url="http://169.254.169.254/", timeout=30, memory_mb=1024)
    finally:
        with contextlib.suppress(Exception):
            isolation.shutdown_workers()
