"""Amazon Textract AnalyzeDocument (TABLES, FORMS) against botocore's Stubber on a real Textract client.

The Stubber checks every request we send against Textract's service model; the responses are the
fixtures in tests/fixtures/textract-analysis (synthesised in Textract's documented shape from two
corpus PDFs, not recorded: see the README there). The tables are compared with the corpus's true
cells, the fields with the form's own AcroForm boxes, and the whole mapping with an independent
parser, amazon-textract-textractor's.
"""

from __future__ import annotations

import copy
import io
import itertools
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pikepdf
import pypdfium2 as pdfium
import pytest
from botocore.stub import Stubber

from pdfjobs import errors
from pdfjobs.engines import textract_analysis as analysis
from pdfjobs.engines.tables import table_grid
from pdfjobs.settings import get_settings
from tests.corpus import corpus_file
from tests.unit.textract_doubles import MustNotBeCalled, blank_png, stubbed_textract

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "textract-analysis"
LETTER = (612.0, 792.0)  # twotables_2.pdf
TABLE_SIZES = {1: LETTER}
BUCKET, KEY = "pdfjobs-files", "t-1/job_1/input.pdf"
BOTH = ["TABLES", "FORMS"]


@cache
def _fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def _table_responses() -> list[dict[str, Any]]:
    return [_fixture(f"twotables-get-document-analysis-{n}.json") for n in (1, 2, 3)]


def _form_response() -> dict[str, Any]:
    return _fixture("libreoffice-form-analyze-document.json")


def _job_id() -> str:
    return str(_fixture("twotables-start-document-analysis.json")["JobId"])


@cache
def _form_page() -> tuple[float, float, bytes]:
    """libreoffice-form.pdf's page size in points and the page rendered at 72 dpi as PNG."""
    document = pdfium.PdfDocument(corpus_file("forms/libreoffice-form.pdf"))
    try:
        page = document[0]
        width, height = page.get_size()
        buffer = io.BytesIO()
        page.render(scale=1).to_pil().save(buffer, format="PNG")
    finally:
        document.close()
    return float(width), float(height), buffer.getvalue()


def _in_progress() -> dict[str, Any]:
    return {"JobStatus": "IN_PROGRESS", "AnalyzeDocumentModelVersion": "1.0"}


