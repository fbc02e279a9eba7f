"""searchable_pdf and ocr_pdf end to end through the local runtime, with real Tesseract, pdfium
and poppler: what a client uploads, what it gets back, and what a viewer would find in it."""

from __future__ import annotations

import io
import json
import re
import subprocess
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import requests
from PIL import Image, ImageChops
from rapidfuzz.distance import Levenshtein

from tests.corpus import CORPUS, corpus_file
from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e

OCR_TIMEOUT = 180


def _download(api: Api, job_id: str, name: str) -> bytes:
    result = api.get(f"/jobs/{job_id}/result").json()
    urls = {output["name"]: output["url"] for output in result["outputs"]}
    response = requests.get(urls[name], timeout=30)
    assert response.status_code == 200
    return response.content


def _pdftotext(pdf: bytes, tmp_path: Path, *pages: int) -> str:
    path = tmp_path / "out.pdf"
    path.write_bytes(pdf)
    selection = ["-f", str(pages[0]), "-l", str(pages[-1])] if pages else []
    return subprocess.run(
        ["pdftotext", "-raw", *selection, str(path), "-"], capture_output=True, check=True, timeout=60
    ).stdout.decode()


def _normalised(text: str) -> str:
    return " ".join(text.split())


def _cer(found: str, truth: str) -> float:
    return Levenshtein.distance(_normalised(found), _normalised(truth)) / len(_normalised(truth))


def _render(pdf: bytes | Path, index: int, dpi: int = 50) -> Image.Image:
    document = pdfium.PdfDocument(pdf)
    try:
        return document[index].render(scale=dpi / 72, grayscale=True).to_pil().convert("L")
    finally:
        document.close()


def _submit_and_wait(api: Api, job_type: str, file_ids: list[str], settings: dict) -> dict:
    job = api.submit(job_type, file_ids, settings)
    done, _ = api.wait(job["id"], timeout=OCR_TIMEOUT)
    assert done["status"] == "succeeded", done
    return done


def test_searchable_pdf_looks_the_same_and_reads_like_the_page(tenant_a: Api, tmp_path: Path) -> None:
    source = corpus_file("scans/linn.pdf")
    file = tenant_a.upload(source)
    done = _submit_and_wait(tenant_a, "searchable_pdf", [file["id"]], {})
    assert all(check["passed"] for check in done["qualityChecks"]), done["qualityChecks"]
    pdf = _download(tenant_a, done["id"], "result.pdf")

    text = _pdftotext(pdf, tmp_path)
    assert _cer(re.sub(r"\s+", " ", text), corpus_file("scans/linn.txt").read_text()) < 0.05
    output = pdfium.PdfDocument(pdf)
    original = pdfium.PdfDocument(source)
    assert len(output) == len(original) == 1
    assert output[0].get_size() == original[0].get_size()
    assert output[0].get_rotation() == original[0].get_rotation()
    # The page image is untouched: the layer is invisible.
    assert ImageChops.difference(_render(pdf, 0), _render(source, 0)).getbbox() is None

    summary = tenant_a.get(f"/jobs/{done['id']}/result").json()["data"]
    page = summary["documents"][0]["pages"][0]
    assert page["source"] == "ocr" and page["dpi"] == pytest.approx(300, abs=10)
    assert page["words"] > 300 and page["meanConfidence"] > 80


@pytest.mark.parametrize("output_format", ["json", "txt", "hocr", "pdf"])
def test_ocr_pdf_output_formats(tenant_a: Api, tmp_path: Path, output_format: str) -> None:
    file = tenant_a.upload(corpus_file("scans/francais.pdf"))
    done = _submit_and_wait(tenant_a, "ocr_pdf", [file["id"]], {"languages": ["fra"], "outputFormat": output_format})
    result = tenant_a.get(f"/jobs/{done['id']}/result").json()
    names = {output["name"] for output in result["outputs"]}
    main = {"json": None, "txt": "result.txt", "hocr": "result.hocr", "pdf": "result.pdf"}[output_format]
    assert names == {"result.json"} | ({main} if main else set())

    page = result["data"]["documents"][0]["pages"][0]
    assert page["source"] == "ocr" and page["lines"]
    for line in page["lines"]:
        assert 0 <= line["confidence"] <= 100 and line["words"]
        for word in line["words"]:
            x0, y0, x1, y1 = word["bbox"]
            assert 0 <= x0 <= x1 <= page["width"] and 0 <= y0 <= y1 <= page["height"]
    words = " ".join(word["text"] for line in page["lines"] for word in line["words"])
    assert "é" in words or "è" in words or "à" in words  # French read with the French model

    if main is None:
        return
    content = _download(tenant_a, done["id"], main)
    if output_format == "txt":
        assert _normalised(content.decode()) == _normalised(page["text"])
    elif output_format == "hocr":
        assert b"ocrx_word" in content and b"x_wconf" in content
    else:
        found = _normalised(_pdftotext(content, tmp_path))
        assert sum(word["text"] in found for line in page["lines"] for word in line["words"]) >= 0.9 * len(
            words.split()
        )


