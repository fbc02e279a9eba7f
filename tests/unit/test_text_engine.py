"""The text engine on real and generated PDFs: text, reading order, coordinates, renderings."""

from __future__ import annotations

import ctypes
import re
import unicodedata
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest

from pdfjobs import errors
from pdfjobs.engines.text import extract_text, to_markdown, to_plain_text
from pdfjobs.pdf.document import count_pages

try:
    from .pdf_builder import PageSpec, build_pdf, text_ops  # when tests/ is a package
except ImportError:
    from pdf_builder import PageSpec, build_pdf, text_ops  # type: ignore[no-redef]

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the test corpus is not at {CORPUS}")


def normalised(text: str) -> str:
    """Compatibility-normalised (ligatures such as U+FB01 become "fi"), whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def all_boxes(page: dict[str, Any]) -> list[list[float]]:
    return [block["bbox"] for block in page["blocks"]] + [
        line["bbox"] for block in page["blocks"] for line in block["lines"]
    ]


def assert_boxes_sane(page: dict[str, Any]) -> None:
    for x0, y0, x1, y1 in all_boxes(page):
        assert -1 <= x0 <= x1 <= page["width"] + 1
        assert -1 <= y0 <= y1 <= page["height"] + 1


# --- real documents ------------------------------------------------------------------------------------


@needs_corpus
def test_crazyones_text_matches_the_truth() -> None:
    [page] = extract_text(CORPUS / "text" / "crazyones.pdf", [1])
    truth = (CORPUS / "text" / "crazyones.txt").read_text(encoding="utf-8")
    assert normalised(page["text"]) == normalised(truth)
    assert (page["page"], page["width"], page["height"], page["rotation"]) == (1, 612.0, 792.0, 0)


@needs_corpus
def test_crazyones_layout() -> None:
    [page] = extract_text(str(CORPUS / "text" / "crazyones.pdf"), [1])
    blocks = page["blocks"]
    assert blocks[0]["text"] == "The Crazy Ones"
    assert blocks[1]["text"] == "October 14, 1998"
    # Lines are grouped into paragraphs: the quote has several multi-line blocks.
    assert 5 <= len(blocks) <= 12
    assert sum(len(block["lines"]) > 1 for block in blocks) >= 4
    assert blocks[2]["lines"][0]["text"].startswith("Heres to the crazy ones.")
    # Top-left origin: the title is near the top, and blocks run down the page.
    first_line = blocks[0]["lines"][0]["bbox"]
    assert first_line[1] < 100
    tops = [block["bbox"][1] for block in blocks]
    assert tops == sorted(tops)
    assert_boxes_sane(page)
    # The page text is the blocks, separated by blank lines.
    assert page["text"] == "\n\n".join(block["text"] for block in blocks)
    for block in blocks:
        assert block["text"] == "\n".join(line["text"] for line in block["lines"])
        x0, y0, x1, y1 = block["bbox"]
        for line in block["lines"]:
            lx0, ly0, lx1, ly1 = line["bbox"]
            assert x0 <= lx0 and y0 <= ly0 and lx1 <= x1 and ly1 <= y1


@needs_corpus
def test_a_label_and_its_value_stay_on_one_line() -> None:
    [page] = extract_text(CORPUS / "invoices" / "AmazonWebServices.pdf", [1])
    lines = [line["text"] for block in page["blocks"] for line in block["lines"]]
    assert "Invoice Number: 42183017" in lines
    assert "Total for this invoice $4.11" in lines
    # The address block on the left is read before the invoice summary on its right.
    text = page["text"]
    assert text.index("Yuen Long, N.T., 0000, HK") < text.index("Invoice Summary")


@needs_corpus
def test_joined_hyphenation_keeps_the_visual_lines() -> None:
    path = CORPUS / "text" / "Seige_of_Vicksburg_Sample_OCR-crazyones-merged.pdf"
    [page] = extract_text(path, [1])
    lines = [line["text"] for block in page["blocks"] for line in block["lines"]]
    assert any(line.endswith("dan-") for line in lines)
    assert any(line.startswith("gerous for use.") for line in lines)
    assert "\ufffe" not in page["text"]


@needs_corpus
@pytest.mark.parametrize(
    "path",
    sorted(p for folder in ("text", "invoices", "tables", "forms", "scans") for p in (CORPUS / folder).glob("*.pdf")),
    ids=lambda p: p.name,
)
def test_every_corpus_page_is_well_formed(path: Path) -> None:
    pages = extract_text(path, list(range(1, count_pages(path, None) + 1)))
    for page in pages:
        assert_boxes_sane(page)
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f\ufffe]", page["text"])
        for block in page["blocks"]:
            assert block["text"].strip()
            assert all(line["text"] == line["text"].strip() and line["text"] for line in block["lines"])


@needs_corpus
def test_image_only_pages_have_no_text() -> None:
    pages = extract_text(CORPUS / "scans" / "cardinal.pdf", [1, 2, 3, 4])
    assert [(page["text"], page["blocks"]) for page in pages] == [("", [])] * 4


def test_pages_come_back_in_the_order_asked(tmp_path: Path) -> None:
    path = build_pdf(tmp_path / "three.pdf", [PageSpec(text_ops(72, 700, f"Page number {n}")) for n in (1, 2, 3)])
    pages = extract_text(path, [3, 1])
    assert [page["page"] for page in pages] == [3, 1]
    assert [page["text"] for page in pages] == ["Page number 3", "Page number 1"]


@pytest.mark.parametrize("number", [0, 2, -1])
def test_page_out_of_range(tmp_path: Path, number: int) -> None:
    path = build_pdf(tmp_path / "one.pdf", [PageSpec(text_ops(72, 700, "Only page"))])
    with pytest.raises(errors.PageOutOfRange, match=str(number)):
        extract_text(path, [1, number])


@needs_corpus
def test_password_errors_come_from_open_pdf() -> None:
    path = CORPUS / "encrypted" / "r4-user-password.pdf"
    with pytest.raises(errors.PdfPasswordRequired):
        extract_text(path, [1])
    [page] = extract_text(path, [1], "asdfzxcv")
    assert page["text"]


def test_blank_page(tmp_path: Path) -> None:
    path = build_pdf(tmp_path / "blank.pdf", [PageSpec("")])
    assert extract_text(path, [1]) == [
        {"page": 1, "width": 612.0, "height": 792.0, "rotation": 0, "text": "", "blocks": []}
    ]


# --- reading order on generated pages ------------------------------------------------------------------

LEFT = [f"Left column line {n:02d} about the first topic here" for n in range(1, 13)]
RIGHT = [f"Right column line {n:02d} about another topic too" for n in range(1, 13)]


def two_column_page(*, interleaved: bool) -> PageSpec:
    """A title across the page, then two columns whose lines share baselines (the hard case)."""
    ops = [text_ops(160, 740, "A Title Across Both Columns", size=18)]
    left = [text_ops(56, 690 - 14 * i, line) for i, line in enumerate(LEFT)]
    right = [text_ops(320, 690 - 14 * i, line) for i, line in enumerate(RIGHT)]
    if interleaved:  # written row by row: content order is no help
        ops += [op for pair in zip(left, right, strict=True) for op in pair]
    else:
        ops += left + right
    ops.append(text_ops(280, 40, "Page footer 1"))
    return PageSpec("".join(ops))


@pytest.mark.parametrize("interleaved", [False, True])
def test_two_columns_read_left_then_right(tmp_path: Path, interleaved: bool) -> None:
    path = build_pdf(tmp_path / "columns.pdf", [two_column_page(interleaved=interleaved)])
    [page] = extract_text(path, [1])
    text = page["text"]
    positions = [text.index(line) for line in ["A Title Across Both Columns", *LEFT, *RIGHT, "Page footer 1"]]
    assert positions == sorted(positions)
    assert text.index(LEFT[-1]) < text.index(RIGHT[0])
    # One block per column, each with all its lines.
    blocks = [block["text"].split("\n") for block in page["blocks"]]
    assert LEFT in blocks
    assert RIGHT in blocks
    assert_boxes_sane(page)
    left_block = next(block for block in page["blocks"] if block["text"].startswith("Left"))
    right_block = next(block for block in page["blocks"] if block["text"].startswith("Right"))
    assert left_block["bbox"][2] < right_block["bbox"][0]  # side by side, left one first
    assert left_block["bbox"][1] == pytest.approx(right_block["bbox"][1], abs=1)


def test_a_table_is_read_row_by_row(tmp_path: Path) -> None:
    rows = [("Item", "Qty", "Price"), ("Apples", "3", "1.20"), ("Pears", "10", "4.00"), ("Plums", "7", "2.10")]
    columns = (72, 300, 450)
    ops = "".join(
        text_ops(x, 700 - 20 * r, cell) for r, row in enumerate(rows) for x, cell in zip(columns, row, strict=True)
    )
    path = build_pdf(tmp_path / "table.pdf", [PageSpec(ops)])
    [page] = extract_text(path, [1])
    lines = [line["text"] for block in page["blocks"] for line in block["lines"]]
    assert lines == ["Item Qty Price", "Apples 3 1.20", "Pears 10 4.00", "Plums 7 2.10"]


def test_wide_gap_inside_one_text_object_splits_the_line(tmp_path: Path) -> None:
    # One TJ with a huge kerning offset: pdfium keeps it one line; the engine still sees the gap.
    ops = "BT /F1 10 Tf 72 700 Td [(Name:) -20000 (Value)] TJ ET\nBT /F1 10 Tf 72 680 Td (Next line) Tj ET\n"
    path = build_pdf(tmp_path / "gap.pdf", [PageSpec(ops)])
    [page] = extract_text(path, [1])
    assert "Name:" in page["text"] and "Value" in page["text"]
    line = next(line for block in page["blocks"] for line in block["lines"] if "Name:" in line["text"])
    assert line["bbox"][2] - line["bbox"][0] > 200  # the line spans the gap


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_coordinates_follow_the_displayed_page(tmp_path: Path, rotation: int) -> None:
    path = build_pdf(
        tmp_path / "rotated.pdf", [PageSpec(text_ops(72, 700, "Rotated text here"), 612, 792, rotate=rotation)]
    )
    [page] = extract_text(path, [1])
    assert page["rotation"] == rotation
    assert (page["width"], page["height"]) == ((612.0, 792.0) if rotation in (0, 180) else (792.0, 612.0))
    [block] = page["blocks"]
    assert block["text"] == "Rotated text here"
    # pdfium's own page-to-device mapping (at 1 pixel per point) is the oracle for where the
    # baseline start (72, 700) is shown.
    with pdfium.PdfDocument(str(path)) as document:
        shown_x, shown_y = ctypes.c_int(), ctypes.c_int()
        pdfium_c.FPDF_PageToDevice(document[0], 0, 0, 612, 792, 0, 72.0, 700.0, shown_x, shown_y)
        if rotation in (90, 270):  # device size is the displayed size
            pdfium_c.FPDF_PageToDevice(document[0], 0, 0, 792, 612, 0, 72.0, 700.0, shown_x, shown_y)
    x0, y0, x1, y1 = block["bbox"]
    assert x0 - 2 <= shown_x.value <= x1 + 2
    assert y0 - 2 <= shown_y.value <= y1 + 2
    assert_boxes_sane(page)


# --- renderings ----------------------------------------------------------------------------------------


def fake_page(number: int, *blocks: tuple[str, float]) -> dict[str, Any]:
    """A page dict whose blocks have the given text and line height."""
    out, y = [], 50.0
    for text, height in blocks:
        lines = []
        for line in text.split("\n"):
            lines.append({"text": line, "bbox": [50.0, y, 300.0, y + height]})
            y += height + 2
        out.append({"text": text, "bbox": [50.0, lines[0]["bbox"][1], 300.0, y], "lines": lines})
        y += 20
    return {
        "page": number,
        "width": 612.0,
        "height": 792.0,
        "rotation": 0,
        "text": "\n\n".join(t for t, _ in blocks),
        "blocks": out,
    }


def test_plain_text_separates_pages_and_blocks() -> None:
    pages = [fake_page(1, ("first block", 10), ("second\nblock", 10)), fake_page(2, ("other page", 10))]
    assert to_plain_text(pages) == "first block\n\nsecond\nblock\fother page"
    assert to_plain_text([]) == ""


def test_plain_text_of_a_page_shaped_without_blocks() -> None:
    assert to_plain_text([{"page": 1, "text": "just text"}, {"page": 2, "text": ""}]) == "just text\f"


def test_markdown_marks_pages_and_headings() -> None:
    pages = [
        fake_page(1, ("Big Title", 20), ("Body text line one\nline two", 10), ("More body", 10)),
        fake_page(2, ("Page two body", 10)),
    ]
    assert to_markdown(pages) == (
        "<!-- page 1 -->\n\n## Big Title\n\nBody text line one\nline two\n\nMore body\n\n"
        "<!-- page 2 -->\n\nPage two body\n"
    )


def test_markdown_escapes_only_what_would_become_markup() -> None:
    page = fake_page(
        1, ("# not a heading\n- not a list\n1. not a list either\n> no quote", 10), ("a*b*c _x_ [l](u) <b>", 10)
    )
    markdown = to_markdown([page])
    assert "\\# not a heading\n\\- not a list\n1\\. not a list either\n\\> no quote" in markdown
    assert "a\\*b\\*c \\_x\\_ \\[l\\](u) \\<b>" in markdown
    assert "2024-01-05 costs 3.50" in to_markdown([fake_page(1, ("2024-01-05 costs 3.50", 10))])


@needs_corpus
def test_markdown_of_a_real_page() -> None:
    pages = extract_text(CORPUS / "text" / "crazyones.pdf", [1])
    markdown = to_markdown(pages)
    assert markdown.startswith("<!-- page 1 -->\n\n## The Crazy Ones\n\n")
    assert "Heres to the crazy ones." in markdown


def test_fast_median_matches_statistics() -> None:
    import random
    import statistics

    from pdfjobs.engines.text import _median

    rng = random.Random(7)
    for size in (1, 2, 3, 4, 9, 10):
        values = [rng.uniform(-5, 50) for _ in range(size)]
        assert _median(list(values)) == statistics.median(values)


def test_text_with_a_lone_carriage_return_is_cleaned(tmp_path: Path) -> None:
    # pdfium's own CRLF line breaks need no cleaning; a CR of the text itself (an unmapped glyph) does.
    content = "BT /F1 10 Tf 72 700 Td (Before\\rafter) Tj ET\n"  # \r: the PDF string escape for a CR
    path = build_pdf(tmp_path / "cr.pdf", [PageSpec(content, 612, 792)])
    page = extract_text(path, [1])[0]
    assert "\r" not in page["text"]
    assert page["text"] == "Beforeafter"  # removed as a control code, not read as a space
