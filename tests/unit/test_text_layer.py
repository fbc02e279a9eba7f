"""The invisible OCR text layer, checked with real readers: poppler (pdftotext, pdffonts) and pdfium.

Real words come from Tesseract on the corpus scan `linn`; the geometry cases (rotation, box
offsets, skew) use small PDFs made here, whose word boxes are known exactly.
"""

from __future__ import annotations

import html
import math
import re
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pikepdf
import pytest

from pdfjobs import errors
from pdfjobs.engines import tesseract
from pdfjobs.pdf.document import open_pdf
from pdfjobs.pdf.text_layer import FONT_NAME, PageText, add_text_layer
from tests.corpus import CORPUS, corpus_file
from tests.unit.pdf_builder import write_objects

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the test corpus is not at {CORPUS}")

_WORD = re.compile(r'<word xMin="([-\d.]+)" yMin="([-\d.]+)" xMax="([-\d.]+)" yMax="([-\d.]+)">(.*?)</word>')

Box = tuple[float, float, float, float]


# --- Helpers -------------------------------------------------------------------------------


def _pdftotext(path: Path, *arguments: str) -> str:
    done = subprocess.run(["pdftotext", *arguments, str(path), "-"], capture_output=True, text=True, check=True)
    return done.stdout


def _poppler_words(path: Path, page: int = 1) -> list[tuple[str, Box]]:
    """Words and their boxes as poppler sees them, in the displayed (cropped, rotated) page."""
    output = _pdftotext(path, "-bbox", "-cropbox", "-f", str(page), "-l", str(page))
    return [(html.unescape(m[4]), (float(m[0]), float(m[1]), float(m[2]), float(m[3]))) for m in _WORD.findall(output)]


def _pdfium_text(path: Path, index: int = 0) -> str:
    with open_pdf(path) as document:
        page = document[index]
        textpage = page.get_textpage()
        try:
            return textpage.get_text_range()
        finally:
            textpage.close()
            page.close()


def _render(path: Path, index: int, password: str | None = None) -> tuple[tuple[int, int], bytes]:
    with open_pdf(path, password) as document:
        page = document[index]
        bitmap = page.render(scale=40 / 72)
        image = bitmap.to_pil()
        pixels = (image.size, image.tobytes())
        bitmap.close()
        page.close()
        return pixels


def _words_of(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9]+", text)


def _line(*words: tuple[str, Box]) -> dict[str, Any]:
    return {
        "text": " ".join(text for text, _ in words),
        "words": [{"text": text, "bbox": list(box), "confidence": 90.0} for text, box in words],
    }


def _make_pdf(
    path: Path,
    *,
    mediabox: Sequence[float] = (0, 0, 612, 792),
    cropbox: Sequence[float] | None = None,
    rotate: int = 0,
    content: bytes = b"",
    pages: int = 1,
) -> Path:
    pdf = pikepdf.new()
    helvetica = pdf.make_indirect(
        pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica)
    )
    for _ in range(pages):
        page = pikepdf.Dictionary(
            Type=pikepdf.Name.Page,
            MediaBox=list(mediabox),
            Resources=pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=helvetica)),
            Contents=pdf.make_stream(content),
        )
        if cropbox is not None:
            page.CropBox = list(cropbox)
        if rotate:
            page.Rotate = rotate
        pdf.pages.append(pikepdf.Page(page))
    pdf.save(path)
    return path


def _assert_boxes(found: list[tuple[str, Box]], expected: list[tuple[str, Box]], tolerance: float = 0.6) -> None:
    assert [text for text, _ in found] == [text for text, _ in expected], found
    for (text, box), (_, want) in zip(found, expected, strict=True):
        assert all(abs(a - b) <= tolerance for a, b in zip(box, want, strict=True)), (text, box, want)


# --- A real scan, real OCR ------------------------------------------------------------------


@pytest.fixture(scope="module")
def linn_lines() -> list[dict[str, Any]]:
    """Tesseract's lines for linn.png (300 dpi), boxes converted from pixels to points."""
    result = tesseract.recognize(str(corpus_file("scans/linn.png")), ["eng"], 300, timeout=120)
    k = 72 / 300
    return [
        {
            "text": line["text"],
            "bbox": [v * k for v in line["bbox"]],
            "words": [{**word, "bbox": [v * k for v in word["bbox"]]} for word in line["words"]],
        }
        for line in result["lines"]
    ]


