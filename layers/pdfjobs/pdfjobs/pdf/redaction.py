"""Redaction that removes what it hides, and a check that nothing of it survives.

A page with something to redact is *rebuilt*: pdfium renders it as displayed (without its
annotations), the redaction boxes are painted solid black on the pixels, and the page's whole
content is replaced by that one image, over an invisible text layer of the page's words that
were not redacted (`pdfjobs.pdf.text_layer`). Nothing of the old page survives: its content
streams, fonts, images, annotations, thumbnail and page-level metadata are dropped, and a fresh
file is written (no incremental update, unencrypted), so they are not in the output at all.
Pages without redactions are left as they are.

The document is cleaned too, of every place the redacted strings (`targets`, matched without
regard to case) can hide outside page content: the document information and XMP metadata,
annotations, form field values and appearances, bookmark titles, embedded files, JavaScript
and document actions. A structure tree (tagged PDF) is dropped once a page is rebuilt: it
describes content that is gone, and its alternate texts can repeat what was redacted.

`surviving_targets` checks a file with independent extractors (pdfium, poppler's pdftotext,
pypdf and a search of the fully decompressed file) and names the targets any of them finds.
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
import subprocess
import tempfile
import unicodedata
import zlib
from collections.abc import Iterable, Sequence
from typing import Any

import pikepdf
from pikepdf import Dictionary, Name

from pdfjobs.pdf.document import open_pdf
from pdfjobs.pdf.text_layer import PageText, add_text_layer

log = logging.getLogger(__name__)

REDACTED = "[REDACTED]"
_IMAGE_NAME = "/Redacted"
# Boxes are grown by this many pixels on every side: anti-aliased glyph edges reach past them.
_PAD_PIXELS = 1
# More distinct colours than this and the page is taken for a photograph (JPEG), else Flate.
_MAX_FLATE_COLOURS = 4096
_JPEG_QUALITY = 85
_MAX_WALK_DEPTH = 24  # object graphs nested deeper than this are searched no further
_PDFTOTEXT_TIMEOUT = 120
# Page keys that carry or describe the old content, none of which a rebuilt page keeps.
_OLD_PAGE_KEYS = (
    "/Annots",
    "/CropBox",
    "/BleedBox",
    "/TrimBox",
    "/ArtBox",
    "/Thumb",
    "/PieceInfo",
    "/Metadata",
    "/StructParents",
    "/B",
    "/AA",
    "/Group",
    "/SeparationInfo",
    "/VP",
    "/Tabs",
    "/UserUnit",
)


def redact_pdf(
    source: str,
    destination: str,
    pages: list[dict[str, Any]],
    targets: list[str],
    *,
    password: str | None = None,
    dpi: int = 200,
    max_pixels: int = 80_000_000,
) -> dict[str, Any]:
    """Write `source` to `destination` with the `pages` rebuilt and the document cleaned of `targets`.

    Each of `pages` is {"page": n (1-based), "width", "height", "boxes": [[x0, y0, x1, y1], ...],
    "lines": [...]}: boxes and lines (the OCR page shape, `pdfjobs.ocr`) in points from the top
    left of the page as displayed, of size width x height; `lines` are the words to keep.
    Returns what was done: {"pagesRasterised", "metadataCleaned", "annotationsRemoved",
    "formFieldsCleared", "bookmarksCleaned", "embeddedFilesRemoved"}.

    Raises PdfPasswordRequired, PdfPasswordIncorrect or PdfInvalid for input that cannot be
    read, PageOutOfRange for a page that is not in the document, ValueError for bad arguments.
    """
    from pdfjobs import errors

    if dpi < 1 or max_pixels < 1:
        raise ValueError("dpi and max_pixels must be positive")
    wanted = _check_pages(pages)
    needles = _needles(targets)
    with open_pdf(source, password) as document:
        page_count = len(document)
        outside = sorted(number for number in wanted if not 1 <= number <= page_count)
        if outside:
            raise errors.PageOutOfRange(
                f"Page {outside[0]} is not in the document (it has {page_count} pages).",
                details={"pageCount": page_count},
            )
        images = {number: _render(document[number - 1], wanted[number], dpi, max_pixels) for number in sorted(wanted)}

    report: dict[str, Any] = {
        "pagesRasterised": sorted(wanted),
        "metadataCleaned": [],
        "annotationsRemoved": 0,
        "formFieldsCleared": 0,
        "bookmarksCleaned": 0,
        "embeddedFilesRemoved": 0,
    }
    texts: list[PageText] = []
    with tempfile.TemporaryDirectory(prefix="pdfjobs-redact-") as workdir:
        intermediate = os.path.join(workdir, "rebuilt.pdf")
        try:
            with _open_pikepdf(source, password) as pdf:
                cleaner = _Cleaner(pdf, needles, report)
                # Before the pages are rebuilt: a rebuilt page's annotations are counted too, and a
                # form field cleared of its value is no annotation that carries a target.
                cleaner.clean_form()
                cleaner.clean_annotations()
                for number, (image, width, height) in images.items():
                    _rebuild_page(pdf, pdf.pages[number - 1], image, width, height, cleaner)
                    entry = wanted[number]
                    texts.append(
                        PageText(
                            number - 1,
                            _scaled_lines(entry.get("lines") or [], width / entry["width"], height / entry["height"]),
                            width,
                            height,
                        )
                    )
                cleaner.clean_document(structure=bool(images))
                pdf.save(
                    intermediate,
                    encryption=False,
                    object_stream_mode=pikepdf.ObjectStreamMode.generate,
                    compress_streams=True,
                )
        except pikepdf.PasswordError:
            raise errors.PdfPasswordIncorrect() from None
        except pikepdf.PdfError as error:
            log.info("qpdf could not read or write the document: %s", error)
            raise errors.PdfInvalid("The document could not be read as a PDF: it is damaged.") from error
        add_text_layer(intermediate, destination, texts)
    return report


def _open_pikepdf(path: str, password: str | None) -> pikepdf.Pdf:
    """Open with the password; a wrong one on a file that needs none (owner password only) is harmless."""
    try:
        return pikepdf.open(path, password=password or "")
    except pikepdf.PasswordError:
        if not password:
            raise
    return pikepdf.open(path)


# --- Arguments ------------------------------------------------------------------------------


def _check_pages(pages: Sequence[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    wanted: dict[int, dict[str, Any]] = {}
    for entry in pages:
        number = entry.get("page")
        if not isinstance(number, int) or isinstance(number, bool):
            raise ValueError(f"page must be an integer, not {number!r}")
        if number in wanted:
            raise ValueError(f"page {number} is given twice")
        width, height = entry.get("width"), entry.get("height")
        if not all(isinstance(value, int | float) and math.isfinite(value) and value > 0 for value in (width, height)):
            raise ValueError(f"page {number}: width and height must be positive numbers")
        for box in entry.get("boxes") or []:
            if len(box) != 4 or not all(isinstance(value, int | float) and math.isfinite(value) for value in box):
                raise ValueError(f"page {number}: a box must be four finite numbers, not {box!r}")
        wanted[number] = entry
    return wanted


def _needles(targets: Iterable[str]) -> list[str]:
    needles = sorted({_normalise(target) for target in targets} - {""})
    return needles


def _normalise(text: str) -> str:
    """Case-folded, NFKC (ligatures split), every run of white space one space."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip().casefold()


