"""The textract engine through the OCR job types: page decisions, one asynchronous Textract job for a
multi-page document, synchronous calls for single rendered pages, and a searchable PDF from
Textract's words. Textract itself is botocore's Stubber serving the fixtures in tests/fixtures/textract
(synthesised in Textract's documented shape: see the README there); everything else is real."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from pdfjobs import errors, filetypes
from pdfjobs.engines import textract
from pdfjobs.jobtypes.base import InputDocument
from pdfjobs.jobtypes.ocr import OcrPdf, SearchablePdf
from pdfjobs.settings import get_settings
from tests.corpus import corpus_file
from tests.unit.job_doubles import OneInput, file_record

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "textract"
BUCKET, KEY = "pdfjobs-files", "tenants/t/files/file_1"


def _fixture(name: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / name).read_text()))


@pytest.fixture
def textract_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    monkeypatch.setenv("PDFJOBS_TEXTRACT_ENABLED", "true")
    get_settings.cache_clear()
    client = boto3.client("textract", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    monkeypatch.setattr(textract, "_client", lambda: client)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()
    get_settings.cache_clear()


def _source(tmp_path: Path, corpus_name: str) -> InputDocument:
    path = tmp_path / "input"
    shutil.copyfile(corpus_file(corpus_name), path)
    return InputDocument(index=0, path=path, bucket=BUCKET, key=KEY, content_type=filetypes.PDF)


def test_a_multi_page_document_is_one_asynchronous_textract_job(textract_on: Stubber, tmp_path: Path) -> None:
    textract_on.add_response(
        "start_document_text_detection",
        _fixture("cardinal-start-document-text-detection.json"),
        {"DocumentLocation": {"S3Object": {"Bucket": BUCKET, "Name": KEY}}},
    )
    job_id = _fixture("cardinal-start-document-text-detection.json")["JobId"]
    first = _fixture("cardinal-get-document-text-detection-1.json")
    textract_on.add_response("get_document_text_detection", first, {"JobId": job_id})
    textract_on.add_response(
        "get_document_text_detection",
        _fixture("cardinal-get-document-text-detection-2.json"),
        {"JobId": job_id, "NextToken": first["NextToken"]},
    )
    job_type = SearchablePdf()
    settings = job_type.parse_settings({"engine": "textract", "pages": "1-2"})
    job_type.check_submission(settings, [file_record(KEY)])
    source = _source(tmp_path, "scans/cardinal.pdf")
    assert job_type.batch_size(settings, 2) == 2  # the whole document in one batch

    pages = job_type.process_batch(source, [1, 2], settings)
    assert [(page["page"], page["source"], page["engine"]) for page in pages] == [
        (1, "ocr", "textract"),
        (2, "ocr", "textract"),
    ]
    assert pages[1]["width"] == 792 and pages[1]["height"] == 612  # cardinal's page 2 is landscape
    assert "LinnSequencer" in pages[0]["text"]

    document = {"index": 0, "fileId": "file_1", "filename": "cardinal.pdf", "pageCount": 4, "pages": pages}
    outputs = {output.name: output for output in job_type.assemble([document], settings, OneInput(source))}
    pdf = tmp_path / "result.pdf"
    pdf.write_bytes(outputs["result.pdf"].data)
    found = subprocess.run(
        ["pdftotext", "-f", "1", "-l", "1", str(pdf), "-"], capture_output=True, check=True, timeout=30
    ).stdout.decode()
    assert "LinnSequencer" in found
    assert json.loads(outputs["result.json"].data)["documents"][0]["pages"][0]["words"] > 300


def test_a_single_page_is_rendered_and_read_synchronously(textract_on: Stubber, tmp_path: Path) -> None:
    textract_on.add_response(
        "detect_document_text", _fixture("linn-detect-document-text.json"), {"Document": {"Bytes": ANY}}
    )
    job_type = OcrPdf()
    settings = job_type.parse_settings({"engine": "textract", "outputFormat": "txt"})
    pages = job_type.process_batch(_source(tmp_path, "scans/linn.pdf"), [1], settings)
    assert len(pages) == 1 and pages[0]["source"] == "ocr" and len(pages[0]["lines"]) == 82
    for line in pages[0]["lines"]:
        for word in line["words"]:
            x0, y0, x1, y1 = word["bbox"]
            assert 0 <= x0 <= x1 <= 612 and 0 <= y0 <= y1 <= 792


def test_pages_with_text_are_skipped_without_calling_textract(textract_on: Stubber, tmp_path: Path) -> None:
    job_type = OcrPdf()
    settings = job_type.parse_settings({"engine": "textract"})
    pages = job_type.process_batch(_source(tmp_path, "scans/multipage.pdf"), [4], settings)
    assert pages[0]["source"] == "text" and pages[0]["text"]  # the Stubber has no responses queued


def test_textract_refuses_languages_it_cannot_read(textract_on: Stubber) -> None:
    job_type = OcrPdf()
    settings = job_type.parse_settings({"engine": "textract", "languages": ["eng", "jpn"]})
    with pytest.raises(errors.LanguageUnavailable, match="jpn"):
        job_type.check_submission(settings, [file_record(KEY)])


def test_textract_is_refused_where_it_is_not_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PDFJOBS_TEXTRACT_ENABLED", raising=False)
    get_settings.cache_clear()
    job_type = OcrPdf()
    with pytest.raises(errors.EngineUnavailable):
        job_type.check_submission(job_type.parse_settings({"engine": "textract"}), [file_record(KEY)])


# --- AnalyzeDocument through extract_table and extract_form ----------------------------------
ANALYSIS = Path(__file__).resolve().parents[1] / "fixtures" / "textract-analysis"


@pytest.fixture
def analysis_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    from pdfjobs.engines import textract_analysis

    monkeypatch.setenv("PDFJOBS_TEXTRACT_ENABLED", "true")
    get_settings.cache_clear()
    client = boto3.client("textract", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    monkeypatch.setattr(textract_analysis, "_client", lambda: client)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()
    get_settings.cache_clear()


def _analysis(name: str) -> dict[str, Any]:
    return dict(json.loads((ANALYSIS / name).read_text()))


def test_extract_table_reads_a_document_with_one_analyze_document_job(analysis_on: Stubber, tmp_path: Path) -> None:
    from pdfjobs.jobtypes.tables import ExtractTable

    start = _analysis("twotables-start-document-analysis.json")
    analysis_on.add_response(
        "start_document_analysis",
        start,
        {"DocumentLocation": {"S3Object": {"Bucket": BUCKET, "Name": KEY}}, "FeatureTypes": ["TABLES"]},
    )
    previous: dict[str, Any] | None = None
    for number in (1, 2, 3):
        response = _analysis(f"twotables-get-document-analysis-{number}.json")
        expected = {"JobId": start["JobId"], **({"NextToken": previous["NextToken"]} if previous else {})}
        analysis_on.add_response("get_document_analysis", response, expected)
        previous = response
    job_type = ExtractTable()
    settings = job_type.parse_settings({"engine": "textract"})
    job_type.check_submission(settings, [file_record(KEY)])
    assert job_type.batch_size(settings, 1) == 1
    pages = job_type.process_batch(_source(tmp_path, "tables/twotables_2.pdf"), [1], settings)
    assert pages[0]["source"] == "textract" and len(pages[0]["elements"]) == 2
    header = pages[0]["elements"][0]["cells"]
    assert any(cell["text"] == "Literacy Status" and cell["columnSpan"] > 1 for cell in header)


def test_extract_form_takes_textract_fields_where_the_pdf_has_no_acroform(analysis_on: Stubber, tmp_path: Path) -> None:
    import pikepdf

    from pdfjobs.jobtypes.forms import ExtractForm

    # An encrypted copy: Textract cannot open it, so the page is rendered and sent synchronously.
    locked = tmp_path / "locked.pdf"
    with pikepdf.open(corpus_file("text/crazyones.pdf")) as pdf:
        pdf.save(locked, encryption=pikepdf.Encryption(user="u", owner="o"))
    analysis_on.add_response(
        "analyze_document",
        _analysis("libreoffice-form-analyze-document.json"),
        {"Document": {"Bytes": ANY}, "FeatureTypes": ["FORMS"]},
    )
    job_type = ExtractForm()
    settings = job_type.parse_settings({"engine": "textract", "password": "u"})
    source = InputDocument(index=0, path=locked, bucket=BUCKET, key=KEY, content_type=filetypes.PDF)
    pages = job_type.process_batch(source, [1], settings)
    assert {field["name"]: field["value"] for field in pages[0]["fields"]}["First Name"] == "Alice"
    document = {"index": 0, "fileId": "file_1", "filename": "locked.pdf", "pageCount": 1, "pages": pages}
    outputs = {output.name: output for output in job_type.assemble([document], settings, OneInput(source))}
    fields = json.loads(outputs["result.json"].data)["documents"][0]["fields"]
    assert any(field["value"] == "Alice" and field["source"] == "textract" for field in fields)
    assert "Alice" in outputs["result.csv"].data.decode()


def test_extract_invoice_with_textract_reads_the_stored_document(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from pdfjobs.engines import textract as textract_engine
    from pdfjobs.jobtypes.invoices import ExtractInvoice

    monkeypatch.setenv("PDFJOBS_TEXTRACT_ENABLED", "true")
    get_settings.cache_clear()
    client = boto3.client("textract", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    monkeypatch.setattr("pdfjobs.engines.expense._client", lambda: client)
    monkeypatch.setattr(textract_engine.time, "sleep", lambda _: None)  # the job polls; no real waiting here
    expense_fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "expense"

    def fixture(name: str) -> dict[str, Any]:
        return dict(json.loads((expense_fixtures / name).read_text()))

    first = fixture("coolblue1-get-expense-analysis-1.json")
    job = {"JobId": fixture("coolblue1-start-expense-analysis.json")["JobId"]}
    with Stubber(client) as stubber:
        stubber.add_response(
            "start_expense_analysis",
            fixture("coolblue1-start-expense-analysis.json"),
            {"DocumentLocation": {"S3Object": {"Bucket": BUCKET, "Name": KEY}}},
        )
        stubber.add_response("get_expense_analysis", first, job)
        stubber.add_response(
            "get_expense_analysis",
            fixture("coolblue1-get-expense-analysis-2.json"),
            {**job, "NextToken": first["NextToken"]},
        )
        job_type = ExtractInvoice()
        settings = job_type.parse_settings({"engine": "textract"})
        source = _source(tmp_path, "invoices/coolblue1.pdf")
        pages = job_type.process_batch(source, [1], settings)
        stubber.assert_no_pending_responses()
    document = {"index": 0, "fileId": "file_1", "filename": "coolblue1.pdf", "pageCount": 1, "pages": pages}
    outputs = {o.name: o for o in job_type.assemble([document], settings, OneInput(source))}
    fields = json.loads(outputs["result.json"].data)["documents"][0]["fields"]
    assert fields["invoiceNumber"]["value"] == "993548900" and fields["invoiceNumber"]["source"] == "textract"
    assert fields["total"]["value"] == "717.97"
    get_settings.cache_clear()