@pytest.fixture(scope="module")
def linn_output(linn_lines: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("linn") / "linn-ocr.pdf"
    add_text_layer(str(corpus_file("scans/linn.pdf")), str(output), [PageText(0, linn_lines, 612, 792)])
    return output


def test_poppler_finds_the_scans_words(linn_output: Path) -> None:
    truth = _words_of(corpus_file("scans/linn.txt").read_text())
    found = set(_words_of(_pdftotext(linn_output)))
    share = sum(word in found for word in truth) / len(truth)
    assert share > 0.9, share
    # Lines come out as "word word": the spaces between words are real characters.
    assert "32 Track MIDI Sequence Recorder" in _pdftotext(linn_output)


def test_poppler_word_boxes_are_the_ocr_boxes(linn_output: Path, linn_lines: list[dict[str, Any]]) -> None:
    """Left and right are the word's own; top and bottom are its line's (one size per line)."""
    expected: dict[str, list[Box]] = {}
    for line in linn_lines:
        top = min(word["bbox"][1] for word in line["words"])
        bottom = max(word["bbox"][3] for word in line["words"])
        for word in line["words"]:
            expected.setdefault(word["text"], []).append((word["bbox"][0], top, word["bbox"][2], bottom))
    found = _poppler_words(linn_output)
    matched = 0
    for text, box in found:
        if any(all(abs(a - b) <= 0.5 for a, b in zip(box, want, strict=True)) for want in expected.get(text, ())):
            matched += 1
    total = sum(len(boxes) for boxes in expected.values())
    assert matched / total > 0.97, (matched, total)


def test_pdfium_finds_the_words_in_lines(linn_output: Path) -> None:
    text = _pdfium_text(linn_output)
    assert "The LinnSequencer is a state-of-the-art composition and performance tool" in text, text[:200]
    truth = _words_of(corpus_file("scans/linn.txt").read_text())
    found = set(_words_of(text))
    assert sum(word in found for word in truth) / len(truth) > 0.9


def test_the_page_looks_exactly_the_same(linn_output: Path) -> None:
    source = corpus_file("scans/linn.pdf")
    assert _render(linn_output, 0) == _render(source, 0)
    with pikepdf.open(source) as before, pikepdf.open(linn_output) as after:
        assert after.pages[0].mediabox == before.pages[0].mediabox
        assert "/CropBox" not in after.pages[0].obj and "/Rotate" not in after.pages[0].obj
        old_images = [image.read_raw_bytes() for image in before.pages[0].images.values()]
        new_images = [image.read_raw_bytes() for image in after.pages[0].images.values()]
        assert new_images == old_images  # the JBIG2 image is copied, not re-encoded
        assert not after.is_encrypted
    # Compressed: the layer of ~400 words adds little.
    assert linn_output.stat().st_size < source.stat().st_size + 20_000


def test_the_font_is_embedded_with_a_unicode_map(linn_output: Path) -> None:
    listing = subprocess.run(["pdffonts", str(linn_output)], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in listing.splitlines()[2:]]
    assert rows == [[FONT_NAME, "CID", "TrueType", "Identity-H", "yes", "no", "yes", rows[0][-2], "0"]]


def test_the_glyph_paints_nothing_even_in_fill_mode(tmp_path: Path) -> None:
    """A renderer ignoring render mode 3 would still draw nothing: the glyph encloses no area."""
    source = _make_pdf(tmp_path / "blank.pdf")
    output = tmp_path / "out.pdf"
    words = [("Hidden", (100, 100, 300, 160)), ("text", (320, 100, 400, 160))]
    add_text_layer(str(source), str(output), [PageText(0, [_line(*words)], 612, 792)])
    filled = tmp_path / "filled.pdf"
    with pikepdf.open(output) as pdf:
        layer = pdf.pages[0].obj.Contents[0]
        data = layer.read_bytes()
        assert data.startswith(b"q\n") and data.endswith(b"Q\n") and b"\n3 Tr\n" in data
        layer.write(data.replace(b"\n3 Tr\n", b"\n0 Tr\n"))
        pdf.save(filled)
    assert "Hidden text" in _pdfium_text(filled)
    assert _render(filled, 0) == _render(source, 0)


# --- Geometry ------------------------------------------------------------------------------

_WORDS: list[tuple[str, Box]] = [("Alpha", (50, 40, 130, 60)), ("Beta", (140, 40, 200, 60))]
_SECOND_LINE: list[tuple[str, Box]] = [("Gamma", (50, 300, 180, 330))]


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
@pytest.mark.parametrize(
    ("mediabox", "cropbox"),
    [((0, 0, 612, 792), None), ((100, 200, 712, 992), None), ((100, 200, 712, 992), (150, 260, 650, 900))],
)
def test_boxes_land_on_the_displayed_page(
    tmp_path: Path, rotate: int, mediabox: Sequence[float], cropbox: Sequence[float] | None
) -> None:
    source = _make_pdf(tmp_path / "in.pdf", mediabox=mediabox, cropbox=cropbox, rotate=rotate)
    box = cropbox or mediabox
    width, height = box[2] - box[0], box[3] - box[1]
    if rotate in (90, 270):
        width, height = height, width
    output = tmp_path / "out.pdf"
    page = PageText(0, [_line(*_WORDS), _line(*_SECOND_LINE)], width, height)
    add_text_layer(str(source), str(output), [page])
    _assert_boxes(_poppler_words(output), [*_WORDS, *_SECOND_LINE])
    assert _pdfium_text(output).split() == ["Alpha", "Beta", "Gamma"]


def _raw_pdf(path: Path, objects: list[bytes]) -> Path:
    """A PDF written by hand (pikepdf would push inherited page attributes down to the pages)."""
    return write_objects(path, objects)


def test_inherited_rotation_mediabox_and_resources(tmp_path: Path) -> None:
    """/Rotate, /MediaBox and /Resources held by the page tree apply; the page keeps its font."""
    content = b"BT /F1 12 Tf 20 20 Td (Visible) Tj ET"
    source = _raw_pdf(
        tmp_path / "in.pdf",
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 /MediaBox [0 0 400 300] /Rotate 90"
            b" /Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>",
            b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ],
    )
    output = tmp_path / "out.pdf"
    add_text_layer(str(source), str(output), [PageText(0, [_line(*_WORDS)], 300, 400)])
    found = _poppler_words(output)
    _assert_boxes([word for word in found if word[0] != "Visible"], _WORDS)
    assert ("Visible", _poppler_words(source)[0][1]) in found
    assert _render(output, 0) == _render(source, 0)


