"""Local PII detectors: categories, terms, patterns, positions and request validation."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest

from pdfjobs.errors import ValidationFailed
from pdfjobs.ocr.existing_text import page_lines
from pdfjobs.pii.detectors import (
    CATEGORIES,
    COMPREHEND_CATEGORIES,
    find_matches,
    iban_valid,
    luhn_valid,
    validate_request,
)

try:
    from .pdf_builder import PageSpec, build_pdf, text_ops
except ImportError:  # tests/ not run as a package
    from pdf_builder import PageSpec, build_pdf, text_ops  # type: ignore[no-redef]


def make_page(*lines: str, number: int = 1) -> dict[str, Any]:
    """A page in the OCR shape: 6 points per character, 4 between words, 14 between lines."""
    out = []
    for line_index, line in enumerate(lines):
        y, x, words = 10.0 + 14 * line_index, 10.0, []
        for word in line.split():
            words.append({"text": word, "bbox": [x, y, x + 6 * len(word), y + 10], "confidence": 99.0})
            x += 6 * len(word) + 4
        out.append({"text": line, "bbox": [10.0, y, x - 4, y + 10], "confidence": 99.0, "words": words})
    return {"page": number, "width": 612.0, "height": 792.0, "rotation": 0, "lines": out}


def texts(pages: list[dict[str, Any]], category: str, **kwargs: Any) -> list[str]:
    return [match["text"] for match in find_matches(pages, categories=(category,), **kwargs)]


def one_line(category: str, line: str) -> list[str]:
    return texts([make_page(line)], category)


# --- categories -------------------------------------------------------------------------------


def test_email_positive_and_negative() -> None:
    assert one_line("Email", "write to jane.doe+pdf@mail.example.co.uk today.") == ["jane.doe+pdf@mail.example.co.uk"]
    assert one_line("Email", "not an email: jane@localhost or @example.com or jane@.com") == []


def test_partial_word_email_box_lies_inside_its_word_box() -> None:
    page = make_page("mail:jo@example.com")
    [match] = find_matches([page], categories=("Email",))
    word_box = page["lines"][0]["words"][0]["bbox"]
    assert match["words"] == [[0, 0, 5, 19]]
    [box] = match["boxes"]
    assert word_box[0] < box[0] < box[2] == word_box[2]
    assert box[1] == word_box[1] and box[3] == word_box[3]
    assert box[0] == pytest.approx(word_box[0] + (word_box[2] - word_box[0]) * 5 / 19, abs=0.01)


def test_url_positive_and_negative() -> None:
    found = one_line("URL", "see https://example.com/a?b=1, (www.example.org) and http://x.io/p).")
    assert found == ["https://example.com/a?b=1", "www.example.org", "http://x.io/p"]
    assert one_line("URL", "example.com and ftp://files.example.com are not http URLs") == []


def test_ip_addresses() -> None:
    found = one_line("IPAddress", "hosts 192.168.1.10, 10.0.0.1 and 2001:db8::8a2e:370:7334 and ::1.")
    assert found == ["192.168.1.10", "10.0.0.1", "2001:db8::8a2e:370:7334", "::1"]
    assert one_line("IPAddress", "not 256.1.1.1, 1.2.3 or 1.2.3.4.5 or time 10:30:45 or aa:bb:cc") == []


def test_dates() -> None:
    line = "on 12/10/2024, 2024-03-15, 3rd of March 2024, Sept. 5, 2023 and 31.12.99"
    assert one_line("Date", line) == ["12/10/2024", "2024-03-15", "3rd of March 2024", "Sept. 5, 2023", "31.12.99"]
    assert one_line("Date", "not 13/13/2024, 2024-13-01, 32/01/2024, the year 2024 or 1.2.3.4") == []


def test_phone_numbers() -> None:
    line = "call +44 20 7946 0958, (555) 123-4567, 555.123.4567, 555-1234 or 0612345678"
    assert one_line("PhoneNumber", line) == [
        "+44 20 7946 0958",
        "(555) 123-4567",
        "555.123.4567",
        "555-1234",
        "0612345678",
    ]


@pytest.mark.parametrize(
    "line",
    [
        "in the year 2024",
        "total 1.234.567 units",
        "amount 1 234 567",
        "invoice 12345 2024",
        "due 2024-03-15",
        "ip 192.168.1.1 10.0.0.1",
        "ssn 123-45-6789",
        "price 12345678.90",
        "ref 1234 5678 9012",
    ],
)
def test_not_phone_numbers(line: str) -> None:
    assert one_line("PhoneNumber", line) == []


def test_ssn_valid_and_invalid_ranges() -> None:
    assert one_line("SSN", "SSN: 123-45-6789.") == ["123-45-6789"]
    invalid = "000-12-3456 666-12-3456 999-12-3456 912-34-5678 123-00-4567 123-45-0000 1123-45-6789"
    assert one_line("SSN", invalid) == []


def test_credit_cards() -> None:
    line = "visa 4111 1111 1111 1111, amex 3782-822463-10005, mc 5555555555554444."
    assert one_line("CreditCard", line) == ["4111 1111 1111 1111", "3782-822463-10005", "5555555555554444"]
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")


@pytest.mark.parametrize(
    "line",
    [
        "luhn-invalid 4111 1111 1111 1112",
        "amount 1234567890123.45",
        "amount 4,111,111,111,111,111.00",
        "unknown issuer 1111 1111 1111 1117",  # Luhn-valid, no issuer starts with 1
        "too long 41111111111111111111111",
    ],
)
def test_not_credit_cards(line: str) -> None:
    assert one_line("CreditCard", line) == []


def test_ibans() -> None:
    line = "IBAN DE89 3704 0044 0532 0130 00 BIC COBADEFFXXX, GB82WEST12345698765432."
    assert one_line("IBAN", line) == ["DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432"]
    assert iban_valid("DE89370400440532013000")
    assert not iban_valid("DE89370400440532013001")  # checksum
    assert not iban_valid("DE8937040044053201300")  # a German IBAN has 22 characters


def test_iban_wrong_checksum_is_not_found() -> None:
    assert one_line("IBAN", "IBAN DE88 3704 0044 0532 0130 00 and GB82WEST12345698765433") == []


def test_only_requested_categories_and_page_numbers() -> None:
    pages = [make_page("jo@example.com 123-45-6789", number=3)]
    matches = find_matches(pages, categories=("SSN",))
    assert [(match["page"], match["category"], match["text"]) for match in matches] == [(3, "SSN", "123-45-6789")]
    assert find_matches(pages) == []


# --- terms ---------------------------------------------------------------------------------


def test_terms_case_insensitive_and_across_lines() -> None:
    page = make_page("Mr JOHN", "smith and john   smith-jones")
    matches = find_matches([page], terms=["John Smith"])
    assert [match["text"] for match in matches] == ["JOHN\nsmith", "john smith"]
    assert matches[0]["words"] == [[0, 1, 0, 4], [1, 0, 0, 5]]
    assert matches[0]["boxes"] == [page["lines"][0]["words"][1]["bbox"], page["lines"][1]["words"][0]["bbox"]]
    assert matches[1]["words"] == [[1, 2, 0, 4], [1, 3, 0, 5]]  # part of "smith-jones"


def test_terms_across_end_of_line_hyphenation() -> None:
    page = make_page("Mrs Jo-", "hnson and well-", "known")
    matches = find_matches([page], terms=["johnson", "well-known"])
    assert [(match["text"], match["words"]) for match in matches] == [
        ("Jo-\nhnson", [[0, 1, 0, 3], [1, 0, 0, 5]]),
        ("well-\nknown", [[1, 2, 0, 5], [2, 0, 0, 5]]),
    ]


def test_terms_respect_word_boundaries() -> None:
    assert texts([make_page("Annual report by Ann")], "Email", terms=["ann"]) == ["Ann"]


def test_overlapping_matches_are_all_reported() -> None:
    page = make_page("jane.doe@example.com")
    matches = find_matches([page], categories=("Email",), terms=["jane.doe", "example.com"], patterns=[r"doe@\w+"])
    found = sorted((match["category"], match["text"]) for match in matches)
    assert found == [
        ("Email", "jane.doe@example.com"),
        ("Pattern", "doe@example"),
        ("Term", "example.com"),
        ("Term", "jane.doe"),
    ]


# --- patterns ------------------------------------------------------------------------------


def test_patterns_match_per_line() -> None:
    page = make_page("Case AB-1234 and", "AB-99 AB-5678")
    matches = find_matches([page], patterns=[r"AB-\d{4}"])
    assert [(match["text"], match["words"]) for match in matches] == [
        ("AB-1234", [[0, 1, 0, 7]]),
        ("AB-5678", [[1, 1, 0, 7]]),
    ]
    assert find_matches([page], patterns=[r"and\sAB"]) == []  # never across a line break


def test_catastrophic_pattern_is_refused_before_matching() -> None:
    with pytest.raises(ValidationFailed, match=r"\(a\+\)\+"):
        find_matches([make_page("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!")], patterns=[r"(a+)+$"])
    with pytest.raises(ValidationFailed, match="does not compile"):
        find_matches([make_page("x")], patterns=["(unclosed"])


# --- scale and real PDFs -------------------------------------------------------------------


def test_thousands_of_matches_stay_fast() -> None:
    lines = [" ".join(f"user{row * 10 + column}@example.com" for column in range(10)) for row in range(500)]
    page = make_page(*lines)
    started = time.perf_counter()
    matches = find_matches([page], categories=CATEGORIES, terms=["example.com"])
    elapsed = time.perf_counter() - started
    assert sum(match["category"] == "Email" for match in matches) == 5000
    assert sum(match["category"] == "Term" for match in matches) == 5000
    assert elapsed < 2.0


def test_page_built_from_a_real_pdf(tmp_path: Path) -> None:
    content = text_ops(72, 720, "Contact: jane@example.com") + text_ops(72, 700, "SSN 123-45-6789")
    path = build_pdf(tmp_path / "pii.pdf", [PageSpec(content)])
    document = pdfium.PdfDocument(str(path))
    try:
        page = {"page": 1, "width": 612.0, "height": 792.0, "lines": page_lines(document[0])}
    finally:
        document.close()
    matches = find_matches([page], categories=("Email", "SSN"))
    assert [(match["category"], match["text"]) for match in matches] == [
        ("Email", "jane@example.com"),
        ("SSN", "123-45-6789"),
    ]
    email_box, ssn_box = matches[0]["boxes"][0], matches[1]["boxes"][0]
    assert 72 < email_box[0] < email_box[2] < 300 and 60 < email_box[1] < email_box[3] < 80
    assert ssn_box[1] > email_box[3]  # the second line is lower on the page


# --- validate_request ----------------------------------------------------------------------


def test_validate_request_accepts_good_requests() -> None:
    validate_request(["Email", "SSN"], ["John Smith"], [r"AB-\d{4}"], "local")
    validate_request(list(COMPREHEND_CATEGORIES), [], [], "comprehend")


@pytest.mark.parametrize(
    ("categories", "terms", "patterns", "engine", "message"),
    [
        (["Passport"], [], [], "local", "Unknown category 'Passport'"),
        (["Person", "Address", "Email"], [], [], "local", "Person and Address need engine comprehend"),
        (["Person"], [], [], "local", "Person needs engine comprehend"),
        (["Email"], [], [], "textract", "Unknown engine 'textract'"),
        ([], [], [], "local", "Nothing to find"),
        ([], ["  "], [], "local", "Term 0 is empty"),
        ([], ["x" * 201], [], "local", "Term 0 is longer than 200"),
        ([], ["x"] * 201, [], "local", "At most 200 terms"),
        ([], [], ["x"] * 21, "local", "At most 20 patterns"),
        ([], [], ["(a+)+$"], "local", "exponential"),
    ],
)
def test_validate_request_errors(
    categories: list[str], terms: list[str], patterns: list[str], engine: str, message: str
) -> None:
    with pytest.raises(ValidationFailed, match=message):
        validate_request(categories, terms, patterns, engine)
