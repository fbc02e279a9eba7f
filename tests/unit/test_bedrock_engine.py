"""The Amazon Bedrock extraction engine against botocore's Stubber on a real bedrock-runtime client.

The Stubber checks every Converse request we send against the Bedrock Runtime service model. The
responses are the fixtures in tests/fixtures/bedrock (synthesised in the Converse API's documented
response shape, not recorded from AWS: see the README there) or built here in the same shape.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import pypdfium2 as pdfium
import pytest
from botocore.stub import Stubber

from pdfjobs import errors
from pdfjobs.engines import bedrock
from pdfjobs.ocr.existing_text import page_lines
from pdfjobs.templates import built_in
from tests.corpus import corpus_file

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bedrock"
MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
ENV = "PDFJOBS_BEDROCK_MODEL_ID"


@cache
def _fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


@cache
def _aws_pages() -> tuple[dict[str, Any], ...]:
    pdf = pdfium.PdfDocument(str(corpus_file("invoices/AmazonWebServices.pdf")))
    try:
        return tuple(
            {
                "page": number,
                "width": page.get_width(),
                "height": page.get_height(),
                "rotation": 0,
                "lines": page_lines(page),
            }
            for number, page in enumerate(pdf, start=1)
        )
    finally:
        pdf.close()


def _pages() -> list[dict[str, Any]]:
    return copy.deepcopy(list(_aws_pages()))


def _invoice_fields() -> list[dict[str, Any]]:
    template = built_in("invoice")
    assert template is not None
    return [field.model_dump(by_alias=True) for field in template.fields]


def _line(pages: list[dict[str, Any]], text: str, page: int = 1) -> dict[str, Any]:
    [line] = [line for line in pages[page - 1]["lines"] if line["text"] == text]
    return line


def _hull(words: list[dict[str, Any]]) -> list[float]:
    boxes = [word["bbox"] for word in words]
    return [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]


def _tool_response(answer: Any, *, text: str | None = None, stop_reason: str = "tool_use") -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"text": text}] if text else []
    content.append({"toolUse": {"toolUseId": "tooluse_test", "name": "record_fields", "input": answer}})
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop_reason,
        "usage": {"inputTokens": 100, "outputTokens": 20, "totalTokens": 120},
        "metrics": {"latencyMs": 800},
    }


@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Stubber, list[dict[str, Any]]]]:
    """A real bedrock-runtime client, stubbed, and the Converse requests it was sent."""
    client = boto3.client(
        "bedrock-runtime", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    sent: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        sent.append(copy.deepcopy(params))

    client.meta.events.register("before-parameter-build.bedrock-runtime.Converse", record)
    with Stubber(client) as stubber:
        yield client, stubber, sent
        stubber.assert_no_pending_responses()


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv(ENV, raising=False)
    return monkeypatch


# Availability and the engine listing


def test_bedrock_is_off_by_default(no_model: pytest.MonkeyPatch) -> None:
    usable, reason = bedrock.available()
    assert usable is False
    assert reason is not None and ENV in reason and "tool use" in reason
    no_model.setenv(ENV, "  ")
    assert bedrock.available()[0] is False
    entry = bedrock.status()
    assert (entry["id"], entry["kind"], entry["available"], entry["version"]) == ("bedrock", "llm", False, None)
    assert entry["reason"] == reason


def test_bedrock_is_available_with_a_model_id(no_model: pytest.MonkeyPatch) -> None:
    no_model.setenv(ENV, MODEL)
    assert bedrock.available() == (True, None)
    entry = bedrock.status()
    assert entry["available"] is True and entry["reason"] is None and entry["version"] == MODEL
    assert entry["inputFormats"][0] == "application/pdf" and "image/png" in entry["inputFormats"]
    assert entry["outputFormats"] == ["json", "csv"]
    assert entry["jobTypes"] == ["extract_invoice", "extract_document", "extract_form"]
    assert entry["features"] == ["templateName", "filterName", "confidenceThreshold", "documentReview"]
    assert entry["limits"] == {"maxPromptCharacters": 100_000}


def test_extract_without_a_model_is_unavailable(no_model: pytest.MonkeyPatch) -> None:
    with pytest.raises(errors.EngineUnavailable) as raised:
        bedrock.extract_fields(_pages(), _invoice_fields(), client=object())
    assert ENV in raised.value.message


# The tool's schema

FIELDS: list[dict[str, Any]] = [
    {"name": "policyNumber", "type": "string", "keywords": ["Policy number", "Policy no."]},
    {"name": "startDate", "type": "date", "keywords": ["Start date"], "pageHints": [2]},
    {"name": "premium", "type": "amount", "keywords": [], "regex": r"\d+\.\d{2}"},
    {"name": "status", "type": "enum", "options": ["active", "lapsed"]},
]


def test_tool_schema_has_one_required_property_per_field() -> None:
    schema = bedrock.tool_schema(FIELDS)

    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert schema["required"] == ["policyNumber", "startDate", "premium", "status"]
    assert list(schema["properties"]) == schema["required"]
    for name, entry in schema["properties"].items():
        assert entry["type"] == "object", name
        assert entry["required"] == ["value", "page"]
        assert entry["properties"]["value"]["type"] == ["string", "null"]
        assert entry["properties"]["page"]["type"] == ["integer", "null"]
        assert entry["properties"]["page"]["minimum"] == 1
    properties = schema["properties"]
    assert properties["status"]["properties"]["value"]["enum"] == ["active", "lapsed", None]
    assert all("enum" not in properties[name]["properties"]["value"] for name in ("policyNumber", "startDate"))
    # Descriptions from the type, keywords, page hints and pattern.
    assert properties["policyNumber"]["description"].startswith("Text")
    assert '"Policy number", "Policy no."' in properties["policyNumber"]["description"]
    assert "date" in properties["startDate"]["description"] and "page 2" in properties["startDate"]["description"]
    assert "amount" in properties["premium"]["description"] and r"\d+\.\d{2}" in properties["premium"]["description"]
    assert '"active", "lapsed"' in properties["status"]["description"]


def test_tool_schema_is_a_json_schema_the_recorded_shape_answers() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = bedrock.tool_schema(_invoice_fields())
    jsonschema.Draft202012Validator.check_schema(schema)
    answer = _fixture("aws-invoice-converse.json")["output"]["message"]["content"][0]["toolUse"]["input"]
    jsonschema.validate(answer, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({name: value for name, value in answer.items() if name != "total"}, schema)
    enum_schema = bedrock.tool_schema(FIELDS)
    valid = {"policyNumber": {"value": None, "page": None}, "startDate": {"value": "2020-01-01", "page": 2}}
    valid |= {"premium": {"value": "1.00", "page": 1}, "status": {"value": None, "page": None}}
    jsonschema.validate(valid, enum_schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**valid, "status": {"value": "cancelled", "page": 1}}, enum_schema)


# The AWS invoice


def test_extracts_the_aws_invoice_with_citations(stubbed: tuple[Any, Stubber, list[dict[str, Any]]]) -> None:
    client, stubber, sent = stubbed
    stubber.add_response("converse", _fixture("aws-invoice-converse.json"))
    pages, fields = _pages(), _invoice_fields()

    result = bedrock.extract_fields(pages, fields, client=client, model_id=MODEL)

    assert list(result) == [field["name"] for field in fields]
    assert {name: field["value"] for name, field in result.items()} == {
        "vendor": "Amazon Web Services, Inc.",
        "customer": "Globex Trading Ltd",
        "invoiceNumber": "42183017",
        "issueDate": "2014-08-03",
        "dueDate": "2014-08-03",  # answered "August 3, 2014"
        "currency": "US Dollars",
        "subtotal": "4.11",
        "tax": "0.00",  # answered "$0.00"
        "total": "4.11",  # answered "$4.11"
    }
    assert all(field["source"] == "bedrock" for field in result.values())
    found = [name for name in result if name != "customer"]
    assert all((result[name]["confidence"], result[name]["page"]) == (0.9, 1) for name in found)
    # Citations: the hull of the value's words, on the line that names the field when it repeats.
    number_line = _line(pages, "Invoice Number: 42183017")
    assert result["invoiceNumber"]["bbox"] == number_line["words"][2]["bbox"]
    issue_line = _line(pages, "Invoice Date: August 3 , 2014")
    assert result["issueDate"]["bbox"] == _hull(issue_line["words"][2:6])
    due_line = _line(pages, "TOTAL AMOUNT DUE ON August 3 , 2014 $4.11")
    assert result["dueDate"]["bbox"] == _hull(due_line["words"][4:8])
    assert result["tax"]["bbox"] == _line(pages, "Tax * $0.00")["words"][2]["bbox"]
    assert result["total"]["bbox"] == due_line["words"][8]["bbox"]
    vendor_words = _line(pages, "All AWS Services are sold by Amazon Web Services, Inc.")["words"][6:10]
    assert result["vendor"]["bbox"] == _hull(vendor_words)
    assert result["currency"]["bbox"] == _hull(_line(pages, "All charges and prices are in US Dollars")["words"][6:8])
    # The made-up customer: kept, but not in the text, so no box and a low confidence.
    assert result["customer"] == {
        "value": "Globex Trading Ltd",
        "confidence": 0.3,
        "page": 1,
        "bbox": None,
        "source": "bedrock",
    }

    # What was sent (the Stubber has checked it against the service model).
    [request] = sent
    assert request["modelId"] == MODEL
    assert request["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "record_fields",
                    "description": request["toolConfig"]["tools"][0]["toolSpec"]["description"],
                    "inputSchema": {"json": bedrock.tool_schema(fields)},
                }
            }
        ],
        "toolChoice": {"tool": {"name": "record_fields"}},
    }
    assert request["inferenceConfig"]["temperature"] == 0
    assert 0 < request["inferenceConfig"]["maxTokens"] <= 4096
    assert "record_fields" in request["system"][0]["text"]
    [message] = request["messages"]
    assert message["role"] == "user"
    text = message["content"][0]["text"]
    assert "--- Page 1 ---" in text and "--- Page 2 ---" not in text
    for line in pages[0]["lines"]:
        assert line["text"] in text
    assert "Invoice Number: 42183017\nInvoice Date: August 3 , 2014" in text  # lines in order
    assert "truncated" not in text and "is cut here" not in text


def test_a_model_answering_in_text_is_output_invalid(stubbed: tuple[Any, Stubber, list[dict[str, Any]]]) -> None:
    client, stubber, _ = stubbed
    stubber.add_response("converse", _fixture("end-turn-converse.json"))

    with pytest.raises(errors.OutputInvalid) as raised:
        bedrock.extract_fields(_pages(), _invoice_fields(), client=client, model_id=MODEL)

    assert "the model did not return the fields" in raised.value.message.lower()
    assert raised.value.details == {"engine": "bedrock", "stopReason": "end_turn"}


@pytest.mark.parametrize(
    ("response", "words"),
    [
        (_tool_response({"vendor": {"value": "x", "page": 1}}, stop_reason="max_tokens"), "maxTokens"),
        (_tool_response({"x": 1}, stop_reason="content_filtered"), "content filter"),
        (_tool_response(["not", "an", "object"]), "not an object"),
    ],
    ids=["cut-off", "filtered", "not-an-object"],
)
def test_other_unusable_answers_are_output_invalid(
    stubbed: tuple[Any, Stubber, list[dict[str, Any]]], response: dict[str, Any], words: str
) -> None:
    client, stubber, _ = stubbed
    stubber.add_response("converse", response)
    with pytest.raises(errors.OutputInvalid) as raised:
        bedrock.extract_fields(_pages(), _invoice_fields(), client=client, model_id=MODEL)
    assert words in raised.value.message


def test_a_tool_call_by_another_name_is_not_the_answer(stubbed: tuple[Any, Stubber, list[dict[str, Any]]]) -> None:
    client, stubber, _ = stubbed
    response = _tool_response({"vendor": {"value": "Amazon Web Services, Inc.", "page": 1}})
    response["output"]["message"]["content"][0]["toolUse"]["name"] = "something_else"
    stubber.add_response("converse", response)
    with pytest.raises(errors.OutputInvalid):
        bedrock.extract_fields(_pages(), _invoice_fields(), client=client, model_id=MODEL)


# Bedrock's errors


@pytest.mark.parametrize(
    ("code", "status", "error_class", "retryable"),
    [
        ("AccessDeniedException", 403, errors.EngineUnavailable, False),
        ("ResourceNotFoundException", 404, errors.EngineUnavailable, False),
        ("ModelTimeoutException", 408, errors.EngineTimeout, True),
        ("ThrottlingException", 429, errors.Internal, True),
        ("ServiceUnavailableException", 503, errors.Internal, True),
        ("ModelNotReadyException", 429, errors.Internal, True),
        ("ValidationException", 400, errors.Internal, False),
    ],
)
def test_bedrock_errors_map_to_api_errors(
    stubbed: tuple[Any, Stubber, list[dict[str, Any]]],
    code: str,
    status: int,
    error_class: type[errors.PdfJobsError],
    retryable: bool,
) -> None:
    client, stubber, _ = stubbed
    secret = "User: arn:aws:sts::123456789012:assumed-role/pdfjobs-worker is not authorized"
    stubber.add_client_error("converse", service_error_code=code, service_message=secret, http_status_code=status)

    with pytest.raises(errors.PdfJobsError) as raised:
        bedrock.extract_fields(_pages(), _invoice_fields(), client=client, model_id=MODEL)

    assert type(raised.value) is error_class
    assert raised.value.details == {"engine": "bedrock", "bedrockError": code, "retryable": retryable}
    assert "123456789012" not in raised.value.message and "Bedrock" in raised.value.message


# Checking the answer


def test_an_out_of_range_page_is_dropped(stubbed: tuple[Any, Stubber, list[dict[str, Any]]]) -> None:
    client, stubber, _ = stubbed
    answer = {
        "invoiceNumber": {"value": "42183017", "page": 7},  # the document has one page
        "customer": {"value": "Globex Trading Ltd", "page": 7},
        "vendor": {"value": "Amazon Web Services, Inc.", "page": True},
        "total": {"value": "4.11", "page": 0},
    }
    stubber.add_response("converse", _tool_response(answer, text="Recording the fields."))
    fields = [field for field in _invoice_fields() if field["name"] in answer]

    result = bedrock.extract_fields(_pages(), fields, client=client, model_id=MODEL)

    # Found, but not where the model said: the page it is on, at the lower confidence.
    assert (result["invoiceNumber"]["page"], result["invoiceNumber"]["confidence"]) == (1, 0.6)
    assert result["invoiceNumber"]["bbox"] == _line(_pages(), "Invoice Number: 42183017")["words"][2]["bbox"]
    assert (result["vendor"]["page"], result["vendor"]["confidence"]) == (1, 0.6)
    assert (result["total"]["page"], result["total"]["confidence"]) == (1, 0.6)
    # Not found anywhere: no page, no box.
    assert result["customer"] == {
        "value": "Globex Trading Ltd",
        "confidence": 0.3,
        "page": None,
        "bbox": None,
        "source": "bedrock",
    }


def test_an_enum_answer_outside_the_options_is_null(stubbed: tuple[Any, Stubber, list[dict[str, Any]]]) -> None:
    client, stubber, _ = stubbed
    fields = [
        {"name": "documentKind", "type": "enum", "options": ["Invoice", "Receipt"]},
        {"name": "paymentTerms", "type": "enum", "options": ["Net 30", "Due on receipt"]},
    ]
    answer = {"documentKind": {"value": "INVOICE", "page": 1}, "paymentTerms": {"value": "Net 60", "page": 1}}
    stubber.add_response("converse", _tool_response(answer))

    result = bedrock.extract_fields(_pages(), fields, client=client, model_id=MODEL)

    assert result["paymentTerms"] == {"value": None, "confidence": 0.0, "page": None, "bbox": None, "source": "bedrock"}
    # In the options but for case: the option as the template spells it, cited where it is printed.
    assert result["documentKind"]["value"] == "Invoice"
    assert (result["documentKind"]["page"], result["documentKind"]["confidence"]) == (1, 0.9)
    assert result["documentKind"]["bbox"] is not None


def test_malformed_and_missing_entries_are_null(stubbed: tuple[Any, Stubber, list[dict[str, Any]]]) -> None:
    client, stubber, _ = stubbed
    answer = {
        "vendor": {"value": ["Amazon"], "page": 1},
        "issueDate": {"value": "sometime in August", "page": 1},
        "tax": {"value": "n/a", "page": 1},
        "total": 4.11,  # a bare number, not {"value", "page"}: read, and found on the page
        # customer, invoiceNumber, ...: left out
    }
    # Some models send the tool input JSON-encoded.
    stubber.add_response("converse", _tool_response(json.dumps(answer)))

    result = bedrock.extract_fields(_pages(), _invoice_fields(), client=client, model_id=MODEL)

    nulls = {"vendor", "issueDate", "tax", "customer", "invoiceNumber", "dueDate", "currency", "subtotal"}
    assert {name for name, field in result.items() if field["value"] is None} == nulls
    assert all(result[name]["confidence"] == 0.0 and result[name]["bbox"] is None for name in nulls)
    assert (result["total"]["value"], result["total"]["page"], result["total"]["confidence"]) == ("4.11", 1, 0.6)


def test_codes_are_not_amounts(stubbed: tuple[Any, Stubber, list[dict[str, Any]]]) -> None:
    client, stubber, _ = stubbed
    stubber.add_response("converse", _tool_response({"adjustment": {"value": "0", "page": 1}}))
    pages = _pages()

    result = bedrock.extract_fields(pages, [{"name": "adjustment", "type": "amount"}], client=client, model_id=MODEL)

    # "Yuen Long, N.T., 0000, HK" comes first, but 0000 is a postcode: the first amount is the credits'.
    assert (result["adjustment"]["value"], result["adjustment"]["confidence"]) == ("0.00", 0.9)
    assert result["adjustment"]["bbox"] == _line(pages, "Credits $0.00")["words"][1]["bbox"]


def test_a_value_cited_on_the_wrong_page_is_found_on_its_own(
    stubbed: tuple[Any, Stubber, list[dict[str, Any]]],
) -> None:
    client, stubber, sent = stubbed

    def line(text: str, top: float) -> dict[str, Any]:
        words, left = [], 72.0
        for word in text.split():
            words.append({"text": word, "bbox": [left, top, left + 6.0 * len(word), top + 10.0], "confidence": 95.0})
            left += 6.0 * len(word) + 4.0
        return {"text": text, "bbox": _hull(words), "confidence": 95.0, "words": words}

    pages: list[dict[str, Any]] = [
        {"page": 3, "width": 612.0, "height": 792.0, "rotation": 0, "lines": [line("Statement of account", 72.0)]},
        {
            "page": 4,
            "width": 612.0,
            "height": 792.0,
            "rotation": 0,
            "lines": [line("Amount paid 1.250,00 EUR", 72.0), line("Payment date 5 March 2024", 100.0)],
        },
    ]
    fields = [{"name": "paid", "type": "amount"}, {"name": "paidOn", "type": "date"}]
    answer = {"paid": {"value": "EUR 1,250.00", "page": 3}, "paidOn": {"value": "05/03/2024", "page": 4}}
    stubber.add_response("converse", _tool_response(answer))

    result = bedrock.extract_fields(pages, fields, client=client, model_id=MODEL)

    assert result["paid"] == {
        "value": "1250.00",
        "confidence": 0.6,
        "page": 4,
        "bbox": pages[1]["lines"][0]["words"][2]["bbox"],
        "source": "bedrock",
    }
    assert result["paidOn"]["value"] == "2024-03-05"
    assert (result["paidOn"]["page"], result["paidOn"]["confidence"]) == (4, 0.9)
    assert result["paidOn"]["bbox"] == _hull(pages[1]["lines"][1]["words"][2:5])
    # Pages are introduced by their own numbers.
    text = sent[0]["messages"][0]["content"][0]["text"]
    assert "--- Page 3 ---\nStatement of account\n--- Page 4 ---\nAmount paid 1.250,00 EUR" in text


def test_long_documents_are_cut_with_a_note(stubbed: tuple[Any, Stubber, list[dict[str, Any]]]) -> None:
    client, stubber, sent = stubbed
    stubber.add_response("converse", _tool_response({"vendor": {"value": None, "page": None}}))
    fields = [field for field in _invoice_fields() if field["name"] == "vendor"]

    result = bedrock.extract_fields(_pages(), fields, client=client, model_id=MODEL, max_chars=200)

    assert result["vendor"]["value"] is None
    text = sent[0]["messages"][0]["content"][0]["text"]
    document = text.split("<document>\n", 1)[1].split("\n</document>", 1)[0]
    body, note = document.rsplit("\n", 1)
    assert len(body) <= 200 and body.startswith("--- Page 1 ---")
    assert note.startswith("[The document's text is cut here: 200 of its ") and note.endswith("characters are shown.]")
    assert "Invoice Number" not in text


def test_a_document_without_text_is_not_sent(stubbed: tuple[Any, Stubber, list[dict[str, Any]]]) -> None:
    client, _, sent = stubbed
    pages = [{"page": 1, "width": 612.0, "height": 792.0, "rotation": 0, "lines": []}]

    result = bedrock.extract_fields(pages, _invoice_fields(), client=client, model_id=MODEL)

    assert sent == []
    assert all(
        field == {"value": None, "confidence": 0.0, "page": None, "bbox": None, "source": "bedrock"}
        for field in result.values()
    )
    assert len(result) == 9


# Normalisation


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2014-08-03", "2014-08-03"),
        ("03/08/2014", "2014-08-03"),
        ("08/13/2014", "2014-08-13"),  # only month-first is a date
        ("3 August 2014", "2014-08-03"),
        ("3rd Aug. 2014", "2014-08-03"),
        ("August 3, 2014", "2014-08-03"),
        ("August 3 , 2014", "2014-08-03"),
        ("Sept. 5, 2020", "2020-09-05"),
        ("2014-08-03T10:00:00Z", "2014-08-03"),
        ("31/02/2014", None),
        ("next Tuesday", None),
        ("", None),
    ],
)
def test_normalise_date(text: str, expected: str | None) -> None:
    assert bedrock.normalise_date(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1939", "1939.00"),
        ("1,234.56", "1234.56"),
        ("1.234,56", "1234.56"),
        ("$4.11", "4.11"),
        ("€ 1.234,56", "1234.56"),
        ("USD 1,939", "1939.00"),
        ("1 234,56 zł", "1234.56"),
        ("Rs.1,23,456.00", "123456.00"),
        ("CHF 1'234.50", "1234.50"),
        ("(12.00)", "-12.00"),
        ("-$0.00", "0.00"),
        ("0,5", "0.50"),
        ("12abc34", None),
        ("1,2,3.4.5", None),
        ("$", None),
    ],
)
def test_normalise_amount(text: str, expected: str | None) -> None:
    assert bedrock.normalise_amount(text) == expected