@pytest.mark.parametrize("rotation", [90, 180, 270, 0])
def test_rotation_turns_the_page_and_the_boxes_follow(tmp_path: Path, rotation: int) -> None:
    source = _make_pdf(tmp_path / "in.pdf", rotate=90 if rotation == 0 else 0)
    width, height = (792, 612) if rotation in (90, 270) else (612, 792)
    output = tmp_path / "out.pdf"
    add_text_layer(str(source), str(output), [PageText(0, [_line(*_WORDS)], width, height, rotation=rotation)])
    with pikepdf.open(output) as pdf:
        assert int(pdf.pages[0].obj.get("/Rotate") or 0) == rotation
    _assert_boxes(_poppler_words(output), _WORDS)


def test_boxes_are_scaled_from_the_ocr_page_size(tmp_path: Path) -> None:
    """Boxes relative to a page twice the size (e.g. measured on a render) are scaled down."""
    source = _make_pdf(tmp_path / "in.pdf")
    output = tmp_path / "out.pdf"
    doubled = [(text, (box[0] * 2, box[1] * 2, box[2] * 2, box[3] * 2)) for text, box in _WORDS]
    add_text_layer(str(source), str(output), [PageText(0, [_line(*doubled)], 1224, 1584)])
    _assert_boxes(_poppler_words(output), _WORDS)


