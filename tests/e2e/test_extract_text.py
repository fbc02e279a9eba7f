"""extract_text end to end: upload -> job -> poll -> result, through the real pipeline."""

from __future__ import annotations

import re
import unicodedata

import pytest
import requests

from pdfjobs.results import TextElement
from tests.corpus import corpus_file
from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e

WORDS = re.compile(r"\w+")


def _words(text: str) -> list[str]:
    # NFKC folds ligatures (the true text has "ﬁ" where extraction may give "fi").
    return WORDS.findall(unicodedata.normalize("NFKC", text).lower())


def test_extract_text_happy_path(tenant_a: Api) -> None:
    file = tenant_a.upload(corpus_file("text/crazyones.pdf"))
    job = tenant_a.submit("extract_text", [file["id"]])
    assert job["status"] == "queued" and job["progress"] == 0
    assert job["statusUrl"] == f"/v1/jobs/{job['id']}" and job["retryAfterMs"] > 0
    assert job["documents"] == [
        {
            "index": 0,
            "fileId": file["id"],
            "filename": "crazyones.pdf",
            "status": "queued",
            "pageCount": 1,
            "pagesSelected": None,
            "error": None,
        }
    ]
    assert job["error"] is None and job["resultUrl"] is None
    done, progress = tenant_a.wait(job["id"])
    assert done["status"] == "succeeded", done
    assert progress == sorted(progress) and progress[-1] == 100
    assert done["documents"][0]["status"] == "succeeded" and done["documents"][0]["pageCount"] == 1
    assert done["resultUrl"] == f"/v1/jobs/{job['id']}/result" and done["retryAfterMs"] is None
    checks = {check["name"]: check["passed"] for check in done["qualityChecks"]}
    for output in ("result.json", "result.txt", "result.md"):
        for proof in ("contentType", "sizeBytes", "magicBytes", "opens"):
            assert checks[f"{output}:{proof}"] is True

    result = tenant_a.get(f"/jobs/{job['id']}/result").json()
    assert result["jobId"] == job["id"] and result["status"] == "succeeded"
    page = result["data"]["documents"][0]["pages"][0]
    expected = corpus_file("text/crazyones.txt").read_text()
    assert _words(page["text"]) == _words(expected)
    assert "blocks" not in page  # layout only when asked

    outputs = {output["name"]: output for output in result["outputs"]}
    assert set(outputs) == {"result.json", "result.txt", "result.md"}
    text = requests.get(outputs["result.txt"]["url"], timeout=10)
    assert text.status_code == 200 and _words(text.text) == _words(expected)
    assert len(text.content) == outputs["result.txt"]["sizeBytes"]
    markdown = requests.get(outputs["result.md"]["url"], timeout=10).text
    assert "Crazy Ones" in markdown and "misfits" in markdown.replace("\ufb01", "fi").lower()


def test_layout_and_citations_give_blocks_with_page_and_bbox(tenant_a: Api) -> None:
    file = tenant_a.upload(corpus_file("text/crazyones.pdf"))
    job = tenant_a.submit("extract_text", [file["id"]], {"includeLayout": True, "includePageCitations": True})
    done, _ = tenant_a.wait(job["id"])
    assert done["status"] == "succeeded", done
    page = tenant_a.get(f"/jobs/{job['id']}/result").json()["data"]["documents"][0]["pages"][0]
    blocks = page["blocks"]
    assert blocks and blocks[0]["text"].startswith("The Crazy Ones")
    for block in blocks:
        assert block["page"] == 1 and block["type"] == "text"  # text elements of the one result schema
        TextElement.model_validate(block)
        x0, y0, x1, y1 = block["bbox"]
        assert 0 <= x0 < x1 <= page["width"] and 0 <= y0 < y1 <= page["height"]
    tops = [block["bbox"][1] for block in blocks]
    assert tops == sorted(tops)  # one column: reading order is top to bottom


def test_page_selection_processes_only_the_chosen_pages(tenant_a: Api) -> None:
    file = tenant_a.upload(corpus_file("text/Seige_of_Vicksburg_Sample_OCR-crazyones-merged.pdf"))
    assert file["pageCount"] == 7
    job = tenant_a.submit("extract_text", [file["id"]], {"pages": "2-3,6"})
    done, _ = tenant_a.wait(job["id"])
    assert done["status"] == "succeeded", done
    assert done["documents"][0]["pagesSelected"] == 3
    pages = tenant_a.get(f"/jobs/{job['id']}/result").json()["data"]["documents"][0]["pages"]
    assert [page["page"] for page in pages] == [2, 3, 6]
    assert all(page["text"].strip() for page in pages)


