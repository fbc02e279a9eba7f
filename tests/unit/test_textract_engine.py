"""The Amazon Textract adapter against botocore's Stubber on a real Textract client.

The Stubber checks every request we send against Textract's service model; the responses are the
fixtures in tests/fixtures/textract (synthesised in Textract's documented shape from Tesseract's
reading of corpus scans: see the README there). Their mapping is cross-checked with an independent
parser, amazon-textract-textractor's.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from pdfjobs import errors
from pdfjobs.engines import textract
from pdfjobs.settings import get_settings
from tests.corpus import corpus_file
from tests.unit.textract_doubles import MustNotBeCalled, blank_png, stubbed_textract

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "textract"
LETTER = (612.0, 792.0)
CARDINAL_SIZES = {1: (612.0, 792.0), 2: (792.0, 612.0)}  # page 2 is landscape
BUCKET, KEY = "pdfjobs-files", "t-1/job_1/input.pdf"


@cache
def _fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def _linn() -> dict[str, Any]:
    return _fixture("linn-detect-document-text.json")


def _cardinal() -> list[dict[str, Any]]:
    return [_fixture(f"cardinal-get-document-text-detection-{n}.json") for n in (1, 2)]


def _job_id() -> str:
    return str(_fixture("cardinal-start-document-text-detection.json")["JobId"])


def _in_progress() -> dict[str, Any]:
    return {"JobStatus": "IN_PROGRESS", "DetectDocumentTextModelVersion": "1.0"}


def _blocks(responses: list[dict[str, Any]], block_type: str, page: int | None = None) -> list[dict[str, Any]]:
    return [
        block
        for response in responses
        for block in response["Blocks"]
        if block["BlockType"] == block_type and (page is None or block.get("Page") == page)
    ]


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


def _start(stubber: Stubber) -> None:
    stubber.add_response(
        "start_document_text_detection",
        _fixture("cardinal-start-document-text-detection.json"),
        {"DocumentLocation": {"S3Object": {"Bucket": BUCKET, "Name": KEY}}},
    )


# Availability


def test_textract_is_unavailable_unless_enabled(clean_settings: pytest.MonkeyPatch) -> None:
    usable, reason = textract.available()
    assert usable is False
    assert reason is not None and "not enabled" in reason


def test_textract_is_available_when_the_setting_is_on(clean_settings: pytest.MonkeyPatch) -> None:
    clean_settings.setenv("PDFJOBS_TEXTRACT_ENABLED", "true")
    get_settings.cache_clear()
    assert textract.available() == (True, None)


# Synchronous: one page image


def test_detect_page_maps_lines_and_words_of_a_two_column_scan(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    image = corpus_file("scans/linn.png").read_bytes()
    stubber.add_response("detect_document_text", _linn(), {"Document": {"Bytes": image}})

    page = textract.detect_page(image, *LETTER, page=3, client=client)

    assert (page["page"], page["width"], page["height"], page["rotation"]) == (3, 612.0, 792.0, 0)
    line_blocks = _blocks([_linn()], "LINE")
    assert len(page["lines"]) == len(line_blocks) == 82
    assert sum(len(line["words"]) for line in page["lines"]) == len(_blocks([_linn()], "WORD")) == 730
    # Textract's line order and texts, its words in CHILD order.
    assert [line["text"] for line in page["lines"]] == [block["Text"] for block in line_blocks]
    assert page["lines"][0]["text"] == "The LinnSequencer"
    assert [word["text"] for word in page["lines"][0]["words"]] == ["The", "LinnSequencer"]
    words = {word["text"] for line in page["lines"] for word in line["words"]}
    known = {"LinnSequencer", "MIDI", "polyphonic", "sequences", "REWIND"}
    assert known <= set(corpus_file("scans/linn.txt").read_text().replace(",", " ").split())  # the true text
    assert known <= words
    for line in page["lines"]:
        assert line["text"] == " ".join(word["text"] for word in line["words"])
        assert 0 <= line["confidence"] <= 100
        x0, y0, x1, y1 = line["bbox"]
        assert 0 <= x0 < x1 <= 612 and 0 <= y0 < y1 <= 792
        for word in line["words"]:
            wx0, wy0, wx1, wy1 = word["bbox"]
            assert 0 <= wx0 < wx1 <= 612 and 0 <= wy0 < wy1 <= 792
            assert x0 <= wx0 and wx1 <= x1 and y0 <= wy0 and wy1 <= y1
            assert 0 <= word["confidence"] <= 100
    # Ratios of the page times its size in points, to two decimals.
    box = line_blocks[0]["Geometry"]["BoundingBox"]
    assert page["lines"][0]["bbox"] == [
        round(box["Left"] * 612, 2),
        round(box["Top"] * 792, 2),
        round((box["Left"] + box["Width"]) * 612, 2),
        round((box["Top"] + box["Height"]) * 792, 2),
    ]
    assert page["lines"][0]["confidence"] == round(line_blocks[0]["Confidence"], 2)


def test_an_image_over_the_synchronous_size_limit_is_refused_before_calling() -> None:
    image = blank_png(100, 100) + b"\0" * (10 * 1024 * 1024)
    with pytest.raises(errors.TextractFailed) as refused:
        textract.detect_page(image, *LETTER, client=MustNotBeCalled())
    assert refused.value.details == {"bytes": len(image), "limit": 10 * 1024 * 1024}
    assert "10485760" in refused.value.message
    assert refused.value.code == "textract.failed"


@pytest.mark.parametrize(
    ("image", "words"),
    [
        (b"", "empty"),
        (b"GIF89a" + b"\0" * 64, "neither PNG nor JPEG"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "could not be read"),
        (blank_png(10_001, 8), "10001 x 8 pixels"),
    ],
)
def test_images_textract_cannot_take_are_refused_before_calling(image: bytes, words: str) -> None:
    with pytest.raises(errors.TextractFailed) as refused:
        textract.detect_page(image, *LETTER, client=MustNotBeCalled())
    assert words in refused.value.message


def test_an_image_at_the_pixel_limit_is_sent(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    image = blank_png(10_000, 8)
    stubber.add_response("detect_document_text", _linn(), {"Document": {"Bytes": image}})
    assert len(textract.detect_page(image, *LETTER, client=client)["lines"]) == 82


# Asynchronous: a document in S3


def test_detect_document_polls_then_reads_every_page_of_results(
    stubbed: tuple[Any, Stubber], sleeps: list[float]
) -> None:
    client, stubber = stubbed
    first, last = _cardinal()
    assert first.get("NextToken") and "NextToken" not in last
    _start(stubber)
    stubber.add_response("get_document_text_detection", _in_progress(), {"JobId": _job_id()})
    stubber.add_response("get_document_text_detection", _in_progress(), {"JobId": _job_id()})
    stubber.add_response("get_document_text_detection", first, {"JobId": _job_id()})
    stubber.add_response("get_document_text_detection", last, {"JobId": _job_id(), "NextToken": first["NextToken"]})

    pages = textract.detect_document(BUCKET, KEY, CARDINAL_SIZES, client=client, poll_seconds=2.0, sleep=sleeps.append)

    assert sleeps == [2.0, 2.0, 2.0]  # before each status poll, none between pages of results
    assert [(page["page"], page["width"], page["height"]) for page in pages] == [(1, 612.0, 792.0), (2, 792.0, 612.0)]
    for page in pages:
        number = page["page"]
        line_blocks = _blocks([first, last], "LINE", number)
        assert len(page["lines"]) == len(line_blocks) > 50
        # Page 2's LINEs are all in the first response, most of their WORDs in the second.
        assert [len(line["words"]) for line in page["lines"]] == [
            len(block["Relationships"][0]["Ids"]) for block in line_blocks
        ]
        assert sum(len(line["words"]) for line in page["lines"]) == len(_blocks([first, last], "WORD", number))
        width, height = page["width"], page["height"]
        for line in page["lines"]:
            for word in line["words"]:
                x0, y0, x1, y1 = word["bbox"]
                assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
    assert pages[0]["lines"][0]["text"] == pages[1]["lines"][0]["text"] == "The LinnSequencer"
    # Page 2 is printed sideways: its lines are tall, not wide.
    tall = [line for line in pages[1]["lines"] if line["bbox"][3] - line["bbox"][1] > line["bbox"][2] - line["bbox"][0]]
    assert len(tall) > 0.9 * len(pages[1]["lines"])


def test_a_failed_job_raises_textract_failed_with_its_status_message(
    stubbed: tuple[Any, Stubber], sleeps: list[float]
) -> None:
    client, stubber = stubbed
    _start(stubber)
    stubber.add_response("get_document_text_detection", _in_progress(), {"JobId": _job_id()})
    stubber.add_response(
        "get_document_text_detection",
        {"JobStatus": "FAILED", "StatusMessage": "Request has unsupported document format"},
        {"JobId": _job_id()},
    )
    with pytest.raises(errors.TextractFailed) as failed:
        textract.detect_document(BUCKET, KEY, CARDINAL_SIZES, client=client, sleep=sleeps.append)
    assert "Request has unsupported document format" in failed.value.message
    assert failed.value.details == {"textractJobId": _job_id(), "textractStatus": "FAILED"}
    assert failed.value.status == 502
    assert len(sleeps) == 2


def test_a_partial_success_returns_the_pages_textract_read(stubbed: tuple[Any, Stubber], sleeps: list[float]) -> None:
    client, stubber = stubbed
    partial = copy.deepcopy(_cardinal()[0])
    del partial["NextToken"]
    partial["JobStatus"] = "PARTIAL_SUCCESS"
    partial["Blocks"] = [block for block in partial["Blocks"] if block["Page"] == 1]
    partial["Warnings"] = [{"ErrorCode": "INTERNAL_ERROR", "Pages": [2]}]
    _start(stubber)
    stubber.add_response("get_document_text_detection", partial, {"JobId": _job_id()})

    pages = textract.detect_document(BUCKET, KEY, CARDINAL_SIZES, client=client, sleep=sleeps.append)

    assert [page["page"] for page in pages] == [1]
    assert len(pages[0]["lines"]) == len(_blocks([partial], "LINE"))


def test_a_job_not_done_in_time_raises_engine_timeout(stubbed: tuple[Any, Stubber], sleeps: list[float]) -> None:
    client, stubber = stubbed
    _start(stubber)
    for _ in range(3):
        stubber.add_response("get_document_text_detection", _in_progress(), {"JobId": _job_id()})
    with pytest.raises(errors.EngineTimeout) as timed_out:
        textract.detect_document(
            BUCKET, KEY, CARDINAL_SIZES, client=client, poll_seconds=2.0, timeout_seconds=5.0, sleep=sleeps.append
        )
    assert sleeps == [2.0, 2.0, 1.0]  # the last wait stops at the deadline
    assert timed_out.value.code == "job.timeout"
    assert timed_out.value.details == {"textractJobId": _job_id()}


def test_more_pages_than_textract_reads_are_refused_before_calling() -> None:
    sizes = {number: LETTER for number in range(1, 3002)}
    with pytest.raises(errors.TextractFailed) as refused:
        textract.detect_document(BUCKET, KEY, sizes, client=MustNotBeCalled())
    assert refused.value.details == {"pages": 3001, "limit": 3000}


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
    stubber.add_client_error("detect_document_text", code, aws_message, 400)
    with pytest.raises(errors.TextractFailed) as failed:
        textract.detect_page(image, *LETTER, client=client)
    assert failed.value.details == {"textractError": code, "retryable": retryable}
    assert words in failed.value.message
    assert "secret" not in failed.value.message and "arn:" not in failed.value.message


@pytest.mark.parametrize(
    ("method", "code"),
    [
        ("start_document_text_detection", "InvalidS3ObjectException"),
        ("start_document_text_detection", "LimitExceededException"),
        ("get_document_text_detection", "InvalidJobIdException"),
    ],
)
def test_client_errors_of_the_asynchronous_calls_become_textract_failed(
    stubbed: tuple[Any, Stubber], sleeps: list[float], method: str, code: str
) -> None:
    client, stubber = stubbed
    if method == "get_document_text_detection":
        _start(stubber)
    stubber.add_client_error(method, code, "the AWS message", 400)
    with pytest.raises(errors.TextractFailed) as failed:
        textract.detect_document(BUCKET, KEY, CARDINAL_SIZES, client=client, sleep=sleeps.append)
    assert failed.value.details is not None and failed.value.details["textractError"] == code
    assert "the AWS message" not in failed.value.message


def test_a_connection_failure_becomes_a_retryable_textract_failed() -> None:
    from botocore.exceptions import EndpointConnectionError

    class Unreachable:
        def detect_document_text(self, **_: Any) -> dict[str, Any]:
            raise EndpointConnectionError(endpoint_url="https://textract.us-east-1.amazonaws.com/")

    with pytest.raises(errors.TextractFailed) as failed:
        textract.detect_page(blank_png(50, 50), *LETTER, client=Unreachable())
    assert failed.value.details == {"textractError": "EndpointConnectionError", "retryable": True}
    assert "amazonaws.com" not in failed.value.message


# The pure mapping


def _block(block_type: str, block_id: str, box: tuple[float, float, float, float], **fields: Any) -> dict[str, Any]:
    left, top, width, height = box
    geometry = {"BoundingBox": {"Width": width, "Height": height, "Left": left, "Top": top}, "Polygon": []}
    return {"BlockType": block_type, "Id": block_id, "Geometry": geometry, **fields}


def _child(*ids: str) -> list[dict[str, Any]]:
    return [{"Type": "CHILD", "Ids": list(ids)}]


def test_pages_come_in_page_order_with_boxes_clipped_to_the_page() -> None:
    blocks = [
        _block("PAGE", "p2", (0, 0, 1, 1), Page=2, Relationships=_child("l2")),
        _block("LINE", "l2", (-0.01, 0.5, 0.5, 0.6), Page=2, Text="Hi", Confidence=99.5, Relationships=_child("w2")),
        _block("WORD", "w2", (-0.01, 0.5, 0.5, 0.6), Page=2, Text="Hi", Confidence=101.0, TextType="HANDWRITING"),
        _block("PAGE", "p1", (0, 0, 1, 1), Page=1),  # a blank page: no Relationships at all
    ]
    pages = textract.pages_from_blocks(blocks, {1: (100.0, 200.0), 2: (300.0, 400.0)})
    assert [page["page"] for page in pages] == [1, 2]
    assert pages[0]["lines"] == []
    line = pages[1]["lines"][0]
    assert line["bbox"] == [0.0, 200.0, 147.0, 400.0]  # x0 clipped from -3; y1 from 1.1 * 400
    assert line["words"] == [{"text": "Hi", "bbox": [0.0, 200.0, 147.0, 400.0], "confidence": 100.0}]
    assert line["confidence"] == 99.5


def test_a_page_the_caller_did_not_describe_is_an_error() -> None:
    blocks = [_block("PAGE", "p3", (0, 0, 1, 1), Page=3)]
    with pytest.raises(errors.TextractFailed) as failed:
        textract.pages_from_blocks(blocks, {1: LETTER, 2: LETTER})
    assert failed.value.details == {"page": 3}


def test_a_synchronous_response_is_page_one() -> None:
    pages = textract.pages_from_blocks(_linn()["Blocks"], {1: LETTER})
    assert [page["page"] for page in pages] == [1]


# Cross-check with an independent parser


def _textractor_pages(response: dict[str, Any], sizes: dict[int, tuple[float, float]]) -> dict[int, list[Any]]:
    from textractor.parsers.response_parser import parse

    document = parse(copy.deepcopy(response))
    result = {}
    for page in document.pages:
        width, height = sizes[page.page_num]
        lines = []
        for line in page.lines:
            words = [(word.text, _scaled(word.bbox, width, height)) for word in line.words]
            lines.append((line.text, _scaled(line.bbox, width, height), words))
        result[page.page_num] = sorted(lines, key=_line_key)
    return result


def _scaled(bbox: Any, width: float, height: float) -> list[float]:
    # textractor's boxes are ratios times the PAGE block's own size (1.0 x 1.0).
    return [bbox.x * width, bbox.y * height, (bbox.x + bbox.width) * width, (bbox.y + bbox.height) * height]


def _line_key(line: tuple[str, list[float], Any]) -> tuple[str, list[float]]:
    return line[0], [round(value) for value in line[1]]


def _ours(pages: list[dict[str, Any]]) -> dict[int, list[Any]]:
    return {
        page["page"]: sorted(
            (
                (line["text"], line["bbox"], [(word["text"], word["bbox"]) for word in line["words"]])
                for line in page["lines"]
            ),
            key=_line_key,
        )
        for page in pages
    }


def _assert_same(ours: dict[int, list[Any]], theirs: dict[int, list[Any]]) -> None:
    assert ours.keys() == theirs.keys()
    for number, lines in ours.items():
        assert len(lines) == len(theirs[number]) > 50
        for (text, bbox, words), (their_text, their_bbox, their_words) in zip(lines, theirs[number], strict=True):
            assert text == their_text
            assert bbox == pytest.approx(their_bbox, abs=0.006)
            assert [word for word, _ in words] == [word for word, _ in their_words]
            for (_, word_bbox), (_, their_word_bbox) in zip(words, their_words, strict=True):
                assert word_bbox == pytest.approx(their_word_bbox, abs=0.006)


def test_the_synchronous_mapping_agrees_with_textractor() -> None:
    ours = _ours(textract.pages_from_blocks(_linn()["Blocks"], {1: LETTER}))
    _assert_same(ours, _textractor_pages(_linn(), {1: LETTER}))


def test_the_asynchronous_mapping_agrees_with_textractor() -> None:
    first, last = _cardinal()
    merged = {**last, "Blocks": first["Blocks"] + last["Blocks"]}
    ours = _ours(textract.pages_from_blocks(merged["Blocks"], CARDINAL_SIZES))
    _assert_same(ours, _textractor_pages(merged, CARDINAL_SIZES))