def _skewed_hull(box: Box, degrees: float, centre: tuple[float, float]) -> tuple[Box, tuple[float, float]]:
    """The hull (top-left origin) of `box` turned counter-clockwise on screen, and its centre."""
    angle = math.radians(degrees)
    cx, cy = centre
    corners = [(box[0], box[1]), (box[2], box[1]), (box[2], box[3]), (box[0], box[3])]
    turned = []
    for x, y in corners:  # y grows downward: counter-clockwise on screen is clockwise in these axes
        dx, dy = x - cx, y - cy
        cos, sin = math.cos(angle), math.sin(angle)
        turned.append((cx + dx * cos + dy * sin, cy - dx * sin + dy * cos))
    xs, ys = [x for x, _ in turned], [y for _, y in turned]
    return (min(xs), min(ys), max(xs), max(ys)), ((min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2)


@pytest.mark.parametrize("degrees", [3.0, -2.0])
def test_skewed_words_sit_on_the_skewed_scan(tmp_path: Path, degrees: float) -> None:
    source = _make_pdf(tmp_path / "in.pdf")
    output = tmp_path / "out.pdf"
    upright = [("Skewed", (100, 300, 220, 320)), ("words", (230, 300, 330, 320)), ("here", (340, 300, 420, 320))]
    hulls, centres = [], []
    for text, box in upright:
        hull, centre = _skewed_hull(box, degrees, (306, 396))
        hulls.append((text, hull))
        centres.append(centre)
    add_text_layer(str(source), str(output), [PageText(0, [_line(*hulls)], 612, 792, skew_degrees=degrees)])
    # Poppler before 23 splits slanted words wherever their baseline has drifted by 0.5 pt
    # (Helvetica too): only the characters are checked with it.
    assert sorted("".join(text for text, _ in _poppler_words(output))) == sorted("Skewedwordshere")
    # pdfium's loose character boxes (ascent to descent) around each word's middle character.
    with open_pdf(output) as document:
        page = document[0]
        textpage = page.get_textpage()
        text = textpage.get_text_range()
        assert text.split() == ["Skewed", "words", "here"]
        for (word, _), (cx, cy) in zip(upright, centres, strict=True):
            start = text.index(word)
            middle = start + len(word) // 2
            if len(word) % 2 == 0:  # the word's centre is between two characters
                left = textpage.get_charbox(middle - 1, loose=True)
                right = textpage.get_charbox(middle, loose=True)
                x = (left[2] + right[0]) / 2
                y = 792 - (left[1] + left[3] + right[1] + right[3]) / 4
            else:
                box = textpage.get_charbox(middle, loose=True)
                x, y = (box[0] + box[2]) / 2, 792 - (box[1] + box[3]) / 2
            assert abs(x - cx) < 1.0 and abs(y - cy) < 1.0, (word, (x, y), (cx, cy))
        textpage.close()
        page.close()


# --- Text ----------------------------------------------------------------------------------


def test_accents_cjk_and_characters_beyond_the_bmp_come_back(tmp_path: Path) -> None:
    source = _make_pdf(tmp_path / "in.pdf")
    output = tmp_path / "out.pdf"
    words = [
        ("Été", (50, 40, 90, 60)),
        ("garçon", (100, 40, 170, 60)),
        ("œuvre", (180, 40, 240, 60)),
        ("漢字", (250, 40, 290, 60)),
        ("\U0001d518\U0001d52b\U0001d526", (300, 40, 340, 60)),  # beyond the BMP
        ("a<b&c", (350, 40, 400, 60)),
    ]
    add_text_layer(str(source), str(output), [PageText(0, [_line(*words)], 612, 792)])
    expected = "Été garçon œuvre 漢字 \U0001d518\U0001d52b\U0001d526 a<b&c"
    assert _pdftotext(output).strip() == expected
    assert _pdfium_text(output).strip() == expected
    _assert_boxes(_poppler_words(output), [(text, (b[0], b[1], b[2], b[3])) for text, b in words])


def test_unusable_words_are_skipped_and_a_line_without_words_is_one_word(tmp_path: Path) -> None:
    source = _make_pdf(tmp_path / "in.pdf")
    output = tmp_path / "out.pdf"
    line = {
        "words": [
            {"text": "Good", "bbox": [50, 40, 100, 60]},
            {"text": "NoBox"},
            {"text": "NaN", "bbox": [float("nan"), 40, 120, 60]},
            {"text": "Flat", "bbox": [130, 50, 160, 50]},
            {"text": "  ", "bbox": [170, 40, 190, 60]},
            "not a word",
            {"text": "Flipped", "bbox": [260, 60, 200, 40]},  # corners given the other way round
        ]
    }
    whole = {"text": "whole line", "bbox": [50, 100, 200, 120]}
    add_text_layer(str(source), str(output), [PageText(0, [line, whole], 612, 792)])
    found = {text: tuple(round(value, 1) for value in box) for text, box in _poppler_words(output)}
    assert found == {
        "Good": (50, 40, 100, 60),
        "Flipped": (200, 40, 260, 60),
        # The line's text spread over its box: one advance per character, the space included.
        "whole": (50, 100, 125, 120),
        "line": (140, 100, 200, 120),
    }


def test_one_font_serves_every_page(tmp_path: Path) -> None:
    source = _make_pdf(tmp_path / "in.pdf", pages=3)
    output = tmp_path / "out.pdf"
    add_text_layer(str(source), str(output), [PageText(i, [_line(*_WORDS)], 612, 792) for i in range(3)])
    with pikepdf.open(output) as pdf:
        fonts = {page.Resources.Font.OCRText.objgen for page in pdf.pages}
        assert len(fonts) == 1
        assert [sorted(page.Resources.Font.keys()) for page in pdf.pages] == [["/F1", "/OCRText"]] * 3
    assert _pdftotext(output).split() == ["Alpha", "Beta"] * 3


def test_unbalanced_existing_content_does_not_move_the_layer(tmp_path: Path) -> None:
    """Content that leaves a scaled CTM, text state and pops more than it pushed: the layer comes first."""
    content = (
        b"0.5 0 0 0.5 0 0 cm q 2 0 0 2 0 0 cm BT /F1 12 Tf 100 600 Td 200 Tz 3 Tr (Visible) Tj ET 4 0 0 4 0 0 cm Q Q Q"
    )
    source = _make_pdf(tmp_path / "in.pdf", content=content)
    output = tmp_path / "out.pdf"
    add_text_layer(str(source), str(output), [PageText(0, [_line(*_WORDS)], 612, 792)])
    found = _poppler_words(output)
    _assert_boxes([word for word in found if word[0] != "Visible"], _WORDS)
    assert ("Visible", _poppler_words(source)[0][1]) in found
    assert _render(output, 0) == _render(source, 0)


# --- Removing an earlier OCR layer ----------------------------------------------------------


def test_an_old_ocr_layer_is_removed_and_the_page_still_looks_the_same(tmp_path: Path) -> None:
    source = corpus_file("scans/multipage.pdf")
    assert _pdftotext(source, "-f", "4", "-l", "4").strip()  # page 4 has an OCR layer
    stripped = tmp_path / "stripped.pdf"
    add_text_layer(str(source), str(stripped), [], remove_invisible_text={3})
    assert _pdftotext(stripped, "-f", "4", "-l", "4").strip() == ""
    assert _render(stripped, 3) == _render(source, 3)

    relayered = tmp_path / "relayered.pdf"
    with pikepdf.open(source) as pdf:
        width, height = float(pdf.pages[3].mediabox[2]), float(pdf.pages[3].mediabox[3])
    add_text_layer(
        str(source), str(relayered), [PageText(3, [_line(*_WORDS)], width, height)], remove_invisible_text=[3]
    )
    assert _pdftotext(relayered, "-f", "4", "-l", "4").split() == ["Alpha", "Beta"]
    assert _render(relayered, 3) == _render(source, 3)


def test_visible_text_stays_when_invisible_text_goes(tmp_path: Path) -> None:
    """A merged file: OCR'd scans (render mode 3) and a born-digital page (crazyones)."""
    source = corpus_file("text/Seige_of_Vicksburg_Sample_OCR-crazyones-merged.pdf")
    output = tmp_path / "out.pdf"
    add_text_layer(str(source), str(output), [], remove_invisible_text=range(7))
    assert "The Crazy Ones" in _pdftotext(source, "-f", "2", "-l", "2")
    assert _pdftotext(output, "-f", "2", "-l", "2") == _pdftotext(source, "-f", "2", "-l", "2")
    for page in (1, 3, 7):
        assert "SIEGE" in _pdftotext(source, "-f", str(page), "-l", str(page))
        assert _pdftotext(output, "-f", str(page), "-l", str(page)).strip() == ""
    for index in (0, 1):
        assert _render(output, index) == _render(source, index)


def test_born_digital_text_is_untouched(tmp_path: Path) -> None:
    source = corpus_file("text/crazyones.pdf")
    output = tmp_path / "out.pdf"
    add_text_layer(str(source), str(output), [], remove_invisible_text=[0])
    assert _poppler_words(output) == _poppler_words(source)


def _form_pdf(path: Path, outer_text: bytes = b"q BT /F1 12 Tf 3 Tr 72 700 Td (FormHidden) Tj ET Q ") -> Path:
    """Two pages drawing one Form XObject (hidden and visible text) that draws a nested form."""
    pdf = pikepdf.new()
    helvetica = pdf.make_indirect(
        pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica)
    )
    fonts = pikepdf.Dictionary(F1=helvetica)
    nested = pdf.make_stream(
        b"BT /F1 12 Tf 3 Tr 72 500 Td (NestedHidden) Tj 0 Tr 0 -20 Td (NestedShown) Tj ET",
        Type=pikepdf.Name.XObject,
        Subtype=pikepdf.Name.Form,
        BBox=[0, 0, 612, 792],
        Resources=pikepdf.Dictionary(Font=fonts),
    )
    form = pdf.make_stream(
        outer_text + b"BT /F1 12 Tf 72 650 Td (FormShown) Tj ET /Inner Do",
        Type=pikepdf.Name.XObject,
        Subtype=pikepdf.Name.Form,
        BBox=[0, 0, 612, 792],
        Resources=pikepdf.Dictionary(Font=fonts, XObject=pikepdf.Dictionary(Inner=nested)),
    )
    resources = pdf.make_indirect(pikepdf.Dictionary(Font=fonts, XObject=pikepdf.Dictionary(Shared=form)))
    for _ in range(2):
        contents = pdf.make_stream(b"/Shared Do BT /F1 12 Tf 3 Tr 72 400 Td (PageHidden) Tj ET")
        page = pikepdf.Dictionary(Type=pikepdf.Name.Page, MediaBox=[0, 0, 612, 792], Resources=resources)
        page.Contents = contents
        pdf.pages.append(pikepdf.Page(page))
    pdf.save(path)
    return path


