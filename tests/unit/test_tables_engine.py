"""The table engine on the corpus's real tables, on generated pages, on OCR words and on hostile files."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pypdfium2 as pdfium
import pytest

from pdfjobs import errors
from pdfjobs.engines import tables as engine
from pdfjobs.engines import tesseract
from pdfjobs.engines.tables import extract_tables, table_grid, tables_from_words, to_csv, to_markdown
from pdfjobs.engines.text import display_transform, extract_text
from pdfjobs.isolation import run_isolated
from tests.corpus import CORPUS, REPO_ROOT, corpus_file
from tests.unit.pdf_builder import PageSpec, build_pdf, text_ops


def _load_scores() -> ModuleType:
    spec = importlib.util.spec_from_file_location("table_scores", REPO_ROOT / "scripts" / "table_scores.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


scores = _load_scores()
EXPECTED = json.loads(corpus_file("tables/expected.json").read_text(encoding="utf-8"))
_cache: dict[str, dict[str, Any]] = {}


def page_of(name: str) -> dict[str, Any]:
    """extract_tables of page 1 of tables/<name> (each corpus file is read once per test run)."""
    if name not in _cache:
        [_cache[name]] = extract_tables(str(corpus_file(f"tables/{name}")), [1])
    return _cache[name]


def only_table(name: str, method: str) -> dict[str, Any]:
    tables = page_of(name)["tables"]
    assert len(tables) == 1, [t["bbox"] for t in tables]
    assert tables[0]["method"] == method
    return tables[0]


def cell(table: dict[str, Any], text: str) -> dict[str, Any]:
    found = [c for c in table["cells"] if c["text"] == text]
    assert len(found) == 1, (text, [c["text"] for c in table["cells"]][:40])
    return found[0]


def row_with(table: dict[str, Any], first: str) -> list[str]:
    rows = [row for row in table_grid(table) if row[0] == first]
    assert len(rows) == 1, first
    return rows[0]


def spans(c: dict[str, Any]) -> tuple[int, int]:
    return c["rowSpan"], c["columnSpan"]


# --- accuracy against the true cells ----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "method"), [("health.pdf", "stream"), ("twotables_2.pdf", "lattice")])
def test_expected_cells_are_at_least_90_percent_right(name: str, method: str) -> None:
    tables = page_of(name)["tables"]
    expected = EXPECTED[name]["tables"]
    assert len(tables) == len(expected)
    assert {t["method"] for t in tables} == {method}
    for table, truth in zip(tables, expected, strict=True):
        right, total = scores.cell_accuracy(table_grid(table), truth)
        assert total == len(truth) * len(truth[0])
        assert right >= 0.9 * total, (right, total)
        precision, recall, f1 = scores.adjacency_f1(table_grid(table), truth)
        assert f1 >= 0.9, (precision, recall)


def test_corpus_scores_report_every_expected_file() -> None:
    results = scores.corpus_scores(CORPUS)
    assert set(results) == set(EXPECTED)
    for result in results.values():
        assert result["tables"] == result["expectedTables"]
        assert result["cellAccuracy"] >= 0.9
        assert 0.9 <= result["f1"] <= 1.0


def test_cell_accuracy_aligns_shifted_grids_and_counts_missing_cells_wrong() -> None:
    truth = [["a", "b"], ["c", "d"]]
    assert scores.cell_accuracy([["a", "b"], ["c", "d"]], truth) == (4, 4)
    assert scores.cell_accuracy([[" a\n", "b"], ["c", "x"]], truth) == (3, 4)  # whitespace normalised
    # An extra title row and an extra leading column: aligned at the best offset.
    assert scores.cell_accuracy([["Title", "", ""], ["", "a", "b"], ["", "c", "d"]], truth) == (4, 4)
    assert scores.cell_accuracy([["a", "b"]], truth) == (2, 4)  # a missing row is wrong
    assert scores.cell_accuracy([], truth) == (0, 4)


def test_adjacency_f1_counts_neighbour_relations_skipping_empty_cells() -> None:
    truth = [["a", "b", "c"], ["d", "", "f"]]
    # Relations: a-b, b-c, d-f (right); a-d, c-f (below).
    assert scores.adjacency_f1(truth, truth) == (1.0, 1.0, 1.0)
    merged = [["a", "b c"], ["d", "f"]]  # two columns run together
    precision, recall, f1 = scores.adjacency_f1(merged, truth)
    # Ours: a-"b c", d-f, a-d, "b c"-f: only d-f and a-d are true.
    assert (precision, recall) == (0.5, 0.4)
    assert f1 == pytest.approx(2 * 0.5 * 0.4 / 0.9)
    assert scores.adjacency_f1([], truth) == (0.0, 0.0, 0.0)


def test_file_scores_pair_tables_and_count_a_missing_table_as_wrong() -> None:
    first, second = [["a", "b"], ["c", "d"]], [["x", "y"], ["z", "w"]]
    assert scores.score_file([first, second], [first, second])["cellAccuracy"] == 1.0
    # An extra table of ours is passed over; a table we missed scores nothing.
    extra = scores.score_file([[["junk"]], second], [second])
    assert (extra["cellsRight"], extra["cells"], extra["f1"]) == (4, 4, 1.0)
    missed = scores.score_file([first], [first, second])
    assert (missed["cellsRight"], missed["cells"], missed["precision"], missed["recall"]) == (4, 8, 1.0, 0.5)


# --- the other corpus tables -------------------------------------------------------------------------------------


def test_twotables_2_keeps_line_breaks_and_spans_in_both_tables() -> None:
    tables = page_of("twotables_2.pdf")["tables"]
    assert [(t["rows"], t["columns"]) for t in tables] == [(13, 8), (13, 8)]
    assert tables[0]["bbox"][3] < tables[1]["bbox"][1]  # top to bottom, not overlapping
    for table in tables:
        assert spans(cell(table, "State")) == (2, 1)
        assert spans(cell(table, "Literacy Status")) == (1, 6)
        assert cell(table, "Read &\nWrite")["row"] == 1
    assert row_with(tables[1], "Pooled") == ["Pooled", "23889", "47.7", "1.5", "9.9", "19.9", "17.8", "3.3"]


def test_health_header_lines_are_rows_and_spanning_headers_span() -> None:
    table = only_table("health.pdf", "stream")
    assert (table["rows"], table["columns"]) == (29, 8)
    assert spans(cell(table, "Revenue")) == (1, 2)
    # "Capital" heads two columns; the other one is the last line of "Total Revenue & Capital".
    assert [(c["row"], c["column"], spans(c)) for c in table["cells"] if c["text"] == "Capital"] == [
        (0, 3, (1, 2)),
        (3, 5, (1, 1)),
    ]
    grid = table_grid(table)
    assert grid[0] == ["States-A", "Revenue", "", "Capital", "", "Total", "Others(1)", "Total"]
    assert "Public Health Outlay" not in " ".join(" ".join(row) for row in grid)  # the title is not a row


def test_agstat_reads_vertical_headers_and_column_spans() -> None:
    table = only_table("agstat.pdf", "lattice")
    assert (table["rows"], table["columns"]) == (33, 11)
    assert spans(cell(table, "Production (Rice)\n(In Lakh tonnes)")) == (1, 3)
    assert spans(cell(table, "Surplus/De\ufb01cit\n(In Lakh\ntonnes)")) == (1, 2)  # the ligature as drawn
    # Rotated header text, read bottom to top, its lines left to right.
    assert cell(table, "Projected Population\nfor 2012-13\n(In lakhs)")["row"] == 0
    assert cell(table, "Kharif")["row"] == 1
    assert row_with(table, "1") == [
        "1",
        "Balasore",
        "23.65",
        "20.81",
        "3.04",
        "3.47",
        "2.78",
        "0.86",
        "3.64",
        "0.17",
        "0.25",
    ]
    odisha = cell(table, "ODISHA")
    assert (odisha["row"], spans(odisha)) == (32, (1, 2))


def test_budget_borderless_table_with_section_rows() -> None:
    table = only_table("budget.pdf", "stream")
    assert table["columns"] == 9
    assert row_with(table, "4. Atomic Energy") == [
        "4. Atomic Energy",
        "1483.00",
        "3427.00",
        "4910.00",
        "2971.25",
        "855.75",
        "3827.00",
        "8737.00",
        "20-25",
    ]
    assert row_with(table, "MINISTRY OF DEFENCE")[-1] == ""  # no page number on a section row
    assert "Budget 2014-2015" not in {c["text"] for c in table["cells"]}  # a caption, not a row


def test_column_span_1_header_spans() -> None:
    table = only_table("column_span_1.pdf", "lattice")
    assert (table["rows"], table["columns"]) == (50, 8)
    assert spans(cell(table, "Accidental Deaths")) == (1, 2)
    assert spans(cell(table, "Suicides")) == (1, 2)
    assert spans(cell(table, "Sl.\nNo.")) == (2, 1)
    assert spans(cell(table, "Percentage\nPopulation\ngrowth")) == (2, 1)
    assert row_with(table, "47.") == ["47.", "2013", "12288", "400517", "32.6", "134799", "11.0", "1.0"]


def test_foo_finds_the_table_but_not_the_paragraphs_or_the_numbered_list() -> None:
    table = only_table("foo.pdf", "lattice")
    assert (table["rows"], table["columns"]) == (7, 7)
    assert spans(cell(table, "Percent Fuel Savings")) == (1, 4)
    assert row_with(table, "4171_1") == ["4171_1", "0.07", "173.9", "58.1%", "1.6%", "2.1%", "0.5%"]


def test_missing_values_stay_empty_cells() -> None:
    table = only_table("missing_values.pdf", "stream")
    assert table["columns"] == 5
    grid = table_grid(table)
    assert grid[1] == ["Indicators", "TOTAL", "RURAL", "TOTAL", "RURAL"]
    assert spans(cell(table, "DLHS-3 (2007-08)")) == (1, 2)
    any_injury = [row for row in grid if row[0].startswith("Any Injury")]
    assert [row[1:] for row in any_injury] == [["1.9", "2.1", "", ""]]
    # The DLHS-3 columns have no values at all; section headings are rows of one cell.
    assert all(row[3] == row[4] == "" for row in grid[2:])
    assert ["Hypertension (age 18 years and above) (%)", "", "", "", ""] in grid


def test_multiple_tables_are_found_apart() -> None:
    tables = page_of("multiple_tables.pdf")["tables"]
    assert [(t["method"], t["rows"], t["columns"]) for t in tables] == [("lattice", 7, 4), ("lattice", 3, 3)]
    assert table_grid(tables[1]) == [["Trtrt", "H", "Gh"], ["Gh", "V", "Hv"], ["Hv", "Bhjb", "hg"]]
    assert not any("Jhghffjhhsdjhhfds" in c["text"] for t in tables for c in t["cells"])


def test_row_span_1_row_spans() -> None:
    table = only_table("row_span_1.pdf", "lattice")
    assert table["columns"] == 4
    assert spans(cell(table, "GMC")) == (10, 1)
    assert spans(cell(table, "Sacramento")) == (4, 1)
    assert spans(cell(table, "Partnership Health Plan of CA")) == (14, 1)
    assert spans(cell(table, "Total GMC Enrollment")) == (1, 2)
    assert [row for row in table_grid(table) if row[1] == "Marin"] == [
        ["COHS", "Marin", "Partnership Health Plan of CA", "36,006"]
    ]
    assert row_with(table, "PCCM") == ["PCCM", "Los Angeles", "AIDS Healthcare Foundation", "828"]


def test_twotables_1_two_tables_with_row_spans_and_a_title_row() -> None:
    tables = page_of("twotables_1.pdf")["tables"]
    assert [(t["method"], t["rows"], t["columns"]) for t in tables] == [("lattice", 3, 10), ("lattice", 5, 9)]
    assert spans(cell(tables[0], "West Bengal")) == (2, 1)
    assert spans(cell(tables[1], "DISEASE OUTBREAKS OF PREVIOUS WEEKS REPORTED LATE")) == (1, 9)
    assert spans(cell(tables[1], "Bihar")) == (3, 1)


def test_every_table_tiles_its_grid_inside_the_page() -> None:
    for name in sorted(p.name for p in (CORPUS / "tables").glob("*.pdf")):
        page = page_of(name)
        assert set(page) == {"page", "width", "height", "tables"}
        for table in page["tables"]:
            assert set(table) == {"type", "page", "bbox", "rows", "columns", "method", "cells"}
            assert (table["type"], table["page"]) == ("table", 1)
            x0, y0, x1, y1 = table["bbox"]
            assert 0 <= x0 < x1 <= page["width"] and 0 <= y0 < y1 <= page["height"]
            covered = [[0] * table["columns"] for _ in range(table["rows"])]
            for c in table["cells"]:
                assert c["text"] == c["text"].strip() and "  " not in c["text"]
                cx0, cy0, cx1, cy1 = c["bbox"]
                assert x0 - 0.01 <= cx0 < cx1 <= x1 + 0.01 and y0 - 0.01 <= cy0 < cy1 <= y1 + 0.01
                for r in range(c["row"], c["row"] + c["rowSpan"]):
                    for k in range(c["column"], c["column"] + c["columnSpan"]):
                        covered[r][k] += 1
            assert all(n == 1 for row in covered for n in row), name  # each position exactly once


# --- no false tables --------------------------------------------------------------------------------------------


def test_a_page_of_prose_has_no_table() -> None:
    [page] = extract_tables(str(corpus_file("text/crazyones.pdf")), [1])
    assert page["tables"] == [] and "needsOcr" not in page


_WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "while",
    "seven",
    "wizards",
    "quietly",
    "judge",
    "boxing",
    "matches",
    "and",
    "pack",
    "my",
    "box",
    "with",
    "five",
    "dozen",
    "liquor",
    "jugs",
    "before",
    "the",
    "night",
    "falls",
    "on",
    "the",
    "sleepy",
    "town",
]


def _prose(x: float, words_per_line: int, lines: int, seed: int) -> str:
    ops = ""
    for i in range(lines):
        k = (seed + 5 * i) % len(_WORDS)
        ops += text_ops(x, 740 - 13 * i, " ".join((_WORDS * 3)[k : k + words_per_line]))
    return ops


def test_two_columns_of_text_are_not_a_table(tmp_path: Path) -> None:
    path = build_pdf(tmp_path / "columns.pdf", [PageSpec(_prose(56, 8, 50, 0) + _prose(320, 8, 50, 3))])
    [page] = extract_tables(str(path), [1])
    assert page["tables"] == []
    # The lines do share baselines across the gutter: a table of numbers laid out so would count.
    numbers = "".join(text_ops(56 + 264 * c, 740 - 13 * r, f"{r * 7 + c}.5") for r in range(20) for c in range(2))
    [page] = extract_tables(str(build_pdf(tmp_path / "numbers.pdf", [PageSpec(numbers)])), [1])
    assert [(t["rows"], t["columns"]) for t in page["tables"]] == [(20, 2)]


def test_a_framed_page_of_two_text_columns_is_not_a_table(tmp_path: Path) -> None:
    frame = "1 w 40 40 532 720 re S 40 720 m 572 720 l S 306 40 m 306 720 l S\n"  # title band, gutter rule
    ops = frame + text_ops(60, 735, "A framed page") + _prose(56, 7, 50, 0) + _prose(320, 7, 50, 3)
    [page] = extract_tables(str(build_pdf(tmp_path / "framed.pdf", [PageSpec(ops)])), [1])
    assert page["tables"] == []


def test_a_numbered_list_is_not_a_table(tmp_path: Path) -> None:
    ops = "".join(
        text_ops(72, 700 - 14 * i, f"{i + 1}.") + text_ops(92, 700 - 14 * i, " ".join(_WORDS[i : i + 9]))
        for i in range(6)
    )
    [page] = extract_tables(str(build_pdf(tmp_path / "list.pdf", [PageSpec(ops)])), [1])
    assert page["tables"] == []


def test_a_page_without_text_needs_ocr() -> None:
    [page] = extract_tables(str(corpus_file("scans/linn.pdf")), [1])
    assert page["needsOcr"] is True and page["tables"] == []
    assert page["width"] > 0 and page["height"] > 0


# --- generated pages: geometry and rotation ---------------------------------------------------------------------


def _ruled_grid(x0: float, top: float, width: float, height: float, texts: list[list[str]]) -> str:
    rows, cols = len(texts), len(texts[0])
    ops = "0.5 w\n"
    for r in range(rows + 1):
        ops += f"{x0} {top - r * height} m {x0 + cols * width} {top - r * height} l S\n"
    for c in range(cols + 1):
        ops += f"{x0 + c * width} {top} m {x0 + c * width} {top - rows * height} l S\n"
    for r, row in enumerate(texts):
        for c, text in enumerate(row):
            ops += text_ops(x0 + c * width + 4, top - (r + 1) * height + 6, text)
    return ops


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_boxes_follow_the_displayed_page(tmp_path: Path, rotation: int) -> None:
    texts = [[f"r{r}c{c}" for c in range(3)] for r in range(3)]
    path = build_pdf(tmp_path / "grid.pdf", [PageSpec(_ruled_grid(100, 700, 80, 20, texts), 612, 792, rotate=rotation)])
    [page] = extract_tables(str(path), [1])
    [text_page] = extract_text(str(path), [1])
    assert (page["width"], page["height"]) == (text_page["width"], text_page["height"])
    [table] = page["tables"]
    assert (table["method"], table["rows"], table["columns"]) == ("lattice", 3, 3)
    # The grid spans 240 x 60 points of the PDF; turned by a quarter, 60 x 240 on the display.
    x0, y0, x1, y1 = table["bbox"]
    assert (x1 - x0, y1 - y0) == ((240, 60) if rotation in (0, 180) else (60, 240))
    # Each cell is where the grid's cell is drawn, mapped to the display as the text engine maps boxes.
    to_display = display_transform((0, 0, 612, 792), rotation)
    for c in table["cells"]:
        r, k = (int(d) for d in re.fullmatch(r"r(\d)c(\d)", c["text"]).groups())  # type: ignore[union-attr]
        expected = to_display((100 + 80 * k, 700 - 20 * (r + 1), 100 + 80 * (k + 1), 700 - 20 * r))
        assert c["bbox"] == pytest.approx(list(expected), abs=0.01)
        assert spans(c) == (1, 1)
    if rotation == 0:
        assert table_grid(table) == texts
        assert table["cells"][0]["bbox"] == [100.0, 92.0, 180.0, 112.0]


def test_a_landscape_table_stored_turned_reads_upright(tmp_path: Path) -> None:
    rows = [["Item", "Qty", "Price"], ["Apples", "3", "1.20"], ["Pears", "12", "0.80"], ["Figs", "40", "9.99"]]
    ops = ""
    for r, row in enumerate(rows):
        for c, text in enumerate(row):  # drawn a quarter turn anticlockwise; /Rotate 90 turns it back
            ops += f"BT /F1 10 Tf 0 1 -1 0 {100 + 20 * r} {100 + 120 * c} Tm ({text}) Tj ET\n"
    [page] = extract_tables(str(build_pdf(tmp_path / "landscape.pdf", [PageSpec(ops, rotate=90)])), [1])
    assert (page["width"], page["height"]) == (792.0, 612.0)
    [table] = page["tables"]
    assert table["method"] == "stream" and table_grid(table) == rows
    x0, y0, x1, y1 = table["bbox"]
    assert 99 <= x0 <= 101 and 85 <= y0 <= 95 and y1 <= 175 and 340 < x1 < 380


def test_crop_box_moves_the_origin(tmp_path: Path) -> None:
    import pikepdf

    texts = [["a", "b"], ["c", "d"]]
    path = build_pdf(tmp_path / "grid.pdf", [PageSpec(_ruled_grid(100, 700, 80, 20, texts))])
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        pdf.pages[0].obj.CropBox = pikepdf.Array([50, 50, 562, 742])
        pdf.save(path)
    [page] = extract_tables(str(path), [1])
    assert (page["width"], page["height"]) == (512.0, 692.0)
    assert page["tables"][0]["bbox"] == [50.0, 42.0, 210.0, 82.0]


# --- errors and limits -------------------------------------------------------------------------------------------


def test_requested_pages_come_back_in_order_and_out_of_range_fails() -> None:
    path = str(corpus_file("invoices/QualityHosting.pdf"))
    assert [p["page"] for p in extract_tables(path, [2, 1])] == [2, 1]
    with pytest.raises(errors.PageOutOfRange):
        extract_tables(path, [3])
    with pytest.raises(errors.PageOutOfRange):
        extract_tables(path, [0])


def test_passwords() -> None:
    locked = str(corpus_file("encrypted/r4-aes-user-password.pdf"))
    with pytest.raises(errors.PdfPasswordRequired):
        extract_tables(locked, [1])
    with pytest.raises(errors.PdfPasswordIncorrect):
        extract_tables(locked, [1], "wrong")
    assert extract_tables(locked, [1], "asdfzxcv")[0]["page"] == 1
    # An owner password alone does not lock reading; a wrong password for it is harmless.
    assert extract_tables(str(corpus_file("encrypted/r6-owner-password.pdf")), [1], "wrong")[0]["page"] == 1
    assert extract_tables(str(corpus_file("encrypted/crazyones-encrypted-256.pdf")), [1], "password")[0]["tables"] == []


def test_unreadable_files_are_pdf_invalid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(errors.PdfInvalid):
        extract_tables(str(corpus_file("hostile/invalid.pdf")), [1])
    # pdfminer failing where pdfium did not (it fails in many ways on damaged files).
    import pdfplumber.page

    def broken(self: Any) -> Any:
        raise KeyError("Resources")

    monkeypatch.setattr(pdfplumber.page.Page, "objects", property(broken))
    with pytest.raises(errors.PdfInvalid, match="KeyError"):
        extract_tables(str(corpus_file("tables/foo.pdf")), [1])


def test_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(corpus_file("tables/twotables_2.pdf"))
    monkeypatch.setattr(engine, "MAX_TABLES", 1)
    assert len(extract_tables(path, [1])[0]["tables"]) == 1
    monkeypatch.setattr(engine, "MAX_TABLES", 200)
    monkeypatch.setattr(engine, "MAX_RULES", 100)  # too many rules: no lattice, the stream reading instead
    tables = extract_tables(path, [1])[0]["tables"]
    assert [t["method"] for t in tables] == ["stream", "stream"]
    assert row_with(tables[1], "Pooled") == ["Pooled", "23889", "47.7", "1.5", "9.9", "19.9", "17.8", "3.3"]
    monkeypatch.setattr(engine, "MAX_CHARS", 1000)
    [page] = extract_tables(path, [1])
    assert page["tables"] == [] and page["tooComplex"] is True


def test_hostile_files_end_in_a_result_or_a_domain_error() -> None:
    files = sorted(p for p in (CORPUS / "hostile").iterdir() if p.is_file())
    assert len(files) >= 10
    for path in files:
        try:
            pages = run_isolated(extract_tables, str(path), [1], None, timeout=60, memory_mb=2048)
        except errors.PdfJobsError as error:
            assert not isinstance(error, errors.Internal), (
                path.name,
                error.message,
            )  # Internal: an unexpected exception
            continue
        assert [p["page"] for p in pages] == [1], path.name


def test_hostile_files_in_process_raise_only_domain_errors() -> None:
    outcomes: dict[str, int | str] = {}
    for path in sorted(p for p in (CORPUS / "hostile").iterdir() if p.is_file()):
        try:
            outcomes[path.name] = len(extract_tables(str(path), [1])[0]["tables"])
        except errors.PdfJobsError as error:
            outcomes[path.name] = type(error).__name__
    assert outcomes["invalid.pdf"] == "PdfInvalid"
    assert outcomes["enormous.pdf"] == 0


# --- OCR words -------------------------------------------------------------------------------------------------


def _word(text: str, x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    return {"text": text, "bbox": [x0, y0, x1, y1], "confidence": 90.0}


def test_tables_from_words_on_a_three_by_three_grid() -> None:
    words = [
        _word(text, 72 + 120 * c, 100 + 18 * r, 72 + 120 * c + 6 * len(text), 100 + 18 * r + 9)
        for r, row in enumerate([["Name", "Qty", "Price"], ["Apple", "3", "1.20"], ["Pear", "12", "0.80"]])
        for c, text in enumerate(row)
    ]
    [table] = tables_from_words(words, 612, 792, 4)
    assert (table["page"], table["method"], table["rows"], table["columns"]) == (4, "stream", 3, 3)
    assert table_grid(table) == [["Name", "Qty", "Price"], ["Apple", "3", "1.20"], ["Pear", "12", "0.80"]]
    assert table["bbox"] == [72.0, 100.0, 342.0, 145.0]
    # The OCR result's lines are accepted as they are, and rules read as characters are ignored.
    lines = [{"text": "", "bbox": [0, 0, 0, 0], "words": [w]} for w in words]
    lines.append({"words": [_word("|", 130, 100, 132, 145), _word("—————", 72, 147, 336, 149)]})
    assert table_grid(tables_from_words(lines, 612, 792, 4)[0]) == table_grid(table)
    assert tables_from_words([], 612, 792, 1) == []
    assert tables_from_words(words[:3], 612, 792, 1) == []  # one row is not a table


@pytest.mark.skipif(not tesseract.status().available, reason="tesseract is not installed")
def test_tables_from_real_ocr_of_a_rendered_table_page(tmp_path: Path) -> None:
    with pdfium.PdfDocument(str(corpus_file("tables/twotables_2.pdf"))) as document:
        page = document[0]
        width, height = page.get_size()
        page.render(scale=300 / 72).to_pil().save(tmp_path / "page.png")
    result = tesseract.recognize(str(tmp_path / "page.png"), ["eng"], 300, 120)
    scale = 72 / 300
    words = [
        {"text": w["text"], "bbox": [v * scale for v in w["bbox"]]} for line in result["lines"] for w in line["words"]
    ]
    tables = tables_from_words(words, width, height, 1)
    assert len(tables) == 2 and all(t["columns"] == 8 for t in tables)
    right = total = 0
    for table, truth in zip(tables, EXPECTED["twotables_2.pdf"]["tables"], strict=True):
        ours = {row[0]: row[1:] for row in table_grid(table)}
        for state, *numbers in truth[2:]:
            total += len(numbers)
            right += sum(1 for k, n in enumerate(numbers) if k < len(ours.get(state, [])) and ours[state][k] == n)
    assert right >= 0.7 * total, (right, total)


@pytest.mark.skipif(not tesseract.status().available, reason="tesseract is not installed")
def test_tables_from_real_ocr_of_two_text_columns_is_empty(tmp_path: Path) -> None:
    with pdfium.PdfDocument(str(corpus_file("scans/linn.pdf"))) as document:
        page = document[0]
        width, height = page.get_size()
        page.render(scale=300 / 72).to_pil().save(tmp_path / "page.png")
    result = tesseract.recognize(str(tmp_path / "page.png"), ["eng"], 300, 120)
    scale = 72 / 300
    lines = [
        {"words": [{"text": w["text"], "bbox": [v * scale for v in w["bbox"]]} for w in line["words"]]}
        for line in result["lines"]
    ]
    assert sum(len(line["words"]) for line in lines) > 300  # the page was read
    assert tables_from_words(lines, width, height, 1) == []


# --- CSV and Markdown --------------------------------------------------------------------------------------------


def _table(cells: list[tuple[int, int, int, int, str]], rows: int, columns: int) -> dict[str, Any]:
    return {
        "type": "table",
        "page": 2,
        "bbox": [0, 0, 1, 1],
        "rows": rows,
        "columns": columns,
        "method": "lattice",
        "cells": [
            {"row": r, "column": c, "rowSpan": rs, "columnSpan": cs, "text": t, "bbox": [0, 0, 1, 1]}
            for r, c, rs, cs, t in cells
        ],
    }


SAMPLE = _table(
    [
        (0, 0, 1, 2, 'Name, "quoted"'),
        (1, 0, 1, 1, "Read &\nWrite"),
        (1, 1, 1, 1, "a|b"),
        (2, 0, 1, 1, ""),
        (2, 1, 1, 1, "x\\y"),
    ],
    3,
    2,
)


def test_grid_puts_merged_text_first_and_blanks_covered_positions() -> None:
    assert table_grid(SAMPLE) == [['Name, "quoted"', ""], ["Read &\nWrite", "a|b"], ["", "x\\y"]]


def test_csv_is_rfc_4180() -> None:
    text = to_csv(SAMPLE)
    assert text == '"Name, ""quoted""",\r\n"Read &\nWrite",a|b\r\n,x\\y\r\n'
    assert list(csv.reader(io.StringIO(text, newline=""))) == table_grid(SAMPLE)


def test_markdown_escapes_pipes_and_keeps_line_breaks() -> None:
    other = _table([(0, 0, 1, 1, "only")], 1, 1)
    assert to_markdown([SAMPLE, other]) == (
        "### Table 1 (page 2)\n\n"
        '| Name, "quoted" |  |\n'
        "|---|---|\n"
        "| Read &<br>Write | a\\|b |\n"
        "|  | x\\\\y |\n\n"
        "### Table 2 (page 2)\n\n"
        "| only |\n"
        "|---|\n"
    )
    assert to_markdown([]) == ""


def test_markdown_of_real_tables_has_one_section_per_table() -> None:
    text = to_markdown(page_of("twotables_2.pdf")["tables"])
    assert text.count("### Table ") == 2
    assert "| State | n | Literacy Status |  |  |  |  |  |" in text
    assert "|  |  | Illiterate | Read &<br>Write | 1-4 std. |" in text
