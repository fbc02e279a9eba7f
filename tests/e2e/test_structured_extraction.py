"""extract_form, extract_table and extract_invoice end to end through the local runtime: each corpus
file with its expected values, every output format, and the hostile files."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest
import requests

from pdfjobs.errors import all_error_classes
from pdfjobs.results import ExtractionResult
from tests.corpus import CORPUS, corpus_file
from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e

KNOWN_CODES = {cls.code for cls in all_error_classes()}


def _run(api: Api, job_type: str, name: str, settings: dict | None = None, timeout: float = 180) -> dict:
    file = api.upload(corpus_file(name))
    job = api.submit(job_type, [file["id"]], settings or {})
    done, _ = api.wait(job["id"], timeout=timeout)
    return done


def _data(api: Api, job_id: str) -> dict:
    result = api.get(f"/jobs/{job_id}/result").json()
    if result["data"] is None:
        url = next(o["url"] for o in result["outputs"] if o["name"] == "result.json")
        return dict(requests.get(url, timeout=30).json())
    return dict(result["data"])


# -- forms -------------------------------------------------------------------------------------
FILLED = {
    "forms/form_acrobatReader.pdf": {"foo": "Bar"},
    "forms/form_evince.pdf": {"foo": "bar"},
    "forms/libreoffice-form.pdf": {"First Name": "Alice", "First Name_2": "Bob"},
}


@pytest.mark.parametrize("name", sorted(FILLED))
def test_filled_acroform_fields_come_back_with_their_values(tenant_a: Api, name: str) -> None:
    done = _run(tenant_a, "extract_form", name)
    assert done["status"] == "succeeded", done.get("error")
    data = _data(tenant_a, done["id"])
    ExtractionResult.model_validate(data)
    document = data["documents"][0]
    assert document["acroform"] is True
    values = {field["name"]: field["value"] for field in document["fields"]}
    for field_name, value in FILLED[name].items():
        assert values[field_name] == value
    for field in document["fields"]:
        if field["page"]:
            page = document["pages"][field["page"] - 1]
            assert field["name"] in {element["name"] for element in page["elements"]}  # also an element of its page
            x0, y0, x1, y1 = field["bbox"]
            assert 0 <= x0 <= x1 <= page["width"] and 0 <= y0 <= y1 <= page["height"]

    csv_response = tenant_a.get(f"/jobs/{done['id']}/result", params={"format": "csv"})
    assert csv_response.status_code == 200 and csv_response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(csv_response.text)))
    assert rows[0] == ["Metadata"]
    header = rows.index(["Section", "Field Name", "Value", "Page"])
    listed = {row[1]: row[2] for row in rows[header + 1 :] if len(row) == 4}
    for field_name, value in FILLED[name].items():
        assert listed[field_name.rsplit(".", 1)[-1]] == value


def test_every_corpus_form_lists_its_fields(tenant_a: Api) -> None:
    expected_counts = {
        "FormTestFromOo.pdf": 11,
        "acroform.pdf": 1,
        "form.pdf": 1,
        "form_acrobatReader.pdf": 1,
        "form_evince.pdf": 1,
        "libreoffice-form.pdf": 8,
        "pdflatex-forms.pdf": 3,
    }
    jobs = {}
    for name in expected_counts:
        file = tenant_a.upload(corpus_file(f"forms/{name}"))
        jobs[name] = tenant_a.submit("extract_form", [file["id"]], {})
    for name, job in jobs.items():
        done, _ = tenant_a.wait(job["id"], timeout=120)
        assert done["status"] == "succeeded", (name, done)
        assert len(_data(tenant_a, job["id"])["documents"][0]["fields"]) == expected_counts[name], name


def test_an_xfa_only_form_fails_with_a_clear_code(tenant_a: Api) -> None:
    done = _run(tenant_a, "extract_form", "hostile/livecycle.pdf")
    assert done["status"] == "failed" and done["error"]["code"] == "form.xfa_only", done


def test_a_page_without_fields_succeeds_with_an_empty_list(tenant_a: Api) -> None:
    done = _run(tenant_a, "extract_form", "text/crazyones.pdf")
    assert done["status"] == "succeeded", done.get("error")
    document = _data(tenant_a, done["id"])["documents"][0]
    assert document["acroform"] is False and len(document["fields"]) <= 1


def test_an_encrypted_form_opens_with_its_password(tenant_a: Api) -> None:
    done = _run(tenant_a, "extract_form", "encrypted/r6-both-passwords.pdf", {"password": "foo"})
    assert done["status"] == "succeeded", done.get("error")
    refused = _run(tenant_a, "extract_form", "encrypted/r6-both-passwords.pdf")
    assert refused["status"] == "failed" and refused["error"]["code"] == "pdf.password_required"


# -- hostile -----------------------------------------------------------------------------------
HOSTILE = sorted(path.name for path in (CORPUS / "hostile").iterdir() if path.is_file())


@pytest.mark.slow
@pytest.mark.parametrize("job_type", ["extract_table", "extract_form", "extract_invoice"])
def test_hostile_files_end_cleanly(tenant_a: Api, job_type: str) -> None:
    jobs = {}
    for name in HOSTILE:
        data = (CORPUS / "hostile" / name).read_bytes()
        uploaded = tenant_a.post("/files", files={"file": (name, data)})
        if uploaded.status_code == 201:
            jobs[name] = tenant_a.submit(job_type, [uploaded.json()["id"]], {})
        else:
            assert uploaded.json()["error"]["code"] in KNOWN_CODES
    for name, job in jobs.items():
        done, _ = tenant_a.wait(job["id"], timeout=300)
        assert done["status"] in ("succeeded", "failed"), (name, done)
        if done["status"] == "failed":
            assert done["error"]["code"] in KNOWN_CODES - {"internal"}, (name, done["error"])
    assert requests.get(tenant_a.stack.url("/health"), timeout=10).status_code == 200


# -- tables ------------------------------------------------------------------------------------
def _normalised(text: str) -> str:
    return " ".join(text.split())


def _cells_right(ours: list[list[str]], expected: list[list[str]]) -> float:
    right = sum(
        1
        for r, row in enumerate(expected)
        for c, cell in enumerate(row)
        if r < len(ours) and c < len(ours[r]) and _normalised(ours[r][c]) == _normalised(cell)
    )
    return right / sum(len(row) for row in expected)


def _grid(table: dict) -> list[list[str]]:
    grid = [["" for _ in range(table["columns"])] for _ in range(table["rows"])]
    for cell in table["cells"]:
        grid[cell["row"]][cell["column"]] = cell["text"]
    return grid


@pytest.mark.parametrize("name", ["health.pdf", "twotables_2.pdf"])
def test_tables_match_the_expected_cells(tenant_a: Api, name: str) -> None:
    expected = json.loads(corpus_file("tables/expected.json").read_text())[name]["tables"]
    done = _run(tenant_a, "extract_table", f"tables/{name}")
    assert done["status"] == "succeeded", done.get("error")
    data = _data(tenant_a, done["id"])
    ExtractionResult.model_validate(data)
    tables = [element for page in data["documents"][0]["pages"] for element in page["elements"]]
    assert len(tables) == len(expected)
    for ours, truth in zip(tables, expected, strict=True):
        assert ours["type"] == "table" and ours["page"] == 1
        assert _cells_right(_grid(ours), truth) >= 0.9

    outputs = {o["name"] for o in tenant_a.get(f"/jobs/{done['id']}/result").json()["outputs"]}
    markdown = tenant_a.get(f"/jobs/{done['id']}/result", params={"format": "md"})
    assert markdown.status_code == 200 and "|" in markdown.text
    if len(expected) == 1:
        assert "result.csv" in outputs
        rows = list(csv.reader(io.StringIO(tenant_a.get(f"/jobs/{done['id']}/result", params={"format": "csv"}).text)))
        assert len(rows) == tables[0]["rows"]
    else:
        redirect = tenant_a.get(f"/jobs/{done['id']}/result", params={"format": "zip"}, allow_redirects=False)
        assert redirect.status_code == 303
        archive = zipfile.ZipFile(io.BytesIO(requests.get(redirect.headers["Location"], timeout=30).content))
        assert len(archive.namelist()) == len(expected)


def test_a_scanned_table_is_read_through_ocr(tenant_a: Api, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pypdfium2 as pdfium

    image = pdfium.PdfDocument(corpus_file("tables/twotables_2.pdf"))[0].render(scale=300 / 72).to_pil()
    scan = tmp_path / "scan.png"
    image.convert("L").save(scan, dpi=(300, 300))
    file = tenant_a.upload(scan, content_type="image/png")
    done, _ = tenant_a.wait(tenant_a.submit("extract_table", [file["id"]], {})["id"], timeout=180)
    assert done["status"] == "succeeded", done.get("error")
    page = _data(tenant_a, done["id"])["documents"][0]["pages"][0]
    assert page["source"] == "ocr" and page["elements"]
    text = " ".join(cell["text"] for table in page["elements"] for cell in table["cells"])
    assert "Kerala" in text and "2400" in text


def test_a_page_without_tables_succeeds_with_none(tenant_a: Api) -> None:
    done = _run(tenant_a, "extract_table", "text/crazyones.pdf")
    assert done["status"] == "succeeded", done.get("error")
    assert all(not page["elements"] for page in _data(tenant_a, done["id"])["documents"][0]["pages"])
    outputs = {o["name"] for o in tenant_a.get(f"/jobs/{done['id']}/result").json()["outputs"]}
    assert outputs == {"result.json", "result.md"}


# -- invoices ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["AmazonWebServices", "oyo", "FlipkartInvoice"])
def test_invoices_give_their_golden_fields(tenant_a: Api, name: str) -> None:
    from decimal import Decimal

    golden = json.loads(corpus_file(f"invoices/{name}.json").read_text())[0]
    done = _run(tenant_a, "extract_invoice", f"invoices/{name}.pdf")
    assert done["status"] == "succeeded", done.get("error")
    data = _data(tenant_a, done["id"])
    ExtractionResult.model_validate(data)
    fields = data["documents"][0]["fields"]
    assert fields["issueDate"]["value"] == golden["date"]
    assert Decimal(fields["total"]["value"]) == Decimal(str(golden["amount"]))

    def number(text: str) -> str:  # invoice numbers compare without spaces, case or a leading "#"
        return text.replace(" ", "").lower().lstrip("#")

    assert number(fields["invoiceNumber"]["value"]) == number(str(golden["invoice_number"]))
    for field in fields.values():
        assert 0 <= field["confidence"] <= 1
        if field["value"] is not None and field.get("page"):
            assert len(field["bbox"]) == 4  # a page citation with a box


def _many_tables_pdf(path) -> None:  # type: ignore[no-untyped-def]
    """Four pages of 60 small ruled 2x2 tables each (240 in all)."""
    from tests.unit.pdf_builder import PageSpec, build_pdf, text_ops

    pages = []
    for number in range(4):
        ops = []
        for r in range(10):
            for c in range(6):
                x, y, w, h = 40 + c * 90, 740 - r * 70, 70, 40
                ops.append(f"0.5 w {x} {y} m {x + w} {y} l {x} {y - h / 2} m {x + w} {y - h / 2} l ")
                ops.append(f"{x} {y - h} m {x + w} {y - h} l {x} {y} m {x} {y - h} l ")
                ops.append(f"{x + w / 2} {y} m {x + w / 2} {y - h} l {x + w} {y} m {x + w} {y - h} l S\n")
                n = number * 100 + r * 6 + c
                ops.append(text_ops(x + 3, y - 14, f"A{n}", 7) + text_ops(x + w / 2 + 3, y - 14, str(n * 3), 7))
                ops.append(text_ops(x + 3, y - 34, "x", 7) + text_ops(x + w / 2 + 3, y - 34, str(n % 7), 7))
        pages.append(PageSpec("".join(ops)))
    build_pdf(path, pages)


def test_hundreds_of_tables_come_back_one_csv_each(tenant_a: Api, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "many.pdf"
    _many_tables_pdf(path)
    file = tenant_a.upload(path)
    done, _ = tenant_a.wait(tenant_a.submit("extract_table", [file["id"]], {})["id"], timeout=180)
    assert done["status"] == "succeeded", done.get("error")
    pages = _data(tenant_a, done["id"])["documents"][0]["pages"]
    assert [len(page["elements"]) for page in pages] == [60, 60, 60, 60]
    redirect = tenant_a.get(f"/jobs/{done['id']}/result", params={"format": "zip"}, allow_redirects=False)
    archive = zipfile.ZipFile(io.BytesIO(requests.get(redirect.headers["Location"], timeout=30).content))
    assert len(archive.namelist()) == 240
    assert archive.read("page-4-table-60.csv").decode().splitlines()[0] == "A359,1077"


def test_an_issuer_printed_only_in_a_logo_is_read(tenant_a: Api) -> None:
    # saeco.pdf names its issuer only inside a picture; the job OCRs pictures of text pages too.
    done = _run(tenant_a, "extract_invoice", "invoices/saeco.pdf")
    assert done["status"] == "succeeded", done.get("error")
    vendor = _data(tenant_a, done["id"])["documents"][0]["fields"]["vendor"]["value"] or ""
    assert "luscious" in vendor.lower()


@pytest.mark.parametrize("job_type", ["extract_table", "extract_form", "extract_invoice"])
def test_aws_engines_are_refused_locally(tenant_a: Api, job_type: str) -> None:
    file = tenant_a.upload(corpus_file("tables/twotables_2.pdf"))
    for engine in ("textract", "bedrock") if job_type == "extract_invoice" else ("textract",):
        response = tenant_a.post(
            "/jobs", json={"jobType": job_type, "inputFileIds": [file["id"]], "settings": {"engine": engine}}
        )
        assert response.status_code == 400 and response.json()["error"]["code"] == "engine.unavailable", engine