def test_form_xobjects_lose_their_invisible_text_only_where_asked(tmp_path: Path) -> None:
    source = _form_pdf(tmp_path / "forms.pdf")
    output = tmp_path / "out.pdf"
    add_text_layer(str(source), str(output), [], remove_invisible_text=[0])
    everything = ["FormHidden", "FormShown", "NestedHidden", "NestedShown", "PageHidden"]
    assert sorted(_pdftotext(source, "-f", "1", "-l", "1").split()) == everything
    assert sorted(_pdftotext(output, "-f", "1", "-l", "1").split()) == ["FormShown", "NestedShown"]
    # Page 2 shares the form (and the resources) with page 1, but was not asked for: untouched.
    assert sorted(_pdftotext(output, "-f", "2", "-l", "2").split()) == everything
    assert _poppler_words(output, 1) == [w for w in _poppler_words(source, 1) if "Hidden" not in w[0]]
    for index in (0, 1):
        assert _render(output, index) == _render(source, index)


def test_a_form_whose_nested_form_changes_is_copied_with_its_content_as_it_was(tmp_path: Path) -> None:
    source = _form_pdf(tmp_path / "forms.pdf", outer_text=b"")
    output = tmp_path / "out.pdf"
    add_text_layer(str(source), str(output), [], remove_invisible_text=[1])
    assert sorted(_pdftotext(output, "-f", "2", "-l", "2").split()) == ["FormShown", "NestedShown"]
    assert sorted(_pdftotext(output, "-f", "1", "-l", "1").split()) == [
        "FormShown",
        "NestedHidden",
        "NestedShown",
        "PageHidden",
    ]
    with pikepdf.open(source) as before, pikepdf.open(output) as after:
        original = before.pages[1].Resources.XObject.Shared
        copy = after.pages[1].Resources.XObject.Shared
        assert copy.objgen != after.pages[0].Resources.XObject.Shared.objgen
        assert copy.read_raw_bytes() == original.read_raw_bytes() and copy.Filter == original.Filter
    for index in (0, 1):
        assert _render(output, index) == _render(source, index)