def _normalised(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Stubber]]:
    with stubbed_textract() as pair:
        yield pair


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def clean_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.delenv("PDFJOBS_TEXTRACT_ENABLED", raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def _start(stubber: Stubber, features: list[str] = BOTH) -> None:
    stubber.add_response(
        "start_document_analysis",
        _fixture("twotables-start-document-analysis.json"),
        {"DocumentLocation": {"S3Object": {"Bucket": BUCKET, "Name": KEY}}, "FeatureTypes": features},
    )


def _stub_results(stubber: Stubber) -> None:
    responses = _table_responses()
    stubber.add_response("get_document_analysis", responses[0], {"JobId": _job_id()})
    for previous, response in itertools.pairwise(responses):
        stubber.add_response(
            "get_document_analysis", response, {"JobId": _job_id(), "NextToken": previous["NextToken"]}
        )


def _inside(box: list[float], outer: list[float] | tuple[float, ...], slack: float = 0.0) -> bool:
    x0, y0, x1, y1 = box
    return outer[0] - slack <= x0 < x1 <= outer[2] + slack and outer[1] - slack <= y0 < y1 <= outer[3] + slack


# Availability


def test_analysis_is_unavailable_unless_textract_is_enabled(clean_settings: pytest.MonkeyPatch) -> None:
    usable, reason = analysis.available()
    assert usable is False
    assert reason is not None and "not enabled" in reason
    clean_settings.setenv("PDFJOBS_TEXTRACT_ENABLED", "true")
    get_settings.cache_clear()
    assert analysis.available() == (True, None)


# Asynchronous: twotables_2.pdf in S3


def test_analyze_document_polls_reads_every_page_of_results_and_maps_both_tables(
    stubbed: tuple[Any, Stubber], sleeps: list[float]
) -> None:
    client, stubber = stubbed
    responses = _table_responses()
    assert all(response.get("NextToken") for response in responses[:-1]) and "NextToken" not in responses[-1]
    _start(stubber)
    stubber.add_response("get_document_analysis", _in_progress(), {"JobId": _job_id()})
    stubber.add_response("get_document_analysis", _in_progress(), {"JobId": _job_id()})
    _stub_results(stubber)

    pages = analysis.analyze_document(BUCKET, KEY, TABLE_SIZES, client=client, poll_seconds=2.0, sleep=sleeps.append)

    assert sleeps == [2.0, 2.0, 2.0]  # before each status poll, none between pages of results
    assert list(pages) == [1]
    assert pages[1]["fields"] == []
    tables = pages[1]["tables"]
    assert len(tables) == 2
    truth = json.loads(corpus_file("tables/expected.json").read_text())["twotables_2.pdf"]["tables"]
    for table, expected in zip(tables, truth, strict=True):
        assert (table["type"], table["page"], table["method"]) == ("table", 1, "textract")
        assert (table["rows"], table["columns"]) == (len(expected), len(expected[0])) == (13, 8)
        grid = table_grid(table)
        pairs = [
            (ours, _normalised(true))
            for row, true_row in zip(grid, expected, strict=True)
            for ours, true in zip(row, true_row, strict=True)
        ]
        assert sum(ours == true for ours, true in pairs) >= 0.95 * len(pairs)
        assert sum(bool(true) for _, true in pairs) > 90  # the comparison is over real text, not blanks
        # The spanning header: one cell over the six columns of results, State and n over two rows.
        spanning = {cell["text"]: cell for cell in table["cells"] if cell["rowSpan"] > 1 or cell["columnSpan"] > 1}
        assert set(spanning) == {"Literacy Status", "State", "n"}
        literacy = spanning["Literacy Status"]
        assert (literacy["row"], literacy["column"], literacy["rowSpan"], literacy["columnSpan"]) == (0, 2, 1, 6)
        assert (spanning["State"]["row"], spanning["State"]["column"], spanning["State"]["rowSpan"]) == (0, 0, 2)
        # Every grid position covered exactly once.
        covered = [
            (row, column)
            for cell in table["cells"]
            for row in range(cell["row"], cell["row"] + cell["rowSpan"])
            for column in range(cell["column"], cell["column"] + cell["columnSpan"])
        ]
        assert sorted(covered) == [(row, column) for row in range(13) for column in range(8)]
        assert len(table["cells"]) == 13 * 8 - (6 - 1) - 2 * (2 - 1)
        assert _inside(table["bbox"], (0.0, 0.0, *LETTER))
        for cell in table["cells"]:
            assert _inside(cell["bbox"], table["bbox"], slack=0.01)
        # The merged header lies over the six result columns' cells below it.
        below = [cell for cell in table["cells"] if cell["row"] == 1 and 2 <= cell["column"] <= 7]
        assert literacy["bbox"][0] == pytest.approx(min(cell["bbox"][0] for cell in below), abs=0.01)
        assert literacy["bbox"][2] == pytest.approx(max(cell["bbox"][2] for cell in below), abs=0.01)
    assert tables[0]["bbox"][3] < tables[1]["bbox"][1]  # top to bottom
    assert table_grid(tables[0])[2] == ["Kerala", "2400", "7.2", "0.5", "25.3", "20.1", "41.5", "5.5"]
    assert table_grid(tables[1])[12] == ["Pooled", "23889", "47.7", "1.5", "9.9", "19.9", "17.8", "3.3"]
    assert table_grid(tables[0])[1][3] == "Read & Write"  # two lines of one cell, joined with a space


def test_analyze_document_sends_only_the_features_asked_for(stubbed: tuple[Any, Stubber], sleeps: list[float]) -> None:
    client, stubber = stubbed
    _start(stubber, ["TABLES"])
    _stub_results(stubber)
    pages = analysis.analyze_document(BUCKET, KEY, TABLE_SIZES, features=["tables"], client=client, sleep=sleeps.append)
    assert len(pages[1]["tables"]) == 2


@pytest.mark.parametrize("features", [[], ["QUERIES"], ["TABLES", "SIGNATURES"], "TABLES"])
def test_features_other_than_tables_and_forms_are_a_programming_error(features: Any) -> None:
    with pytest.raises(ValueError, match="features"):
        analysis.analyze_document(BUCKET, KEY, TABLE_SIZES, features=features, client=MustNotBeCalled())
    with pytest.raises(ValueError, match="features"):
        analysis.analyze_page(blank_png(10, 10), *LETTER, features=features, client=MustNotBeCalled())


def test_a_failed_job_raises_textract_failed_with_its_status_message(
    stubbed: tuple[Any, Stubber], sleeps: list[float]
) -> None:
    client, stubber = stubbed
    _start(stubber)
    stubber.add_response("get_document_analysis", _in_progress(), {"JobId": _job_id()})
    stubber.add_response(
        "get_document_analysis",
        {"JobStatus": "FAILED", "StatusMessage": "Request has unsupported document format"},
        {"JobId": _job_id()},
    )
    with pytest.raises(errors.TextractFailed) as failed:
        analysis.analyze_document(BUCKET, KEY, TABLE_SIZES, client=client, sleep=sleeps.append)
    assert "Request has unsupported document format" in failed.value.message
    assert failed.value.details == {"textractJobId": _job_id(), "textractStatus": "FAILED"}
    assert failed.value.status == 502
    assert len(sleeps) == 2


def test_a_partial_success_returns_the_pages_textract_read(stubbed: tuple[Any, Stubber], sleeps: list[float]) -> None:
    client, stubber = stubbed
    first = copy.deepcopy(_table_responses()[0])
    del first["NextToken"]
    first["JobStatus"] = "PARTIAL_SUCCESS"
    first["Warnings"] = [{"ErrorCode": "INTERNAL_ERROR", "Pages": [2]}]
    _start(stubber)
    stubber.add_response("get_document_analysis", first, {"JobId": _job_id()})

    pages = analysis.analyze_document(BUCKET, KEY, {1: LETTER, 2: LETTER}, client=client, sleep=sleeps.append)

    assert list(pages) == [1]
    # The first response holds the first TABLE but only its first CELLs and none of its MERGED_CELLs:
    # the grid is what those CELLs make, unmerged, and positions without a CELL are empty cells.
    cells = [block for block in first["Blocks"] if block["BlockType"] == "CELL"]
    assert not any(block["BlockType"] == "MERGED_CELL" for block in first["Blocks"])
    (table,) = pages[1]["tables"]
    rows, columns = max(cell["RowIndex"] for cell in cells), max(cell["ColumnIndex"] for cell in cells)
    assert (table["rows"], table["columns"]) == (rows, columns) and rows * columns > len(cells)
    assert len(table["cells"]) == rows * columns
    assert all(cell["rowSpan"] == cell["columnSpan"] == 1 for cell in table["cells"])
    assert table_grid(table)[0][4:6] == ["Literacy", "Status"]


def test_a_job_not_done_in_time_raises_engine_timeout(stubbed: tuple[Any, Stubber], sleeps: list[float]) -> None:
    client, stubber = stubbed
    _start(stubber)
    for _ in range(3):
        stubber.add_response("get_document_analysis", _in_progress(), {"JobId": _job_id()})
    with pytest.raises(errors.EngineTimeout) as timed_out:
        analysis.analyze_document(
            BUCKET, KEY, TABLE_SIZES, client=client, poll_seconds=2.0, timeout_seconds=5.0, sleep=sleeps.append
        )
    assert sleeps == [2.0, 2.0, 1.0]  # the last wait stops at the deadline
    assert timed_out.value.code == "job.timeout"
    assert timed_out.value.details == {"textractJobId": _job_id()}


def test_more_pages_than_textract_reads_are_refused_before_calling() -> None:
    sizes = {number: LETTER for number in range(1, 3002)}
    with pytest.raises(errors.TextractFailed) as refused:
        analysis.analyze_document(BUCKET, KEY, sizes, client=MustNotBeCalled())
    assert refused.value.details == {"pages": 3001, "limit": 3000}


# Synchronous: one rendered page of libreoffice-form.pdf


def test_analyze_page_maps_the_forms_key_value_pairs(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    width, height, image = _form_page()
    stubber.add_response("analyze_document", _form_response(), {"Document": {"Bytes": image}, "FeatureTypes": BOTH})

    result = analysis.analyze_page(image, width, height, page=2, client=client)

    assert result["tables"] == []
    fields = {field["name"]: field for field in result["fields"]}
    assert [field["name"] for field in result["fields"]] == [
        "First Name",
        "Last Name",
        "Birthday",
        "Nationality",  # printed "Nationality:", the colon dropped
        "Agree to privacy policy",
        "First Name 2",
    ]
    assert (fields["First Name"]["value"], fields["First Name 2"]["value"]) == ("Alice", "Bob")
    assert fields["Last Name"]["value"] == "" and fields["Birthday"]["value"] == ""
    checkbox = fields["Agree to privacy policy"]
    assert checkbox["fieldType"] == "checkbox" and checkbox["value"] is False
    # The value boxes are the form's own widget rectangles (which the fixture's VALUE geometry came from).
    with pikepdf.open(corpus_file("forms/libreoffice-form.pdf")) as pdf:
        acroform_fields: Any = pdf.Root.AcroForm.Fields
        rects = {str(field.T): [float(v) for v in field.Rect] for field in acroform_fields if "/Rect" in field}
    for name, acroform in [
        ("First Name", "First Name"),
        ("First Name 2", "First Name_2"),
        ("Agree to privacy policy", "gdpr"),
    ]:
        x0, y0, x1, y1 = rects[acroform]
        assert fields[name]["bbox"] == pytest.approx([x0, height - y1, x1, height - y0], abs=0.01)
    blocks = {block["Id"]: block for block in _form_response()["Blocks"]}
    keys = [block for block in blocks.values() if block.get("EntityTypes") == ["KEY"]]
    for field in result["fields"]:
        assert field["type"] == "field" and field["source"] == "textract" and field["page"] == 2
        assert field["label"] == field["name"]
        assert field["fieldType"] == ("checkbox" if field is checkbox else "text")
        assert _inside(field["bbox"], (0.0, 0.0, width, height))
        (key,) = [block for block in keys if _key_text(block, blocks).rstrip(":") == field["name"]]
        value = blocks[key["Relationships"][0]["Ids"][0]]
        assert 0.0 <= field["confidence"] <= 1.0
        assert field["confidence"] == round(min(key["Confidence"], value["Confidence"]) / 100, 2)
        assert (field["options"], field["section"], field["required"], field["readOnly"]) == ([], "", False, False)


def _key_text(key: dict[str, Any], blocks: dict[str, dict[str, Any]]) -> str:
    children = next(relation["Ids"] for relation in key["Relationships"] if relation["Type"] == "CHILD")
    return " ".join(blocks[child]["Text"] for child in children)


def test_an_image_over_the_synchronous_size_limit_is_refused_before_calling() -> None:
    image = blank_png(100, 100) + b"\0" * (10 * 1024 * 1024)
    with pytest.raises(errors.TextractFailed) as refused:
        analysis.analyze_page(image, *LETTER, client=MustNotBeCalled())
    assert refused.value.details == {"bytes": len(image), "limit": 10 * 1024 * 1024}
    assert refused.value.code == "textract.failed"


@pytest.mark.parametrize(
    ("image", "words"),
    [
        (b"", "empty"),
        (b"GIF89a" + b"\0" * 64, "neither PNG nor JPEG"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "could not be read"),
        (blank_png(8, 10_001), "8 x 10001 pixels"),
    ],
)
def test_images_textract_cannot_take_are_refused_before_calling(image: bytes, words: str) -> None:
    with pytest.raises(errors.TextractFailed) as refused:
        analysis.analyze_page(image, *LETTER, client=MustNotBeCalled())
    assert words in refused.value.message


def test_a_response_without_a_page_is_textract_failed(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    image = blank_png(50, 50)
    stubber.add_response("analyze_document", {"Blocks": []}, {"Document": {"Bytes": image}, "FeatureTypes": BOTH})
    with pytest.raises(errors.TextractFailed, match="no page"):
        analysis.analyze_page(image, *LETTER, client=client)


# Errors from the API


@pytest.mark.parametrize(
    ("code", "retryable", "words"),
    [
        ("ThrottlingException", True, "request rate"),
        ("ProvisionedThroughputExceededException", True, "request rate"),
        ("InvalidParameterException", False, "parameters"),
        ("UnsupportedDocumentException", False, "format"),
        ("BadDocumentException", False, "damaged"),
        ("DocumentTooLargeException", False, "too large"),
        ("AccessDeniedException", False, "not allowed"),
        ("InternalServerError", True, "try again"),
        ("SomethingNewException", False, "could not process"),
    ],
)
def test_client_errors_become_textract_failed_without_the_aws_message(
    stubbed: tuple[Any, Stubber], code: str, retryable: bool, words: str
) -> None:
    client, stubber = stubbed
    image = blank_png(50, 50)
    aws_message = "User arn:aws:iam::123456789012:role/secret-role is not authorized for secret-bucket"
    stubber.add_client_error("analyze_document", code, aws_message, 400)
    with pytest.raises(errors.TextractFailed) as failed:
        analysis.analyze_page(image, *LETTER, client=client)
    assert failed.value.details == {"textractError": code, "retryable": retryable}
    assert words in failed.value.message
    assert "secret" not in failed.value.message and "arn:" not in failed.value.message


@pytest.mark.parametrize(
    ("method", "code", "words"),
    [
        ("start_document_analysis", "InvalidS3ObjectException", "from storage"),
        ("start_document_analysis", "LimitExceededException", "request rate"),
        ("get_document_analysis", "InvalidJobIdException", "document analysis job"),
    ],
)
def test_client_errors_of_the_asynchronous_calls_become_textract_failed(
    stubbed: tuple[Any, Stubber], sleeps: list[float], method: str, code: str, words: str
) -> None:
    client, stubber = stubbed
    if method == "get_document_analysis":
        _start(stubber)
    stubber.add_client_error(method, code, "the AWS message", 400)
    with pytest.raises(errors.TextractFailed) as failed:
        analysis.analyze_document(BUCKET, KEY, TABLE_SIZES, client=client, sleep=sleeps.append)
    assert failed.value.details is not None and failed.value.details["textractError"] == code
    assert words in failed.value.message
    assert "the AWS message" not in failed.value.message


def test_a_connection_failure_becomes_a_retryable_textract_failed() -> None:
    from botocore.exceptions import EndpointConnectionError

    class Unreachable:
        def analyze_document(self, **_: Any) -> dict[str, Any]:
            raise EndpointConnectionError(endpoint_url="https://textract.us-east-1.amazonaws.com/")

    with pytest.raises(errors.TextractFailed) as failed:
        analysis.analyze_page(blank_png(50, 50), *LETTER, client=Unreachable())
    assert failed.value.details == {"textractError": "EndpointConnectionError", "retryable": True}
    assert "amazonaws.com" not in failed.value.message


# The pure mapping, on hand-made blocks


def _block(block_type: str, block_id: str, box: tuple[float, float, float, float], **fields: Any) -> dict[str, Any]:
    left, top, width, height = box
    geometry = {"BoundingBox": {"Width": width, "Height": height, "Left": left, "Top": top}, "Polygon": []}
    return {"BlockType": block_type, "Id": block_id, "Geometry": geometry, **fields}


def _relations(kind: str, *ids: str) -> dict[str, Any]:
    return {"Type": kind, "Ids": list(ids)}


def _cell(block_id: str, row: int, column: int, *children: str, **fields: Any) -> dict[str, Any]:
    box = (0.1 * column, 0.1 * row, 0.1, 0.1)
    relationships = {"Relationships": [_relations("CHILD", *children)]} if children else {}
    return _block(
        "CELL", block_id, box, RowIndex=row, ColumnIndex=column, RowSpan=1, ColumnSpan=1, **relationships, **fields
    )


def test_fields_take_the_lower_confidence_drop_the_colon_and_read_selected_boxes() -> None:
    blocks = [
        _block("PAGE", "p", (0, 0, 1, 1)),
        _block("WORD", "k1", (0.1, 0.1, 0.1, 0.02), Text="Total:"),
        _block("WORD", "v1", (0.3, 0.1, 0.1, 0.02), Text="12.50"),
        _block("WORD", "v2", (0.4, 0.1, 0.1, 0.02), Text="EUR"),
        _block(
            "KEY_VALUE_SET",
            "key1",
            (0.1, 0.1, 0.1, 0.02),
            Confidence=91.0,
            EntityTypes=["KEY"],
            Relationships=[_relations("VALUE", "value1"), _relations("CHILD", "k1")],
        ),
        _block(
            "KEY_VALUE_SET",
            "value1",
            (0.3, 0.1, 0.2, 0.02),
            Confidence=62.5,
            EntityTypes=["VALUE"],
            Relationships=[_relations("CHILD", "v1", "v2")],
        ),
        _block("WORD", "k2", (0.1, 0.05, 0.1, 0.02), Text="Married"),
        _block(
            "KEY_VALUE_SET",
            "key2",
            (0.1, 0.05, 0.1, 0.02),
            Confidence=80.0,
            EntityTypes=["KEY"],
            Relationships=[_relations("CHILD", "k2"), _relations("VALUE", "value2")],
        ),
        _block(
            "KEY_VALUE_SET",
            "value2",
            (0.3, 0.05, 0.02, 0.02),
            Confidence=85.0,
            EntityTypes=["VALUE"],
            Relationships=[_relations("CHILD", "box")],
        ),
        _block("SELECTION_ELEMENT", "box", (0.3, 0.05, 0.02, 0.02), Confidence=99.0, SelectionStatus="SELECTED"),
        # A key without a VALUE and a key without words give no field.
        _block("KEY_VALUE_SET", "key3", (0.1, 0.5, 0.1, 0.02), Confidence=70.0, EntityTypes=["KEY"]),
        _block(
            "KEY_VALUE_SET",
            "key4",
            (0.1, 0.6, 0.1, 0.02),
            Confidence=70.0,
            EntityTypes=["KEY"],
            Relationships=[_relations("VALUE", "value1")],
        ),
    ]
    pages = analysis.tables_and_fields_from_blocks(blocks, {1: (200.0, 100.0)})
    assert list(pages) == [1]
    married, total = pages[1]["fields"]  # in the order of their keys, top to bottom
    assert (married["name"], married["fieldType"], married["value"]) == ("Married", "checkbox", True)
    assert married["confidence"] == 0.8
    assert (total["name"], total["label"], total["fieldType"], total["value"]) == (
        "Total",
        "Total",
        "text",
        "12.50 EUR",
    )
    assert total["confidence"] == 0.62  # min(91.0, 62.5) / 100, to two places
    assert total["bbox"] == [60.0, 10.0, 100.0, 12.0]  # the value's box, not the key's


def test_table_cells_are_zero_based_with_check_boxes_and_gaps_filled() -> None:
    blocks = [
        _block("PAGE", "p", (0, 0, 1, 1), Page=2),
        _block(
            "TABLE",
            "t",
            (0.1, 0.1, 0.3, 0.2),
            Page=2,
            Relationships=[_relations("CHILD", "c11", "c12", "c13", "c21", "c23")],
        ),
        _cell("c11", 1, 1, "w1", "w2", Page=2),
        _cell("c12", 1, 2, "s1", Page=2),
        _cell("c13", 1, 3, "s2", "w3", Page=2),
        _cell("c21", 2, 1, Page=2),
        _cell("c23", 2, 3, "w4", Page=2),  # (2, 2) has no CELL at all
        _block("WORD", "w1", (0.1, 0.1, 0.05, 0.05), Text="Good", Page=2),
        _block("WORD", "w2", (0.15, 0.1, 0.05, 0.05), Text="service", Page=2),
        _block("WORD", "w3", (0.32, 0.1, 0.05, 0.05), Text="no", Page=2),
        _block("WORD", "w4", (0.3, 0.2, 0.05, 0.05), Text="x", Page=2),
        _block("SELECTION_ELEMENT", "s1", (0.2, 0.1, 0.02, 0.02), SelectionStatus="SELECTED", Page=2),
        _block("SELECTION_ELEMENT", "s2", (0.3, 0.1, 0.02, 0.02), SelectionStatus="NOT_SELECTED", Page=2),
    ]
    pages = analysis.tables_and_fields_from_blocks(blocks, {1: LETTER, 2: (100.0, 100.0)})
    assert list(pages) == [2]
    (table,) = pages[2]["tables"]
    assert (table["page"], table["rows"], table["columns"]) == (2, 2, 3)
    assert table_grid(table) == [["Good service", "[x]", "[ ] no"], ["", "", "x"]]
    gap = next(cell for cell in table["cells"] if (cell["row"], cell["column"]) == (1, 1))
    assert gap["bbox"] == [20.0, 20.0, 30.0, 30.0]  # its column's x, its row's y
    assert table["bbox"] == [10.0, 10.0, 40.0, 30.0]


def test_overlapping_merged_cells_cover_each_position_once() -> None:
    blocks = [
        _block("PAGE", "p", (0, 0, 1, 1)),
        _block(
            "TABLE",
            "t",
            (0.0, 0.0, 0.2, 0.2),
            Relationships=[_relations("CHILD", "c11", "c12", "c21", "c22"), _relations("MERGED_CELL", "m1", "m2")],
        ),
        _cell("c11", 1, 1, "w1"),
        _cell("c12", 1, 2, "w2"),
        _cell("c21", 2, 1, "w3"),
        _cell("c22", 2, 2),
        _block("WORD", "w1", (0.0, 0.0, 0.05, 0.05), Text="A"),
        _block("WORD", "w2", (0.1, 0.0, 0.05, 0.05), Text="B"),
        _block("WORD", "w3", (0.0, 0.1, 0.05, 0.05), Text="C"),
        # m1 joins the first row; m2 (the first column) overlaps it and is ignored.
        _block(
            "MERGED_CELL",
            "m1",
            (0.0, 0.0, 0.2, 0.1),
            RowIndex=1,
            ColumnIndex=1,
            RowSpan=1,
            ColumnSpan=2,
            Relationships=[_relations("CHILD", "c12", "c11")],
        ),
        _block(
            "MERGED_CELL",
            "m2",
            (0.0, 0.0, 0.1, 0.2),
            RowIndex=1,
            ColumnIndex=1,
            RowSpan=2,
            ColumnSpan=1,
            Relationships=[_relations("CHILD", "c11", "c21")],
        ),
    ]
    (table,) = analysis.tables_and_fields_from_blocks(blocks, {1: (100.0, 100.0)})[1]["tables"]
    assert [(c["row"], c["column"], c["rowSpan"], c["columnSpan"], c["text"]) for c in table["cells"]] == [
        (0, 0, 1, 2, "A B"),  # the merged cell's children in grid order, not in the order it names them
        (1, 0, 1, 1, "C"),
        (1, 1, 1, 1, ""),
    ]


def test_pages_come_in_order_and_an_unknown_page_is_an_error() -> None:
    blocks = [_block("PAGE", "p2", (0, 0, 1, 1), Page=2), _block("PAGE", "p1", (0, 0, 1, 1), Page=1)]
    pages = analysis.tables_and_fields_from_blocks(blocks, {1: LETTER, 2: LETTER})
    assert pages == {1: {"tables": [], "fields": []}, 2: {"tables": [], "fields": []}}
    with pytest.raises(errors.TextractFailed) as failed:
        analysis.tables_and_fields_from_blocks([_block("PAGE", "p3", (0, 0, 1, 1), Page=3)], {1: LETTER})
    assert failed.value.details == {"page": 3}


def test_boxes_are_clipped_to_the_page() -> None:
    blocks = [
        _block("PAGE", "p", (0, 0, 1, 1)),
        _block("TABLE", "t", (-0.1, 0.9, 1.2, 0.2), Relationships=[_relations("CHILD", "c")]),
        _block("CELL", "c", (-0.1, 0.9, 1.2, 0.2), RowIndex=1, ColumnIndex=1, RowSpan=1, ColumnSpan=1),
    ]
    (table,) = analysis.tables_and_fields_from_blocks(blocks, {1: (100.0, 200.0)})[1]["tables"]
    assert table["bbox"] == table["cells"][0]["bbox"] == [0.0, 180.0, 100.0, 200.0]


# Cross-check with an independent parser


def _textractor(response: dict[str, Any]) -> Any:
    from textractor.parsers.response_parser import parse

    return parse(copy.deepcopy(response))


def test_the_tables_agree_with_textractor() -> None:
    responses = _table_responses()
    merged = {**responses[-1], "Blocks": [block for response in responses for block in response["Blocks"]]}
    ours = analysis.tables_and_fields_from_blocks(merged["Blocks"], TABLE_SIZES)[1]["tables"]
    theirs = sorted(_textractor(merged).tables, key=lambda table: table.bbox.y)
    assert len(ours) == len(theirs) == 2
    for table, their_table in zip(ours, theirs, strict=True):
        # textractor lists every unit cell and marks the ones a merged cell joins with its id.
        groups: dict[str, list[Any]] = {}
        for cell in their_table.table_cells:
            groups.setdefault(cell.parent_cell_id or cell.id, []).append(cell)
        expected = []
        for cells in groups.values():
            cells.sort(key=lambda cell: (cell.row_index, cell.col_index))
            text = " ".join(part for cell in cells if (part := _normalised(cell.text)))
            expected.append((cells[0].row_index - 1, cells[0].col_index - 1, text))
        assert sorted(expected) == [(cell["row"], cell["column"], cell["text"]) for cell in table["cells"]]
        assert len(expected) == 97
        width, height = LETTER
        box = their_table.bbox
        assert table["bbox"] == pytest.approx(
            [box.x * width, box.y * height, (box.x + box.width) * width, (box.y + box.height) * height], abs=0.006
        )


def test_the_fields_agree_with_textractor() -> None:
    width, height, _ = _form_page()
    ours = analysis.tables_and_fields_from_blocks(_form_response()["Blocks"], {1: (width, height)})[1]["fields"]
    (page,) = _textractor(_form_response()).pages
    theirs = []
    for pair in [*page.key_values, *page.checkboxes]:
        name = " ".join(word.text for word in pair.key).removesuffix(":")
        if pair.contains_checkbox:
            value: Any = pair.selection_status.name == "SELECTED"
        else:
            value = _normalised(pair.value.text)
        theirs.append((name, value, round(pair.confidence, 2)))
    assert len(theirs) == 6
    assert sorted(theirs, key=repr) == sorted(
        ((field["name"], field["value"], field["confidence"]) for field in ours), key=repr
    )
    assert [pair for pair in theirs if pair[0] == "First Name"] == [("First Name", "Alice", 0.75)]