def test_page_out_of_range_fails_the_job_with_a_code(tenant_a: Api) -> None:
    file = tenant_a.upload(corpus_file("text/crazyones.pdf"))
    done, _ = tenant_a.wait(tenant_a.submit("extract_text", [file["id"]], {"pages": "2"})["id"])
    assert done["status"] == "failed" and done["error"]["code"] == "pdf.page_out_of_range"


def test_several_documents_in_one_job_keep_their_order(tenant_a: Api) -> None:
    first = tenant_a.upload(corpus_file("text/crazyones.pdf"))
    second = tenant_a.upload(corpus_file("invoices/QualityHosting.pdf"))
    done, _ = tenant_a.wait(tenant_a.submit("extract_text", [second["id"], first["id"]])["id"])
    assert done["status"] == "succeeded", done
    assert [d["pageCount"] for d in done["documents"]] == [2, 1]
    documents = tenant_a.get(f"/jobs/{done['id']}/result").json()["data"]["documents"]
    assert [d["fileId"] for d in documents] == [second["id"], first["id"]]
    assert [len(d["pages"]) for d in documents] == [2, 1]


@pytest.mark.parametrize(
    ("name", "settings", "status", "code"),
    [
        ("encrypted/r6-user-password.pdf", {}, "failed", "pdf.password_required"),
        ("encrypted/r6-user-password.pdf", {"password": "wrong"}, "failed", "pdf.password_incorrect"),
        ("encrypted/r6-user-password.pdf", {"password": "asdfzxcv"}, "succeeded", None),
        ("encrypted/r4-aes-user-password.pdf", {"password": "asdfzxcv"}, "succeeded", None),
        ("encrypted/r2-user-password.pdf", {"password": "asdfzxcv"}, "succeeded", None),
        ("encrypted/libreoffice-writer-password.pdf", {"password": "openpassword"}, "succeeded", None),
        ("encrypted/r5-owner-password.pdf", {}, "succeeded", None),
    ],
)
def test_encrypted_pdfs(tenant_a: Api, name: str, settings: dict, status: str, code: str | None) -> None:
    file = tenant_a.upload(corpus_file(name))
    job = tenant_a.submit("extract_text", [file["id"]], settings)
    if "password" in settings:
        assert job["settings"]["password"] == "***"
    done, _ = tenant_a.wait(job["id"])
    assert done["status"] == status, done
    assert "password" not in done["settings"]  # dropped once the job ends
    if code:
        assert done["error"]["code"] == code and done["error"]["message"]
        assert done["documents"][0]["status"] == "failed"
        assert done["documents"][0]["error"]["code"] == code
        failed = tenant_a.get(f"/jobs/{job['id']}/result")
        assert failed.status_code == 409 and failed.json()["error"]["code"] == "job.failed"
    else:
        text = tenant_a.get(f"/jobs/{job['id']}/result").json()["data"]["documents"][0]["pages"][0]["text"]
        assert text.strip()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"jobType": "make_coffee", "inputFileIds": ["file_x"]}, "jobType"),
        (
            {"jobType": "extract_text", "inputFileIds": ["file_x"], "settings": {"colour": "red"}},
            "settings.colour",
        ),
        (
            {"jobType": "extract_text", "inputFileIds": ["file_x"], "settings": {"pages": "3-1"}},
            "settings.pages",
        ),
        (
            {"jobType": "extract_text", "inputFileIds": ["file_x"], "settings": {"includeLayout": "maybe"}},
            "settings.includeLayout",
        ),
        ({"jobType": "extract_text", "inputFileIds": []}, "inputFileIds"),
        ({"jobType": "extract_text"}, "inputFileIds"),
    ],
)
def test_bad_job_requests_name_the_field(tenant_a: Api, body: dict, field: str) -> None:
    response = tenant_a.post("/jobs", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "validation.error"
    assert error["details"]["field"] == field, error


def test_a_job_on_a_missing_file_is_404(tenant_a: Api) -> None:
    response = tenant_a.post(
        "/jobs", json={"jobType": "extract_text", "inputFileIds": ["file_01M8194FNW6FHZY8FTEAYKPFH6"]}
    )
    assert response.status_code == 404 and response.json()["error"]["details"]["field"] == "inputFileIds[0]"


def test_result_before_the_job_ends_is_409_not_ready(tenant_a: Api) -> None:
    file = tenant_a.upload(corpus_file("text/Seige_of_Vicksburg_Sample_OCR-crazyones-merged.pdf"))
    job = tenant_a.submit("extract_text", [file["id"]])
    early = tenant_a.get(f"/jobs/{job['id']}/result")
    if early.status_code != 200:  # it may already have finished on a fast machine
        assert early.status_code == 409 and early.json()["error"]["code"] == "result.not_ready"
    tenant_a.wait(job["id"])