def _found(text: str, needles: Iterable[str]) -> list[str]:
    """The needles in `text`, also if white space is lost or added between their words."""
    normal = _normalise(text)
    compact = normal.replace(" ", "")
    return [needle for needle in needles if needle in normal or needle.replace(" ", "") in compact]


def _scaled_lines(lines: list[dict[str, Any]], sx: float, sy: float) -> list[dict[str, Any]]:
    if abs(sx - 1) < 1e-9 and abs(sy - 1) < 1e-9:
        return lines

    def scale(box: Any) -> list[float]:
        return [box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy]

    return [
        {
            **line,
            "bbox": scale(line["bbox"]),
            "words": [{**word, "bbox": scale(word["bbox"])} for word in line["words"]],
        }
        for line in lines
    ]


# --- Rendering ------------------------------------------------------------------------------


def _render(page: Any, entry: dict[str, Any], dpi: int, max_pixels: int) -> tuple[Any, float, float]:
    """The page as displayed with its boxes painted black; its displayed width and height (points)."""
    from PIL import ImageDraw

    width, height = page.get_size()  # as displayed: pdfium turns it by /Rotate
    scale = dpi / 72
    if width * height * scale * scale > max_pixels:
        scale = math.sqrt(max_pixels / (width * height))
        # pypdfium2 rounds the bitmap's size up: shrink until the rounded size fits too.
        while scale > 1e-3 and math.ceil(width * scale) * math.ceil(height * scale) > max_pixels:
            scale *= 0.999
    # Without annotations: a rebuilt page loses them, and their appearance could show a target.
    bitmap = page.render(scale=scale * (1 - 1e-9), may_draw_forms=False, draw_annots=False)
    try:
        image = bitmap.to_pil().convert("RGB")  # a copy: the bitmap's buffer is freed below
    finally:
        bitmap.close()
    # Scale from the caller's page size to the bitmap's pixels.
    sx, sy = image.width / entry["width"], image.height / entry["height"]
    draw = ImageDraw.Draw(image)
    for x0, y0, x1, y1 in entry.get("boxes") or []:
        left, right = sorted((x0 * sx, x1 * sx))
        top, bottom = sorted((y0 * sy, y1 * sy))
        draw.rectangle(
            (
                max(0, math.floor(left) - _PAD_PIXELS),
                max(0, math.floor(top) - _PAD_PIXELS),
                min(image.width - 1, math.ceil(right) + _PAD_PIXELS),
                min(image.height - 1, math.ceil(bottom) + _PAD_PIXELS),
            ),
            fill=(0, 0, 0),
        )
    return image, width, height


