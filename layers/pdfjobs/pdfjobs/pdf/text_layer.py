"""The invisible OCR text layer that makes a scanned PDF searchable, selectable and copyable.

Every recognised word is drawn in text render mode 3 (neither filled nor stroked) with a
*glyphless* font: a Type0 font (Identity-H) whose every code is drawn with one embedded
TrueType glyph that paints nothing and is 0.5 em wide, and whose ToUnicode map gives every
2-byte code back as its Unicode character. Each word is placed over its box with `Tm` and
stretched with `Tz` so its advance spans the box exactly; a space after each word but the
line's last makes extractors read "word word", as Tesseract's own PDF renderer does.

Geometry, chosen so poppler and pdfium (and readers that go by the font's ascent and descent)
report the word boxes the OCR gave:

- One font size and baseline per *line*: the size is the line's height and the baseline sits
  a fifth of it above the line's bottom, which with the font's ascent 0.8 / descent -0.2 makes
  each word's extracted box the line's top and bottom over the word's own left and right.
  (A size per word would give each word of a line a different size and baseline, which
  poppler's and pdfium's line building split into separate lines.)
- The words are laid out in the page's *deskewed* frame; one `cm` before the text maps that
  frame to the page's default user space: rotation by the scan's skew about the page centre,
  scaling from the OCR page size to the displayed page, then the displayed page (CropBox or
  MediaBox, rotated by /Rotate) back to user space.

The layer is *prepended* to the page's content as one balanced `q ... Q` stream, so it runs in
the page's initial graphics state whatever the existing content does (unbalanced `q`/`Q`,
a leftover `cm`) and cannot change how that content draws; being invisible, being drawn first
(under the page image) changes nothing on screen or on paper. Existing streams, images and
fonts are copied as they are: only new streams are compressed.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import os
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pikepdf
from pikepdf import Dictionary, Name

from pdfjobs import errors

log = logging.getLogger(__name__)

FONT_NAME = "GlyphLessFont"
# The one glyph's advance in thousandths of the font size (every code has it: /DW).
_ADVANCE = 500
# Font ascent and descent (thousandths): they add up to one em, so a font size equal to the
# line's height makes extractors' glyph boxes exactly as tall as the line.
_ASCENT = 800
_DESCENT = -200
_BASELINE = -_DESCENT / 1000  # baseline height above the line's bottom, in font sizes
# Codes D800..DFFF are no BMP character (they are UTF-16 surrogates): they are handed out to
# characters beyond the BMP, each mapped back to its surrogate pair by the ToUnicode CMap.
_FIRST_EXTRA_CODE = 0xD800
_LAST_EXTRA_CODE = 0xDFFF
_REPLACEMENT = 0xFFFD
# Skew beyond this cannot be taken out of an axis-aligned hull (the system becomes singular
# at 45 degrees): the hull is then used as the word's box.
_MAX_UNSKEW_DEGREES = 35.0

_MIN_FONT_SIZE = 0.01  # lines less tall than this (in the OCR page's units) are left out

Matrix = tuple[float, float, float, float, float, float]
# Streams inflating beyond this are not recompressed (it bounds the memory one stream needs).
_RECOMPRESS_MAX_STREAM_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class PageText:
    """The OCR words of one page, in the shape `pdfjobs.ocr` documents.

    `lines` are the OCR page's lines, each with `words` (`text`, `bbox` [x0, y0, x1, y1] in
    points from the top left of the displayed page of size `width` x `height`). If `rotation`
    is set the page's /Rotate becomes it and the boxes are relative to the page as displayed
    with that rotation. `skew_degrees` is the scan's skew (positive: counter-clockwise on
    screen), each word box being the axis-aligned hull of the skewed word.
    """

    index: int
    lines: list[dict[str, Any]]
    width: float
    height: float
    rotation: int | None = None
    skew_degrees: float = 0.0


@dataclass(frozen=True)
class PageOverlay:
    """A text layer already drawn by the OCR engine: a one-page PDF of invisible text laid out
    over the page image the engine read (Tesseract's `textonly_pdf`, as OCRmyPDF uses it).

    That page stands for the displayed page (after `rotation`, if set), turned by
    `skew_degrees` like the scan; it is drawn over the page as a Form XObject, scaled to fit.
    """

    index: int
    pdf: bytes
    rotation: int | None = None
    skew_degrees: float = 0.0


def add_text_layer(
    source: str,
    destination: str,
    pages: Sequence[PageText | PageOverlay],
    *,
    password: str | None = None,
    remove_invisible_text: Collection[int] = (),
    recompress_budget_seconds: float = 0.0,
) -> None:
    """Write `source` to `destination` with an invisible text layer on each page of `pages`.

    Pages listed in `remove_invisible_text` (0-based) first lose the invisible text (render
    mode 3) they already carry, an earlier OCR layer, in their content and the Form XObjects
    it draws; visible content is kept as it was. The output is unencrypted and compressed; with
    `recompress_budget_seconds`, Flate streams are also deflated again at the highest level
    for up to that long (lossless: `pdfjobs.pdf.optimize`).

    Raises PdfPasswordRequired, PdfPasswordIncorrect or PdfInvalid for input that cannot be
    read, PageOutOfRange for an index that is not a page, ValueError for bad arguments.
    """
    _check_arguments(pages)
    with _open(source, password, overwrite=_same_file(source, destination)) as pdf:
        try:
            page_count = len(pdf.pages)
            wanted = {page.index for page in pages} | set(remove_invisible_text)
            outside = sorted(index for index in wanted if not 0 <= index < page_count)
            if outside:
                raise errors.PageOutOfRange(
                    f"Page index {outside[0]} is not in the document (it has {page_count} pages).",
                    details={"pageCount": page_count},
                )
            if remove_invisible_text:
                _InvisibleTextRemover(pdf).remove(sorted(set(remove_invisible_text)))
            texts = [page for page in pages if isinstance(page, PageText)]
            if texts:
                font = _GlyphlessFont(pdf)
                for page_text in texts:
                    _add_page_layer(pdf, pdf.pages[page_text.index], page_text, font)
                font.finish()
            overlays = _Overlays(pdf)
            for overlay in pages:
                if isinstance(overlay, PageOverlay):
                    overlays.add(pdf.pages[overlay.index], overlay)
            if recompress_budget_seconds > 0:
                from pdfjobs.pdf.optimize import recompress_flate_streams

                recompress_flate_streams(
                    pdf, max_stream_bytes=_RECOMPRESS_MAX_STREAM_BYTES, budget_seconds=recompress_budget_seconds
                )
            pdf.save(
                destination,
                compress_streams=True,
                # Existing streams are written as they are (no decoding and re-encoding of images).
                stream_decode_level=pikepdf.StreamDecodeLevel.none,
                object_stream_mode=pikepdf.ObjectStreamMode.generate,
                encryption=False,
            )
        except pikepdf.PdfError as error:
            raise _invalid(error) from error


def _invalid(error: Exception) -> errors.PdfJobsError:
    """PdfInvalid for qpdf's error; its text names our temporary file, so it is logged, not shown."""
    log.info("qpdf could not read or write the document: %s", error)
    return errors.PdfInvalid("The document could not be read as a PDF: it is damaged.")


def _check_arguments(pages: Sequence[PageText | PageOverlay]) -> None:
    seen: set[int] = set()
    for page in pages:
        if page.index in seen:
            raise ValueError(f"page index {page.index} is given twice")
        seen.add(page.index)
        if isinstance(page, PageText) and not (
            math.isfinite(page.width) and math.isfinite(page.height) and page.width > 0 and page.height > 0
        ):
            raise ValueError(f"page {page.index}: width and height must be positive, not {page.width} x {page.height}")
        if page.rotation is not None and page.rotation % 90:
            raise ValueError(f"page {page.index}: rotation must be a multiple of 90, not {page.rotation}")
        if not math.isfinite(page.skew_degrees):
            raise ValueError(f"page {page.index}: skew_degrees must be finite")


def _same_file(source: str, destination: str) -> bool:
    try:
        return os.path.samefile(source, destination)
    except OSError:
        return False


def _open(path: str, password: str | None, *, overwrite: bool) -> pikepdf.Pdf:
    if not os.path.isfile(path):
        raise FileNotFoundError(path)  # the caller's bug, not a property of the client's PDF
    password = password or None
    try:
        return pikepdf.open(path, password=password or "", allow_overwriting_input=overwrite)
    except pikepdf.PasswordError:
        if password is None:
            raise errors.PdfPasswordRequired() from None
    except pikepdf.PdfError as error:
        raise _invalid(error) from error
    # A wrong password on a file that needs none (owner password only) is harmless: open it anyway.
    try:
        return pikepdf.open(path, allow_overwriting_input=overwrite)
    except pikepdf.PasswordError:
        raise errors.PdfPasswordIncorrect() from None
    except pikepdf.PdfError as error:
        raise _invalid(error) from error


# --- Page geometry -------------------------------------------------------------------------


def _inherited(node: Any, key: str) -> Any:
    """`key` of a page, or of the nearest page-tree node above it that has it (MediaBox, ...)."""
    seen: set[tuple[int, int]] = set()
    while isinstance(node, Dictionary):
        if key in node:
            return node[key]
        objgen = node.objgen
        if objgen in seen or len(seen) > 64:
            break
        seen.add(objgen)
        node = node.get("/Parent")
    return None


def _rectangle(value: Any) -> tuple[float, float, float, float] | None:
    try:
        x0, y0, x1, y1 = (float(number) for number in value)
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(number) for number in (x0, y0, x1, y1)):
        return None
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def _rotation(value: Any) -> int:
    try:
        rotation = int(value) % 360
    except (TypeError, ValueError):
        return 0
    return rotation if rotation % 90 == 0 else 0