def _image_bytes(format_name: str) -> bytes:
    with Image.open(corpus_file("scans/typewriter.png")) as image:
        buffer = io.BytesIO()
        image.convert("L" if format_name != "BMP" else "RGB").save(buffer, format=format_name, dpi=(300, 300))
        return buffer.getvalue()


@pytest.mark.parametrize("format_name", ["PNG", "JPEG", "TIFF", "BMP"])
def test_image_inputs_are_detected_from_their_bytes_and_become_pages(
    tenant_a: Api, tmp_path: Path, format_name: str
) -> None:
    image = tmp_path / "scan.pdf"
    image.write_bytes(_image_bytes(format_name))
    # The name and the declared type claim PDF: the bytes decide.
    uploaded = tenant_a.upload(image, content_type="application/pdf")
    expected_type = {"PNG": "image/png", "JPEG": "image/jpeg", "TIFF": "image/tiff", "BMP": "image/bmp"}
    assert uploaded["contentType"] == expected_type[format_name]
    assert uploaded["pageCount"] == 1
    done = _submit_and_wait(tenant_a, "searchable_pdf", [uploaded["id"]], {})
    pdf = _download(tenant_a, done["id"], "result.pdf")
    with Image.open(corpus_file("scans/typewriter.png")) as image:
        width_px, height_px = image.size
    page = pdfium.PdfDocument(pdf)[0]
    # Placed at its stated 300 dpi.
    assert page.get_size() == pytest.approx((width_px * 72 / 300, height_px * 72 / 300), abs=1)
    assert len(_normalised(_pdftotext(pdf, tmp_path))) > 20


def _ocr_result(api: Api, file_id: str, settings: dict, job_type: str = "ocr_pdf") -> tuple[dict, dict]:
    """The finished job, and its result with `data` read from result.json when too large to be inline."""
    done = _submit_and_wait(api, job_type, [file_id], settings)
    result = api.get(f"/jobs/{done['id']}/result").json()
    if result["data"] is None:
        result["data"] = json.loads(_download(api, done["id"], "result.json"))
    return done, result


def test_modes_decide_what_happens_to_pages_that_already_have_text(tenant_a: Api, tmp_path: Path) -> None:
    # multipage.pdf: six scanned pages; page 4 already carries an (invisible) OCR layer.
    file = tenant_a.upload(corpus_file("scans/multipage.pdf"))
    old_layer = _normalised(_pdftotext(corpus_file("scans/multipage.pdf").read_bytes(), tmp_path, 4))
    assert old_layer

    _, skipped = _ocr_result(tenant_a, file["id"], {"pages": "3-4", "outputFormat": "pdf"})
    pages = skipped["data"]["documents"][0]["pages"]
    assert [(page["page"], page["source"]) for page in pages] == [(3, "ocr"), (4, "text")]
    assert _normalised(pages[1]["text"]) == old_layer  # a skipped page still reports its text
    kept = _download(tenant_a, skipped["jobId"], "result.pdf")
    assert _normalised(_pdftotext(kept, tmp_path, 4)) == old_layer

    for mode in ("redo", "force"):
        _, redone = _ocr_result(tenant_a, file["id"], {"pages": "4", "mode": mode, "outputFormat": "pdf"})
        page = redone["data"]["documents"][0]["pages"][0]
        assert page["source"] == "ocr", mode
        new_text = _normalised(_pdftotext(_download(tenant_a, redone["jobId"], "result.pdf"), tmp_path, 4))
        # Only the new layer: the old one was removed, not doubled.
        assert new_text == _normalised(page["text"]), mode
        assert new_text.count("support") <= 1