def _image_stream(pdf: pikepdf.Pdf, image: Any) -> pikepdf.Stream:
    """An image XObject: Flate for text-like pages (few colours), JPEG for photographs."""
    import io

    from PIL import ImageChops

    red, green, blue = image.split()
    if ImageChops.difference(red, green).getbbox() is None and ImageChops.difference(red, blue).getbbox() is None:
        image, colour_space = red, Name.DeviceGray
    else:
        colour_space = Name.DeviceRGB
    if image.getcolors(maxcolors=_MAX_FLATE_COLOURS) is not None:
        data, filter_ = zlib.compress(image.tobytes(), 6), Name.FlateDecode
    else:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=_JPEG_QUALITY)
        data, filter_ = buffer.getvalue(), Name.DCTDecode
    stream = pikepdf.Stream(pdf, data)
    stream.Type = Name.XObject
    stream.Subtype = Name.Image
    stream.Width = image.width
    stream.Height = image.height
    stream.ColorSpace = colour_space
    stream.BitsPerComponent = 8
    stream.Filter = filter_
    return stream


def _rebuild_page(
    pdf: pikepdf.Pdf, page: pikepdf.Page, image: Any, width: float, height: float, cleaner: _Cleaner
) -> None:
    """Replace the page's content by the image, at its displayed size, unrotated."""
    obj = page.obj
    cleaner.forget_annotations(obj.get("/Annots"))
    for key in _OLD_PAGE_KEYS:
        if key in obj:
            del obj[key]
    obj.MediaBox = pikepdf.Array([0, 0, width, height])
    obj.Rotate = 0
    obj.Resources = Dictionary(XObject=Dictionary({_IMAGE_NAME: _image_stream(pdf, image)}))
    content = f"q {width:.4f} 0 0 {height:.4f} 0 0 cm {_IMAGE_NAME} Do Q\n".encode("ascii")
    obj.Contents = pdf.make_stream(content)


