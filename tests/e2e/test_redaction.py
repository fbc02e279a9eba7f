"""redact_pdf end to end: what is redacted is gone from the file, everything else still reads."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import requests

from pdfjobs.errors import all_error_classes
from tests.corpus import CORPUS, corpus_file
from tests.e2e.conftest import Api
from tests.unit.pdf_builder import PageSpec, build_pdf, text_ops

pytestmark = pytest.mark.e2e

SECRETS = {
    "email": "jane.roe@example.org",
    "phone": "+1 415 555 0134",
    "ssn": "078-05-1120",
    "card": "4111 1111 1111 1111",
    "iban": "GB82 WEST 1234 5698 7654 32",
    "name": "Jonathan Quincy Public",
}


def _secret_pdf(path: Path) -> Path:
    body = [
        "Customer record for the quarterly audit.",
        f"Name: {SECRETS['name']}",
        f"Email: {SECRETS['email']} Phone: {SECRETS['phone']}",
        f"SSN: {SECRETS['ssn']} Card: {SECRETS['card']}",
        f"IBAN: {SECRETS['iban']}",
        "The audit found no other issues in the ledger.",
    ]
    ops = "".join(text_ops(72, 700 - 20 * i, line, 11) for i, line in enumerate(body))
    return build_pdf(path, [PageSpec(ops), PageSpec(text_ops(72, 700, "Page two has nothing private."))])


def _text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "out.pdf"
    path.write_bytes(pdf)
    return " ".join(
        subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True).stdout.decode().split()
    )


def test_redaction_removes_pii_and_keeps_the_rest(tenant_a: Api, tmp_path: Path) -> None:
    file = tenant_a.upload(_secret_pdf(tmp_path / "secret.pdf"))
    settings = {
        "piiCategories": ["Email", "PhoneNumber", "SSN", "CreditCard", "IBAN"],
        "terms": [SECRETS["name"]],
    }
    job = tenant_a.submit("redact_pdf", [file["id"]], settings)
    done, _ = tenant_a.wait(job["id"], timeout=180)
    assert done["status"] == "succeeded", done.get("error")
    checks = {check["name"]: check["passed"] for check in done["qualityChecks"]}
    assert checks["redaction_verified"] is True
    result = tenant_a.get(f"/jobs/{job['id']}/result").json()
    document = result["data"]["documents"][0]
    assert document["matchesByCategory"] == {
        "Email": 1,
        "PhoneNumber": 1,
        "SSN": 1,
        "CreditCard": 1,
        "IBAN": 1,
        "Term": 1,
    }
    assert all("text" not in match for match in document["matches"])  # not echoed unless asked
    url = next(o["url"] for o in result["outputs"] if o["name"] == "result.pdf")
    pdf = requests.get(url, timeout=30).content
    text = _text(pdf, tmp_path)
    for secret in SECRETS.values():
        assert secret not in text and secret.replace(" ", "") not in text.replace(" ", "")
        assert secret.encode() not in pdf
    for kept in ("Customer record for the quarterly audit.", "The audit found no other issues", "Page two"):
        assert kept in text


@pytest.mark.parametrize(
    ("settings", "status", "code"),
    [
        ({}, 400, "validation.error"),
        ({"piiCategories": ["Person"]}, 400, "validation.error"),
        ({"piiCategories": ["Shoe size"]}, 400, "validation.error"),
        ({"piiCategories": ["Person"], "engine": "comprehend"}, 400, "engine.unavailable"),
        ({"patterns": ["(a+)+$"]}, 400, "validation.error"),
    ],
)
def test_bad_redaction_requests(tenant_a: Api, tmp_path: Path, settings: dict, status: int, code: str) -> None:
    file = tenant_a.upload(_secret_pdf(tmp_path / "secret.pdf"))
    response = tenant_a.post(
        "/jobs", json={"jobType": "redact_pdf", "inputFileIds": [file["id"]], "settings": settings}
    )
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


@pytest.mark.slow
def test_hostile_files_end_cleanly(tenant_a: Api) -> None:
    known = {cls.code for cls in all_error_classes()}
    jobs = {}
    for path in sorted((CORPUS / "hostile").iterdir()):
        uploaded = tenant_a.post("/files", files={"file": (path.name, path.read_bytes())})
        if uploaded.status_code == 201:
            jobs[path.name] = tenant_a.submit("redact_pdf", [uploaded.json()["id"]], {"terms": ["the"]})
    for name, job in jobs.items():
        done, _ = tenant_a.wait(job["id"], timeout=300)
        assert done["status"] in ("succeeded", "failed"), (name, done)
        if done["status"] == "failed":
            assert done["error"]["code"] in known - {"internal"}, (name, done["error"])


def test_crazyones_with_planted_terms(tenant_a: Api, tmp_path: Path) -> None:
    file = tenant_a.upload(corpus_file("text/crazyones.pdf"))
    before = _text(corpus_file("text/crazyones.pdf").read_bytes(), tmp_path)
    job = tenant_a.submit("redact_pdf", [file["id"]], {"terms": ["crazy ones", "troublemakers"]})
    done, _ = tenant_a.wait(job["id"], timeout=180)
    assert done["status"] == "succeeded", done.get("error")
    url = next(
        o["url"] for o in tenant_a.get(f"/jobs/{job['id']}/result").json()["outputs"] if o["name"] == "result.pdf"
    )
    after = _text(requests.get(url, timeout=30).content, tmp_path)
    assert "crazy ones" not in after.lower() and "troublemakers" not in after.lower()
    others = [word for word in before.split() if word.lower().strip(".,") not in ("crazy", "ones", "troublemakers")]
    kept = sum(1 for word in others if word in after)
    assert kept / len(others) >= 0.95
