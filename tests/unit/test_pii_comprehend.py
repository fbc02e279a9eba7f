"""Amazon Comprehend PII entities, against synthesised responses through botocore's Stubber."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from pdfjobs.errors import EngineUnavailable, Internal
from pdfjobs.pii import comprehend
from pdfjobs.pii.comprehend import available, chunks, find_entities

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "comprehend"
CONTACT_LINES = (
    "Contact John Smith at 12 Baker Street, London.",
    "Email john.smith@example.com or call 020 7946 0958",
)
CONTACT_TEXT = "\n".join(CONTACT_LINES)


def make_page(*lines: str, number: int = 1) -> dict[str, Any]:
    out = []
    for line_index, line in enumerate(lines):
        y, x, words = 10.0 + 14 * line_index, 10.0, []
        for word in line.split():
            words.append({"text": word, "bbox": [x, y, x + 6 * len(word), y + 10], "confidence": 99.0})
            x += 6 * len(word) + 4
        out.append({"text": line, "bbox": [10.0, y, x - 4, y + 10], "confidence": 99.0, "words": words})
    return {"page": number, "width": 612.0, "height": 792.0, "lines": out}


def fixture() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "contact-detect-pii-entities.json").read_text())
    return data


@pytest.fixture
def client() -> Iterator[Any]:
    real = boto3.client(
        "comprehend", region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    yield real


def test_fixture_offsets_point_at_the_entities() -> None:
    spans = [CONTACT_TEXT[e["BeginOffset"] : e["EndOffset"]] for e in fixture()["Entities"]]
    assert spans == ["John Smith", "12 Baker Street, London", "john.smith@example.com", "020 7946 0958"]


def test_entities_map_to_words_and_boxes(client: Any) -> None:
    page = make_page(*CONTACT_LINES, number=2)
    with Stubber(client) as stub:
        stub.add_response("detect_pii_entities", fixture(), {"Text": CONTACT_TEXT, "LanguageCode": "en"})
        matches = find_entities([page], ["Person", "Address", "Email", "PhoneNumber"], client=client)
        stub.assert_no_pending_responses()
    assert [(m["page"], m["category"], m["text"], m["score"]) for m in matches] == [
        (2, "Person", "John Smith", 0.9991),
        (2, "Address", "12 Baker Street, London", 0.9987),
        (2, "Email", "john.smith@example.com", 0.9995),
    ]  # the phone number scored 0.41, under min_score
    person, address, email = matches
    assert person["words"] == [[0, 1, 0, 4], [0, 2, 0, 5]]
    assert person["boxes"] == [page["lines"][0]["words"][1]["bbox"], page["lines"][0]["words"][2]["bbox"]]
    assert address["words"][-1] == [0, 7, 0, 6]  # "London." without its full stop
    assert address["boxes"][-1][2] < page["lines"][0]["words"][7]["bbox"][2]
    assert email["words"] == [[1, 1, 0, 22]]


def test_min_score_and_category_filter(client: Any) -> None:
    page = make_page(*CONTACT_LINES)
    with Stubber(client) as stub:
        stub.add_response("detect_pii_entities", fixture(), {"Text": CONTACT_TEXT, "LanguageCode": "es"})
        matches = find_entities([page], ["PhoneNumber", "Email"], client=client, min_score=0.4, language="es")
    assert [(m["category"], m["text"]) for m in matches] == [
        ("Email", "john.smith@example.com"),
        ("PhoneNumber", "020 7946 0958"),
    ]


def test_no_call_without_a_comprehend_category(client: Any) -> None:
    with Stubber(client):  # any call would fail: no response is queued
        assert find_entities([make_page(*CONTACT_LINES)], ["Term"], client=client) == []
        assert find_entities([make_page()], ["Person"], client=client) == []  # an empty page


def test_long_page_is_chunked_on_line_boundaries(client: Any) -> None:
    lines = [
        f"Line {index:05d} of filler text with nothing personal in it at all, padded out." for index in range(1500)
    ]
    lines[1400] = "Signed by John Smith"
    page = make_page(*lines)
    text = "\n".join(lines)
    assert len(text.encode()) > comprehend.MAX_CHUNK_BYTES
    pieces = list(chunks(text))
    assert len(pieces) == 2
    (first_offset, first), (second_offset, second) = pieces
    assert first_offset == 0 and first.endswith("padded out.") and len(first.encode()) <= comprehend.MAX_CHUNK_BYTES
    assert second_offset == len(first) + 1 and text[second_offset:] == second
    begin = second.index("John Smith")
    entity = {"Score": 0.99, "Type": "NAME", "BeginOffset": begin, "EndOffset": begin + 10}
    with Stubber(client) as stub:
        stub.add_response("detect_pii_entities", {"Entities": []}, {"Text": first, "LanguageCode": "en"})
        stub.add_response("detect_pii_entities", {"Entities": [entity]}, {"Text": second, "LanguageCode": "en"})
        matches = find_entities([page], ["Person"], client=client)
        stub.assert_no_pending_responses()
    assert [(m["text"], m["words"]) for m in matches] == [("John Smith", [[1400, 2, 0, 4], [1400, 3, 0, 5]])]


def test_chunks_cut_long_lines_and_multibyte_text() -> None:
    text = "é" * 30 + " " + "ü" * 30
    pieces = list(chunks(text, max_bytes=40))
    assert all(len(piece.encode()) <= 40 for _, piece in pieces)
    assert "".join(piece for _, piece in pieces) == text.replace(" ", "")
    assert all(text[offset : offset + len(piece)] == piece for offset, piece in pieces)


@pytest.mark.parametrize(
    ("code", "error", "expected_code"),
    [
        ("AccessDeniedException", EngineUnavailable, "AccessDeniedException"),
        ("TextSizeLimitExceededException", Internal, "TextSizeLimitExceededException"),
        ("InternalServerException", Internal, "InternalServerException"),
    ],
)
def test_client_errors_are_mapped_without_aws_messages(
    client: Any, code: str, error: type[Exception], expected_code: str
) -> None:
    with Stubber(client) as stub:
        stub.add_client_error("detect_pii_entities", service_error_code=code, service_message="secret AWS detail")
        with pytest.raises(error) as raised:
            find_entities([make_page(*CONTACT_LINES)], ["Person"], client=client)
    assert raised.value.details == {"code": expected_code}  # type: ignore[attr-defined]
    assert "secret" not in str(raised.value)


def test_available_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PDFJOBS_COMPREHEND_ENABLED", raising=False)
    enabled, reason = available()
    assert not enabled and reason and "PDFJOBS_COMPREHEND_ENABLED" in reason
    monkeypatch.setenv("PDFJOBS_COMPREHEND_ENABLED", "false")
    assert available()[0] is False
    monkeypatch.setenv("PDFJOBS_COMPREHEND_ENABLED", "true")
    assert available() == (True, None)