# --- Cleaning the document ------------------------------------------------------------------


class _Cleaner:
    def __init__(self, pdf: pikepdf.Pdf, needles: list[str], report: dict[str, Any]) -> None:
        self.pdf = pdf
        self.needles = needles
        self.report = report
        self.removed: set[tuple[int, int]] = set()  # annotations no page has any more

    # What carries a target

    def carries(self, obj: Any, skip: Sequence[str] = ("/P", "/Parent", "/Popup")) -> bool:
        return bool(self.needles) and self._walk(obj, set(skip), set(), 0)

    def _walk(self, obj: Any, skip: set[str], seen: set[tuple[int, int]], depth: int) -> bool:
        if depth > _MAX_WALK_DEPTH:
            return False
        if isinstance(obj, pikepdf.Object) and obj.is_indirect:
            if obj.objgen in seen:
                return False
            seen.add(obj.objgen)
        if isinstance(obj, pikepdf.String):
            return self.text_carries(str(obj)) or self.bytes_carry(bytes(obj))
        if isinstance(obj, Name):
            return self.text_carries(str(obj)[1:])
        if isinstance(obj, pikepdf.Stream):
            if self.bytes_carry(_stream_bytes(obj)):
                return True
            return self._walk(obj.stream_dict, skip, seen, depth + 1)
        if isinstance(obj, Dictionary):
            return any(self._walk(value, skip, seen, depth + 1) for key, value in obj.items() if key not in skip)
        if isinstance(obj, pikepdf.Array):
            return any(self._walk(item, skip, seen, depth + 1) for item in _items(obj))
        return False

    def text_carries(self, text: str) -> bool:
        return bool(_found(text, self.needles))

    def bytes_carry(self, data: bytes) -> bool:
        return bool(_found_in_bytes(data, self.needles))

    # Annotations

    def clean_annotations(self) -> None:
        for page in self.pdf.pages:
            annots = page.obj.get("/Annots")
            if not isinstance(annots, pikepdf.Array):
                continue
            keep = pikepdf.Array()
            for annot in _items(annots):
                if self.carries(annot):
                    self.report["annotationsRemoved"] += 1
                    self._forget(annot)
                else:
                    keep.append(annot)
            if len(keep) != len(annots):
                page.obj.Annots = keep

    def forget_annotations(self, annots: Any) -> None:
        if isinstance(annots, pikepdf.Array):
            for annot in _items(annots):
                self._forget(annot)

    def _forget(self, annot: Any) -> None:
        if isinstance(annot, pikepdf.Object) and annot.is_indirect:
            self.removed.add(annot.objgen)
            popup = annot.get("/Popup") if isinstance(annot, Dictionary) else None
            if isinstance(popup, Dictionary) and popup.is_indirect:
                self.removed.add(popup.objgen)

    # The rest of the document

    def clean_document(self, *, structure: bool) -> None:
        root = self.pdf.Root
        self._remove_dangling_annotations()
        self._clean_info()
        metadata = root.get("/Metadata")
        if metadata is not None and self.carries(metadata):
            del root.Metadata
            self.report["metadataCleaned"].append("XMP")
        self._clean_outlines(root.get("/Outlines"))
        self._clean_attachments()
        self._clean_javascript(root)  # type: ignore[arg-type]
        if structure:
            for key in ("/StructTreeRoot", "/MarkInfo"):
                if key in root:
                    del root[key]

    def _clean_info(self) -> None:
        info = self.pdf.trailer.get("/Info")
        if not isinstance(info, Dictionary):
            return
        for key in list(info.keys()):
            if self.carries(info[key]):
                info[key] = pikepdf.String(REDACTED)
                self.report["metadataCleaned"].append(key[1:])

    def clean_form(self) -> None:
        form = self.pdf.Root.get("/AcroForm")
        if not isinstance(form, Dictionary):
            return
        if "/XFA" in form and self.carries(form.XFA):
            del form.XFA
        fields = form.get("/Fields")
        if isinstance(fields, pikepdf.Array):
            seen: set[tuple[int, int]] = set()
            for field in _items(fields):
                self._clean_field(field, seen, 0)

    def _clean_field(self, field: Any, seen: set[tuple[int, int]], depth: int) -> None:
        if not isinstance(field, Dictionary) or depth > _MAX_WALK_DEPTH:
            return
        if field.is_indirect:
            if field.objgen in seen:
                return
            seen.add(field.objgen)
        values = [key for key in ("/V", "/DV", "/RV") if key in field and self.carries(field[key])]
        kids = field.get("/Kids")
        widgets = [field]
        if isinstance(kids, pikepdf.Array):
            widgets += [kid for kid in _items(kids) if isinstance(kid, Dictionary)]
        appearance = any("/AP" in widget and self.carries(widget.AP) for widget in widgets)
        if values or appearance:
            for key in values:
                del field[key]
            for widget in widgets:
                if "/AP" in widget and (values or self.carries(widget.AP)):
                    del widget.AP
            self.report["formFieldsCleared"] += 1
        if isinstance(kids, pikepdf.Array):
            for kid in _items(kids):
                self._clean_field(kid, seen, depth + 1)

    def _remove_dangling_annotations(self) -> None:
        """Take the annotations (widgets) no page has any more out of the form's field tree."""
        form = self.pdf.Root.get("/AcroForm")
        if not self.removed or not isinstance(form, Dictionary) or not isinstance(form.get("/Fields"), pikepdf.Array):
            return

        def prune(array: Any, depth: int) -> pikepdf.Array:
            keep = pikepdf.Array()
            for item in _items(array):
                if isinstance(item, pikepdf.Object) and item.is_indirect and item.objgen in self.removed:
                    continue
                kids = item.get("/Kids") if isinstance(item, Dictionary) else None
                if isinstance(kids, pikepdf.Array) and depth < _MAX_WALK_DEPTH:
                    pruned = prune(kids, depth + 1)
                    if not len(pruned):
                        continue  # a field whose every widget is gone
                    item.Kids = pruned
                keep.append(item)
            return keep

        form.Fields = prune(form.Fields, 0)

    def _clean_outlines(self, outlines: Any) -> None:
        if not isinstance(outlines, Dictionary):
            return
        seen: set[tuple[int, int]] = set()
        stack = [outlines.get("/First")]
        while stack:
            item = stack.pop()
            if not isinstance(item, Dictionary) or item.objgen in seen:
                continue
            seen.add(item.objgen)
            if "/Title" in item and self.carries(item.Title):
                item.Title = pikepdf.String(REDACTED)
                self.report["bookmarksCleaned"] += 1
            for key in ("/A", "/SE"):
                if key in item and self.carries(item[key], skip=("/P", "/Parent")):
                    del item[key]
            stack += [item.get("/First"), item.get("/Next")]

    def _clean_attachments(self) -> None:
        attachments = self.pdf.attachments
        for name in list(attachments.keys()):
            spec = attachments[name]
            if self.text_carries(name) or self.carries(spec.obj):
                del attachments[name]
                self.report["embeddedFilesRemoved"] += 1

    def _clean_javascript(self, root: Dictionary) -> None:
        names = root.get("/Names")
        if isinstance(names, Dictionary) and "/JavaScript" in names:
            tree = pikepdf.NameTree(names.JavaScript)
            for key in list(tree.keys()):
                if self.text_carries(str(key)) or self.carries(tree[key]):
                    del tree[key]
                    log.info("removed a document JavaScript that carries a redacted text")
        for key in ("/OpenAction", "/AA"):
            if key in root and self.carries(root[key], skip=("/P", "/Parent", "/D")):
                del root[key]
                log.info("removed the document's %s, which carries a redacted text", key)