def test_rotate_pages_turns_each_page_upright(tenant_a: Api, tmp_path: Path) -> None:
    # cardinal.pdf: the same page scanned at four orientations.
    file = tenant_a.upload(corpus_file("scans/cardinal.pdf"))
    done, result = _ocr_result(tenant_a, file["id"], {"rotatePages": True, "outputFormat": "pdf"}, "ocr_pdf")
    pages = result["data"]["documents"][0]["pages"]
    corrections = [page["orientationCorrection"] for page in pages]
    assert corrections == [0, 270, 180, 90]
    pdf = pdfium.PdfDocument(_download(tenant_a, done["id"], "result.pdf"))
    assert [pdf[i].get_rotation() for i in range(4)] == corrections
    for number, page in enumerate(pages, start=1):
        assert "LinnSequencer" in page["text"]
        assert "LinnSequencer" in _pdftotext(_download(tenant_a, done["id"], "result.pdf"), tmp_path, number)
        # Upright now: a portrait page, as the first one was scanned.
        assert page["height"] > page["width"]


def test_deskew_measures_the_skew_and_reads_the_page_straight(tenant_a: Api) -> None:
    file = tenant_a.upload(corpus_file("scans/skew.pdf"))
    _, plain = _ocr_result(tenant_a, file["id"], {})
    _, straightened = _ocr_result(tenant_a, file["id"], {"deskew": True})
    page = straightened["data"]["documents"][0]["pages"][0]
    assert page["skewDegrees"] == pytest.approx(-1.8, abs=0.3)
    assert plain["data"]["documents"][0]["pages"][0]["skewDegrees"] == 0
    truth = corpus_file("scans/linn.txt").read_text()
    assert _cer(page["text"], truth) <= _cer(plain["data"]["documents"][0]["pages"][0]["text"], truth) + 0.005
    assert _cer(page["text"], truth) < 0.05


def test_languages_are_used_together_and_unknown_ones_are_refused(tenant_a: Api) -> None:
    file = tenant_a.upload(corpus_file("scans/francais.pdf"))
    _, both = _ocr_result(tenant_a, file["id"], {"languages": ["eng", "fra"]})
    assert both["data"]["documents"][0]["pages"][0]["text"]

    refused = tenant_a.post(
        "/jobs", json={"jobType": "ocr_pdf", "inputFileIds": [file["id"]], "settings": {"languages": ["eng", "xxx"]}}
    )
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "ocr.language_unavailable" and "xxx" in error["message"]
    assert {"eng", "fra"} <= set(error["details"]["installed"])


def test_engines_listing_and_textract_unavailable_locally(tenant_a: Api) -> None:
    listed = tenant_a.get("/engines")
    assert listed.status_code == 200
    engines = {engine["id"]: engine for engine in listed.json()["engines"]}
    tesseract = engines["tesseract"]
    assert tesseract["available"] is True and tesseract["reason"] is None
    assert {"eng", "fra"} <= set(tesseract["languages"]) and "osd" not in tesseract["languages"]
    assert set(tesseract["inputFormats"]) == {"application/pdf", "image/png", "image/jpeg", "image/tiff", "image/bmp"}
    assert tesseract["limits"]["maxPagePixels"] > 0
    textract = engines["textract"]
    assert textract["available"] is False and textract["reason"]
    assert engines["weasyprint"]["available"] is True
    # The LLM engine is listed, and off until a Bedrock model is configured.
    assert engines["bedrock"]["available"] is False and "PDFJOBS_BEDROCK_MODEL_ID" in engines["bedrock"]["reason"]
    assert "extract_invoice" in engines["bedrock"]["jobTypes"] and engines["local"]["available"] is True

    file = tenant_a.upload(corpus_file("scans/francais.pdf"))
    refused = tenant_a.post(
        "/jobs", json={"jobType": "ocr_pdf", "inputFileIds": [file["id"]], "settings": {"engine": "textract"}}
    )
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "engine.unavailable"
    assert tenant_a.session.get(tenant_a.stack.url("/engines"), headers={"Authorization": ""}).status_code == 401


