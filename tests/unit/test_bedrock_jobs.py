"""The bedrock engine through extract_invoice and extract_form: fields read by the LLM (botocore's
Stubber serving the synthesised Converse fixture in tests/fixtures/bedrock), with citations on
the real pages of the corpus invoice."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from pdfjobs import errors, filetypes
from pdfjobs.engines import bedrock
from pdfjobs.jobtypes.base import InputDocument
from pdfjobs.jobtypes.forms import ExtractForm
from pdfjobs.jobtypes.invoices import ExtractInvoice
from pdfjobs.templates import built_in
from tests.corpus import corpus_file
from tests.unit.job_doubles import OneInput, file_record

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bedrock"


@pytest.fixture
def converse(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    monkeypatch.setenv("PDFJOBS_BEDROCK_MODEL_ID", "anthropic.claude-test")
    client = boto3.client("bedrock-runtime", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    monkeypatch.setattr(bedrock, "_client", lambda: client)
    with Stubber(client) as stubber:
        stubber.add_response("converse", json.loads((FIXTURES / "aws-invoice-converse.json").read_text()))
        yield stubber
        stubber.assert_no_pending_responses()


def _document(tmp_path: Path, job_type: Any, settings: Any) -> tuple[dict[str, Any], InputDocument]:
    path = tmp_path / "input"
    shutil.copyfile(corpus_file("invoices/AmazonWebServices.pdf"), path)
    source = InputDocument(index=0, path=path, bucket="b", key="k", content_type=filetypes.PDF)
    pages = job_type.process_batch(source, [1], settings)
    return {"index": 0, "fileId": "file_1", "filename": "aws.pdf", "pageCount": 1, "pages": pages}, source


def _invoice_template() -> dict[str, Any]:
    body = built_in("invoice")
    assert body is not None
    return {"name": "invoice", **body.model_dump(by_alias=True, exclude_none=True)}


def test_extract_invoice_with_bedrock_cites_what_it_read(converse: Stubber, tmp_path: Path) -> None:
    job_type = ExtractInvoice()
    settings = job_type.parse_settings({"engine": "bedrock"})
    document, source = _document(tmp_path, job_type, settings)
    outputs = {o.name: o for o in job_type.assemble([document], settings, OneInput(source))}
    fields = json.loads(outputs["result.json"].data)["documents"][0]["fields"]
    assert fields["invoiceNumber"]["value"] == "42183017" and fields["invoiceNumber"]["source"] == "bedrock"
    assert fields["total"]["value"] == "4.11" and fields["total"]["bbox"] is not None
    assert fields["customer"]["confidence"] < 0.5  # the fixture's made-up customer is not in the text


def test_extract_form_with_bedrock_reads_a_templates_fields(converse: Stubber, tmp_path: Path) -> None:
    job_type = ExtractForm()
    settings = job_type.parse_settings({"engine": "bedrock", "templateName": "invoice"})
    settings = settings.model_copy(update={"template_snapshot": _invoice_template()})
    document, source = _document(tmp_path, job_type, settings)
    outputs = {o.name: o for o in job_type.assemble([document], settings, OneInput(source))}
    fields = {f["name"]: f for f in json.loads(outputs["result.json"].data)["documents"][0]["fields"]}
    assert fields["issueDate"]["value"] == "2014-08-03" and fields["issueDate"]["source"] == "bedrock"
    assert "42183017" in outputs["result.csv"].data.decode()


def test_bedrock_forms_need_a_template_and_a_model(monkeypatch: pytest.MonkeyPatch) -> None:
    file = file_record()
    job_type = ExtractForm()
    monkeypatch.delenv("PDFJOBS_BEDROCK_MODEL_ID", raising=False)
    with pytest.raises(errors.EngineUnavailable):
        job_type.check_submission(job_type.parse_settings({"engine": "bedrock", "templateName": "invoice"}), [file])
    monkeypatch.setenv("PDFJOBS_BEDROCK_MODEL_ID", "anthropic.claude-test")
    with pytest.raises(errors.ValidationFailed, match="templateName"):
        job_type.check_submission(job_type.parse_settings({"engine": "bedrock"}), [file])