def _items(array: Any) -> list[Any]:
    return [array[index] for index in range(len(array))]


def _stream_bytes(stream: pikepdf.Stream) -> bytes:
    try:
        return stream.read_bytes()
    except pikepdf.PdfError:
        return stream.read_raw_bytes()


def _byte_forms(needle: str) -> list[bytes]:
    forms = []
    for encoding in ("utf-8", "latin-1", "utf-16-be"):
        try:
            forms.append(needle.encode(encoding).lower())
        except UnicodeEncodeError:
            continue
    return forms


def _found_in_bytes(data: bytes, needles: Iterable[str]) -> list[str]:
    """Needles whose UTF-8, Latin-1 or UTF-16-BE bytes are in `data`, ignoring ASCII case."""
    if not data:
        return []
    lowered = data.lower()
    return [needle for needle in needles if any(form in lowered for form in _byte_forms(needle))]


# --- Verification ---------------------------------------------------------------------------


def surviving_targets(path: str, targets: list[str], *, password: str | None = None) -> list[str]:
    """The `targets` that pdfium, pdftotext, pypdf or a byte search of the decompressed file finds.

    Matching ignores case and white space differences (a target may span a line break). An
    empty list means none of them finds any target.
    """
    by_needle: dict[str, list[str]] = {}
    for target in targets:
        needle = _normalise(target)
        if needle:
            by_needle.setdefault(needle, []).append(target)
    needles = list(by_needle)
    if not needles:
        return []
    found: set[str] = set()
    found.update(_found(_pdfium_text(path, password), needles))
    found.update(_found(_poppler_text(path, password), needles))
    found.update(_found(_pypdf_text(path, password), needles))
    found.update(_found_in_bytes(_decompressed_bytes(path, password), needles))
    return [target for needle in needles if needle in found for target in by_needle[needle]]


