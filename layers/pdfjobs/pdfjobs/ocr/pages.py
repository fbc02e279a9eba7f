"""One PDF page through OCR: decide whether it needs it, render it, turn it upright, measure its
skew, recognise it, and give the words back in page coordinates.

`recognize_page` runs inside an isolated worker (`pdfjobs.isolation`), one call per page, so
every page is bounded by its own time and memory limits.
"""

from __future__ import annotations

import base64
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pdfjobs import errors
from pdfjobs.pdf.document import open_pdf

if TYPE_CHECKING:
    import pypdfium2 as pdfium
    from PIL.Image import Image

MODES = ("skip", "redo", "force")
# Tesseract (Leptonica) cannot hold an image side longer than this.
_MAX_SIDE_PIXELS = 32_000
# When the page's images state no useful resolution, and the bounds for what they state:
# below 150 dpi Tesseract misses small print; above 600 it only gets slower.
_AUTO_DPI_RANGE = (150, 600)
_MIN_DPI = 30
# Tesseract's orientation confidence below which a page is not turned (OCRmyPDF uses 14 too).
ORIENTATION_CONFIDENCE = 14.0
_TRANSPOSE_FOR_CLOCKWISE = {90: "ROTATE_270", 180: "ROTATE_180", 270: "ROTATE_90"}


@dataclass(frozen=True)
class OcrOptions:
    languages: tuple[str, ...] = ("eng",)
    mode: str = "skip"  # skip | redo | force: what to do with pages that already have text
    deskew: bool = False
    rotate_pages: bool = False
    dpi: int | None = None  # None: from the page's images
    default_dpi: int = 300
    max_page_pixels: int = 80_000_000
    timeout: float = 180.0
    password: str | None = None
    # Also have the engine draw the page's invisible text layer (for searchable PDFs).
    text_layer: bool = False


@dataclass(frozen=True)
class _Rendered:
    image: Image
    dpi: int
    width: float  # displayed page size in points
    height: float
    rotation: int


def recognize_page(path: str, number: int, options: OcrOptions) -> dict[str, Any]:
    """The OCR page dict (see `pdfjobs.ocr`) for 1-based page `number` of the PDF at `path`."""
    from pdfjobs.engines import tesseract

    tesseract.check_languages(options.languages)  # before any rendering: a clear 400-style error
    with open_pdf(path, options.password) as document:
        if not 1 <= number <= len(document):
            raise errors.PageOutOfRange(f"Page {number} is not in the document, which has {len(document)} pages.")
        page = document[number - 1]
        visible, invisible = _text_on_page(page)
        if not needs_ocr(options.mode, visible, invisible):
            return _skipped_page(page, number)
        rendered = _render(page, options)
    # Past here no pdfium call: the document is closed and its lock released.
    page_dict = _recognize(rendered, options)
    # Whatever invisible text the page had is an earlier OCR layer, and the new one replaces it.
    page_dict.update(page=number, source="ocr", replacesText=invisible)
    return page_dict


def plan_pages(path: str, numbers: list[int], options: OcrOptions) -> list[dict[str, Any]]:
    """For engines that read pages elsewhere (Textract): each page either as skipped (with its
    text), or as the facts the engine's answer is mapped onto (`source: "pending"`)."""
    planned = []
    with open_pdf(path, options.password) as document:
        for number in numbers:
            if not 1 <= number <= len(document):
                raise errors.PageOutOfRange(f"Page {number} is not in the document, which has {len(document)} pages.")
            page = document[number - 1]
            visible, invisible = _text_on_page(page)
            if not needs_ocr(options.mode, visible, invisible):
                planned.append(_skipped_page(page, number))
                continue
            width, height = page.get_size()
            planned.append(
                {
                    "page": number,
                    "width": round(width, 2),
                    "height": round(height, 2),
                    "rotation": page.get_rotation(),
                    "source": "pending",
                    "replacesText": invisible,
                }
            )
    return planned


# -- deciding ------------------------------------------------------------------------------------
def needs_ocr(mode: str, visible: bool, invisible: bool) -> bool:
    """skip: only pages without any text; redo: also pages whose only text is an OCR layer; force: all."""
    if mode == "force":
        return True
    if mode == "redo":
        return not visible
    return not (visible or invisible)


