"""The Python SDK and the `pdfjobs` CLI against the running stack."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pytest

from pdfjobs.cli import main as cli_main
from pdfjobs.client import ApiError, Client
from tests.corpus import corpus_file
from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e


def _words(text: str) -> list[str]:
    # NFKC folds ligatures (the true text has "ﬁ" where extraction may give "fi").
    return re.findall(r"\w+", unicodedata.normalize("NFKC", text).lower())


def test_sdk_upload_extract_wait_result(tenant_a: Api) -> None:
    client = Client(api_key=tenant_a.key, base_url=tenant_a.stack.api_url)
    file = client.upload(corpus_file("text/crazyones.pdf"))
    job = client.extract_text([file["id"]], include_layout=True)
    done = client.wait(job["id"], timeout=60)
    assert done["status"] == "succeeded"
    result = client.get_result(job["id"])
    text = result["data"]["documents"][0]["pages"][0]["text"]
    assert _words(text) == _words(corpus_file("text/crazyones.txt").read_text())


def test_sdk_ocr_html_and_engines(tenant_a: Api, tmp_path: Path) -> None:
    client = Client(api_key=tenant_a.key, base_url=tenant_a.stack.api_url)
    assert {engine["id"] for engine in client.engines()} >= {"tesseract", "textract", "weasyprint"}
    image = client.upload(corpus_file("scans/typewriter.png"))
    job = client.ocr_pdf(image["id"], output_format="txt", rotate_pages=True)
    assert job["settings"]["outputFormat"] == "txt" and job["settings"]["rotatePages"] is True
    assert client.wait(job["id"], timeout=120)["status"] == "succeeded"
    result = client.get_result(job["id"])
    assert {output["name"] for output in result["outputs"]} == {"result.json", "result.txt"}
    searchable = client.searchable_pdf(image["id"])
    assert client.wait(searchable["id"], timeout=120)["status"] == "succeeded"
    out = tmp_path / "searchable.pdf"
    client.download_output(
        next(o for o in client.get_result(searchable["id"])["outputs"] if o["name"] == "result.pdf"), out
    )
    assert out.read_bytes().startswith(b"%PDF-")
    html = client.html_to_pdf(html="<p>Hello from the SDK</p>", page_size="A5")
    assert client.wait(html["id"], timeout=60)["status"] == "succeeded"


def test_sdk_raises_api_error_with_code_and_request_id(tenant_a: Api) -> None:
    client = Client(api_key=tenant_a.key, base_url=tenant_a.stack.api_url)
    with pytest.raises(ApiError) as raised:
        client.get_job("job_01M8194FNW6FHZY8FTEAYKPFH6")
    assert raised.value.status == 404
    assert raised.value.code == "resource.not_found"
    assert raised.value.request_id


def test_cli_extract_text_writes_the_result(tenant_a: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.json"
    code = cli_main(
        [
            "--api-url",
            tenant_a.stack.api_url,
            "--api-key",
            tenant_a.key,
            "extract-text",
            str(corpus_file("text/crazyones.pdf")),
            "-o",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    data = json.loads(out.read_text())
    assert _words(data["documents"][0]["pages"][0]["text"]) == _words(corpus_file("text/crazyones.txt").read_text())
    markdown = tmp_path / "out.md"
    assert (
        cli_main(
            [
                "--api-url",
                tenant_a.stack.api_url,
                "--api-key",
                tenant_a.key,
                "extract-text",
                str(corpus_file("text/crazyones.pdf")),
                "-o",
                str(markdown),
                "--format",
                "md",
            ]
        )
        == 0
    )
    assert "Crazy Ones" in markdown.read_text()


def test_cli_reports_a_failed_job_with_exit_1(
    tenant_a: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli_main(
        [
            "--api-url",
            tenant_a.stack.api_url,
            "--api-key",
            tenant_a.key,
            "extract-text",
            str(corpus_file("encrypted/r6-user-password.pdf")),
            "-o",
            str(tmp_path / "x.json"),
        ]
    )
    assert code == 1
    assert "pdf.password_required" in capsys.readouterr().err


def test_cli_ocr_and_html_to_pdf_write_their_outputs(tenant_a: Api, tmp_path: Path) -> None:
    import subprocess

    common = ["--api-url", tenant_a.stack.api_url, "--api-key", tenant_a.key]
    searchable = tmp_path / "scan.pdf"
    code = cli_main(
        [*common, "ocr", str(corpus_file("scans/francais.pdf")), "--lang", "fra", "-o", str(searchable), "-q"]
    )
    assert code == 0
    text = subprocess.run(["pdftotext", str(searchable), "-"], capture_output=True, check=True).stdout.decode()
    assert len(text.split()) > 10

    hocr = tmp_path / "scan.hocr"
    assert (
        cli_main([*common, "ocr", str(corpus_file("scans/typewriter.png")), "--format", "hocr", "-o", str(hocr), "-q"])
        == 0
    )
    assert "ocrx_word" in hocr.read_text()

    page = tmp_path / "page.html"
    page.write_text("<h1>Printed by the CLI</h1>")
    printed = tmp_path / "page.pdf"
    code = cli_main(
        [*common, "html-to-pdf", str(page), "--page-size", "Letter", "--footer", "p. {page}", "-o", str(printed), "-q"]
    )
    assert code == 0
    text = subprocess.run(["pdftotext", str(printed), "-"], capture_output=True, check=True).stdout.decode()
    assert "Printed by the CLI" in text and "p. 1" in text
    assert cli_main([*common, "ocr", str(tmp_path / "missing.pdf"), "-q"]) == 2