def _page_geometry(page: Dictionary) -> tuple[Matrix, float, float]:
    """The matrix from the displayed page (origin bottom left, y up) to user space, and its size.

    The displayed page is the CropBox (clipped to the MediaBox, as viewers do), or the
    MediaBox, turned clockwise by /Rotate.
    """
    media = _rectangle(_inherited(page, "/MediaBox")) or (0.0, 0.0, 612.0, 792.0)
    box = media
    crop = _rectangle(_inherited(page, "/CropBox"))
    if crop is not None:
        clipped = (max(crop[0], media[0]), max(crop[1], media[1]), min(crop[2], media[2]), min(crop[3], media[3]))
        if clipped[0] < clipped[2] and clipped[1] < clipped[3]:
            box = clipped
    x0, y0, x1, y1 = box
    width, height = x1 - x0, y1 - y0
    rotation = _rotation(_inherited(page, "/Rotate"))
    if rotation == 90:
        return (0.0, 1.0, -1.0, 0.0, x1, y0), height, width
    if rotation == 180:
        return (-1.0, 0.0, 0.0, -1.0, x1, y1), width, height
    if rotation == 270:
        return (0.0, -1.0, 1.0, 0.0, x0, y1), height, width
    return (1.0, 0.0, 0.0, 1.0, x0, y0), width, height