def test_progress_moves_as_pages_finish_and_cancel_stops_the_rest(tenant_a: Api) -> None:
    file = tenant_a.upload(corpus_file("scans/multipage.pdf"))
    finished = tenant_a.submit("searchable_pdf", [file["id"]], {"mode": "force"})
    done, progress = tenant_a.wait(finished["id"], timeout=OCR_TIMEOUT)
    assert done["status"] == "succeeded", done
    assert len({value for value in progress if 5 < value < 100}) >= 2  # several pages' worth of steps

    job = tenant_a.submit("searchable_pdf", [file["id"]], {"mode": "force", "dpi": 600})
    while tenant_a.get(f"/jobs/{job['id']}").json()["status"] == "queued":
        pass
    assert tenant_a.post(f"/jobs/{job['id']}/cancel").status_code == 200
    cancelled, _ = tenant_a.wait(job["id"], timeout=60)
    assert cancelled["status"] == "cancelled"
    assert cancelled["progress"] < 95


def _png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height pixels (its one tiny IDAT could never fill them)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"", 400, "file.empty"),
        (_png_declaring(100_000, 100_000), 422, "image.too_many_pixels"),
        (b"II*\x00" + b"\x08\x00\x00\x00" + b"\xff" * 200, 422, "image.invalid"),  # a TIFF with a broken IFD
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, 422, "image.invalid"),  # a PNG signature and nothing valid
    ],
    ids=["zero-byte", "100000x100000", "corrupt-tiff", "corrupt-png"],
)
def test_bad_images_are_refused_at_upload_with_a_clear_code(
    tenant_a: Api, content: bytes, status: int, code: str
) -> None:
    response = tenant_a.post("/files", files={"file": ("scan.png", content)})
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    if code == "image.too_many_pixels":
        assert response.json()["error"]["details"]["limit"] > 0


@pytest.mark.slow
def test_every_corpus_scan_becomes_a_searchable_pdf_of_the_same_pages(tenant_a: Api, tmp_path: Path) -> None:
    scans = sorted(p for p in (CORPUS / "scans").iterdir() if p.suffix.lower() in (".pdf", ".png"))
    jobs = {}
    for path in scans:  # all submitted first: they run side by side
        file = tenant_a.upload(path, content_type="image/png" if path.suffix == ".png" else "application/pdf")
        jobs[path] = tenant_a.submit("searchable_pdf", [file["id"]], {})
    for path, job in jobs.items():
        done, _ = tenant_a.wait(job["id"], timeout=600)
        assert done["status"] == "succeeded", (path.name, done)
        pdf = _download(tenant_a, job["id"], "result.pdf")
        output = pdfium.PdfDocument(pdf)
        if path.suffix == ".pdf":
            source = pdfium.PdfDocument(path)
            assert len(output) == len(source), path.name
            for index in range(len(source)):
                assert output[index].get_size() == source[index].get_size(), (path.name, index)
                assert output[index].get_rotation() == source[index].get_rotation(), (path.name, index)
        assert len(_pdftotext(pdf, tmp_path).split()) > 0, path.name


def test_page_batches_of_one_job_run_side_by_side(tenant_a: Api) -> None:
    """Locally the Map over page batches runs one batch per core: two ProcessBatch tasks overlap."""
    import boto3

    file = tenant_a.upload(corpus_file("scans/cardinal.pdf"))
    job = _submit_and_wait(tenant_a, "searchable_pdf", [file["id"]], {"dpi": 150})
    if not tenant_a.stack.aws_endpoint:
        return  # a deployed stack: the execution history is AWS's to show, not reachable from here
    stepfunctions = boto3.client(
        "stepfunctions",
        endpoint_url=tenant_a.stack.aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    machine = stepfunctions.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    arn = machine.replace(":stateMachine:", ":execution:") + ":" + job["id"]
    events = stepfunctions.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    started = [e["timestamp"] for e in events if e["type"] == "TaskStateEntered" and "ProcessBatch" in str(e)]
    ended = [e["timestamp"] for e in events if e["type"] == "TaskStateExited" and "ProcessBatch" in str(e)]
    assert len(started) == 4  # one batch per page
    # A second batch started before the first one finished.
    assert sorted(started)[1] < min(ended)
