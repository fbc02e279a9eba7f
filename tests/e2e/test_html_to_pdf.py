"""html_to_pdf end to end: inline HTML, an uploaded file and a URL, page options, and the resource
guard (file: and metadata refused and listed; strictResources fails the job)."""

from __future__ import annotations

import base64
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import requests

from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e

# A 1x1 red PNG.
RED_PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
)


class _Site(BaseHTTPRequestHandler):
    requested: list[str] = []

    def do_GET(self) -> None:
        type(self).requested.append(self.path)
        pages = {
            "/page.html": (
                b"text/html; charset=utf-8",
                b'<html><head><link rel="stylesheet" href="/style.css"></head>'
                b'<body><h1>Served page</h1><img src="/red.png" width="50" height="50"></body></html>',
            ),
            "/style.css": (b"text/css", b"h1 { color: navy }"),
            "/red.png": (b"image/png", RED_PIXEL),
        }
        if self.path not in pages:
            self.send_response(404)
            self.end_headers()
            return
        content_type, body = pages[self.path]
        self.send_response(200)
        self.send_header("Content-Type", content_type.decode())
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def _pdf_of(api: Api, job_id: str) -> tuple[bytes, dict]:
    result = api.get(f"/jobs/{job_id}/result").json()
    urls = {output["name"]: output["url"] for output in result["outputs"]}
    return requests.get(urls["result.pdf"], timeout=30).content, result["data"]


def _text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "out.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True, timeout=30).stdout.decode()


def _run(api: Api, settings: dict, file_ids: list[str] | None = None) -> dict:
    job = api.submit("html_to_pdf", file_ids or [], settings)
    done, _ = api.wait(job["id"], timeout=120)
    return done


def test_inline_html_with_page_options(tenant_a: Api, tmp_path: Path) -> None:
    html = "<h1>Quarterly report</h1>" + "<p>Paragraph of text.</p>" * 120
    done = _run(
        tenant_a,
        {
            "html": html,
            "pageSize": "Letter",
            "orientation": "landscape",
            "margin": "20mm",
            "header": "ACME confidential",
            "footer": "Page {page} of {pages}",
        },
    )
    assert done["status"] == "succeeded", done
    assert done["documents"][0]["fileId"] is None and done["documents"][0]["filename"] == "inline.html"
    pdf, data = _pdf_of(tenant_a, done["id"])
    document = pdfium.PdfDocument(pdf)
    pages = len(document)
    assert pages >= 2 and data["documents"][0]["pageCount"] == pages
    assert document[0].get_size() == pytest.approx((792, 612), abs=1)  # Letter, landscape
    text = _text(pdf, tmp_path)
    assert "Quarterly report" in text
    assert text.count("ACME confidential") == pages
    assert f"Page {pages} of {pages}" in text


def test_an_uploaded_html_file_and_a_url_fetch_their_resources(tenant_a: Api, site: str, tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(f'<html><body><p>Uploaded page</p><img src="{site}/red.png"></body></html>')
    uploaded = tenant_a.upload(page, content_type="text/html")
    assert uploaded["contentType"] == "text/html"
    done = _run(tenant_a, {}, [uploaded["id"]])
    assert done["status"] == "succeeded", done
    pdf, data = _pdf_of(tenant_a, done["id"])
    assert "Uploaded page" in _text(pdf, tmp_path)
    assert [(r["url"], r["status"]) for r in data["documents"][0]["resources"]] == [(f"{site}/red.png", "fetched")]

    done = _run(tenant_a, {"url": f"{site}/page.html"})
    assert done["status"] == "succeeded", done
    pdf, data = _pdf_of(tenant_a, done["id"])
    assert "Served page" in _text(pdf, tmp_path)
    statuses = {r["url"]: r["status"] for r in data["documents"][0]["resources"]}
    assert statuses == {f"{site}/style.css": "fetched", f"{site}/red.png": "fetched"}


def test_file_and_metadata_references_are_refused_and_listed(tenant_a: Api, tmp_path: Path) -> None:
    html = (
        "<p>Visible text</p>"
        '<img src="file:///etc/passwd">'
        '<link rel="stylesheet" href="file:///etc/passwd">'
        '<img src="http://169.254.169.254/latest/meta-data/iam/security-credentials/">'
        '<iframe src="http://127.0.0.2/"></iframe>'
    )
    done = _run(tenant_a, {"html": html})
    assert done["status"] == "succeeded", done
    pdf, data = _pdf_of(tenant_a, done["id"])
    text = _text(pdf, tmp_path)
    assert "Visible text" in text and "root:x:0:0" not in text
    assert b"root:x:0:0" not in pdf
    refused = {r["url"] for r in data["documents"][0]["resources"] if r["status"] == "refused"}
    assert {"file:///etc/passwd", "http://169.254.169.254/latest/meta-data/iam/security-credentials/"} <= refused

    strict = _run(tenant_a, {"html": html, "strictResources": True})
    assert strict["status"] == "failed"
    assert strict["error"]["code"] == "html.resource_refused"
    assert "169.254.169.254" in strict["error"]["message"]


@pytest.mark.parametrize(
    ("settings", "code"),
    [
        ({"url": "http://169.254.169.254/latest/meta-data/"}, "url.blocked"),
        ({"url": "file:///etc/passwd"}, "url.blocked"),
        ({"url": "http://[::1]:80/"}, "url.blocked"),
        ({"html": "<p>x</p>", "url": "https://example.com/"}, "validation.error"),
        ({"html": "<p>x</p>", "pageSize": "A4; } body { display:none"}, "validation.error"),
        ({"html": "<p>x</p>", "margin": "10furlongs"}, "validation.error"),
        ({}, "validation.error"),
    ],
)
def test_bad_html_requests_are_refused_at_submit(tenant_a: Api, settings: dict, code: str) -> None:
    response = tenant_a.post("/jobs", json={"jobType": "html_to_pdf", "inputFileIds": [], "settings": settings})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code


def test_a_page_that_cannot_be_fetched_fails_the_job_with_its_code(tenant_a: Api) -> None:
    import socket

    with socket.socket() as probe:  # a loopback port nothing listens on (127.0.0.1 is opened for these tests)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = _run(tenant_a, {"url": f"http://127.0.0.1:{port}/page.html"})
    assert done["status"] == "failed"
    assert done["error"]["code"] == "url.fetch_failed" and "connect" in done["error"]["message"].lower()