def _then(first: Matrix, second: Matrix) -> Matrix:
    """The matrix applying `first`, then `second` (PDF's `first x second`)."""
    a1, b1, c1, d1, e1, f1 = first
    a2, b2, c2, d2, e2, f2 = second
    return (
        a1 * a2 + b1 * c2,
        a1 * b2 + b1 * d2,
        c1 * a2 + d1 * c2,
        c1 * b2 + d1 * d2,
        e1 * a2 + f1 * c2 + e2,
        e1 * b2 + f1 * d2 + f2,
    )


def _rotation_about(angle: float, x: float, y: float) -> Matrix:
    """Counter-clockwise rotation (y up) by `angle` radians about (x, y)."""
    cos, sin = math.cos(angle), math.sin(angle)
    return (cos, sin, -sin, cos, x - cos * x + sin * y, y - sin * x - cos * y)


def _unskew(hull_width: float, hull_height: float, angle: float) -> tuple[float, float]:
    """Width and height of a rectangle whose axis-aligned hull, turned by `angle`, is the given one.

    hull_w = w cos + h sin and hull_h = w sin + h cos; solved for w and h, and kept within
    sane bounds where rounding of small boxes would make them tiny or negative.
    """
    cos, sin = abs(math.cos(angle)), abs(math.sin(angle))
    if sin < 1e-6 or math.degrees(abs(angle)) % 180 > _MAX_UNSKEW_DEGREES:
        return hull_width, hull_height
    determinant = cos * cos - sin * sin
    width = (hull_width * cos - hull_height * sin) / determinant
    height = (hull_height * cos - hull_width * sin) / determinant
    return (
        min(hull_width, max(width, hull_width * 0.05)),
        min(hull_height, max(height, hull_height * 0.05)),
    )


# --- The glyphless font --------------------------------------------------------------------


