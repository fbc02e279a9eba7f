"""Page OCR decisions and geometry: which pages are read, at what resolution, and where the words land.
Real pdfium, real Tesseract, real corpus scans."""

from __future__ import annotations

import io
from pathlib import Path

import pikepdf
import pypdfium2 as pdfium
import pytest
from PIL import Image

from pdfjobs import errors
from pdfjobs.ocr.deskew import estimate_skew
from pdfjobs.ocr.pages import OcrOptions, _PixelsToPoints, needs_ocr, page_dpi, plan_pages, recognize_page
from tests.corpus import corpus_file
from tests.unit.pdf_builder import PageSpec, build_pdf, text_ops


@pytest.mark.parametrize(
    ("mode", "visible", "invisible", "expected"),
    [
        ("skip", False, False, True),
        ("skip", True, False, False),
        ("skip", False, True, False),
        ("redo", False, True, True),  # only an old OCR layer: read again
        ("redo", True, True, False),  # visible text: left alone
        ("redo", False, False, True),
        ("force", True, False, True),
        ("force", True, True, True),
    ],
)
def test_modes(mode: str, visible: bool, invisible: bool, expected: bool) -> None:
    assert needs_ocr(mode, visible, invisible) is expected


def _page(path: Path, index: int = 0) -> pdfium.PdfPage:
    return pdfium.PdfDocument(path)[index]


def test_resolution_follows_the_page_images() -> None:
    assert page_dpi(_page(corpus_file("scans/linn.pdf")), OcrOptions()) == pytest.approx(300, abs=8)
    # c02-22.pdf holds a 150 dpi photo; graph.pdf a 96 dpi image, read at the 150 dpi floor.
    assert page_dpi(_page(corpus_file("scans/c02-22.pdf")), OcrOptions()) == pytest.approx(150, abs=5)
    assert page_dpi(_page(corpus_file("scans/graph.pdf")), OcrOptions()) == 150
    # A page turned inside its content stream (cardinal's page 2) still reads as 300 dpi.
    assert page_dpi(_page(corpus_file("scans/cardinal.pdf"), 1), OcrOptions()) == pytest.approx(300, abs=8)
    assert page_dpi(_page(corpus_file("scans/linn.pdf")), OcrOptions(dpi=200)) == 200


def test_vector_pages_use_the_default_resolution(tmp_path: Path) -> None:
    path = build_pdf(tmp_path / "vector.pdf", [PageSpec(text_ops(72, 700, "Hello"))])
    assert page_dpi(_page(path), OcrOptions(default_dpi=300)) == 300


def test_the_pixel_limit_lowers_the_resolution_and_refuses_what_cannot_fit(tmp_path: Path) -> None:
    letter = _page(corpus_file("scans/linn.pdf"))
    lowered = page_dpi(letter, OcrOptions(dpi=600, max_page_pixels=10_000_000))
    assert (612 * lowered / 72) * (792 * lowered / 72) <= 10_000_000 and lowered < 600
    with pytest.raises(errors.PageTooLarge) as raised:
        page_dpi(letter, OcrOptions(max_page_pixels=50_000))
    assert raised.value.code == "page.too_many_pixels"
    # A page 200 inches wide is capped by Tesseract's side limit too.
    huge = build_pdf(tmp_path / "huge.pdf", [PageSpec("", width=14400, height=200)])
    dpi = page_dpi(_page(huge), OcrOptions(dpi=600, max_page_pixels=10**12))
    assert 14400 * dpi / 72 <= 32_000


def test_deskew_finds_the_corpus_skew() -> None:
    image = _page(corpus_file("scans/skew.pdf")).render(scale=150 / 72, grayscale=True).to_pil()
    assert estimate_skew(image) == pytest.approx(-1.8, abs=0.3)
    straight = _page(corpus_file("scans/linn.pdf")).render(scale=150 / 72, grayscale=True).to_pil()
    assert estimate_skew(straight) == 0.0
    # Turning a straight page by a known angle is measured back.
    turned = straight.convert("L").rotate(3, fillcolor=255, expand=False)
    assert estimate_skew(turned) == pytest.approx(3, abs=0.3)


def test_pixel_boxes_map_to_points_and_back_through_the_skew() -> None:
    straight = _PixelsToPoints(1000, 2000, 500.0, 1000.0, 0.0)
    assert straight([100, 200, 300, 400]) == [50.0, 100.0, 150.0, 200.0]
    # A box at the centre only grows when turned; one off-centre moves the way the page turns
    # (counter-clockwise on screen: a box right of centre goes up).
    turned = _PixelsToPoints(1000, 1000, 1000.0, 1000.0, 10.0)
    x0, y0, x1, y1 = turned([700, 490, 800, 510])
    assert (y0 + y1) / 2 < 500 and (x0 + x1) / 2 < 750


def test_a_page_with_text_is_skipped_and_reports_its_words(tmp_path: Path) -> None:
    path = build_pdf(tmp_path / "text.pdf", [PageSpec(text_ops(72, 700, "Hello world"))])
    page = recognize_page(str(path), 1, OcrOptions())
    assert page["source"] == "text"
    assert [word["text"] for line in page["lines"] for word in line["words"]] == ["Hello", "world"]
    x0, y0, x1, y1 = page["lines"][0]["words"][0]["bbox"]
    assert 70 <= x0 < x1 <= 110 and 80 <= y0 < y1 <= 95  # top-left origin: y ~ 792 - 700


def test_rotated_pages_give_boxes_on_the_page_as_displayed(tmp_path: Path) -> None:
    # linn.pdf with /Rotate 90: the page shows sideways, and OCR reads what is shown.
    with pikepdf.open(corpus_file("scans/linn.pdf")) as pdf:
        pdf.pages[0].Rotate = 90
        pdf.save(tmp_path / "turned.pdf")
    page = recognize_page(str(tmp_path / "turned.pdf"), 1, OcrOptions(dpi=150, rotate_pages=True))
    assert (page["width"], page["height"]) == (612, 792)  # turned upright again
    assert page["orientationCorrection"] == 270 and page["rotation"] == 0
    assert "LinnSequencer" in page["text"]


def test_languages_are_checked_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(errors.LanguageUnavailable):
        recognize_page(str(corpus_file("scans/linn.pdf")), 1, OcrOptions(languages=("zzz",)))


def test_plan_pages_marks_what_another_engine_must_read() -> None:
    planned = plan_pages(str(corpus_file("scans/multipage.pdf")), [3, 4], OcrOptions())
    assert [(page["page"], page["source"]) for page in planned] == [(3, "pending"), (4, "text")]
    assert planned[0]["width"] == 718.5 and planned[0]["replacesText"] is False
    with pytest.raises(errors.PageOutOfRange):
        plan_pages(str(corpus_file("scans/multipage.pdf")), [7], OcrOptions())


def test_a_blank_page_has_no_lines(tmp_path: Path) -> None:
    blank = Image.new("L", (850, 1100), 255)
    buffer = io.BytesIO()
    blank.save(buffer, format="PDF", resolution=100)
    path = tmp_path / "blank.pdf"
    path.write_bytes(buffer.getvalue())
    page = recognize_page(str(path), 1, OcrOptions())
    assert page["source"] == "ocr" and page["lines"] == [] and page["text"] == ""