def test_a_form_drawn_visibly_and_invisibly_loses_only_the_invisible_drawing(tmp_path: Path) -> None:
    """The form sets no render mode: it inherits it from where it is drawn (twice, once in mode 3)."""
    pdf = pikepdf.new()
    helvetica = pdf.make_indirect(
        pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica)
    )
    form = pdf.make_stream(
        b"BT /F1 12 Tf 72 700 Td (Inherits) Tj ET",
        Type=pikepdf.Name.XObject,
        Subtype=pikepdf.Name.Form,
        BBox=[0, 0, 612, 792],
        Resources=pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=helvetica)),
    )
    for content in (b"/Fm Do q 3 Tr 1 0 0 1 0 -100 cm /Fm Do Q", b"q 3 Tr 1 0 0 1 0 -100 cm /Fm Do Q /Fm Do"):
        page = pikepdf.Dictionary(
            Type=pikepdf.Name.Page,
            MediaBox=[0, 0, 612, 792],
            Resources=pikepdf.Dictionary(XObject=pikepdf.Dictionary(Fm=form)),
            Contents=pdf.make_stream(content),
        )
        pdf.pages.append(pikepdf.Page(page))
    source = tmp_path / "in.pdf"
    pdf.save(source)
    output = tmp_path / "out.pdf"
    add_text_layer(str(source), str(output), [], remove_invisible_text=[0, 1])
    for page_number in (1, 2):
        assert [text for text, _ in _poppler_words(source, page_number)] == ["Inherits", "Inherits"]
        visible = [word for word in _poppler_words(source, page_number) if word[1][1] < 100]
        assert _poppler_words(output, page_number) == visible
        assert _render(output, page_number - 1) == _render(source, page_number - 1)