@lru_cache(maxsize=1)
def _font_program() -> bytes:
    """A TrueType font whose one glyph (after .notdef) paints nothing, built once per process."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    builder = FontBuilder(unitsPerEm=1000, isTTF=True)
    builder.updateHead(created=0, modified=0)  # the same bytes on every run
    # The glyph's one contour is a line from corner to corner of its box: it encloses nothing,
    # so nothing is painted even if the render mode is ignored, yet its bounding box is the
    # glyph's full cell. pdfium needs that: it drops text objects whose glyph boxes have no
    # width on the page (a one-letter word, or any word on a page turned by 90 degrees).
    pen = TTGlyphPen(None)
    pen.moveTo((0, _DESCENT))
    pen.lineTo((_ADVANCE, _ASCENT))
    pen.closePath()
    builder.setupGlyphOrder([".notdef", "blank"])
    builder.setupCharacterMap({})
    builder.setupGlyf({".notdef": TTGlyphPen(None).glyph(), "blank": pen.glyph()})
    builder.setupHorizontalMetrics({".notdef": (_ADVANCE, 0), "blank": (_ADVANCE, 0)})
    builder.setupHorizontalHeader(ascent=_ASCENT, descent=_DESCENT)
    builder.setupNameTable({"familyName": FONT_NAME, "styleName": "Regular", "psName": FONT_NAME})
    builder.setupOS2(
        sTypoAscender=_ASCENT,
        sTypoDescender=_DESCENT,
        sTypoLineGap=0,
        usWinAscent=_ASCENT,
        usWinDescent=-_DESCENT,
        xAvgCharWidth=_ADVANCE,
    )
    builder.setupPost()
    output = io.BytesIO()
    builder.save(output)
    return output.getvalue()


class _GlyphlessFont:
    """The font shared by every page of one document, and the codes its text is written in.

    A BMP character is written as its own code point; a character beyond the BMP gets one of
    the codes D800..DFFF (U+FFFD once they run out). The ToUnicode map is written by `finish`,
    once every page's text has been encoded.
    """

    def __init__(self, pdf: pikepdf.Pdf) -> None:
        self._extra: dict[int, int] = {}
        program = _font_program()
        font_file = pikepdf.Stream(pdf, program)
        font_file.Length1 = len(program)
        descriptor = Dictionary(
            Type=Name.FontDescriptor,
            FontName=Name("/" + FONT_NAME),
            Flags=5,  # fixed pitch, symbolic
            FontBBox=[0, _DESCENT, _ADVANCE, _ASCENT],
            ItalicAngle=0,
            Ascent=_ASCENT,
            Descent=_DESCENT,
            CapHeight=_ASCENT,
            StemV=80,
            AvgWidth=_ADVANCE,
            MaxWidth=_ADVANCE,
            MissingWidth=_ADVANCE,
            FontFile2=font_file,
        )
        # Every CID (= code, Identity-H) is drawn with glyph 1, the empty one.
        cid_to_gid = pikepdf.Stream(pdf, b"\x00\x01" * 65536)
        descendant = Dictionary(
            Type=Name.Font,
            Subtype=Name.CIDFontType2,
            BaseFont=Name("/" + FONT_NAME),
            CIDSystemInfo=Dictionary(
                Registry=pikepdf.String("Adobe"), Ordering=pikepdf.String("Identity"), Supplement=0
            ),
            FontDescriptor=pdf.make_indirect(descriptor),
            DW=_ADVANCE,
            CIDToGIDMap=cid_to_gid,
        )
        self._to_unicode = pikepdf.Stream(pdf, b"")
        self.font = pdf.make_indirect(
            Dictionary(
                Type=Name.Font,
                Subtype=Name.Type0,
                BaseFont=Name("/" + FONT_NAME),
                Encoding=Name("/Identity-H"),
                DescendantFonts=[pdf.make_indirect(descendant)],
                ToUnicode=self._to_unicode,
            )
        )

    def encode(self, text: str) -> list[int]:
        codes = []
        for character in text:
            point = ord(character)
            if point < 0x20 or 0x7F <= point < 0xA0:
                point = 0x20  # control characters: a space
            elif 0xD800 <= point <= 0xDFFF:
                point = _REPLACEMENT  # a lone surrogate is no character
            elif point > 0xFFFF:
                point = self._extra_code(point)
            codes.append(point)
        return codes

    def _extra_code(self, point: int) -> int:
        code = self._extra.get(point)
        if code is None:
            code = _FIRST_EXTRA_CODE + len(self._extra)
            if code > _LAST_EXTRA_CODE:
                return _REPLACEMENT
            self._extra[point] = code
        return code

    def finish(self) -> None:
        self._to_unicode.write(_to_unicode_cmap(self._extra))


def _to_unicode_cmap(extra: dict[int, int]) -> bytes:
    """Every 2-byte code to itself, but D800..DFFF to the characters beyond the BMP given them."""
    ranges = [f"<{high:02X}00> <{high:02X}FF> <{high:02X}00>" for high in range(256) if not 0xD8 <= high <= 0xDF]
    chars = []
    for point, code in extra.items():
        utf16 = chr(point).encode("utf-16-be").hex().upper()
        chars.append(f"<{code:04X}> <{utf16}>")
    parts = [
        "/CIDInit /ProcSet findresource begin",
        "12 dict begin",
        "begincmap",
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
        "/CMapName /Adobe-Identity-UCS def",
        "/CMapType 2 def",
        "1 begincodespacerange",
        "<0000> <FFFF>",
        "endcodespacerange",
    ]
    for start in range(0, len(ranges), 100):  # at most 100 entries per block
        block = ranges[start : start + 100]
        parts += [f"{len(block)} beginbfrange", *block, "endbfrange"]
    for start in range(0, len(chars), 100):
        block = chars[start : start + 100]
        parts += [f"{len(block)} beginbfchar", *block, "endbfchar"]
    parts += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end", ""]
    return "\n".join(parts).encode("ascii")


# --- Writing a page's layer ----------------------------------------------------------------


def _number(value: float, places: int = 3) -> str:
    text = f"{value:.{places}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


@dataclass
class _Word:
    codes: list[int]
    left: float  # in the deskewed frame, y up
    right: float
    bottom: float
    top: float


def _words(line: dict[str, Any]) -> Iterable[tuple[str, Any]]:
    words = line.get("words")
    if not words:  # a line without words: the line is the word
        words = [line]
    for word in words:
        if isinstance(word, dict):
            text = str(word.get("text") or "").strip()
            if text:
                yield text, word.get("bbox")


def _layout_line(line: dict[str, Any], page: PageText, font: _GlyphlessFont) -> list[_Word]:
    angle = math.radians(page.skew_degrees)
    unturn = _rotation_about(-angle, page.width / 2, page.height / 2)
    placed = []
    for text, bbox in _words(line):
        box = _rectangle(bbox)
        if box is None or box[2] - box[0] <= 0 or box[3] - box[1] <= 0:
            continue
        x0, y0, x1, y1 = box
        width, height = _unskew(x1 - x0, y1 - y0, angle)
        # The hull's centre, y up, turned back into the deskewed frame.
        cx, cy = (x0 + x1) / 2, page.height - (y0 + y1) / 2
        a, b, c, d, e, f = unturn
        ux, uy = a * cx + c * cy + e, b * cx + d * cy + f
        codes = font.encode(text)
        placed.append(_Word(codes, ux - width / 2, ux + width / 2, uy - height / 2, uy + height / 2))
    return placed


def _line_operators(words: list[_Word], font_name: str) -> list[str]:
    bottom = min(word.bottom for word in words)
    size = max(word.top for word in words) - bottom
    if size < _MIN_FONT_SIZE:
        return []
    baseline = _number(bottom + _BASELINE * size)
    advance = size * _ADVANCE / 1000  # of one code at Tz 100
    out = ["BT", f"/{font_name} {_number(size)} Tf"]
    for position, word in enumerate(words):
        hexcodes = "".join(f"{code:04X}" for code in word.codes)
        # A space ends every word but the line's last, in the word's own string: a space shown
        # on its own is a one-character text object, whose direction pdfium guesses from the
        # rest of the page (and on a page turned by 90 degrees, guesses wrong: a line break).
        space = "0020" if position + 1 < len(words) else ""
        scale = 100 * (word.right - word.left) / (advance * len(word.codes))
        out.append(f"1 0 0 1 {_number(word.left)} {baseline} Tm {_number(scale)} Tz <{hexcodes}{space}> Tj")
    out.append("ET")
    return out


def _add_page_layer(pdf: pikepdf.Pdf, page: pikepdf.Page, text: PageText, font: _GlyphlessFont) -> None:
    if text.rotation is not None:
        page.obj.Rotate = text.rotation % 360
    lines = [words for words in (_layout_line(line, text, font) for line in text.lines) if words]
    if not lines:
        return
    font_name = _add_font_resource(page.obj, font.font)
    to_user, width, height = _page_geometry(page.obj)
    matrix = _then(
        _then(
            _rotation_about(math.radians(text.skew_degrees), text.width / 2, text.height / 2),
            (width / text.width, 0.0, 0.0, height / text.height, 0.0, 0.0),
        ),
        to_user,
    )
    operators = ["q", " ".join(_number(value, 6) for value in matrix) + " cm", "3 Tr"]
    for words in lines:
        operators += _line_operators(words, font_name)
    operators += ["Q", ""]
    page.contents_add(pikepdf.Stream(pdf, "\n".join(operators).encode("ascii")), prepend=True)


class _Overlays:
    """Draws engine-made text pages over pages, sharing one copy of each identical font."""

    def __init__(self, pdf: pikepdf.Pdf) -> None:
        self.pdf = pdf
        self.fonts: dict[bytes, pikepdf.Object] = {}

    def add(self, page: pikepdf.Page, overlay: PageOverlay) -> None:
        if overlay.rotation is not None:
            page.obj.Rotate = overlay.rotation % 360
        try:
            with pikepdf.open(io.BytesIO(overlay.pdf)) as layer:
                if len(layer.pages) != 1:
                    raise ValueError("a text layer overlay must have exactly one page")
                form = self.pdf.copy_foreign(layer.pages[0].as_form_xobject())
        except pikepdf.PdfError as error:
            raise ValueError(f"the engine's text layer could not be read: {error}") from error
        self._share_fonts(form)
        box: Any = form.BBox
        left, bottom, right, top = (float(box[i]) for i in range(4))
        form_width, form_height = right - left, top - bottom
        if form_width <= 0 or form_height <= 0:
            return
        to_user, width, height = _page_geometry(page.obj)
        matrix = _then(
            _then(
                (
                    width / form_width,
                    0.0,
                    0.0,
                    height / form_height,
                    -left * width / form_width,
                    -bottom * height / form_height,
                ),
                _rotation_about(math.radians(overlay.skew_degrees), width / 2, height / 2),
            ),
            to_user,
        )
        resources = _own_resources(page.obj)
        if "/XObject" not in resources:
            resources.XObject = Dictionary()
        elif resources.XObject.is_indirect:
            resources.XObject = _shallow_copy(resources.XObject)
        xobjects: Any = resources.XObject
        name = _free_name(xobjects, "/OCRText")
        xobjects[name] = form
        operators = ["q", " ".join(_number(value, 6) for value in matrix) + " cm", f"{name} Do", "Q", ""]
        page.contents_add(pikepdf.Stream(self.pdf, "\n".join(operators).encode("ascii")), prepend=True)

    def _share_fonts(self, form: pikepdf.Object) -> None:
        """Every page's copy of the engine's font is the same bytes: keep one (a smaller file)."""
        fonts: Any = form.get("/Resources", Dictionary()).get("/Font", Dictionary())  # type: ignore[union-attr]
        for key in list(fonts.keys()):
            font = fonts[key]
            fingerprint = hashlib.sha256(repr(_font_identity(font)).encode()).digest()
            if fingerprint in self.fonts:
                fonts[key] = self.fonts[fingerprint]
            else:
                self.fonts[fingerprint] = font


def _font_identity(font: Any, depth: int = 0) -> Any:
    """A font's content, streams by their bytes, to tell identical copies apart from different fonts."""
    if depth > 6:
        return None
    if isinstance(font, pikepdf.Stream):
        return (
            hashlib.sha256(font.read_raw_bytes()).hexdigest(),
            _font_identity(font.stream_dict, depth + 1),
        )
    if isinstance(font, Dictionary):
        keys = [key for key in list(font.keys()) if key != "/Parent"]
        return tuple(sorted((str(key), _font_identity(font[key], depth + 1)) for key in keys))
    if isinstance(font, pikepdf.Array):
        items: Any = font
        return tuple(_font_identity(items[i], depth + 1) for i in range(len(items)))
    return str(font)


