"""Presigned uploads, direct uploads and file reads: bytes decide the type, sizes are enforced."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import requests

from tests.corpus import corpus_file
from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e


def test_presigned_upload_completes_into_a_ready_file(tenant_a: Api) -> None:
    path = corpus_file("text/crazyones.pdf")
    file = tenant_a.upload(path)
    assert file["id"].startswith("file_")
    assert file["status"] == "ready"
    assert file["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert file["sizeBytes"] == path.stat().st_size
    assert file["contentType"] == "application/pdf"
    assert file["pageCount"] == 1 and file["encrypted"] is False
    assert tenant_a.get(f"/files/{file['id']}").json() == file


def test_content_redirects_to_a_signed_url_with_the_same_bytes(tenant_a: Api) -> None:
    path = corpus_file("text/crazyones.pdf")
    file = tenant_a.upload(path)
    redirect = tenant_a.get(f"/files/{file['id']}/content", allow_redirects=False)
    assert redirect.status_code == 302
    downloaded = requests.get(redirect.headers["Location"], timeout=10)
    assert downloaded.status_code == 200 and downloaded.content == path.read_bytes()


def test_encrypted_pdf_is_flagged_without_a_page_count(tenant_a: Api) -> None:
    file = tenant_a.upload(corpus_file("encrypted/r6-user-password.pdf"))
    assert file["encrypted"] is True and file["pageCount"] is None
    owner_only = tenant_a.upload(corpus_file("encrypted/r4-owner-password.pdf"))
    assert owner_only["encrypted"] is True and owner_only["pageCount"] >= 1


def test_image_upload_is_typed_by_its_bytes(tenant_a: Api) -> None:
    file = tenant_a.upload(corpus_file("scans/linn.png"), content_type="image/png")
    assert file["contentType"] == "image/png" and file["pageCount"] == 1  # frames are pages


def test_bytes_that_are_no_supported_type_are_refused_whatever_the_name(tenant_a: Api, tmp_path: Path) -> None:
    fake = tmp_path / "invoice.pdf"
    fake.write_bytes(b"PK\x03\x04" + b"\x00" * 200)  # a zip wearing a .pdf name
    data = fake.read_bytes()
    upload = tenant_a.post(
        "/uploads", json={"filename": fake.name, "contentType": "application/pdf", "sizeBytes": len(data)}
    ).json()
    requests.post(
        upload["url"], data=upload["fields"], files={"file": (fake.name, data, "application/pdf")}, timeout=10
    )
    completed = tenant_a.post(f"/uploads/{upload['uploadId']}/complete", json={})
    assert completed.status_code == 415
    assert completed.json()["error"]["code"] == "file.unsupported_type"


def test_complete_before_upload_and_size_mismatch(tenant_a: Api) -> None:
    upload = tenant_a.post(
        "/uploads", json={"filename": "x.pdf", "contentType": "application/pdf", "sizeBytes": 5000}
    ).json()
    early = tenant_a.post(f"/uploads/{upload['uploadId']}/complete", json={})
    assert early.status_code == 409 and early.json()["error"]["code"] == "upload.not_received"
    data = corpus_file("text/crazyones.pdf").read_bytes()  # not 5000 bytes
    requests.post(upload["url"], data=upload["fields"], files={"file": ("x.pdf", data, "application/pdf")}, timeout=10)
    completed = tenant_a.post(f"/uploads/{upload['uploadId']}/complete", json={})
    if completed.status_code != 400:
        # A real S3 refuses the POST itself (content-length-range); then nothing arrived.
        assert completed.status_code == 409, completed.text
    else:
        assert completed.json()["error"]["code"] == "upload.size_mismatch"


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        (
            {"filename": "big.pdf", "contentType": "application/pdf", "sizeBytes": 100 * 1024 * 1024 + 1},
            413,
            "file.too_large",
        ),
        ({"filename": "empty.pdf", "contentType": "application/pdf", "sizeBytes": 0}, 400, "file.empty"),
        (
            {"filename": "a.zip", "contentType": "application/zip", "sizeBytes": 10},
            415,
            "file.unsupported_type",
        ),
        ({"filename": "a.pdf", "contentType": "application/pdf"}, 400, "validation.error"),
    ],
)
def test_upload_requests_are_validated(tenant_a: Api, payload: dict, status: int, code: str) -> None:
    response = tenant_a.post("/uploads", json=payload)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_direct_multipart_upload(tenant_a: Api) -> None:
    path = corpus_file("text/crazyones.pdf")
    response = tenant_a.post("/files", files={"file": ("crazy ones.pdf", path.read_bytes(), "application/pdf")})
    assert response.status_code == 201, response.text
    file = response.json()
    assert file["filename"] == "crazy ones.pdf" and file["pageCount"] == 1
    assert file["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_direct_upload_rejects_empty_and_oversized_files(tenant_a: Api) -> None:
    empty = tenant_a.post("/files", files={"file": ("e.pdf", b"", "application/pdf")})
    assert empty.status_code == 400 and empty.json()["error"]["code"] == "file.empty"
    big = tenant_a.post(
        "/files", files={"file": ("b.pdf", b"%PDF-1.4\n" + b"0" * (4 * 1024 * 1024 + 10), "application/pdf")}
    )
    assert big.status_code == 413 and big.json()["error"]["code"] == "file.too_large"
    not_multipart = tenant_a.post("/files", data=b"%PDF-1.4", headers={"Content-Type": "application/pdf"})
    assert not_multipart.status_code == 400


def test_deleted_file_is_gone(tenant_a: Api) -> None:
    file = tenant_a.upload(corpus_file("text/crazyones.pdf"))
    assert tenant_a.delete(f"/files/{file['id']}").json() == {"id": file["id"], "deleted": True}
    assert tenant_a.get(f"/files/{file['id']}").status_code == 404
    assert tenant_a.get(f"/files/{file['id']}/content", allow_redirects=False).status_code == 404