def test_invisible_text_that_visible_text_is_placed_after_stays(tmp_path: Path) -> None:
    """Dropping a show would move the visible text after it on the line; ' and " keep their move."""
    content = (
        b"BT /F1 12 Tf 14 TL 72 700 Td 3 Tr (Kept) Tj 0 Tr (Visible) Tj ET "
        b"BT /F1 12 Tf 14 TL 72 600 Td 3 Tr (Dropped) ' 0 Tr (Next) ' ET "
        b'BT /F1 12 Tf 14 TL 72 500 Td 3 Tr 1 2 (Quoted) " 0 Tr 5 0 Td (After) Tj ET '
        b"q 200 0 0 200 300 300 cm BI /W 2 /H 2 /CS /G /BPC 8 ID \x00\xff\x80\x40 EI Q"
    )
    source = _make_pdf(tmp_path / "in.pdf", content=content)
    output = tmp_path / "out.pdf"
    add_text_layer(str(source), str(output), [], remove_invisible_text=[0])
    before = _poppler_words(source)
    after = _poppler_words(output)
    assert [text for text, _ in after] == ["KeptVisible", "Next", "After"]
    kept = {text: box for text, box in before if text in ("Next", "After")}
    assert {text: box for text, box in after if text in kept} == kept
    assert _render(output, 0) == _render(source, 0)


# --- Errors, passwords, size ----------------------------------------------------------------


def test_an_encrypted_input_gives_an_unencrypted_output(tmp_path: Path) -> None:
    source = corpus_file("encrypted/r6-both-passwords.pdf")
    output = tmp_path / "out.pdf"
    add_text_layer(str(source), str(output), [PageText(0, [_line(*_WORDS)], 595.3, 841.9)], password="foo")
    with pikepdf.open(output) as pdf:
        assert not pdf.is_encrypted
    assert "Alpha Beta" in _pdftotext(output)
    assert _render(output, 0) == _render(source, 0, "foo")


@pytest.mark.parametrize(
    ("name", "password", "error"),
    [
        ("encrypted/r4-aes-user-password.pdf", None, errors.PdfPasswordRequired),
        ("encrypted/r4-aes-user-password.pdf", "wrong", errors.PdfPasswordIncorrect),
        ("hostile/invalid.pdf", None, errors.PdfInvalid),
    ],
)
def test_unreadable_input_raises_domain_errors(
    tmp_path: Path, name: str, password: str | None, error: type[Exception]
) -> None:
    with pytest.raises(error):
        add_text_layer(str(corpus_file(name)), str(tmp_path / "out.pdf"), [], password=password)
    assert not (tmp_path / "out.pdf").exists()


def test_a_wrong_password_on_a_file_that_needs_none_is_ignored(tmp_path: Path) -> None:
    output = tmp_path / "out.pdf"
    source = corpus_file("encrypted/r2-owner-password.pdf")
    add_text_layer(str(source), str(output), [PageText(0, [_line(*_WORDS)], 612, 792)], password="nope")
    assert "Alpha" in _pdftotext(output)