def _free_name(dictionary: Dictionary, stem: str) -> str:
    name, number = stem, 0
    while name in dictionary:
        number += 1
        name = f"{stem}{number}"
    return name


def _own_resources(page: Dictionary) -> Dictionary:
    """The page's /Resources as a dictionary of its own, copied from a shared or inherited one."""
    resources = page.get("/Resources")
    if isinstance(resources, Dictionary) and not resources.is_indirect:
        return resources
    if resources is None:
        resources = _inherited(page.get("/Parent"), "/Resources")
    page.Resources = _shallow_copy(resources)
    return page.Resources


def _shallow_copy(dictionary: Any) -> Dictionary:
    copy = Dictionary()
    if isinstance(dictionary, Dictionary):
        for key, value in dictionary.items():
            copy[key] = value
    return copy


def _add_font_resource(page: Dictionary, font: pikepdf.Object) -> str:
    """Put the font in the page's own font resources under a free name, and return the name."""
    resources = _own_resources(page)
    fonts = _shallow_copy(resources.get("/Font"))
    name = "OCRText"
    number = 0
    while f"/{name}" in fonts and fonts[f"/{name}"].objgen != font.objgen:
        number += 1
        name = f"OCRText{number}"
    fonts[f"/{name}"] = font
    resources.Font = fonts
    return name