def _text_on_page(page: pdfium.PdfPage) -> tuple[bool, bool]:
    """(has visible text, has invisible text): render mode 3 text is what OCR layers are made of."""
    import pypdfium2.raw as pdfium_c

    visible = invisible = False
    for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_TEXT,), max_depth=8):
        mode = pdfium_c.FPDFTextObj_GetTextRenderMode(obj.raw)
        if mode == pdfium_c.FPDF_TEXTRENDERMODE_INVISIBLE:
            invisible = True
        else:
            visible = True
        if visible and invisible:
            break
    return visible, invisible


def _skipped_page(page: pdfium.PdfPage, number: int) -> dict[str, Any]:
    """A page left as it is: its existing text, as lines of words, so results cover every page."""
    from pdfjobs.ocr.existing_text import page_lines

    width, height = page.get_size()
    lines = page_lines(page)
    return {
        "page": number,
        "width": round(width, 2),
        "height": round(height, 2),
        "rotation": page.get_rotation(),
        "source": "text",
        "text": "\n".join(line["text"] for line in lines),
        "lines": lines,
    }


# -- rendering -----------------------------------------------------------------------------------
def page_dpi(page: pdfium.PdfPage, options: OcrOptions) -> int:
    """The resolution to render at: as asked, else the finest image on the page, bounded by the pixel limit."""
    width, height = page.get_size()
    dpi = options.dpi or _images_dpi(page) or options.default_dpi
    if not options.dpi:
        dpi = min(max(dpi, _AUTO_DPI_RANGE[0]), _AUTO_DPI_RANGE[1])
    pixels = (width * dpi / 72) * (height * dpi / 72)
    if pixels > options.max_page_pixels:
        dpi = int(dpi * math.sqrt(options.max_page_pixels / pixels))
    longest = max(width, height) * dpi / 72
    if longest > _MAX_SIDE_PIXELS:
        dpi = int(dpi * _MAX_SIDE_PIXELS / longest)
    if dpi < _MIN_DPI:
        raise errors.PageTooLarge(
            f"The page measures {width:.0f} x {height:.0f} points: even at {_MIN_DPI} dpi it would exceed "
            f"the limit of {options.max_page_pixels} pixels.",
            details={"limit": options.max_page_pixels},
        )
    return int(dpi)