def test_bad_page_indexes_are_refused(tmp_path: Path) -> None:
    source = _make_pdf(tmp_path / "in.pdf")
    with pytest.raises(errors.PageOutOfRange):
        add_text_layer(str(source), str(tmp_path / "out.pdf"), [PageText(1, [], 612, 792)])
    with pytest.raises(errors.PageOutOfRange):
        add_text_layer(str(source), str(tmp_path / "out.pdf"), [], remove_invisible_text=[-1])
    with pytest.raises(ValueError, match="twice"):
        add_text_layer(str(source), str(tmp_path / "out.pdf"), [PageText(0, [], 612, 792)] * 2)
    with pytest.raises(ValueError, match="multiple of 90"):
        add_text_layer(str(source), str(tmp_path / "out.pdf"), [PageText(0, [], 612, 792, rotation=45)])


def test_the_output_may_replace_the_input(tmp_path: Path) -> None:
    path = _make_pdf(tmp_path / "in.pdf")
    add_text_layer(str(path), str(path), [PageText(0, [_line(*_WORDS)], 612, 792)])
    assert _pdftotext(path).split() == ["Alpha", "Beta"]


def test_a_long_document_is_fast(tmp_path: Path) -> None:
    """Linear work: 500 pages of 30 lines of 8 words (measured: about 1.5 s), one font for all."""
    source = _make_pdf(tmp_path / "in.pdf", pages=500)
    lines = [
        _line(
            *[
                (f"w{line}x{word}", (40 + 60 * word, 20 + 24 * line, 90 + 60 * word, 36 + 24 * line))
                for word in range(8)
            ]
        )
        for line in range(30)
    ]
    output = tmp_path / "out.pdf"
    started = time.perf_counter()
    add_text_layer(str(source), str(output), [PageText(i, lines, 612, 792) for i in range(500)])
    elapsed = time.perf_counter() - started
    assert elapsed < 8, elapsed
    assert _pdftotext(output, "-f", "500", "-l", "500").split()[:3] == ["w0x0", "w0x1", "w0x2"]
    assert output.stat().st_size < 1_500_000
    with pikepdf.open(output) as pdf:
        fonts = [obj for obj in pdf.objects if isinstance(obj, pikepdf.Dictionary) and obj.get("/Subtype") == "/Type0"]
        assert len(fonts) == 1


# --- Tesseract's own text layer, laid over the page ------------------------------------------


def _tesseract_page(source: Path, **options: Any) -> dict[str, Any]:
    from pdfjobs.ocr.pages import OcrOptions, recognize_page

    return recognize_page(str(source), 1, OcrOptions(text_layer=True, **options))


def test_an_engine_drawn_layer_reads_like_the_scan_and_changes_no_pixel(tmp_path: Path) -> None:
    import base64

    from rapidfuzz.distance import Levenshtein

    from pdfjobs.pdf.text_layer import PageOverlay

    source = corpus_file("scans/linn.pdf")
    page = _tesseract_page(source)
    out = tmp_path / "out.pdf"
    add_text_layer(str(source), str(out), [PageOverlay(0, base64.b64decode(page["textLayerPdf"]))])
    text = " ".join(_pdftotext(out, "-raw").split())
    truth = " ".join(corpus_file("scans/linn.txt").read_text().split())
    assert Levenshtein.distance(text, truth) / len(truth) < 0.02
    assert _render(out, 0) == _render(source, 0)


def test_an_engine_drawn_layer_follows_a_turned_and_skewed_page(tmp_path: Path) -> None:
    import base64

    from pdfjobs.pdf.text_layer import PageOverlay

    source = corpus_file("scans/cardinal.pdf")
    single = tmp_path / "second.pdf"
    with pikepdf.open(source) as pdf:
        del pdf.pages[2:]
        del pdf.pages[0]
        pdf.save(single)
    page = _tesseract_page(single, rotate_pages=True, deskew=True)
    assert page["orientationCorrection"] == 270
    out = tmp_path / "out.pdf"
    overlay = PageOverlay(
        0, base64.b64decode(page["textLayerPdf"]), rotation=page["rotation"], skew_degrees=page["skewDegrees"]
    )
    add_text_layer(str(single), str(out), [overlay])
    assert "LinnSequencer" in _pdftotext(out)
    words = _poppler_words(out)
    title = next(box for word, box in words if word == "LinnSequencer")
    # Upright now, so the title sits near the top of a portrait page.
    assert title[1] < 792 / 4
