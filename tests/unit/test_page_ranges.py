"""Page selections: syntax checks for requests, resolution against a document, batching."""

from __future__ import annotations

import time

import pytest

from pdfjobs import errors
from pdfjobs.pdf.page_ranges import batches, resolve_pages, validate_page_ranges


@pytest.mark.parametrize(
    ("spec", "normalised"),
    [
        ("1-3,7", "1-3,7"),
        (" 2 , 4-5 ", "2,4-5"),
        ("5-", "5-"),
        ("7 -", "7-"),
        ("-3", "1-3"),
        ("- 4", "1-4"),
        ("3-3", "3"),
        ("1 - 3", "1-3"),
        ("10,2,2-4", "10,2,2-4"),
        ("999999999", "999999999"),
    ],
)
def test_valid_specs_are_normalised(spec: str, normalised: str) -> None:
    assert validate_page_ranges(spec) == normalised


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("0", "page 0"),
        ("0-3", "page 0"),
        ("-0", "page 0"),
        ("5-2", "descending"),
        ("a", "not a page number"),
        ("-", "not a page number"),
        ("1-2-3", "not a page number"),
        ("+1", "not a page number"),
        ("1.5", "not a page number"),
        ("1 2", "not a page number"),
        ("\u0661", "not a page number"),  # an Arabic-Indic digit one: ASCII digits only
        ("1,,2", "empty item"),
        ("1,", "empty item"),
        ("1234567890", "too large"),
    ],
)
def test_invalid_specs_say_what_is_wrong(spec: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        validate_page_ranges(spec)


def test_descending_range_suggests_the_fix() -> None:
    with pytest.raises(ValueError, match="'2-5'"):
        validate_page_ranges("5-2")


@pytest.mark.parametrize("spec", [None, "", "  "])
def test_no_spec_selects_every_page(spec: str | None) -> None:
    assert resolve_pages(spec, 4) == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("spec", "page_count", "pages"),
    [
        ("1-3,7", 10, [1, 2, 3, 7]),
        ("7,1-3", 10, [1, 2, 3, 7]),
        ("2-4,3-5,4", 10, [2, 3, 4, 5]),
        ("5-", 7, [5, 6, 7]),
        ("-3", 7, [1, 2, 3]),
        ("5-,1,-2", 7, [1, 2, 5, 6, 7]),
        ("1", 1, [1]),
        ("3-", 3, [3]),
    ],
)
def test_resolve_is_sorted_and_deduplicated(spec: str, page_count: int, pages: list[int]) -> None:
    assert resolve_pages(spec, page_count) == pages


@pytest.mark.parametrize(
    ("spec", "missing"),
    [("11", 11), ("8-12", 11), ("-20", 11), ("12-", 12), ("1,2,40", 40)],
)
def test_page_beyond_the_document_is_named(spec: str, missing: int) -> None:
    with pytest.raises(errors.PageOutOfRange) as raised:
        resolve_pages(spec, 10)
    assert f"Page {missing} " in raised.value.message
    assert "10 pages" in raised.value.message
    assert raised.value.code == "pdf.page_out_of_range"


def test_a_huge_range_is_rejected_without_expanding_it() -> None:
    started = time.perf_counter()
    with pytest.raises(errors.PageOutOfRange):
        resolve_pages("1-999999999", 3)
    assert time.perf_counter() - started < 0.1


def test_resolve_rejects_bad_syntax_as_a_domain_error() -> None:
    with pytest.raises(errors.ValidationFailed, match="descending"):
        resolve_pages("3-1", 5)


@pytest.mark.parametrize(
    ("pages", "size", "expected"),
    [
        ([1, 2, 3, 4, 5], 2, [[1, 2], [3, 4], [5]]),
        ([1, 2, 3, 4], 2, [[1, 2], [3, 4]]),
        ([3, 9], 50, [[3, 9]]),
        ([1, 2, 3], 1, [[1], [2], [3]]),
        ([], 5, []),
    ],
)
def test_batches(pages: list[int], size: int, expected: list[list[int]]) -> None:
    assert batches(pages, size) == expected


def test_batch_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        batches([1], 0)