def _pdfium_text(path: str, password: str | None) -> str:
    parts = []
    with open_pdf(path, password) as document:
        for page in document:
            textpage = page.get_textpage()
            try:
                parts.append(textpage.get_text_range())
            finally:
                textpage.close()
    return "\n".join(parts)


def _poppler_text(path: str, password: str | None) -> str:
    program = shutil.which("pdftotext")
    if program is None:
        log.warning("pdftotext is not installed: the redaction check goes without poppler")
        return ""
    command = [program, "-q", "-enc", "UTF-8"]
    if password:
        command += ["-upw", password]
    result = subprocess.run(  # noqa: S603 (no shell; the arguments are ours)
        [*command, path, "-"], capture_output=True, timeout=_PDFTOTEXT_TIMEOUT, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"pdftotext failed with status {result.returncode}")
    return result.stdout.decode("utf-8", errors="replace")


def _pypdf_text(path: str, password: str | None) -> str:
    from pypdf import PdfReader

    reader = PdfReader(path)
    if reader.is_encrypted:
        reader.decrypt(password or "")
    return "\n".join(page.extract_text() or "" for page in reader.pages)


def _decompressed_bytes(path: str, password: str | None) -> bytes:
    with tempfile.TemporaryDirectory(prefix="pdfjobs-verify-") as workdir:
        plain = os.path.join(workdir, "plain.pdf")
        with _open_pikepdf(path, password) as pdf:
            pdf.save(
                plain,
                qdf=True,
                object_stream_mode=pikepdf.ObjectStreamMode.disable,
                stream_decode_level=pikepdf.StreamDecodeLevel.all,
                encryption=False,
            )
        with open(plain, "rb") as file:
            return file.read()