# --- Removing an earlier invisible text layer ----------------------------------------------

_SHOW_TEXT = {"Tj", "TJ"}
# Operators after which where the next text goes no longer depends on the text shown before.
_NEW_POSITION = {"BT", "ET", "Td", "TD", "T*", "Tm", "'", '"'}
_INVISIBLE = 3
_MAX_FORM_DEPTH = 32  # Form XObjects nested deeper than this are left as they are


def _instruction(operands: list[Any], operator: str) -> pikepdf.ContentStreamInstruction:
    return pikepdf.ContentStreamInstruction(operands, pikepdf.Operator(operator))


class _InvisibleTextRemover:
    """Drops text shown in render mode 3 from pages' content and the Form XObjects they draw.

    Render mode is graphics state: it is followed through q/Q (not reset by BT/ET), and into a
    Form XObject with the mode at its `Do`. Showing text moves the text position, so an
    invisible show is only dropped when no visible text follows it before the position is set
    anew (Td, TD, T*, Tm, ', ", BT, ET); ' and " keep their line move (and " its spacings).
    A Form XObject that changes is replaced by a copy (one per form and entry render mode)
    bound in the drawing page's or form's own resources: the original is never modified, so
    pages outside the set that share it are untouched.
    """

    def __init__(self, pdf: pikepdf.Pdf) -> None:
        self.pdf = pdf
        self.forms: dict[tuple[tuple[int, int], int], pikepdf.Object] = {}
        self.in_progress: set[tuple[tuple[int, int], int]] = set()

    def remove(self, indexes: Iterable[int]) -> None:
        for index in indexes:
            page = self.pdf.pages[index].obj
            resources = _inherited(page, "/Resources")
            try:
                operations = pikepdf.parse_content_stream(page)
            except pikepdf.PdfError as error:
                log.warning("page %d: content not parsed, its invisible text is kept: %s", index + 1, error)
                continue
            filtered, changed, rebound = self._filter(operations, resources, 0)
            if rebound:
                own = _own_resources(page)
                own.XObject = _rebind(own.get("/XObject"), rebound)
            if changed:
                page.Contents = self.pdf.make_stream(pikepdf.unparse_content_stream(filtered))

    def _filter(
        self, operations: list[Any], resources: Any, mode: int
    ) -> tuple[list[Any], bool, dict[str, pikepdf.Object]]:
        """The operations without invisible text, whether that changed them, and the XObjects to rebind."""
        out: list[Any] = list(operations)
        changed = False
        stack: list[int] = []
        pending: list[tuple[int, list[Any]]] = []  # invisible shows, and what replaces each

        def commit() -> None:
            nonlocal changed
            for position, replacement in pending:
                out[position] = replacement
                changed = True
            pending.clear()

        bindings: dict[str, pikepdf.Object] = {}  # what each XObject name drawn here must draw
        for position, instruction in enumerate(operations):
            operator = str(instruction.operator)
            if operator in _NEW_POSITION:
                commit()
            if operator == "q":
                stack.append(mode)
            elif operator == "Q":
                if stack:
                    mode = stack.pop()
            elif operator == "Tr":
                mode = _render_mode(instruction.operands, mode)
            elif operator in _SHOW_TEXT or operator in ("'", '"'):
                if mode != _INVISIBLE:
                    pending.clear()  # visible text follows them: they keep their place
                elif operator == "'":
                    pending.append((position, [_instruction([], "T*")]))
                elif operator == '"':
                    operands = list(instruction.operands)
                    keep = [
                        _instruction([operands[0]], "Tw"),
                        _instruction([operands[1]], "Tc"),
                        _instruction([], "T*"),
                    ]
                    pending.append((position, keep if len(operands) == 3 else [instruction]))
                else:
                    pending.append((position, []))
            elif operator == "Do":
                renamed = self._draw_form(instruction, resources, mode, bindings)
                if renamed is not None:
                    out[position] = renamed
                    changed = True
        commit()
        flat: list[Any] = []
        for item in out:
            if isinstance(item, list):
                flat += item
            else:
                flat.append(item)
        xobjects = resources.get("/XObject") if isinstance(resources, Dictionary) else None
        rebound = {
            name: xobject
            for name, xobject in bindings.items()
            if not isinstance(xobjects, Dictionary) or name not in xobjects or xobjects[name].objgen != xobject.objgen
        }
        return flat, changed, rebound

    def _draw_form(
        self, instruction: Any, resources: Any, mode: int, bindings: dict[str, pikepdf.Object]
    ) -> pikepdf.ContentStreamInstruction | None:
        """Follow a `Do` into its Form XObject; the instruction to use instead if it needs a new name."""
        operands = list(instruction.operands)
        if len(operands) != 1 or not isinstance(operands[0], Name) or not isinstance(resources, Dictionary):
            return None
        xobjects = resources.get("/XObject")
        name = str(operands[0])
        if not isinstance(xobjects, Dictionary) or name not in xobjects:
            return None
        form = xobjects[name]
        if not isinstance(form, pikepdf.Stream) or form.get("/Subtype") != Name.Form:
            return None
        replacement = self._form(form, resources, mode)
        if bindings.setdefault(name, replacement).objgen == replacement.objgen:
            return None
        # The same name drawn in two render modes, so as two different forms: one gets a new name.
        for alias, bound in bindings.items():
            if alias.startswith(f"{name}_") and bound.objgen == replacement.objgen:
                return _instruction([Name(alias)], "Do")
        number = 1
        while f"{name}_{number}" in xobjects or f"{name}_{number}" in bindings:
            number += 1
        bindings[f"{name}_{number}"] = replacement
        return _instruction([Name(f"{name}_{number}")], "Do")

    def _form(self, form: pikepdf.Stream, caller_resources: Any, mode: int) -> pikepdf.Object:
        key = (form.objgen, mode)
        if key in self.forms:
            return self.forms[key]
        if key in self.in_progress or len(self.in_progress) >= _MAX_FORM_DEPTH:  # drawing itself, or too deep
            return form
        self.in_progress.add(key)
        try:
            own_resources = form.get("/Resources")
            resources = own_resources if isinstance(own_resources, Dictionary) else caller_resources
            replacement: pikepdf.Object = form
            try:
                operations = pikepdf.parse_content_stream(form)
            except pikepdf.PdfError as error:
                log.warning("form XObject %s: content not parsed, its invisible text is kept: %s", form.objgen, error)
            else:
                filtered, changed, rebound = self._filter(operations, resources, mode)
                if changed or rebound:
                    replacement = self._copy_form(form, pikepdf.unparse_content_stream(filtered) if changed else None)
                if rebound:
                    copied = _shallow_copy(resources)
                    copied.XObject = _rebind(copied.get("/XObject"), rebound)
                    replacement.Resources = copied
            self.forms[key] = replacement
            return replacement
        finally:
            self.in_progress.discard(key)

    def _copy_form(self, form: pikepdf.Stream, content: bytes | None) -> pikepdf.Stream:
        """A new Form XObject like `form`, drawing `content` (or the same content, still encoded)."""
        copy = pikepdf.Stream(self.pdf, content or b"")
        if content is None:
            copy.write(
                form.read_raw_bytes(),
                filter=form.get("/Filter"),  # type: ignore[arg-type]
                decode_parms=form.get("/DecodeParms"),  # type: ignore[arg-type]
            )
        for key, value in form.items():
            if key not in ("/Length", "/Filter", "/DecodeParms", "/DL"):
                copy[key] = value
        return copy


def _rebind(xobjects: Any, rebound: dict[str, pikepdf.Object]) -> Dictionary:
    """A copy of an /XObject resource dictionary with some names bound to other objects."""
    copy = _shallow_copy(xobjects)
    for name, xobject in rebound.items():
        copy[name] = xobject
    return copy


def _render_mode(operands: Any, current: int) -> int:
    try:
        return int(operands[0])
    except (TypeError, ValueError, IndexError):
        return current