def _images_dpi(page: pdfium.PdfPage) -> int | None:
    """The highest resolution at which an image on the page is shown, if any image states one."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    best = 0.0
    for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=8):
        try:
            metadata = obj.get_metadata()
        except pdfium.PdfiumError:
            continue  # an unreadable image states no resolution; the others may
        # An image drawn turned by 90 degrees gets its two resolutions crossed; their geometric mean
        # is right either way.
        best = max(best, math.sqrt(max(float(metadata.horizontal_dpi), 0.0) * max(float(metadata.vertical_dpi), 0.0)))
    return round(best) if best >= 1 else None


def _render(page: pdfium.PdfPage, options: OcrOptions) -> _Rendered:
    dpi = page_dpi(page, options)
    width, height = page.get_size()
    # A hair under dpi/72: pypdfium2 rounds the bitmap size up, and 792 pt at 300 dpi must be
    # 3300 rows, not 3301 (a one-row shift changes what Tesseract reads, and pixels must match
    # what other renderers make of the page).
    bitmap = page.render(scale=dpi / 72 * (1 - 1e-9), grayscale=True)
    try:
        image = bitmap.to_pil().convert("L")  # a copy: the bitmap's buffer is freed below
    finally:
        bitmap.close()
    return _Rendered(image=image, dpi=dpi, width=width, height=height, rotation=page.get_rotation())


# -- recognising -------------------------------------------------------------------------------
def _recognize(rendered: _Rendered, options: OcrOptions) -> dict[str, Any]:
    from PIL import Image as PILImage

    from pdfjobs.engines import tesseract
    from pdfjobs.ocr.deskew import estimate_skew

    image, width, height = rendered.image, rendered.width, rendered.height
    turn = 0
    with tempfile.TemporaryDirectory(prefix="pdfjobs-ocr-") as workdir:
        image_path = os.path.join(workdir, "page.pgm")  # uncompressed: Tesseract reads it fastest
        if options.rotate_pages:
            image.save(image_path)
            found = tesseract.detect_orientation(image_path, options.timeout)
            if found is not None and found.rotate and found.confidence >= ORIENTATION_CONFIDENCE:
                turn = found.rotate
                image = image.transpose(getattr(PILImage.Transpose, _TRANSPOSE_FOR_CLOCKWISE[turn]))
                if turn in (90, 270):
                    width, height = height, width
        skew = estimate_skew(image) if options.deskew else 0.0
        straight = image.rotate(-skew, resample=PILImage.Resampling.BILINEAR, fillcolor=255) if skew else image
        straight.save(image_path)
        result = tesseract.recognize(
            image_path, options.languages, rendered.dpi, options.timeout, text_layer=options.text_layer
        )
    to_points = _PixelsToPoints(image.width, image.height, width, height, skew)
    lines = []
    for line in result["lines"]:
        words = [
            {"text": word["text"], "bbox": to_points(word["bbox"]), "confidence": word["confidence"]}
            for word in line["words"]
        ]
        lines.append(
            {
                "text": line["text"],
                "bbox": _hull([word["bbox"] for word in words]),
                "confidence": round(sum(w["confidence"] for w in words) / len(words), 2),
                "words": words,
            }
        )
    page = {
        "width": round(width, 2),
        "height": round(height, 2),
        "rotation": (rendered.rotation + turn) % 360,
        "dpi": rendered.dpi,
        "orientationCorrection": turn,
        "skewDegrees": skew,
        "text": result["text"],
        "lines": lines,
    }
    if "textLayerPdf" in result:
        # Internal to the job (Assemble lays it over the page); never part of a result.
        page["textLayerPdf"] = base64.b64encode(result["textLayerPdf"]).decode("ascii")
    return page


class _PixelsToPoints:
    """Maps a box found on the straightened image back onto the page as displayed, in points."""

    def __init__(self, pixel_width: int, pixel_height: int, width: float, height: float, skew: float) -> None:
        self.cx, self.cy = pixel_width / 2, pixel_height / 2
        self.sx, self.sy = width / pixel_width, height / pixel_height
        self.width, self.height = width, height
        self.cos, self.sin = math.cos(math.radians(skew)), math.sin(math.radians(skew))
        self.skewed = skew != 0

    def __call__(self, box: list[float]) -> list[float]:
        x0, y0, x1, y1 = box
        if self.skewed:
            # The straightened image is the page turned by -skew: turn the corners back by +skew.
            corners = [self._turn(x, y) for x, y in ((x0, y0), (x1, y0), (x0, y1), (x1, y1))]
            x0, y0 = min(c[0] for c in corners), min(c[1] for c in corners)
            x1, y1 = max(c[0] for c in corners), max(c[1] for c in corners)
        return [
            round(min(max(x0 * self.sx, 0.0), self.width), 2),
            round(min(max(y0 * self.sy, 0.0), self.height), 2),
            round(min(max(x1 * self.sx, 0.0), self.width), 2),
            round(min(max(y1 * self.sy, 0.0), self.height), 2),
        ]

    def _turn(self, x: float, y: float) -> tuple[float, float]:
        # Counter-clockwise as seen on screen, where y grows downwards.
        dx, dy = x - self.cx, y - self.cy
        return self.cx + dx * self.cos + dy * self.sin, self.cy - dx * self.sin + dy * self.cos


def _hull(boxes: list[list[float]]) -> list[float]:
    return [
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    ]


def render_page_image(path: str, number: int, options: OcrOptions, destination: str) -> dict[str, Any]:
    """Renders a page as PNG for an engine that takes images (Textract); returns its size facts."""
    with open_pdf(path, options.password) as document:
        page = document[number - 1]
        rendered = _render(page, options)
    rendered.image.save(destination, format="PNG", optimize=False)
    return {
        "width": rendered.width,
        "height": rendered.height,
        "rotation": rendered.rotation,
        "dpi": rendered.dpi,
        "bytes": Path(destination).stat().st_size,
    }
