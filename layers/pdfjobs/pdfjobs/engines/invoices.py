"""Invoice fields from pages of text lines: a local, layout-aware rules engine, and user templates.

The engine reads the OCR page shape (`pdfjobs.ocr`): pages of lines, each with its words and
their boxes in points from the page's top-left. Born-digital PDFs get that shape from their text
layer (`pages_from_pdf`), plain text from `pages_from_text` (synthetic boxes, one character cell
per character), scans from any OCR engine. So one set of rules serves all three.

How the rules read a page:

- Each line is cut into *segments* where the gap between two words is wider than 1.5 line
  heights (table columns, a label and its right-aligned value); segments that overlap vertically
  form a *row*, whichever line the PDF put them in.
- *Labels* ("Invoice No", "Facture n°", "Rechnungsdatum", "Numer faktury", "Factuurdatum",
  "Total TTC", "MwSt" ... in English, French, German, Dutch and Polish, with some Spanish and
  Italian) are found in segments; where two overlap the longer wins, so "Due Date" is not read as
  "Date" and "Subtotal" not as "Total". A label's value is the rest of its segment, else the next
  segment to its right in the row, else the segment just below it that overlaps it horizontally.
- Dates become ISO-8601. Whether `03/08/2014` is 3 August or 8 March is decided once per
  document: by the document's own unambiguous numeric dates (a `20/03/2023` or `03/20/2023`),
  else month first only for documents in US dollars, else day first. Dates written with dots or
  dashes are always read day first.
- Amounts become decimal strings (`"1939.00"`): the last of `.`/`,` followed by one or two
  digits is the decimal separator; a single separator followed by exactly three digits is a
  thousands separator unless the document writes its amounts with that separator as decimal
  point; groups of three digits may also be separated by (non-breaking) spaces.
- Totals: the amount furthest right after a total label. The invoice's own total ("Grand total",
  "Total TTC", "Rechnungsbetrag", "Należność ogółem" ...) outranks a plain "Total" and what is due
  ("Amount due", "Balance due", "Te betalen"); among equals the largest non-zero amount wins, so
  a part-paid invoice reports its total, not its balance. When a subtotal and a tax add up to the
  total (within a cent) the three are taken together and their confidence raised.
- Invoice number: the token after a number label ("Invoice No", "Facture n°", "Rechnungsnr.",
  "Numer faktury", "Factuurnummer" ...), else after a title ("Invoice INV-7", "INVOICE" over
  "# 1234"), else after a booking, order or reference label; it must hold a digit.
- Vendor: names from seller labels ("Sold by", "From:", "Sprzedawca", "Fournisseur" ...), from
  the block above registration ids (VAT, RCS, KvK, HRB, CIN, NIP ... followed by digits), names
  ending in a legal form (Inc., GmbH, B.V., S.A., Pvt. Ltd. ...) and name-like lines at the top
  of the first page, each adding to a score, one name's variants pooled. The customer's block
  (under "Bill to", "Nabywca", "Factuuradres", "Aan:" ...) is left out. When the issuer's web or
  mail domain names a brand that the text also uses as a word (`www.flipkart.com` and
  "Flipkart"), the best name holding the brand wins, or the brand itself when it is named at
  least three times; mail providers, payment services, social networks and invoicing software
  are never brands. Customer: the name after a customer label, else the first name over an
  address block at the top of the first page that is not the issuer's.
- Line items: the rows under a table header (Description / Qty / Price / Amount and their
  translations, up to four header lines) down to the totals; figures are placed by the header's
  columns, lines without figures continue the item above. Quantities are plain decimals ("1",
  "4.5"), prices and amounts have at least two decimals.

`pages_from_pdf(..., ocr_images=True)` also reads the pictures on the pages with Tesseract:
issuers often print their name and ids only in a logo or letterhead image.

Templates (`template=`) add or override fields: a field with `regex` and/or `keywords` is read
by the template (source "template"). User regexes run with Python's `re`, which cannot be
interrupted, so they are bounded instead: `validate_pattern` refuses patterns that do not
compile, are longer than 500 characters, nest unbounded quantifiers without a separator the inner
one cannot match (`(a+)+`, `(.*)*`, `(\\w+\\s?)+$`), or take longer than 1.5 s on adversarial
inputs of `MAX_REGEX_INPUT` characters in a separate Python process (which, unlike a thread, can
be killed: `re` holds the GIL while it backtracks); and every text they are matched against (a
row of the page, or the value after a keyword) is capped at `MAX_REGEX_INPUT` characters.
A template's `required` is checked for type and kept for the caller: the engine reports a
missing field as null with confidence 0 like any other.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from pdfjobs.errors import ValidationFailed

FIELD_NAMES = (
    "vendor",
    "customer",
    "invoiceNumber",
    "issueDate",
    "dueDate",
    "currency",
    "subtotal",
    "tax",
    "total",
)
LINE_ITEM_FIELDS = ("description", "quantity", "unitPrice", "amount")
TEMPLATE_TYPES = ("string", "date", "amount", "enum")

# User regexes: the longest pattern accepted, the most characters one match runs over, and the
# adversarial trial's time limit (the trial strings are MAX_REGEX_INPUT characters long).
MAX_PATTERN_LENGTH = 500
MAX_REGEX_INPUT = 2_000
PATTERN_TRIAL_SECONDS = 1.5
MAX_TEMPLATE_FIELDS = 100

# A gap wider than this many line heights cuts a line into segments. No invoice cell is longer
# than these limits; they keep every rule's regexes linear on whatever text arrives.
_SEGMENT_GAP = 1.5
_MAX_SEGMENT_CHARS = 1_000
_MAX_WORD_CHARS = 100


def _words(text: str) -> tuple[str, ...]:
    """A word table written as one string."""
    return tuple(text.split())


# --- public field shape -------------------------------------------------------------------------------


def empty_field(source: str = "rules") -> dict[str, Any]:
    return {"value": None, "confidence": 0.0, "page": None, "bbox": None, "source": source}


def _field(
    value: str | None,
    confidence: float,
    page: int | None,
    bbox: Sequence[float] | None,
    source: str,
) -> dict[str, Any]:
    if value is None:
        return empty_field(source)
    return {
        "value": value,
        "confidence": round(min(max(confidence, 0.0), 1.0), 3),
        "page": page,
        "bbox": [round(float(v), 2) for v in bbox] if bbox is not None else None,
        "source": source,
    }


# --- input: pages -------------------------------------------------------------------------------------


def pages_from_pdf(
    path: str | os.PathLike[str],
    password: str | None = None,
    *,
    ocr_images: bool = False,
    languages: Sequence[str] = ("eng",),
    numbers: Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    """The lines and words of every page's text layer (or of the 1-based pages in `numbers`), in
    the OCR page shape.

    With `ocr_images`, the page's pictures (logos, letterheads: invoices often carry the issuer's
    name and ids only as an image) are also read with Tesseract and their lines added, each
    picture at most `_IMAGE_MAX_PIXELS` and at most `_IMAGES_PER_PAGE` per page, largest first.
    That needs the `tesseract` binary; without it the pictures are skipped. Whole-page scans are
    not this function's job (the OCR pipeline reads those): pictures covering more than 60% of
    the page are skipped.
    """
    from pdfjobs.ocr.existing_text import page_lines
    from pdfjobs.pdf.document import open_pdf

    pages: list[dict[str, Any]] = []
    pictures: list[tuple[int, Any, tuple[float, float, float, float]]] = []
    with open_pdf(path, password) as document:
        wanted = range(len(document)) if numbers is None else [n - 1 for n in numbers if 1 <= n <= len(document)]
        for index in wanted:
            page = document[index]
            try:
                width, height = page.get_size()
                pages.append(
                    {
                        "page": index + 1,
                        "width": round(width, 2),
                        "height": round(height, 2),
                        "rotation": page.get_rotation(),
                        "lines": page_lines(page),
                    }
                )
                if ocr_images:
                    pictures.extend((index, image, box) for image, box in _page_pictures(page, width, height))
            finally:
                page.close()
    # Past here no pdfium call: the document is closed and its lock released.
    for index, image, box in pictures:
        pages[index]["lines"].extend(_picture_lines(image, box, languages))
    return pages


_IMAGES_PER_PAGE = 8
_IMAGE_MAX_PIXELS = 16_000_000
_IMAGE_MIN_POINTS = (40.0, 10.0)


def _page_pictures(page: Any, width: float, height: float) -> list[tuple[Any, tuple[float, float, float, float]]]:
    """The page's pictures worth reading, as PIL images with their displayed boxes (in points)."""
    import pypdfium2.raw as pdfium_c

    from pdfjobs.engines import tesseract
    from pdfjobs.engines.text import display_transform, page_bbox

    if page.get_rotation() != 0 or not tesseract.status().available:
        return []
    to_display = display_transform(page_bbox(page.raw), 0)
    found = []
    for picture in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=4):
        try:
            matrix = picture.get_matrix()
            left, bottom, right, top = picture.get_bounds()
            pixels_wide, pixels_high = picture.get_px_size()
        except Exception:  # noqa: S112 - a picture pdfium cannot describe is not read
            continue
        if matrix.b or matrix.c or matrix.a <= 0 or matrix.d <= 0:
            continue  # rotated or mirrored: Tesseract would read it sideways
        box = to_display((left, bottom, right, top))
        wide, high = box[2] - box[0], box[3] - box[1]
        if wide < _IMAGE_MIN_POINTS[0] or high < _IMAGE_MIN_POINTS[1] or min(pixels_wide, pixels_high) < 16:
            continue
        if wide * high > 0.6 * width * height or pixels_wide * pixels_high > _IMAGE_MAX_PIXELS:
            continue
        found.append((wide * high, picture, box))
    found.sort(key=lambda item: item[0], reverse=True)
    images = []
    for _, picture, box in found[:_IMAGES_PER_PAGE]:
        try:
            image = picture.get_bitmap(render=False).to_pil().convert("RGB")
        except Exception:  # noqa: S112 - an undecodable picture is not read
            continue
        images.append((image, box))
    return images


def _picture_lines(
    image: Any, box: tuple[float, float, float, float], languages: Sequence[str]
) -> list[dict[str, Any]]:
    """Tesseract's lines of one picture, in the page's points."""
    import tempfile

    from pdfjobs.engines import tesseract
    from pdfjobs.errors import PdfJobsError

    # Small pictures are scaled up so their letters are tall enough for Tesseract.
    scale = max(1, min(4, int(1200 / max(image.size))))
    if scale > 1:
        image = image.resize((image.size[0] * scale, image.size[1] * scale))
    dpi = max(72, round(image.size[0] / max(box[2] - box[0], 1.0) * 72))
    with tempfile.NamedTemporaryFile(prefix="pdfjobs-invoice-", suffix=".png") as handle:
        image.save(handle.name, format="PNG")
        try:
            read = tesseract.recognize(handle.name, list(languages), dpi, 30.0)
        except PdfJobsError:
            return []
    x_scale = (box[2] - box[0]) / image.size[0]
    y_scale = (box[3] - box[1]) / image.size[1]

    def points(pixel_box: Sequence[float]) -> list[float]:
        return [
            round(box[0] + pixel_box[0] * x_scale, 2),
            round(box[1] + pixel_box[1] * y_scale, 2),
            round(box[0] + pixel_box[2] * x_scale, 2),
            round(box[1] + pixel_box[3] * y_scale, 2),
        ]

    lines = []
    for line in read["lines"]:
        words = [
            {"text": word["text"], "bbox": points(word["bbox"]), "confidence": word["confidence"]}
            for word in line["words"]
        ]
        if words:
            confidence = sum(word["confidence"] for word in words) / len(words)
            lines.append(
                {"text": line["text"], "bbox": points(line["bbox"]), "confidence": round(confidence, 2), "words": words}
            )
    return lines


_TEXT_CELL_WIDTH = 6.0
_TEXT_LINE_HEIGHT = 12.0


def pages_from_text(text: str) -> list[dict[str, Any]]:
    """Plain text as one page: each character a 6 x 12 pt cell, so column layout is kept."""
    lines: list[dict[str, Any]] = []
    width = 0.0
    rows = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for number, raw in enumerate(rows):
        row = raw.expandtabs(8)
        top, bottom = number * _TEXT_LINE_HEIGHT + 1.0, (number + 1) * _TEXT_LINE_HEIGHT - 1.0
        words: list[dict[str, Any]] = [
            {
                "text": match.group(),
                "bbox": [match.start() * _TEXT_CELL_WIDTH, top, match.end() * _TEXT_CELL_WIDTH, bottom],
                "confidence": 100.0,
            }
            for match in re.finditer(r"\S+", row)
        ]
        width = max(width, len(row) * _TEXT_CELL_WIDTH)
        if words:
            lines.append(
                {
                    "text": " ".join(word["text"] for word in words),
                    "bbox": [words[0]["bbox"][0], top, words[-1]["bbox"][2], bottom],
                    "confidence": 100.0,
                    "words": words,
                }
            )
    height = max(len(rows), 1) * _TEXT_LINE_HEIGHT
    return [{"page": 1, "width": max(width, 1.0), "height": height, "rotation": 0, "lines": lines}]


# --- layout model -------------------------------------------------------------------------------------


@dataclass
class _Word:
    text: str
    x0: float
    y0: float
    x1: float
    y1: float
    confidence: float  # 0..1


@dataclass
class _Segment:
    page: int
    words: list[_Word]
    text: str = ""
    starts: list[int] = field(default_factory=list)  # each word's offset in text
    row: int = -1
    index: int = -1  # position in reading order
    x0: float = 0.0
    y0: float = 0.0
    x1: float = 0.0
    y1: float = 0.0

    def __post_init__(self) -> None:
        offset, starts = 0, []
        for word in self.words:
            starts.append(offset)
            offset += len(word.text) + 1
        self.starts = starts
        self.text = " ".join(word.text for word in self.words)
        self.x0 = min(word.x0 for word in self.words)
        self.y0 = min(word.y0 for word in self.words)
        self.x1 = max(word.x1 for word in self.words)
        self.y1 = max(word.y1 for word in self.words)

    @property
    def height(self) -> float:
        return max(self.y1 - self.y0, 1.0)

    def span_words(self, start: int, end: int) -> list[_Word]:
        """The words that the characters [start, end) of the text touch."""
        found = []
        for word, offset in zip(self.words, self.starts, strict=True):
            if offset < end and offset + len(word.text) > start:
                found.append(word)
        return found

    def span_box(self, start: int, end: int) -> tuple[float, float, float, float]:
        words = self.span_words(start, end) or self.words
        return (
            min(w.x0 for w in words),
            min(w.y0 for w in words),
            max(w.x1 for w in words),
            max(w.y1 for w in words),
        )

    def span_confidence(self, start: int, end: int) -> float:
        words = self.span_words(start, end) or self.words
        return sum(w.confidence for w in words) / len(words)


@dataclass
class _Page:
    number: int
    width: float
    height: float
    segments: list[_Segment]
    rows: list[list[_Segment]]


def _layout(pages: Sequence[Mapping[str, Any]]) -> list[_Page]:
    result = []
    for position, page in enumerate(pages):
        number = int(page.get("page") or position + 1)
        segments: list[_Segment] = []
        for line in page.get("lines") or ():
            words = _line_words(line)
            if not words:
                continue
            heights = sorted(word.y1 - word.y0 for word in words)
            median = heights[len(heights) // 2]
            current, length = [words[0]], len(words[0].text)
            for word in words[1:]:
                height = max(word.y1 - word.y0, current[-1].y1 - current[-1].y0, 0.8 * median, 1.0)
                length += len(word.text) + 1
                if word.x0 - current[-1].x1 > _SEGMENT_GAP * height or length > _MAX_SEGMENT_CHARS:
                    segments.append(_Segment(number, current))
                    current, length = [word], len(word.text)
                else:
                    current.append(word)
            segments.append(_Segment(number, current))
        rows = _rows(segments)
        ordered = [segment for row in rows for segment in row]
        for row_index, row in enumerate(rows):
            for segment in row:
                segment.row = row_index
        for index, segment in enumerate(ordered):
            segment.index = index
        result.append(
            _Page(
                number,
                float(page.get("width") or 0.0),
                float(page.get("height") or 0.0),
                ordered,
                rows,
            )
        )
    return result


def _line_words(line: Mapping[str, Any]) -> list[_Word]:
    words = []
    for word in line.get("words") or ():
        text = str(word.get("text") or "").strip()[:_MAX_WORD_CHARS]
        box = word.get("bbox")
        if not text or not isinstance(box, Sequence) or len(box) != 4:
            continue
        try:
            x0, y0, x1, y1 = (float(value) for value in box)
            confidence = word.get("confidence")
            certainty = min(max(float(confidence) / 100.0, 0.0), 1.0) if confidence is not None else 1.0
        except (TypeError, ValueError):
            continue  # a word without a usable box or confidence is left out
        words.append(_Word(text, min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1), certainty))
    if not words and line.get("text") and isinstance(line.get("bbox"), Sequence) and len(line["bbox"]) == 4:
        # A line without words: one word per run of non-spaces, spread over the line's box.
        try:
            text, box = str(line["text"]), [float(v) for v in line["bbox"]]
            confidence = min(max(float(line.get("confidence", 100.0)) / 100.0, 0.0), 1.0)
        except (TypeError, ValueError):
            return []
        per_char = (box[2] - box[0]) / max(len(text), 1)
        for match in re.finditer(r"\S+", text):
            words.append(
                _Word(
                    match.group()[:_MAX_WORD_CHARS],
                    box[0] + match.start() * per_char,
                    box[1],
                    box[0] + match.end() * per_char,
                    box[3],
                    confidence,
                )
            )
    words.sort(key=lambda w: w.x0)
    return words


def _rows(segments: list[_Segment]) -> list[list[_Segment]]:
    """Segments grouped by vertical overlap, top to bottom, each row left to right."""
    rows: list[list[_Segment]] = []
    bounds: list[tuple[float, float]] = []
    for segment in sorted(segments, key=lambda s: ((s.y0 + s.y1) / 2, s.x0)):
        if rows:
            top, bottom = bounds[-1]
            overlap = min(bottom, segment.y1) - max(top, segment.y0)
            if overlap >= 0.5 * min(segment.height, bottom - top):
                rows[-1].append(segment)
                bounds[-1] = (min(top, segment.y0), max(bottom, segment.y1))
                continue
        rows.append([segment])
        bounds.append((segment.y0, segment.y1))
    return [sorted(row, key=lambda s: s.x0) for row in rows]


# --- text normalisation -------------------------------------------------------------------------------


def _fold(text: str) -> str:
    """Lower case without accents (for comparing words)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(char for char in decomposed if not unicodedata.combining(char))
    return folded.replace("ł", "l").replace("ø", "o").replace("ß", "ss")


def _squash(text: str) -> str:
    """Letters and digits only, folded: how names are compared."""
    return re.sub(r"[\W_]+", "", _fold(text))


# --- amounts ------------------------------------------------------------------------------------------

_CURRENCY_SYMBOLS = {
    "$": "USD",
    "US$": "USD",
    "€": "EUR",
    "£": "GBP",
    "₹": "INR",
    "¥": "JPY",
    "zł": "PLN",
    "zl": "PLN",
    "rs": "INR",
    "rs.": "INR",
    "fr.": "CHF",
    "kr": "SEK",
    "kč": "CZK",
    "ft": "HUF",
}
_CURRENCY_CODES = set(
    _words(
        "USD EUR GBP INR PLN CHF JPY CAD AUD NZD SEK NOK DKK CZK HUF RON BGN CNY HKD SGD ZAR BRL MXN TRY RUB UAH AED"
    )
)
_CURRENCY_WORDS = {
    "dollars": "USD",
    "us dollars": "USD",
    "euro": "EUR",
    "euros": "EUR",
    "rupees": "INR",
    "złotych": "PLN",
    "zlotych": "PLN",
    "pounds": "GBP",
}
_CODES = "|".join(sorted(_CURRENCY_CODES))
_CURRENCY_MARK = rf"(?:US\$|[$€£₹¥]|\b(?:{_CODES})\b|\b(?:Rs\.?|zł|zl|Fr\.|Kč)(?![^\W\d_]))"
_NUMBER = (
    r"(?:\d{1,3}(?:(?:[\u00a0\u202f ]|(?<=\d)[.,'\u2019])\d{3})+|\d+)"  # integer part, with or without groups
    r"(?:[.,]\d+)?"
)
_AMOUNT_RE = re.compile(
    rf"(?P<pre>{_CURRENCY_MARK}\s?)?"
    rf"(?<![\w/.,:-])(?P<sign>[-\u2212\u2013]\s?)?(?P<num>{_NUMBER})(?![\w/%])(?![.,]\d)"
    rf"(?P<post>\s?{_CURRENCY_MARK})?",
    re.IGNORECASE,
)
_PERCENT_RE = re.compile(r"[-+]?\d+(?:[.,]\d+)?\s*%")


@dataclass
class _Amount:
    value: Decimal
    start: int
    end: int
    currency: str | None
    money: bool  # has a decimal fraction of two digits or a currency mark
    text: str


def _currency_code(mark: str | None) -> str | None:
    if not mark:
        return None
    mark = mark.strip()
    upper = mark.upper()
    if upper in _CURRENCY_CODES:
        return upper
    return _CURRENCY_SYMBOLS.get(mark) or _CURRENCY_SYMBOLS.get(mark.casefold())


def _to_decimal(number: str, decimal_hint: str | None = None) -> Decimal | None:
    """A number as written (`1.234,56`, `1,234.56`, `1 234,56`, `1939`) as a Decimal."""
    text = re.sub(r"[\s\u00a0\u202f'\u2019]", "", number)
    if not text:
        return None
    dots, commas = text.count("."), text.count(",")
    if dots and commas:
        decimal_mark = "." if text.rfind(".") > text.rfind(",") else ","
        thousands = "," if decimal_mark == "." else "."
        text = text.replace(thousands, "").replace(decimal_mark, ".")
    elif dots or commas:
        mark = "." if dots else ","
        head, _, tail = text.rpartition(mark)
        if dots + commas > 1:
            # Several of one mark: thousands groups, unless the last group is not three digits.
            if len(tail) == 3 and all(len(group) == 3 for group in head.split(mark)[1:]):
                text = text.replace(mark, "")
            else:
                text = head.replace(mark, "") + "." + tail
        elif len(tail) == 3 and head not in ("0", "") and decimal_hint != mark:
            text = head + tail
        else:
            text = head + "." + tail
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def parse_amount(text: str, *, decimal_hint: str | None = None) -> str | None:
    """The first amount in `text` as a decimal string with at least two decimals, or None."""
    found = _amounts(text, decimal_hint)
    return _format_amount(found[0].value) if found else None


def parse_number(text: str, *, decimal_hint: str | None = None) -> str | None:
    """The first number in `text` (a quantity) as a plain decimal string (`"54.91"`, `"2"`), or None."""
    found = _amounts(text, decimal_hint)
    return format(found[0].value.normalize(), "f") if found else None


def _format_amount(value: Decimal) -> str:
    if value == value.to_integral_value() or value.as_tuple().exponent in (-1, 0):
        value = value.quantize(Decimal("0.01"))
    return format(value, "f")


def _amounts(text: str, decimal_hint: str | None = None) -> list[_Amount]:
    """Amounts in `text`, dates and percentages left out."""
    masked = _mask(text, [m.span() for m in _PERCENT_RE.finditer(text)])
    masked = _mask(masked, [(d.start, d.end) for d in _find_dates(masked, day_first=True)])
    found = []
    for match in _AMOUNT_RE.finditer(masked):
        value = _to_decimal(match.group("num"), decimal_hint)
        if value is None:
            continue
        if match.group("sign"):
            value = -value
        currency = _currency_code(match.group("pre")) or _currency_code(match.group("post"))
        fraction = re.search(r"[.,](\d+)$", match.group("num"))
        money = currency is not None or bool(fraction and len(fraction.group(1)) == 2)
        found.append(_Amount(value, match.start("num"), match.end("num"), currency, money, match.group()))
    return found


def _mask(text: str, spans: Iterable[tuple[int, int]]) -> str:
    chars = list(text)
    for start, end in spans:
        for index in range(start, end):
            chars[index] = "\x00"
    return "".join(chars)


def detect_currency(text: str) -> str | None:
    """The ISO 4217 code that `text` uses most for its amounts (symbols, codes, currency words)."""
    counts: dict[str, float] = {}
    for amount in _amounts(text):
        if amount.currency:
            counts[amount.currency] = counts.get(amount.currency, 0.0) + 1.0
    for match in re.finditer(rf"{_CURRENCY_MARK}", text, re.IGNORECASE):
        code = _currency_code(match.group())
        if code:
            counts[code] = counts.get(code, 0.0) + 0.25
    folded = _fold(text)
    for word, code in _CURRENCY_WORDS.items():
        hits = len(re.findall(rf"\b{re.escape(_fold(word))}\b", folded))
        if hits:
            counts[code] = counts.get(code, 0.0) + 0.5 * hits
    if not counts:
        return None
    return max(counts.items(), key=lambda item: (item[1], item[0] == "EUR"))[0]


# --- dates --------------------------------------------------------------------------------------------

_MONTH_NAMES: dict[int, tuple[str, ...]] = {
    1: _words(
        "january jan janvier janv januar jänner jaenner januari styczeń stycznia styczen sty enero ene gennaio gen"
    ),
    2: _words("february feb février fevrier févr fevr februar februari luty lutego lut febrero febbraio"),
    3: _words("march mar mars märz maerz mrz maart mrt marzec marca marzo"),
    4: _words("april apr avril avr kwiecień kwietnia kwiecien kwi abril abr aprile"),
    5: _words("may mai mei maj maja mayo maggio mag"),
    6: _words("june jun juin juni czerwiec czerwca cze junio giugno giu"),
    7: _words("july jul juillet juil juli lipiec lipca lip julio luglio lug"),
    8: _words("august aug août aout augustus sierpień sierpnia sierpien sie agosto ago"),
    9: _words("september sep sept septembre wrzesień września wrzesien wrzesnia wrz septiembre settembre set"),
    10: _words(
        "october oct octobre oktober okt październik października pazdziernik pazdziernika paź paz octubre ottobre ott"
    ),
    11: _words("november nov novembre listopad listopada lis noviembre"),
    12: _words("december dec décembre decembre déc dezember dez grudzień grudnia grudzien gru diciembre dic dicembre"),
}
_MONTHS = {name: number for number, names in _MONTH_NAMES.items() for name in names}
# Three-letter abbreviations that are also common words are only months next to a day and year.
_MONTH_ALTERNATION = "|".join(sorted((re.escape(name) for name in _MONTHS), key=len, reverse=True))
_DAY_MONTH_YEAR = re.compile(
    rf"(?<![\w.])(?P<d>[0-3]?\d)(?:st|nd|rd|th|er|\.)?(?:\s*|[-/])(?:de\s+)?(?P<m>{_MONTH_ALTERNATION})(?![^\W\d_])"
    rf"\.?(?:\s*,?\s*|[-/'])(?:de\s+)?(?P<y>(?:19|20)\d\d|(?<=[-/'])\d\d)(?!\d)",
    re.IGNORECASE,
)
_MONTH_DAY_YEAR = re.compile(
    rf"(?<![^\W\d_])(?P<m>{_MONTH_ALTERNATION})(?![^\W\d_])\.?\s+(?P<d>[0-3]?\d)(?:st|nd|rd|th)?(?!\d)"
    rf"\s*,?\s*(?P<y>(?:19|20)\d\d)(?!\d)",
    re.IGNORECASE,
)
_ISO_DATE = re.compile(r"(?<![\d.,/-])(?P<y>(?:19|20)\d\d)(?P<s>[-/.])(?P<m>[01]?\d)(?P=s)(?P<d>[0-3]?\d)(?![\d])")
_NUMERIC_DATE = re.compile(
    r"(?<![\d.,/])(?P<a>[0-3]?\d)(?P<s>[./-])(?P<b>[0-3]?\d)(?P=s)(?P<y>(?:19|20)\d\d|\d\d)(?![\d]|[.,]\d)"
)


@dataclass
class _Date:
    value: date
    start: int
    end: int
    ambiguous: bool = False


def _make_date(year: int, month: int, day: int) -> date | None:
    if year < 100:
        year += 2000 if year < 70 else 1900
    if not 1970 <= year <= 2099:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _find_dates(text: str, *, day_first: bool) -> list[_Date]:
    """Every date written in `text`, in order; numeric a/b/y dates read by `day_first`."""
    found: list[_Date] = []
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in taken)

    for pattern in (_DAY_MONTH_YEAR, _MONTH_DAY_YEAR):
        for match in pattern.finditer(text):
            if not free(*match.span()):
                continue
            month = _MONTHS.get(match.group("m").casefold())
            if month is None:
                continue
            value = _make_date(int(match.group("y")), month, int(match.group("d")))
            if value is not None:
                found.append(_Date(value, match.start(), match.end()))
                taken.append(match.span())
    for match in _ISO_DATE.finditer(text):
        if free(*match.span()):
            value = _make_date(int(match.group("y")), int(match.group("m")), int(match.group("d")))
            if value is not None:
                found.append(_Date(value, match.start(), match.end()))
                taken.append(match.span())
    for match in _NUMERIC_DATE.finditer(text):
        if not free(*match.span()):
            continue
        first, second, year = int(match.group("a")), int(match.group("b")), int(match.group("y"))
        # Dots and dashes are day-first conventions; slashes follow the document.
        first_is_day = day_first or match.group("s") in ".-"
        if first > 12 >= second:
            first_is_day = True
        elif second > 12 >= first:
            first_is_day = False
        day, month = (first, second) if first_is_day else (second, first)
        value = _make_date(year, month, day)
        if value is not None:
            ambiguous = first <= 12 and second <= 12 and first != second
            found.append(_Date(value, match.start(), match.end(), ambiguous))
            taken.append(match.span())
    found.sort(key=lambda d: d.start)
    return found


def parse_date(text: str, *, day_first: bool = True) -> str | None:
    """The first date in `text` as `YYYY-MM-DD`, or None. Slash dates like `03/08/2014` are read
    day first unless `day_first` is False (a date that cannot be read one way is read the other)."""
    found = _find_dates(text, day_first=day_first)
    return found[0].value.isoformat() if found else None


def document_day_first(texts: Iterable[str], currency: str | None) -> bool:
    """Slash dates: day first unless the document's own dates or its currency say otherwise."""
    day_votes = month_votes = 0
    for text in texts:
        for match in _NUMERIC_DATE.finditer(text):
            if match.group("s") != "/":
                continue
            first, second = int(match.group("a")), int(match.group("b"))
            if first > 12 >= second:
                day_votes += 1
            elif second > 12 >= first:
                month_votes += 1
    if day_votes != month_votes:
        return day_votes > month_votes
    return currency != "USD"


def document_decimal_mark(texts: Iterable[str]) -> str | None:
    """',' or '.' when the document writes its two-decimal amounts with that mark only."""
    commas = dots = 0
    for text in texts:
        commas += len(re.findall(r"(?<![\d.,])\d{1,3}(?:[. ]\d{3})*,\d{2}(?![\d.,])", text))
        dots += len(re.findall(r"(?<![\d.,])\d{1,3}(?:[, ]\d{3})*\.\d{2}(?![\d.,])", text))
    if commas > 2 * dots:
        return ","
    if dots > 2 * commas:
        return "."
    return None


# --- labels -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _LabelKind:
    kind: str
    strength: float
    pattern: re.Pattern[str]


def _labels(kind: str, strength: float, *patterns: str) -> list[_LabelKind]:
    return [_LabelKind(kind, strength, re.compile(rf"(?<!\w)(?:{p})(?![^\W\d])", re.IGNORECASE)) for p in patterns]


_NO = r"(?:no|nr|nº|n°|n\s?o|num|number|#)\.?"
# "excl. VAT", "before tax", "hors taxes", "ohne MwSt", "zonder btw": what makes a total a subtotal.
_EXCLUDING = (
    r"(?:\s*(?:excl\.?(?:usive|uding|usief)?|ex\.?|before|without|w/o|hors|ohne|zonder|bez)\s*"
    r"(?:vat|tax(?:es)?|gst|btw|tva|taxes|mwst\.?|ust\.?|vatu|podatku)?)"
)
_LABELS: list[_LabelKind] = [
    # Invoice numbers
    *_labels(
        "invoiceNumber",
        3.0,
        rf"(?:tax\s+|vat\s+)?invoice\s*{_NO}",
        r"(?:tax\s+)?invoice\s+(?:id|ref(?:erence)?)",
        rf"inv\.?\s*{_NO}",
        rf"(?:bill|receipt|document|credit\s+note)\s*{_NO}",
        r"receipt\s+id",
        r"factures?\s*(?:n\s?[°º]|no\.?|nr\.?|num[ée]ro|#)",
        r"num[ée]ro\s+de\s+(?:la\s+)?facture",
        r"n\s?[°º]\s*(?:de\s+)?facture",
        r"rechnungs?[\s-]?(?:nr|nummer|no|number)\.?",
        r"rechnung\s*(?:nr\.?|#)",
        r"beleg[\s-]?(?:nr|nummer)\.?",
        r"numer\s+(?:faktury|dokumentu|rachunku)",
        r"faktur[ay]\s*(?:vat\s*)?(?:nr|numer|no)\.?",
        r"factuur\s*(?:nr|nummer|no|#)\.?",
        r"factuurnummer|factuurnr\.?",
        r"n[úu]mero\s+de\s+factura",
        r"factura\s*(?:n\s?[°º.]|no\.?|#|n[úu]m(?:ero)?\.?)",
        r"(?:numero|n\.)\s*(?:della\s+)?fattura",
        r"fattura\s*(?:n\s?[°º.]|no\.?|nr\.?)",
    ),
    *_labels(
        "invoiceTitle",
        2.0,
        r"(?:tax\s+|vat\s+|commercial\s+)?invoice",
        r"facture",
        r"rechnung",
        r"faktura(?:\s+vat)?",
        r"factuur",
        r"factura",
        r"fattura",
    ),
    *_labels(
        "referenceNumber",
        1.0,
        rf"booking\s*(?:id|{_NO}|ref(?:erence)?)",
        rf"confirmation\s*{_NO}",
        rf"order\s*(?:id|{_NO})",
        r"bestell(?:nummer|nr\.?)",
        r"ordernummer|ordernr\.?",
        r"num[ée]ro\s+de\s+commande",
        r"reference|ref\.|referenz|r[ée]f[ée]rence",
    ),
    # Numbers that are not the invoice's (so their labels are not read as anything else).
    *_labels(
        "otherNumber",
        0.0,
        rf"(?:customer|account|client|member|contract|tax|vat|gst|po|purchase\s+order|serial|tracking)\s*"
        rf"(?:id|{_NO})",
        r"(?:service\s+tax|vat/tin|tin|gstin|pan|cin|iban|bic|swift|siret|siren|kvk)",
        r"klantnummer|klantnr\.?|kundennr\.?|kunden-?nummer|id\.?\s*client|num[ée]ro\s+de\s+(?:ligne|dossier|client)",
        r"serienummer|seriennummer|numer\s+klienta|nr\s+klienta",
    ),
    # Dates
    *_labels(
        "issueDate",
        3.0,
        r"invoice\s*date|date\s*(?:of\s*)?(?:invoice|issue)|issue\s*date|date\s+issued|issued\s+on|billing\s+date",
        r"receipt\s+date|document\s+date|tax\s+point(?:\s+date)?",
        r"date\s*(?:de\s*(?:la\s*)?)?facture|date\s*d['\u2019]\s*[ée]mission|[ée]mise?\s+le|date\s+de\s+facturation",
        r"rechnungsdatum|datum\s+der\s+rechnung|ausstellungsdatum|belegdatum|rechnungs-datum",
        r"data\s*(?:wystawienia|faktury|dokumentu)|wystawion[ay]\s*(?:dnia)?",
        r"factuurdatum|factuur\s*datum",
        r"fecha\s*(?:de\s*)?(?:la\s*)?(?:factura|emisi[óo]n)|data\s*(?:della\s*)?fattura",
    ),
    *_labels("date", 2.0, r"date|datum|data|fecha|dated|dat\."),
    *_labels(
        "dueDate",
        3.0,
        r"due\s*date|date\s*due|payment\s*due(?:\s*date)?|due\s*(?:on|by)|pay(?:able)?\s*by|payment\s*deadline",
        r"date\s*limite(?:\s*de\s*(?:paiement|r[èe]glement))?|date\s*d['\u2019]\s*[ée]ch[ée]ance|[ée]ch[ée]ance",
        r"f[äa]lligkeitsdatum|f[äa]llig(?:\s*am|\s*bis)?|zahlungsziel|zahlbar\s*bis",
        r"termin\s*p[łl]atno[śs]ci",
        r"vervaldatum|uiterste\s*betaaldatum|betalen\s*v[óo][óo]r",
        r"fecha\s*de\s*vencimiento|vencimiento|scadenza",
    ),
    *_labels(
        "otherDate",
        0.0,
        r"order\s*date|orderdatum|bestelldatum|date\s*(?:de\s*)?(?:la\s*)?commande|delivery\s*date|lieferdatum",
        r"leveringsdatum|date\s*de\s*livraison|ship(?:ping|ment)?\s*date|leistungsdatum|leistungszeitraum",
        r"service\s*(?:date|period)|billing\s*period|statement\s*period|p[ée]riode|zeitraum|period",
        r"check[\s-]?in|check[\s-]?out|data\s*sprzeda[żz]y|data\s*dostawy|start\s*date|end\s*date",
        r"pr[ée]l[èe]vement(?:\s*[àa]\s*partir\s*du)?|date\s+of\s+birth|geburtsdatum",
    ),
    # Amounts. The invoice's total outranks a plain "Total" (a table's column total, a section's);
    # what is due ranks with the plain total, so on a part-paid invoice the larger total wins.
    *_labels(
        "total",
        4.0,
        r"grand\s*total|(?:total|amount|totaal|gesamt|summe)\s*(?:incl\.?|including|inc\.?|inkl\.?|inclusief)"
        r"\s*(?:vat|tax|gst|btw|tva|mwst\.?|ust\.?)",
        r"total\s*ttc|montant\s*ttc|montant\s*total|total\s*g[ée]n[ée]ral|total\s*facture|total\s*for\s*this\s*invoice",
        r"invoice\s*total|total\s*invoice|gesamtbetrag|rechnungsbetrag|endbetrag|gesamtsumme|rechnungssumme",
        r"bruttobetrag|summe\s*brutto|gesamt\s*brutto|nale[żz]no[śs][ćc](?:\s*og[óo][łl]em)?|warto[śs][ćc]\s*brutto",
        r"totaal\s*(?:incl\.?|inclusief)\s*btw|totaalbedrag|factuur\s*totaal|totaal\s*factuur|importe\s*total",
        r"totale\s*(?:fattura|documento)",
    ),
    *_labels(
        "total",
        3.0,
        r"total\s*(?:amount\s*)?due|amount\s*due|balance\s*due|total\s*(?:to\s*pay|payable)|amount\s*payable",
        r"(?:net|total|montant|somme)\s*[àa]\s*payer|zahlbetrag|zu\s*zahlen(?:der\s*betrag)?",
        r"(?:razem\s*)?do\s*zap[łl]aty|te\s*betalen|total\s*a\s*pagar|totale\s*da\s*pagare",
    ),
    *_labels("total", 3.0, r"total|totaal|gesamt|summe|razem|totale|montant"),
    *_labels(
        "subtotal",
        3.0,
        rf"(?:sub[\s-]?total|subtotaal|sous[\s-]total|zwischensumme|teilsumme){_EXCLUDING}?",
        rf"(?:total|totaal|summe|gesamt|razem)\s*(?:ht\b|h\.t\.|hors\s*taxes?|net(?:to)?\b){_EXCLUDING}?",
        rf"(?:total|totaal|summe|gesamt|amount|bedrag|montant|betrag){_EXCLUDING}",
        r"(?:montant|prix)\s*(?:eur\s*|€\s*)?(?:ht|hors\s*taxes?)|net\s*(?:amount|total)",
        r"amount\s*untaxed|taxable\s*amount|nettobetrag|summe\s*netto|gesamt\s*netto|netto(?:betrag|summe)?",
        r"warto[śs][ćc]\s*netto|exclusief\s*btw|excl\.?\s*btw|grondslag|base\s*imponible|imponibile",
    ),
    *_labels(
        "tax",
        3.0,
        r"(?:total\s*)?(?:vat|tax|tva|iva|gst|hst|pst|igst|cgst|sgst|mwst|ust|btw)(?:\s*(?:amount|total))?",
        r"(?:vat|tax)\s*amount|montant\s*(?:de\s*(?:la\s*)?)?tva|kwota\s*vat|mehrwertsteuer|umsatzsteuer",
        r"btw\s*bedrag|impuestos?|imposta|sales\s*tax",
    ),
    # Parties
    *_labels(
        "vendor",
        3.0,
        r"sold\s*by|seller|vendor|supplier|issued\s*by|service\s*provider|provided\s*by|billed\s*by|merchant",
        r"sprzedawca|wystawca|dostawca|verk[äa]ufer|lieferant|rechnungssteller|leistungserbringer",
        r"vendeur|fournisseur|[ée]metteur|prestataire|leverancier|verkoper|proveedor|emisor|fornitore",
    ),
    *_labels("vendorFrom", 3.0, r"from(?=\s*:|\s*$)"),
    *_labels(
        "payee",
        2.0,
        r"payee|payable\s*to|remit\s*to|(?:in\s*)?fav(?:o|ou)r\s*of|titulaire\s*du\s*compte",
        r"account\s*(?:holder|name)|beneficiary|kontoinhaber|rekeninghouder|t\.\s?n\.\s?v\.|ten\s*name\s*van",
    ),
    *_labels(
        "customer",
        3.0,
        r"bill(?:ed)?\s*to(?:\s*address)?|invoice[ds]?\s*to|sold\s*to|billing\s*address|factur[ée]e?\s*[àa]",
        r"adresse\s*de\s*facturation|rechnungs(?:adresse|empf[äa]nger)|factuuradres|nabywca|odbiorca",
        r"customer(?!\s*(?:care|service|support|no\b|number|id\b|#))|client(?!\s*(?:care|service|no\b|id\b))",
        r"buyer|purchaser|recipient|kunde|empf[äa]nger|destinataire|klant|cliente|comprador",
        r"attn\.?|attention|guest(?:\s*name)?|passenger(?:\s*name)?|(?:to|aan|an|f[üu]r|pour|dla)(?=\s*:)",
    ),
    *_labels(
        "shipTo",
        1.0,
        r"ship(?:ped)?\s*to|deliver(?:ed)?\s*to|shipping\s*address|delivery\s*address|afleveradres",
        r"lieferadresse|adresse\s*de\s*livraison",
    ),
]

# Words that make a line a document title rather than a name.
_TITLE_WORDS = set(
    _words(
        "avoir bestelling bill bon confirmation copie copy credit devis duplicate factura facture factuur "
        "faktura fattura gutschrift invoice invoices invoices/bill kopie nota note of order original page "
        "paragon payment pro-forma proforma quote rachunek receipt rechnung retail statement summary tax vat"
    )
)

_LEGAL_FORMS = (
    r"Inc\.?|Incorporated|Ltd\.?|Limited|LLC|L\.L\.C\.|LLP|PLC|plc|Corp\.?|Corporation|Co\.|GmbH(?:\s*&\s*Co\.?\s*KG)?"
    r"|AG|KG|OHG|UG|e\.\s?K\.|S\.?A\.?S\.?|SARL|S\.?à\s?r\.?l\.?|Sarl|EURL|S\.?A\.?|SE|B\.\s?V\.?|BV|N\.\s?V\.?|NV"
    r"|V\.O\.F\.|Sp\.\s?z\s?o\.\s?o\.|sp\.\s?z\s?o\.\s?o\.|spółka\s+akcyjna|spółka\s+z\s+o\.\s?o\.|S\.p\.A\.|S\.r\.l\.|SRL"
    r"|S\.L\.U?\.?|Pvt\.?\s*Ltd\.?|Private\s+Limited|Pty\.?\s*Ltd\.?|Oy|AB|ApS|A/S|ASA|GbR|SAS|SA"
)
_LEGAL_RE = re.compile(rf"(?<![\w.])(?:{_LEGAL_FORMS})(?![\w])")
_REGISTRATION_RE = re.compile(
    r"(?<![\w])(?:RCS|R\.C\.S\.|SIRE[NT]|KvK|K\.v\.K\.|HRB|HRA|Handelsregister|Registergericht|Amtsgericht|CIN|GSTIN"
    r"|Company\s+(?:No|number|reg\w*)|Registered\s+(?:in|office|number)|Regd\.?\s*office|VAT\s*(?:Reg\w*|No|number|ID)"
    r"|USt-?Id\w*|UStId\w*|Steuer-?Nr|NIP|REGON|KRS|BTW[\s-]?(?:nr|nummer)?|TVA\s*intra\w*|N°\s*TVA|TVA"
    r"|capital\s+(?:de|social|of)|au\s+capital|Stammkapital|Chamber\s+of\s+Commerce|ABN|ACN|EIN|Tax\s*ID"
    r"|Siège\s+social|Sitz|Gesch[äa]ftsf[üu]hrer|Vorstand)(?![\w])",
    re.IGNORECASE,
)
_EMAIL_RE = re.compile(r"[\w.+-]+@([\w-]+(?:\.[\w-]+)+)")
_URL_RE = re.compile(r"(?:https?://)?(?:www\.)?((?:[a-z0-9][a-z0-9-]*\.)+[a-z]{2,})(?:/\S*)?", re.IGNORECASE)
_GENERIC_DOMAINS = set(
    _words(
        "aol email example fake gmail gmx googlemail hotmail icloud live localhost mail me msn orange outlook "
        "protonmail t-online tcpdf test wanadoo web yahoo "
        # Payment services, social networks, link shorteners and invoicing software: named on
        # invoices, but not their issuers.
        "paypal stripe klarna mollie adyen sumup squareup square wise revolut ideal sepa "
        "facebook twitter linkedin instagram youtube tiktok pinterest whatsapp bit tinyurl goo google apple "
        "microsoft amazonaws cloudfront docusign quickbooks intuit xero zoho freshbooks sage invoiceninja "
        "waveapps odoo"
    )
)
_GENERATOR_RE = re.compile(r"powered\s+by|generated\s+(?:by|with)|created\s+(?:by|with)|made\s+with", re.IGNORECASE)
_SECOND_LEVEL = {"co", "com", "org", "net", "ac", "gov", "edu", "ltd", "plc"}


_OPENING_KINDS = {"invoiceTitle", "customer", "shipTo", "vendorFrom"}


@dataclass
class _Label:
    kind: str
    strength: float
    segment: _Segment
    start: int
    end: int
    value_end: int  # where the next label in the segment starts


def _find_labels(segment: _Segment) -> list[_Label]:
    matches: list[tuple[int, int, int, _LabelKind]] = []
    for order, kind in enumerate(_LABELS):
        for match in kind.pattern.finditer(segment.text):
            if match.end() > match.start():
                matches.append((match.start(), match.end(), order, kind))
    matches.sort(key=lambda m: (m[0], -(m[1] - m[0]), m[2]))
    kept: list[tuple[int, int, _LabelKind]] = []
    for start, end, _, kind in matches:
        if any(start < e and end > s for s, e, _ in kept):
            continue
        kept.append((start, end, kind))
    kept.sort(key=lambda m: m[0])
    # Titles ("Invoice INV-1") and party labels ("Bill to") open their segment; inside a sentence
    # ("This invoice ...", "Customer Care") they are words, not labels.
    kept = [
        (start, end, kind)
        for start, end, kind in kept
        if kind.kind not in _OPENING_KINDS or not segment.text[:start].strip(" \u2022*-\u2013|([")
    ]
    labels = []
    for position, (start, end, kind) in enumerate(kept):
        value_end = kept[position + 1][0] if position + 1 < len(kept) else len(segment.text)
        labels.append(_Label(kind.kind, kind.strength, segment, start, end, value_end))
    return labels


# --- the document -------------------------------------------------------------------------------------


@dataclass
class _Candidate:
    value: str
    score: float
    confidence: float
    page: int
    bbox: tuple[float, float, float, float]
    order: int = 0  # reading order, for ties


class _Document:
    def __init__(self, pages: Sequence[Mapping[str, Any]]) -> None:
        self.pages = _layout(pages)
        self.segments = [segment for page in self.pages for segment in page.segments]
        self.by_page = {page.number: page for page in self.pages}
        texts = [segment.text for segment in self.segments]
        self.all_text = "\n".join(texts)
        self.decimal_mark = document_decimal_mark(texts)
        self.currency = detect_currency(self.all_text)
        self.day_first = document_day_first(texts, self.currency)
        self.labels: dict[int, list[_Label]] = {}
        for order, segment in enumerate(self.segments):
            segment.index = order
            self.labels[id(segment)] = _find_labels(segment)
        self.tables: dict[int, list[tuple[int, int, list[_Column]]]] = {}
        self.header_rows = _table_header_rows(self)

    # Geometry helpers

    def row_of(self, segment: _Segment) -> list[_Segment]:
        return self.by_page[segment.page].rows[segment.row]

    def right_of(self, segment: _Segment, x: float) -> list[_Segment]:
        return [other for other in self.row_of(segment) if other is not segment and other.x0 >= x - 1.0]

    def below(self, segment: _Segment, box: tuple[float, float, float, float], rows: int = 2) -> list[_Segment]:
        """Segments in the next rows under `box` that overlap it horizontally, nearest first."""
        page = self.by_page[segment.page]
        found: list[_Segment] = []
        height = box[3] - box[1]
        for row in page.rows[segment.row + 1 : segment.row + 1 + rows]:
            for other in row:
                if other.y0 - box[3] > 2.5 * max(height, 4.0):
                    return found
                overlap = min(other.x1, box[2]) - max(other.x0, box[0])
                if overlap > 0 or abs(other.x0 - box[0]) <= max(height, 4.0):
                    found.append(other)
            if found:
                return found
        return found

    def labels_of(self, segment: _Segment) -> list[_Label]:
        return self.labels.get(id(segment), [])

    def leading_value(self, segment: _Segment) -> tuple[int, int]:
        """The part of a value segment before any label in it."""
        labels = self.labels_of(segment)
        end = labels[0].start if labels else len(segment.text)
        return 0, end

    def value_places(self, label: _Label) -> list[tuple[_Segment, int, int]]:
        """Where a label's value may be: its own rest, the next segment right, the one below."""
        segment = label.segment
        start, end = label.end, label.value_end
        rest = segment.text[start:end]
        stripped = rest.lstrip(" :;#=-\u2013.|)(")
        start += len(rest) - len(stripped)
        places: list[tuple[_Segment, int, int]] = []
        if stripped.strip():
            places.append((segment, start, end))
            return places
        box = segment.span_box(label.start, label.end)
        # Another label right after this one (a header row of labels): only the cell below.
        for right in self.right_of(segment, segment.x1) if label.value_end == len(segment.text) else []:
            begin, finish = self.leading_value(right)
            if finish > begin:
                places.append((right, begin, finish))
            break
        for below in self.below(segment, box):
            begin, finish = self.leading_value(below)
            if finish > begin:
                places.append((below, begin, finish))
        return places


# --- fields -------------------------------------------------------------------------------------------


def _best(candidates: list[_Candidate]) -> _Candidate | None:
    if not candidates:
        return None
    return max(candidates, key=lambda c: (c.score, -c.order))


def _invoice_number(doc: _Document) -> _Candidate | None:
    candidates: list[_Candidate] = []
    for segment in doc.segments:
        for label in doc.labels_of(segment):
            if label.kind not in ("invoiceNumber", "invoiceTitle", "referenceNumber"):
                continue
            if label.kind == "invoiceTitle" and segment.row in doc.header_rows.get(segment.page, ()):
                continue
            for place, start, end in doc.value_places(label):
                found = _identifier(place.text[start:end], title=label.kind != "invoiceNumber")
                if found is None:
                    if place is label.segment:
                        break
                    continue
                offset, text = found
                begin = start + offset
                confidence = {"invoiceNumber": 0.92, "invoiceTitle": 0.75, "referenceNumber": 0.5}[label.kind]
                if place is not label.segment:
                    confidence -= 0.05
                candidates.append(
                    _Candidate(
                        text,
                        label.strength - (0.1 if place is not label.segment else 0.0),
                        confidence * place.span_confidence(begin, begin + len(text)),
                        place.page,
                        place.span_box(begin, begin + len(text)),
                        segment.index,
                    )
                )
                break
    # "# 1234" alone near the top of the first page: the number under a title OCR may have lost.
    if doc.pages:
        first = doc.pages[0]
        for segment in first.segments:
            if first.height and segment.y0 > 0.25 * first.height:
                continue
            match = re.fullmatch(r"#\s*(\S+)", segment.text)
            found = _identifier(match.group(1), title=True) if match else None
            if match and found:
                begin = match.start(1) + found[0]
                candidates.append(
                    _Candidate(
                        found[1],
                        1.5,
                        0.55 * segment.span_confidence(begin, begin + len(found[1])),
                        segment.page,
                        segment.span_box(begin, begin + len(found[1])),
                        segment.index,
                    )
                )
    return _best(candidates)


_ID_STOP = re.compile(r"^(?:du|vom|from|dated|of|date|le|z|dnia|van|del|dd\.?)$", re.IGNORECASE)


def _identifier(text: str, *, title: bool) -> tuple[int, str] | None:
    """The invoice number at the start of a label's value: one token (two when the first is a short
    prefix such as `F 1234/12`), holding a digit, not a date or an amount."""
    tokens = [(m.start(), m.group()) for m in re.finditer(r"\S+", text)]
    while tokens and tokens[0][1] in {"#", "№", "No", "No.", "no", "no.", "n°", "N°", ":", "-"}:
        tokens.pop(0)
    if not tokens:
        return None
    start, first = tokens[0]
    value = first.strip(".,;:)(")
    if value.startswith("#") and len(value) > 1:
        value, start = value[1:], start + 1
    if len(tokens) > 1 and re.fullmatch(r"[A-Za-z]{1,3}", value) and not _ID_STOP.match(tokens[1][1]):
        second = tokens[1][1].strip(".,;:)(")
        if re.search(r"\d", second) and tokens[1][0] - (start + len(value)) <= 2:
            value = f"{value} {second}"
    if not re.search(r"\d", value) or len(value) < 2 or len(value) > 40:
        return None
    if title and _find_dates(value, day_first=True) and re.fullmatch(r"[\d./\- ]+", value):
        return None  # "Invoice 03/08/2014" is dated; "Faktura nr 1/03/2024" is numbered
    if title and re.fullmatch(r"[\d.,]+", value) and len(value) < 3:
        return None
    if re.fullmatch(r"\d{1,3}(?:[.,]\d{2})", value):  # an amount, not a number
        return None
    return start, value


def _dates(doc: _Document, kind: str) -> _Candidate | None:
    candidates: list[_Candidate] = []
    for segment in doc.segments:
        for label in doc.labels_of(segment):
            if label.kind == kind or (kind == "issueDate" and label.kind == "date"):
                for place, start, end in doc.value_places(label):
                    found = _find_dates(place.text[start:end], day_first=doc.day_first)
                    if not found:
                        if place is label.segment:
                            break
                        continue
                    first = found[0]
                    begin, finish = start + first.start, start + first.end
                    confidence = 0.92 if label.strength >= 3 else 0.8
                    if first.ambiguous:
                        confidence -= 0.1
                    candidates.append(
                        _Candidate(
                            first.value.isoformat(),
                            label.strength - (0.05 if place is not label.segment else 0.0),
                            confidence * place.span_confidence(begin, finish),
                            place.page,
                            place.span_box(begin, finish),
                            segment.index,
                        )
                    )
                    break
            if kind == "issueDate" and label.kind == "invoiceNumber":
                # "Facture n° 123 du 02 juillet 2015": the date after the number.
                rest = segment.text[label.end : label.value_end]
                found = _find_dates(rest, day_first=doc.day_first)
                if found:
                    begin, finish = label.end + found[0].start, label.end + found[0].end
                    candidates.append(
                        _Candidate(
                            found[0].value.isoformat(),
                            1.5,
                            0.7 * segment.span_confidence(begin, finish),
                            segment.page,
                            segment.span_box(begin, finish),
                            segment.index,
                        )
                    )
    best = _best(candidates)
    if best is None and kind == "issueDate":
        best = _first_unlabelled_date(doc)
    return best


def _first_unlabelled_date(doc: _Document) -> _Candidate | None:
    """No date label at all: the first date on the first page that no other label claims."""
    if not doc.pages:
        return None
    first_page = doc.pages[0].number
    claimed: set[int] = set()
    for segment in doc.segments:
        for label in doc.labels_of(segment):
            if label.kind in ("dueDate", "otherDate"):
                for place, _, _ in doc.value_places(label):
                    claimed.add(id(place))
    for segment in doc.segments:
        if segment.page != first_page or id(segment) in claimed:
            continue
        found = _find_dates(segment.text, day_first=doc.day_first)
        if found:
            begin, finish = found[0].start, found[0].end
            return _Candidate(
                found[0].value.isoformat(),
                0.5,
                0.45 * segment.span_confidence(begin, finish),
                segment.page,
                segment.span_box(begin, finish),
                segment.index,
            )
    return None


@dataclass
class _AmountCandidate:
    value: Decimal
    strength: float
    confidence: float
    page: int | None
    bbox: tuple[float, float, float, float] | None
    order: int


def _label_amounts(doc: _Document, kinds: set[str]) -> dict[str, list[_AmountCandidate]]:
    found: dict[str, list[_AmountCandidate]] = {kind: [] for kind in kinds}
    for segment in doc.segments:
        in_header = segment.row in doc.header_rows.get(segment.page, ())
        for label in doc.labels_of(segment):
            if label.kind not in kinds or in_header:
                continue
            amount = _amount_after(doc, label)
            if amount is None:
                continue
            place, money = amount
            confidence = 0.9 if label.strength >= 4 else 0.8
            if not money.money:
                confidence -= 0.2
            found[label.kind].append(
                _AmountCandidate(
                    money.value,
                    label.strength,
                    confidence * place.span_confidence(money.start, money.end),
                    place.page,
                    place.span_box(money.start, money.end),
                    segment.index,
                )
            )
    return found


def _amount_after(doc: _Document, label: _Label) -> tuple[_Segment, _Amount] | None:
    """The rightmost amount in the label's value: its own rest and the segments right of it up to
    the next label, else the segment below."""
    segment = label.segment
    pieces: list[tuple[_Segment, int, int]] = [(segment, label.end, label.value_end)]
    if label.value_end == len(segment.text):
        for right in doc.right_of(segment, segment.x1):
            begin, finish = doc.leading_value(right)
            if finish > begin:
                pieces.append((right, begin, finish))
            if finish < len(right.text):
                break
    last: tuple[_Segment, _Amount] | None = None
    for place, start, end in pieces:
        for amount in _amounts(place.text[start:end], doc.decimal_mark):
            # A total may be a bare whole number ("Grand Total 1939"), a count ("Total: 3") not.
            whole = label.kind == "total" and 10 <= abs(amount.value) < 10**7
            if amount.money or whole:
                amount.start += start
                amount.end += start
                last = (place, amount)
    if last is not None:
        return last
    if segment.text[label.end : label.value_end].strip(" :"):
        return None
    for below in doc.below(segment, segment.span_box(label.start, label.end), rows=1):
        begin, finish = doc.leading_value(below)
        amounts = [a for a in _amounts(below.text[begin:finish], doc.decimal_mark) if a.money]
        if amounts:
            amount = amounts[-1]
            amount.start += begin
            amount.end += begin
            return below, amount
    return None


def _totals(doc: _Document) -> dict[str, _AmountCandidate | None]:
    found = _label_amounts(doc, {"total", "subtotal", "tax"})
    # A zero is what is left to pay on a paid invoice, not its total.
    totals = sorted(found["total"], key=lambda c: (c.value != 0, c.strength, c.value, -c.order), reverse=True)
    subtotals = sorted(found["subtotal"], key=lambda c: (c.strength, -c.order), reverse=True)
    taxes = sorted(found["tax"], key=lambda c: (c.strength, -c.order), reverse=True)
    cent = Decimal("0.011")
    # A subtotal and a tax that add up to the total: take the three together. (A weaker total
    # that adds up, a "Total" before shipping under a "Grand total", does not replace the total.)
    top = totals[0] if totals else None
    for candidate in totals[:6]:
        if top is not None and candidate.value != top.value and candidate.strength < top.strength:
            continue
        for subtotal in subtotals[:6]:
            for tax in taxes[:6]:
                if tax.value != 0 and abs(subtotal.value + tax.value - candidate.value) < cent:
                    return {"total": _boost(candidate), "subtotal": _boost(subtotal), "tax": _boost(tax)}
    result: dict[str, _AmountCandidate | None] = {
        "total": totals[0] if totals else None,
        "subtotal": None,
        "tax": None,
    }
    total = result["total"]
    if subtotals:
        # Prefer a subtotal that is below the total (a "subtotal" equal to it is usually gross).
        below = [s for s in subtotals if total is None or s.value < total.value]
        result["subtotal"] = (below or subtotals)[0]
    if taxes:
        plausible = [t for t in taxes if total is None or abs(t.value) <= abs(total.value)]
        result["tax"] = (plausible or taxes)[0]
    if total is None and result["subtotal"] is not None and result["tax"] is not None:
        subtotal, tax = result["subtotal"], result["tax"]
        # No total printed: the sum, with no place on the page.
        result["total"] = _AmountCandidate(
            subtotal.value + tax.value, 1.0, 0.5 * min(subtotal.confidence, tax.confidence), None, None, subtotal.order
        )
    return result


def _boost(candidate: _AmountCandidate) -> _AmountCandidate:
    candidate.confidence = min(0.99, candidate.confidence + 0.08)
    return candidate


# --- parties ------------------------------------------------------------------------------------------


def _name_like(text: str) -> bool:
    text = text.strip(" ,;:-\u2013|")
    if not 2 <= len(text) <= 80 or "@" in text or re.search(r"https?://|www\.", text, re.IGNORECASE):
        return False
    words = text.split()
    if len(words) > 8:
        return False
    letters = sum(char.isalpha() for char in text)
    digits = sum(char.isdigit() for char in text)
    if letters < 2 or digits > letters / 2:
        return False
    if re.search(r":\s*\S", text) or text.endswith(":"):
        return False
    if not any(sum(char.isalpha() for char in word) >= 2 for word in words):
        return False  # "N V E": letters strewn by OCR, not a name
    capitalised = sum(1 for word in words if word[0].isupper() or word[0].isdigit() or not word[0].isalpha())
    return capitalised >= max(1, (len(words) + 1) // 2)


def _strip_title(text: str) -> str | None:
    """A line that names the issuer, without a trailing document title (`Acme Invoice`)."""
    words = text.split()
    while words and _fold(words[-1]).strip(".:") in _TITLE_WORDS:
        words.pop()
    if not words or any(_fold(word).strip(".:") in _TITLE_WORDS for word in words):
        return None
    return " ".join(words)


def _legal_names(text: str) -> list[tuple[int, int]]:
    """Spans of `Name Words LegalForm` in `text`."""
    spans = []
    for match in _LEGAL_RE.finditer(text):
        head = text[: match.start()].rstrip(" ,")
        tokens = list(re.finditer(r"\S+", head))
        begin = None
        taken = 0
        for token in reversed(tokens):
            word = token.group().strip(",")
            connector = word.casefold() in {"&", "and", "und", "et", "en", "de", "van", "von", "der", "-", "+"}
            if connector or re.search(r"[A-Z]", word) or (word[:1].isdigit() and re.search(r"[A-Za-z]", word)):
                if re.search(r"[:@/]", word) or word.endswith(":"):
                    break
                begin = token.start()
                taken += 1
                if taken >= 6:
                    break
            else:
                break
        if begin is None:
            continue
        while True:
            leading = re.match(r"(?:&|and|und|et|en|de|van|von|der|-|\+)\s+", text[begin:], re.IGNORECASE)
            if not leading:
                break
            begin += leading.end()
        if begin < match.start():
            spans.append((begin, match.end()))
    return spans


class _Names:
    """Vendor candidates, merged when one name contains the other."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, segment: _Segment, start: int, end: int, score: float, *, source_line: str = "") -> None:
        text = segment.text[start:end].strip(" ,;:-\u2013|")
        if not text:
            return
        offset = segment.text.find(text, start)
        start, end = offset, offset + len(text)
        key = _squash(text)
        if len(key) < 2:
            return
        legal = bool(_LEGAL_RE.search(text))
        variant = {"key": key, "text": text, "legal": legal, "segment": segment, "start": start, "end": end}
        for item in self.items:
            if any(key in other or other in key for other in item["keys"]):
                item["score"] += score
                item["keys"].add(key)
                item["lines"].add(_squash(source_line or segment.text))
                votes = item["votes"]
                votes[key] = votes.get(key, 0.0) + score + (0.5 if legal else 0.0)
                if key not in item["variants"] or score > item["variants"][key][1]:
                    item["variants"][key] = (variant, score)
                # The variant with most evidence is shown (its legal form counting for it).
                best = max(votes, key=lambda k: (votes[k], len(k)))
                item.update(item["variants"][best][0])
                return
        self.items.append(
            {
                **variant,
                "score": score,
                "keys": {key},
                "votes": {key: score + (0.5 if legal else 0.0)},
                "variants": {key: (variant, score)},
                "lines": {_squash(source_line or segment.text)},
            }
        )


def _customer_and_area(doc: _Document) -> tuple[_Candidate | None, set[int]]:
    """The customer's name, and the segments of the customer's (and ship-to) blocks."""
    area: set[int] = set()
    candidates: list[_Candidate] = []
    for segment in doc.segments:
        for label in doc.labels_of(segment):
            if label.kind not in ("customer", "shipTo"):
                continue
            if segment.row in doc.header_rows.get(segment.page, ()):
                continue
            block = _block_under(doc, segment, label)
            area.update(id(s) for s in block)
            if label.kind != "customer":
                continue
            for place, start, end in doc.value_places(label):
                text = place.text[start:end]
                text = re.sub(r"^(?:attn\.?|attention|c/o)\s*:?\s*", "", text, flags=re.IGNORECASE)
                if not _name_like(text):
                    continue
                begin = place.text.find(text, start)
                candidates.append(
                    _Candidate(
                        text.strip(" ,;:"),
                        label.strength,
                        0.8 * place.span_confidence(begin, begin + len(text)),
                        place.page,
                        place.span_box(begin, begin + len(text)),
                        segment.index,
                    )
                )
                break
    return _best(candidates), area


_POSTCODE_RE = re.compile(
    r"(?<![\d-])(?:\d{4,6}|\d{2}-\d{3}|[A-Z]{1,2}-\d{4,5})(?![\d-])|\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b"
)
_STREET_RE = re.compile(r"^\d+\w*,?\s+[^\W\d]|[^\W\d]{3,}\.?\s+\d+\w*(?:[-/]\d+)?,?$")


def _address_block_customer(doc: _Document, excluded: set[str]) -> _Candidate | None:
    """No customer label: the name over the first address block at the top of the first page
    that is not the issuer's (`excluded`: squashed vendor name and brand)."""
    if not doc.pages:
        return None
    page = doc.pages[0]
    limit = 0.45 * page.height if page.height else float("inf")
    segments = sorted((s for s in page.segments if s.y0 <= limit), key=lambda s: (s.x0, s.y0))
    blocks: list[list[_Segment]] = []
    for segment in sorted(segments, key=lambda s: s.y0):
        for block in blocks:
            last = block[-1]
            if abs(segment.x0 - block[0].x0) <= 6 and 0 <= segment.y0 - last.y1 <= 1.25 * last.height:
                block.append(segment)
                break
        else:
            blocks.append([segment])
    for block in sorted(blocks, key=lambda b: b[0].index):
        if len(block) < 2 or doc.labels_of(block[0]):
            continue
        name = block[0].text.strip(" ,")
        if not _name_like(name) or _REGISTRATION_RE.search(name):
            continue
        rest = [s.text for s in block[1:5]]
        if not any(_POSTCODE_RE.search(text) or _STREET_RE.search(text) for text in rest):
            continue
        joined = _squash(" ".join(s.text for s in block))
        if any(key and key in joined for key in excluded):
            continue
        if any(_EMAIL_RE.search(s.text) or _URL_RE.search(s.text) or _registration(s.text) for s in block):
            continue
        first = block[0]
        return _Candidate(
            name,
            1.0,
            0.45 * first.span_confidence(0, len(first.text)),
            first.page,
            first.span_box(0, len(first.text)),
            first.index,
        )
    return None


def _block_under(doc: _Document, segment: _Segment, label: _Label) -> list[_Segment]:
    """A party label's segment and the lines under it (same column, no wide gap), up to 7 rows."""
    page = doc.by_page[segment.page]
    block = [segment]
    x0, x1 = segment.span_box(label.start, label.end)[0], segment.x1
    for right in doc.right_of(segment, segment.x1)[:1]:
        if not doc.labels_of(right):
            block.append(right)
            x1 = max(x1, right.x1)
    bottom = segment.y1
    for row in page.rows[segment.row + 1 : segment.row + 8]:
        members = [s for s in row if min(s.x1, x1) - max(s.x0, x0) > 0]
        if not members:
            continue
        if min(s.y0 for s in members) - bottom > 2.2 * segment.height:
            break
        parties = ("vendor", "vendorFrom", "customer", "shipTo", "payee")
        if any(found.kind in parties for s in members for found in doc.labels_of(s)):
            break
        block.extend(members)
        bottom = max(s.y1 for s in members)
    return block


def _brand(doc: _Document, customer_area: set[int]) -> tuple[str, str] | None:
    """(squashed brand, as written) from the issuer's web or mail domain, when the text uses it."""
    counts: dict[str, int] = {}
    for segment in doc.segments:
        if id(segment) in customer_area or _GENERATOR_RE.search(segment.text):
            continue
        for match in list(_EMAIL_RE.finditer(segment.text)) + list(_URL_RE.finditer(segment.text)):
            parts = match.group(1).casefold().split(".")
            if len(parts) < 2:
                continue
            label = parts[-2]
            if label in _SECOND_LEVEL and len(parts) >= 3:
                label = parts[-3]
            if label in _GENERIC_DOMAINS or len(label) < 3:
                continue
            counts[label] = counts.get(label, 0) + 1
    best: tuple[int, str, str] | None = None
    for label, mentions in counts.items():
        squashed = re.sub(r"[\W_]+", "", label)
        written = _brand_in_text(doc, squashed, customer_area)
        if written is None:
            continue
        score = mentions + written[1]
        if best is None or score > best[0]:
            best = (score, _squash(written[0]), written[0])
    return (best[1], best[2]) if best else None


def _brand_evidence(doc: _Document, brand: tuple[str, str], customer_area: set[int]) -> int:
    """How often the brand is named: its domain's mentions and its word's."""
    mentions = 0
    for segment in doc.segments:
        if id(segment) in customer_area or _GENERATOR_RE.search(segment.text):
            continue
        plain = _URL_RE.sub(" ", _EMAIL_RE.sub(" ", segment.text))
        mentions += len(re.findall(rf"(?<!\w){re.escape(brand[1])}(?!\w)", plain))
        for match in list(_EMAIL_RE.finditer(segment.text)) + list(_URL_RE.finditer(segment.text)):
            mentions += int(brand[0][:4] in _squash(match.group(1)))
    return mentions


def _brand_in_text(doc: _Document, label: str, customer_area: set[int]) -> tuple[str, int] | None:
    """The words (outside URLs and mail addresses) that spell the domain's name, and how often."""
    exact: dict[str, int] = {}
    prefix: dict[str, int] = {}
    for segment in doc.segments:
        if id(segment) in customer_area or _GENERATOR_RE.search(segment.text):
            continue
        plain = _URL_RE.sub(" ", _EMAIL_RE.sub(" ", segment.text))
        words = re.findall(r"[^\W_][\w&'-]*", plain)
        for size in (1, 2, 3):
            for index in range(len(words) - size + 1):
                phrase = words[index : index + size]
                squashed = _squash("".join(phrase))
                if squashed == label:
                    exact[" ".join(phrase)] = exact.get(" ".join(phrase), 0) + 1
                elif size == 1 and len(squashed) >= 3 and label.startswith(squashed) and phrase[0].isupper():
                    prefix[phrase[0]] = prefix.get(phrase[0], 0) + 1
    if exact:
        written = max(exact.items(), key=lambda item: item[1])
        return written[0], sum(exact.values())
    repeated = {word: count for word, count in prefix.items() if count >= 2}
    if repeated:
        written = max(repeated.items(), key=lambda item: (item[1], len(item[0])))
        return written[0], written[1]
    return None


def _vendor(doc: _Document, customer_area: set[int], customer: _Candidate | None) -> _Candidate | None:
    names = _Names()
    customer_key = _squash(customer.value) if customer else None

    def usable(segment: _Segment) -> bool:
        return id(segment) not in customer_area

    # 1. Seller and payee labels.
    for segment in doc.segments:
        for label in doc.labels_of(segment):
            if label.kind not in ("vendor", "vendorFrom", "payee") or not usable(segment):
                continue
            # The value, else a little further down ("Service Provider:", a note, then the name).
            for place, start, end in doc.value_places(label) + _rows_below(doc, segment, label, 3):
                text = place.text[start:end]
                if text.lstrip().startswith("("):
                    continue
                spans = _legal_names(text)
                if spans:
                    begin, finish = spans[0]
                    names.add(place, start + begin, start + finish, label.strength, source_line=place.text)
                    break
                name = _leading_name(text)
                if name and _name_like(name):
                    begin = place.text.find(name, start)
                    names.add(place, begin, begin + len(name), label.strength, source_line=place.text)
                    break
    # 2. Names ending in a legal form.
    for segment in doc.segments:
        if not usable(segment):
            continue
        for begin, finish in _legal_names(segment.text):
            page = doc.by_page[segment.page]
            edge = page.height and (segment.y0 < 0.25 * page.height or segment.y1 > 0.8 * page.height)
            names.add(segment, begin, finish, 1.0 + (0.5 if edge else 0.0))
    # 3. The block above (or the line holding) registration ids.
    for segment in doc.segments:
        if not usable(segment) or not _registration(segment.text):
            continue
        for candidate, distance in _block_above(doc, segment):
            if not usable(candidate):
                continue
            spans = _legal_names(candidate.text)
            if spans:
                names.add(candidate, spans[0][0], spans[0][1], 2.0 / (1 + 0.25 * distance))
                break
            leading = _leading_name(candidate.text)
            if leading and _name_like(leading) and not _REGISTRATION_RE.search(leading):
                begin = candidate.text.find(leading)
                names.add(candidate, begin, begin + len(leading), 2.0 / (1 + 0.25 * distance))
                break
    # 4. Name-like lines at the top of the first page.
    if doc.pages:
        first = doc.pages[0]
        limit = 0.2 * first.height if first.height else float("inf")
        top = [
            s
            for s in first.segments
            if s.y0 <= limit and usable(s) and not doc.labels_of(s) and _name_like(_strip_title(s.text) or "")
        ]
        tallest = max((s.height for s in top), default=0.0)
        for position, segment in enumerate(top[:4]):
            text = _strip_title(segment.text) or ""
            begin = segment.text.find(text)
            bonus = (0.5 if position == 0 else 0.0) + (0.5 if segment.height >= tallest else 0.0)
            names.add(segment, begin, begin + len(text), 0.5 + bonus)
    items = [item for item in names.items if customer_key not in item["keys"]]
    if not items:
        brand = _brand(doc, customer_area)
        return _brand_candidate(doc, brand) if brand else None
    brand = _brand(doc, customer_area)
    if brand is not None:
        squashed, _ = brand
        with_brand = [
            item
            for item in items
            if any(squashed in key for key in item["keys"]) or any(squashed in line for line in item["lines"])
        ]
        if with_brand:
            items = with_brand
        elif _brand_evidence(doc, brand, customer_area) >= 3:
            # Named often enough (domain and word) to outrank the names found: a trading name.
            return _brand_candidate(doc, brand)
    best = max(items, key=lambda item: (item["score"], item["legal"], -item["segment"].index))
    segment, start, end = best["segment"], best["start"], best["end"]
    confidence = min(0.95, 0.45 + 0.1 * best["score"] + (0.1 if brand else 0.0))
    return _Candidate(
        best["text"],
        best["score"],
        confidence * segment.span_confidence(start, end),
        segment.page,
        segment.span_box(start, end),
        segment.index,
    )


def _registration(text: str) -> bool:
    """Whether a line states a registration id (a keyword followed by at least three digits)."""
    return any(re.search(r"\d{3}", text[match.end() :]) for match in _REGISTRATION_RE.finditer(text))


def _brand_candidate(doc: _Document, brand: tuple[str, str]) -> _Candidate | None:
    written = brand[1]
    for segment in doc.segments:
        position = segment.text.find(written)
        if position >= 0:
            return _Candidate(
                written,
                1.0,
                0.6 * segment.span_confidence(position, position + len(written)),
                segment.page,
                segment.span_box(position, position + len(written)),
                segment.index,
            )
    return None


def _rows_below(doc: _Document, segment: _Segment, label: _Label, rows: int) -> list[tuple[_Segment, int, int]]:
    """The segments under a label, a few rows down, each up to its first label."""
    if label.value_end < len(segment.text) or segment.text[label.end :].strip(" :"):
        return []
    box = segment.span_box(label.start, label.end)
    page = doc.by_page[segment.page]
    found: list[tuple[_Segment, int, int]] = []
    bottom = segment.y1
    for row in page.rows[segment.row + 1 : segment.row + 1 + rows]:
        for other in row:
            if other.y0 - bottom > 3 * segment.height:
                return found
            if min(other.x1, max(box[2], box[0] + 200)) - max(other.x0, box[0]) > 0:
                begin, finish = doc.leading_value(other)
                if finish > begin:
                    found.append((other, begin, finish))
                bottom = max(bottom, other.y1)
    return found


def _leading_name(text: str) -> str | None:
    """The capitalised words a value starts with (`Amazon Web Services, we're ...` -> the name);
    None when they are only a legal form (`Sarl au capital ...`)."""
    name = _capitalised_prefix(text)
    if name is None or _LEGAL_RE.fullmatch(name.strip(" .,")) or _LEGAL_RE.fullmatch(name.strip(" ,")):
        return None
    return name


def _capitalised_prefix(text: str) -> str | None:
    words = []
    for token in text.split():
        if token[:1].isupper() or token[:1].isdigit() or token in {"&", "-", "+"}:
            words.append(token)
            if token.endswith(",") and len(words) > 1:
                break
        else:
            break
    return " ".join(words).strip(" ,") or None


def _block_above(doc: _Document, segment: _Segment) -> list[tuple[_Segment, int]]:
    """The segment itself, then the lines above it in its column (up to 8, no wide gap)."""
    page = doc.by_page[segment.page]
    found = [(segment, 0)]
    top = segment.y0
    x0, x1 = segment.x0, segment.x1
    distance = 0
    candidates: list[tuple[_Segment, int]] = []
    for row in reversed(page.rows[max(0, segment.row - 8) : segment.row]):
        members = [s for s in row if min(s.x1, x1) - max(s.x0, x0) > 0]
        if not members:
            continue
        member = max(members, key=lambda s: min(s.x1, x1) - max(s.x0, x0))
        if top - member.y1 > 4 * max(member.height, segment.height):
            break
        distance += 1
        candidates.append((member, distance))
        top = member.y0
    # The block's top line is where the company name usually is.
    found.extend(reversed(candidates))
    return found


# --- line items ---------------------------------------------------------------------------------------

_COLUMN_WORDS = {
    "position": set(_words("# item# line lp no nr pos s.no sno sr")),
    "description": set(
        _words(
            "article articles artikel artikelbezeichnung beschreibung bezeichnung concept concepto "
            "descripcion description descrizione designation details item items leistung libelle nazwa "
            "omschrijving particulars prestation product products produit produkt service services title "
            "towaru"
        )
    ),
    "quantity": set(
        _words(
            "aantal anzahl cantidad hoeveelheid hours hrs ilosc menge nombre pcs qte qty quantita quantite "
            "quantity stk stuck units"
        )
    ),
    "unitPrice": set(
        _words(
            "cena einzelpreis ep precio preis prezzo price prijs prix pu rate stuckpreis stuksprijs tarif "
            "unit unitprice vk-preis"
        )
    ),
    "amount": set(
        _words(
            "amount bedrag betrag gesamt gesamtpreis importe importo linetotal montant subtotal sum totaal "
            "total wartosc zeilenbetrag"
        )
    ),
    "tax": set(_words("% btw gst iva kwota mwst tax tax(%) taxes tva ust vat")),
    "other": set(_words("code disc disc.% discount jm korting rabat rabatt rabatu remise uom")),
}
_ROLE_ORDER = ("position", "description", "quantity", "unitPrice", "amount", "tax", "other")


@dataclass
class _Column:
    role: str
    x0: float
    x1: float
    low: float = float("-inf")  # the span the column's cells fall in
    high: float = float("inf")


def _word_role(word: str) -> str | None:
    folded = _fold(word).strip(".:,;()[]")
    for role in _ROLE_ORDER:
        if folded in _COLUMN_WORDS[role] or folded.replace(".", "") in _COLUMN_WORDS[role]:
            return role
    return None


def _header_columns(words: list[_Word]) -> list[_Column] | None:
    """A table header's columns (words stacked over one another are one column), or None."""
    stacks: list[list[_Word]] = []
    for word in sorted(words, key=lambda w: w.x0):
        if stacks and any(min(word.x1, w.x1) - max(word.x0, w.x0) > 0.3 * (word.x1 - word.x0) for w in stacks[-1]):
            stacks[-1].append(word)
        else:
            stacks.append([word])
    columns: list[_Column] = []
    previous: _Word | None = None
    for stack in stacks:
        ordered = sorted(stack, key=lambda w: (w.y0, w.x0))
        roles = [r for r in (_word_role(w.text) for w in ordered) if r is not None]
        role = roles[0] if roles else None
        x0, x1 = min(w.x0 for w in stack), max(w.x1 for w in stack)
        lead = min(stack, key=lambda w: w.x0)
        height = max(lead.y1 - lead.y0, 1.0)
        close = previous is not None and columns and lead.x0 - previous.x1 < 0.9 * height
        qualifier = role == "tax" and columns and columns[-1].role in ("unitPrice", "amount")
        if close and (role is None or role == columns[-1].role or qualifier):
            columns[-1].x1 = max(columns[-1].x1, x1)
        elif role is not None:
            columns.append(_Column(role, x0, x1))
        previous = max(stack, key=lambda w: w.x1)
    roles_found = {column.role for column in columns}
    if not roles_found & {"unitPrice", "amount"} or not roles_found & {"description", "quantity"}:
        return None
    if len(roles_found & {"description", "quantity", "unitPrice", "amount"}) < 2:
        return None
    if "amount" not in roles_found:
        prices = [c for c in columns if c.role == "unitPrice"]
        if len(prices) >= 2:
            prices[-1].role = "amount"
    for left, right in itertools.pairwise(columns):
        if left.role == "description":
            # Descriptions run long and figures sit under their headers: cut close to the next one.
            middle = right.x0 - min(10.0, 0.2 * max(right.x0 - left.x1, 0.0))
        else:
            middle = (left.x1 + right.x0) / 2
        left.high, right.low = middle, middle
    return columns


def _has_money(row: list[_Segment], doc: _Document) -> bool:
    return any(a.money for s in row for a in _amounts(s.text, doc.decimal_mark))


def _table_headers(doc: _Document) -> dict[int, list[tuple[int, int, list[_Column]]]]:
    """Per page: (first row, last row, columns) of each table header (up to four rows tall)."""
    found: dict[int, list[tuple[int, int, list[_Column]]]] = {}
    for page in doc.pages:
        index = 0
        while index < len(page.rows):
            header = None
            for size in range(1, 5):
                window = page.rows[index : index + size]
                if len(window) < size or any(_has_money(row, doc) for row in window):
                    break
                if size > 1:
                    above, below = window[-2], window[-1]
                    gap = min(s.y0 for s in below) - max(s.y1 for s in above)
                    if gap > 1.2 * max(s.height for s in above):
                        break
                words = [w for row in window for s in row for w in s.words]
                columns = _header_columns(words) if len(words) >= 2 else None
                if columns is not None:
                    header = (index, index + size - 1, columns)
                    break
            if header is not None:
                found.setdefault(page.number, []).append(header)
                index = header[1] + 1
            else:
                index += 1
    return found


def _table_header_rows(doc: _Document) -> dict[int, set[int]]:
    headers = _table_headers(doc)
    doc.tables = headers
    return {
        page: {row for first, last, _ in tables for row in range(first, last + 1)} for page, tables in headers.items()
    }


def _line_items(doc: _Document) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in doc.pages:
        for _, last, columns in doc.tables.get(page.number, []):
            items.extend(_table_items(doc, page, last, columns))
    return [_finish_item(item) for item in items]


def _table_items(doc: _Document, page: _Page, header_last: int, columns: list[_Column]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    header_words = [w for s in page.rows[header_last] for w in s.words]
    line_height = sorted(w.y1 - w.y0 for w in header_words)[len(header_words) // 2]
    header_rows = doc.header_rows.get(page.number, set())
    current: dict[str, Any] | None = None
    last_bottom = max(w.y1 for w in header_words)
    for row_index in range(header_last + 1, len(page.rows)):
        row = page.rows[row_index]
        if row_index in header_rows:
            break  # the next table
        words = sorted((w for s in row for w in s.words), key=lambda w: w.x0)
        row_top, row_bottom = min(w.y0 for w in words), max(w.y1 for w in words)
        if row_top - last_bottom > 12 * line_height:
            break
        opening = [
            label.kind
            for segment in row
            for label in doc.labels_of(segment)[:1]
            if label.start == 0 and label.kind in ("total", "subtotal", "tax")
        ]
        if opening:
            if "total" in opening:
                break
            current = None
            continue
        parsed = _item_row(doc, row, words, columns)
        if parsed is not None:
            current = parsed
            items.append(parsed)
            last_bottom = row_bottom
            continue
        if current is not None and row_top - last_bottom <= 1.6 * line_height:
            text = " ".join(w.text for w in words if _role_at(columns, (w.x0 + w.x1) / 2) == "description")
            if text:
                description = current["description"]
                description["value"] = f"{description['value']} {text}".strip()
            last_bottom = row_bottom
            continue
        current = None
    return items


def _role_at(columns: list[_Column], x: float) -> str:
    for column in columns:
        if column.low <= x < column.high:
            return column.role
    return columns[-1].role


def _item_row(doc: _Document, row: list[_Segment], words: list[_Word], columns: list[_Column]) -> dict[str, Any] | None:
    """One table row as an item, when it has money outside the description column."""
    cells: dict[str, list[tuple[_Amount, _Segment]]] = {}
    for segment in row:
        for amount in _amounts(segment.text, doc.decimal_mark):
            x0, _, x1, _ = segment.span_box(amount.start, amount.end)
            cells.setdefault(_role_at(columns, (x0 + x1) / 2), []).append((amount, segment))
    money = [
        (amount, segment)
        for role, found in cells.items()
        if role not in ("description", "position")
        for amount, segment in found
        if amount.money
    ]
    if not money:
        return None
    chosen: dict[str, tuple[_Amount, _Segment]] = {}
    quantities = cells.get("quantity", [])
    if quantities:
        chosen["quantity"] = quantities[0]
    for role in ("unitPrice", "amount"):
        found = [(a, s) for a, s in cells.get(role, []) if a.money]
        if found:
            chosen[role] = found[-1]
    if "amount" not in chosen and not any(c.role == "amount" for c in columns):
        chosen["amount"] = max(money, key=lambda m: m[1].span_box(m[0].start, m[0].end)[2])
    description_words = [w for w in words if _role_at(columns, (w.x0 + w.x1) / 2) == "description"]
    if not description_words or ("amount" not in chosen and "unitPrice" not in chosen):
        return None
    page = row[0].page
    item: dict[str, Any] = {
        "description": {
            "value": " ".join(w.text for w in description_words),
            "confidence": 0.7 * sum(w.confidence for w in description_words) / len(description_words),
            "page": page,
            "bbox": [
                min(w.x0 for w in description_words),
                min(w.y0 for w in description_words),
                max(w.x1 for w in description_words),
                max(w.y1 for w in description_words),
            ],
        }
    }
    for role, (amount, segment) in chosen.items():
        text = format(amount.value.normalize(), "f") if role == "quantity" else _format_amount(amount.value)
        item[role] = {
            "value": text,
            "confidence": 0.75 * segment.span_confidence(amount.start, amount.end),
            "page": page,
            "bbox": list(segment.span_box(amount.start, amount.end)),
        }
    quantity, unit, total = (item.get(k, {}).get("value") for k in ("quantity", "unitPrice", "amount"))
    if quantity and unit and total and abs(Decimal(quantity) * Decimal(unit) - Decimal(total)) < Decimal("0.011"):
        for role in ("quantity", "unitPrice", "amount"):
            item[role]["confidence"] = min(0.95, item[role]["confidence"] + 0.15)
    return item


def _finish_item(item: dict[str, Any]) -> dict[str, Any]:
    result = {}
    for role in LINE_ITEM_FIELDS:
        found = item.get(role)
        if found is None:
            result[role] = empty_field()
        else:
            result[role] = _field(found["value"], found["confidence"], found["page"], found["bbox"], "rules")
    return result


# --- extraction ---------------------------------------------------------------------------------------


def extract_invoice(pages: list[dict[str, Any]], *, template: dict[str, Any] | None = None) -> dict[str, Any]:
    """Invoice fields and line items from OCR-shaped pages (see the module docstring)."""
    checked = validate_template(template) if template is not None else None
    doc = _Document(pages)
    fields: dict[str, dict[str, Any]] = {}

    def put(name: str, candidate: _Candidate | None) -> None:
        if candidate is None:
            fields[name] = empty_field()
        else:
            fields[name] = _field(candidate.value, candidate.confidence, candidate.page, candidate.bbox, "rules")

    customer, area = _customer_and_area(doc)
    vendor = _vendor(doc, area, customer)
    if customer is None:
        brand = _brand(doc, area)
        excluded = {_squash(vendor.value) if vendor else "", brand[0] if brand else ""}
        customer = _address_block_customer(doc, excluded)
    put("vendor", vendor)
    put("customer", customer)
    put("invoiceNumber", _invoice_number(doc))
    put("issueDate", _dates(doc, "issueDate"))
    put("dueDate", _dates(doc, "dueDate"))
    if doc.currency:
        fields["currency"] = _currency_field(doc)
    else:
        fields["currency"] = empty_field()
    totals = _totals(doc)
    for name in ("subtotal", "tax", "total"):
        found = totals[name]
        if found is None:
            fields[name] = empty_field()
        else:
            fields[name] = _field(_format_amount(found.value), found.confidence, found.page, found.bbox, "rules")
    result: dict[str, Any] = {"fields": {name: fields[name] for name in FIELD_NAMES}, "lineItems": _line_items(doc)}
    if checked is not None:
        _apply_template(doc, checked, result["fields"])
    return result


def _currency_field(doc: _Document) -> dict[str, Any]:
    code = doc.currency
    for segment in doc.segments:
        for amount in _amounts(segment.text, doc.decimal_mark):
            if amount.currency == code:
                match = re.search(re.escape(amount.text.strip()), segment.text)
                if match:
                    return _field(code, 0.85, segment.page, segment.span_box(*match.span()), "rules")
    return _field(code, 0.6, None, None, "rules")


# --- templates ----------------------------------------------------------------------------------------


def validate_template(template: Mapping[str, Any]) -> dict[str, Any]:
    """The template checked and normalised; raises ValidationFailed naming what is wrong."""
    if not isinstance(template, Mapping):
        raise ValidationFailed("template: must be an object.", details={"field": "template"})
    name = template.get("name")
    if name is not None and not isinstance(name, str):
        raise ValidationFailed("template.name: must be a string.", details={"field": "template.name"})
    raw_fields = template.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        raise ValidationFailed("template.fields: must be a non-empty list.", details={"field": "template.fields"})
    if len(raw_fields) > MAX_TEMPLATE_FIELDS:
        raise ValidationFailed(
            f"template.fields: at most {MAX_TEMPLATE_FIELDS} fields.", details={"field": "template.fields"}
        )
    checked = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_fields):
        where = f"template.fields.{index}"
        if not isinstance(raw, Mapping):
            raise ValidationFailed(f"{where}: must be an object.", details={"field": where})
        field_name = raw.get("name")
        if not isinstance(field_name, str) or not re.fullmatch(r"[A-Za-z_][\w.-]{0,63}", field_name):
            raise ValidationFailed(
                f"{where}.name: must be 1 to 64 letters, digits, '_', '.' or '-', starting with a letter.",
                details={"field": f"{where}.name"},
            )
        if field_name in seen:
            raise ValidationFailed(f"{where}.name: {field_name!r} appears twice.", details={"field": f"{where}.name"})
        seen.add(field_name)
        kind = raw.get("type", "string")
        if kind not in TEMPLATE_TYPES:
            raise ValidationFailed(
                f"{where}.type: must be one of {', '.join(TEMPLATE_TYPES)}.", details={"field": f"{where}.type"}
            )
        keywords = raw.get("keywords") or []
        if not isinstance(keywords, list) or not all(isinstance(k, str) and k.strip() for k in keywords):
            raise ValidationFailed(
                f"{where}.keywords: must be a list of non-empty strings.", details={"field": f"{where}.keywords"}
            )
        if any(len(k) > 200 for k in keywords) or len(keywords) > 20:
            raise ValidationFailed(
                f"{where}.keywords: at most 20 keywords of 200 characters.", details={"field": f"{where}.keywords"}
            )
        pattern = raw.get("regex")
        if pattern is not None:
            if not isinstance(pattern, str) or not pattern:
                raise ValidationFailed(
                    f"{where}.regex: must be a non-empty string.", details={"field": f"{where}.regex"}
                )
            try:
                validate_pattern(pattern)
            except ValidationFailed as error:
                raise ValidationFailed(
                    f"{where}.regex: {error.message}", details={"field": f"{where}.regex", "pattern": pattern}
                ) from None
        hints = raw.get("pageHints") or []
        if not isinstance(hints, list) or not all(
            isinstance(h, int) and not isinstance(h, bool) and h >= 1 for h in hints
        ):
            raise ValidationFailed(
                f"{where}.pageHints: must be a list of page numbers (1 or more).",
                details={"field": f"{where}.pageHints"},
            )
        options = raw.get("options") or []
        if not isinstance(options, list) or not all(isinstance(o, str) and o.strip() for o in options):
            raise ValidationFailed(
                f"{where}.options: must be a list of non-empty strings.", details={"field": f"{where}.options"}
            )
        if kind == "enum" and not options:
            raise ValidationFailed(
                f"{where}.options: an enum field needs its options.", details={"field": f"{where}.options"}
            )
        required = raw.get("required", False)
        if not isinstance(required, bool):
            raise ValidationFailed(f"{where}.required: must be true or false.", details={"field": f"{where}.required"})
        checked.append(
            {
                "name": field_name,
                "type": kind,
                "keywords": [k.strip() for k in keywords],
                "regex": pattern,
                "pageHints": hints,
                "required": required,
                "options": [o.strip() for o in options],
            }
        )
    return {"name": name, "fields": checked}


def _apply_template(doc: _Document, template: Mapping[str, Any], fields: dict[str, dict[str, Any]]) -> None:
    for spec in template["fields"]:
        anchored = bool(spec["regex"] or spec["keywords"])
        if not anchored and spec["type"] != "enum":
            if spec["name"] not in fields:
                fields[spec["name"]] = empty_field("template")
            continue
        fields[spec["name"]] = _template_field(doc, spec)


class _Piece:
    """Text from one or more segments (a row, or a label's value), joined by spaces, capped at
    MAX_REGEX_INPUT characters, that maps its character offsets back to the words."""

    def __init__(self, chunks: list[tuple[_Segment, int, int]]) -> None:
        self.chunks: list[tuple[_Segment, int, int, int]] = []  # segment, start, end, offset in text
        parts, offset = [], 0
        for segment, start, end in chunks:
            if offset >= MAX_REGEX_INPUT:
                break
            end = min(end, start + MAX_REGEX_INPUT - offset)
            self.chunks.append((segment, start, end, offset))
            parts.append(segment.text[start:end])
            offset += end - start + 1
        self.text = " ".join(parts)[:MAX_REGEX_INPUT]

    def place(self, start: int, end: int) -> tuple[int, list[float], float]:
        """The page, box and mean word confidence of the characters [start, end)."""
        boxes: list[tuple[float, float, float, float]] = []
        confidences: list[float] = []
        page = self.chunks[0][0].page
        for segment, begin, finish, offset in self.chunks:
            low, high = max(start, offset), min(end, offset + finish - begin)
            if low < high or (start == end == low):
                if not boxes:
                    page = segment.page
                boxes.append(segment.span_box(begin + low - offset, begin + high - offset))
                confidences.append(segment.span_confidence(begin + low - offset, begin + high - offset))
        if not boxes:
            segment, begin, finish, _ = self.chunks[0]
            boxes, confidences = [segment.span_box(begin, finish)], [segment.span_confidence(begin, finish)]
        box = [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]
        return page, box, sum(confidences) / len(confidences)


def _template_pieces(doc: _Document, spec: Mapping[str, Any]) -> list[_Piece]:
    """Where a template field is looked for: after each of its keywords (the rest of its cell, the
    cell right of it, the cell below; for a pattern the whole rest of the row), else every row of
    its pages (an enum with options alone: any row that names one)."""
    pages = set(spec["pageHints"]) or {page.number for page in doc.pages}
    pieces: list[_Piece] = []
    for page in doc.pages:
        if page.number not in pages:
            continue
        for row in page.rows:
            if not spec["keywords"]:
                pieces.append(_Piece([(segment, 0, len(segment.text)) for segment in row]))
                continue
            for position, segment in enumerate(row):
                folded = segment.text.casefold()
                for keyword in spec["keywords"]:
                    found = folded.find(keyword.casefold())
                    if found < 0:
                        continue
                    end = found + len(keyword)
                    label = _Label("template", 5.0, segment, found, end, len(segment.text))
                    places = doc.value_places(label)
                    if spec["regex"]:
                        # A pattern may reach across the row's cells, or be in the cell below.
                        rest = [(segment, end, len(segment.text))] + [(s, 0, len(s.text)) for s in row[position + 1 :]]
                        pieces.append(_Piece(rest))
                        places = [place for place in places if place[0] is not segment]
                    pieces.extend(_Piece([place]) for place in places)
    return pieces


def _template_field(doc: _Document, spec: Mapping[str, Any]) -> dict[str, Any]:
    pattern = re.compile(spec["regex"]) if spec["regex"] else None
    anchored = bool(spec["regex"] or spec["keywords"])
    for piece in _template_pieces(doc, spec):
        text = piece.text
        offset = 0
        if pattern is not None:
            match = pattern.search(text)
            if match is None:
                continue
            group: int | str = "value" if "value" in pattern.groupindex else (1 if pattern.groups else 0)
            if match.group(group) is None:
                continue
            offset, text = match.start(group), match.group(group)
        typed = _typed_value(doc, spec, text)
        if typed is None:
            continue
        value, start, length = typed
        page, box, certainty = piece.place(offset + start, offset + start + length)
        confidence = (0.95 if anchored else 0.8) * certainty
        return _field(value, confidence, page, box, "template")
    return empty_field("template")


def _typed_value(doc: _Document, spec: Mapping[str, Any], text: str) -> tuple[str, int, int] | None:
    """(value, offset, length) of the field's type in `text`."""
    kind = spec["type"]
    if kind == "date":
        found = _find_dates(text, day_first=doc.day_first)
        return (found[0].value.isoformat(), found[0].start, found[0].end - found[0].start) if found else None
    if kind == "amount":
        amounts = _amounts(text, doc.decimal_mark)
        if not amounts:
            return None
        chosen = amounts[0] if spec["regex"] else (next((a for a in amounts if a.money), amounts[0]))
        return _format_amount(chosen.value), chosen.start, chosen.end - chosen.start
    if kind == "enum":
        folded = text.casefold()
        for option in sorted(spec["options"], key=len, reverse=True):
            match = re.search(rf"(?<!\w){re.escape(option.casefold())}(?!\w)", folded)
            if match:
                return option, match.start(), match.end() - match.start()
        return None
    stripped = text.strip(" :;#-\u2013|")
    if not stripped:
        return None
    offset = text.find(stripped)
    return stripped, offset, len(stripped)


# --- regex safety -------------------------------------------------------------------------------------


def validate_pattern(pattern: str) -> None:
    """Refuse a user regex that does not compile or could run for a long time (ValidationFailed).

    Two checks: the parse tree must not repeat, without bound, something that itself repeats
    without bound unless a character the inner repeat cannot match separates the rounds (the
    `(a+)+` family); and a trial run against adversarial strings in a separate Python process
    must finish within PATTERN_TRIAL_SECONDS (catching the rest, such as `(a|aa)+$`).
    """
    _validate_pattern(pattern)


@lru_cache(maxsize=256)
def _validate_pattern(pattern: str) -> None:
    if not isinstance(pattern, str):
        raise ValidationFailed("The pattern must be a string.", details={"pattern": repr(pattern)})
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ValidationFailed(
            f"The pattern '{pattern[:40]}...' is longer than {MAX_PATTERN_LENGTH} characters.",
            details={"pattern": pattern},
        )
    try:
        compiled = re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as error:
        raise ValidationFailed(
            f"The pattern '{pattern}' does not compile: {error}.", details={"pattern": pattern}
        ) from None
    from re import _parser  # type: ignore[attr-defined]

    try:
        tree = _parser.parse(pattern)
    except Exception:
        tree = None
    if tree is not None:
        ignore_case = bool(compiled.flags & re.IGNORECASE)
        problem = _nested_repeat(list(tree), ignore_case)
        if problem:
            raise ValidationFailed(
                f"The pattern '{pattern}' could take exponential time: {problem}.",
                details={"pattern": pattern},
            )
    if not _trial(pattern, _literal_chars(tree) if tree is not None else set()):
        raise ValidationFailed(
            f"The pattern '{pattern}' is too slow: it did not finish on a {MAX_REGEX_INPUT}-character "
            f"test input within {PATTERN_TRIAL_SECONDS:g} s.",
            details={"pattern": pattern},
        )


def _opcodes() -> Any:
    from re import _constants  # type: ignore[attr-defined]

    return _constants


def _nested_repeat(items: list[Any], ignore_case: bool) -> str | None:
    """A description of an unbounded repeat inside another with nothing to separate them, or None."""
    c = _opcodes()
    repeats = (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", None))
    for op, av in items:
        if op in repeats and op is not None:
            _, high, body = av
            body_items = list(body)
            if high == c.MAXREPEAT or high > 50:
                inner = _unbounded_inside(body_items)
                possessive = op == getattr(c, "POSSESSIVE_REPEAT", None)  # never backtracks
                if inner and not possessive and not _separated(body_items, inner, ignore_case):
                    return "an unbounded repeat inside another unbounded repeat (as in (a+)+)"
            found = _nested_repeat(body_items, ignore_case)
            if found:
                return found
        elif op == c.SUBPATTERN:
            found = _nested_repeat(list(av[-1]), ignore_case)
            if found:
                return found
        elif op == c.BRANCH:
            for branch in av[1]:
                found = _nested_repeat(list(branch), ignore_case)
                if found:
                    return found
        elif op in (c.ASSERT, c.ASSERT_NOT):
            found = _nested_repeat(list(av[1]), ignore_case)
            if found:
                return found
    return None


def _unbounded_inside(items: list[Any]) -> list[list[Any]]:
    """The bodies of unbounded repeats anywhere inside `items`."""
    c = _opcodes()
    found: list[list[Any]] = []
    for op, av in items:
        if op in (c.MAX_REPEAT, c.MIN_REPEAT) or op == getattr(c, "POSSESSIVE_REPEAT", None):
            _, high, body = av
            if high == c.MAXREPEAT or high > 50:
                found.append(list(body))
            found.extend(_unbounded_inside(list(body)))
        elif op == c.SUBPATTERN:
            found.extend(_unbounded_inside(list(av[-1])))
        elif op == c.BRANCH:
            for branch in av[1]:
                found.extend(_unbounded_inside(list(branch)))
    return found


_PROBE = [chr(code) for code in range(32, 127)] + list("\t\n\u00a0éłüß€£₹")


def _char_matcher(item: Any, ignore_case: bool) -> set[str] | None:
    """The probe characters a one-character node matches, or None if it is not one character."""
    c = _opcodes()
    op, av = item
    chars: set[str] = set()

    def fold(char: str) -> set[str]:
        return {char, char.lower(), char.upper()} if ignore_case else {char}

    if op == c.LITERAL:
        return fold(chr(av))
    if op == c.NOT_LITERAL:
        excluded = fold(chr(av))
        return {ch for ch in _PROBE if ch not in excluded}
    if op == c.ANY:
        return set(_PROBE) - {"\n"}
    if op == c.IN:
        negate = False
        for sub_op, sub_av in av:
            if sub_op == c.NEGATE:
                negate = True
            elif sub_op == c.LITERAL:
                chars |= fold(chr(sub_av))
            elif sub_op == c.RANGE:
                low, high = sub_av
                chars |= {ch for ch in _PROBE if low <= ord(ch) <= high}
                if ignore_case:
                    chars |= {ch for ch in _PROBE if low <= ord(ch.lower()) <= high or low <= ord(ch.upper()) <= high}
            elif sub_op == c.CATEGORY:
                chars |= _category(sub_av)
            else:
                return None
        return set(_PROBE) - chars if negate else chars
    return None


def _category(category: Any) -> set[str]:
    c = _opcodes()
    tests = {
        c.CATEGORY_DIGIT: str.isdigit,
        c.CATEGORY_SPACE: str.isspace,
        c.CATEGORY_WORD: lambda ch: ch.isalnum() or ch == "_",
    }
    negated = {
        c.CATEGORY_NOT_DIGIT: c.CATEGORY_DIGIT,
        c.CATEGORY_NOT_SPACE: c.CATEGORY_SPACE,
        c.CATEGORY_NOT_WORD: c.CATEGORY_WORD,
    }
    if category in tests:
        return {ch for ch in _PROBE if tests[category](ch)}
    if category in negated:
        return {ch for ch in _PROBE if not tests[negated[category]](ch)}
    return set(_PROBE)


def _separated(body: list[Any], inner: list[list[Any]], ignore_case: bool) -> bool:
    """Whether the outer repeat's body has a required character that no inner repeat can match."""
    c = _opcodes()
    inner_sets = []
    for repeated in inner:
        if len(repeated) != 1:
            return False
        matched = _char_matcher(repeated[0], ignore_case)
        if matched is None:
            return False
        inner_sets.append(matched)
    for item in _required_items(body):
        matched = _char_matcher(item, ignore_case)
        if matched is not None and all(not (matched & other) for other in inner_sets):
            return True
    del c
    return False


def _required_items(items: list[Any]) -> list[Any]:
    """The one-character nodes every match of `items` passes through (not inside optional parts)."""
    c = _opcodes()
    found = []
    for op, av in items:
        if op in (c.LITERAL, c.IN, c.NOT_LITERAL, c.ANY):
            found.append((op, av))
        elif op == c.SUBPATTERN:
            found.extend(_required_items(list(av[-1])))
    return found


def _literal_chars(tree: Any) -> set[str]:
    c = _opcodes()
    chars: set[str] = set()

    def walk(items: Any) -> None:
        for op, av in items:
            if op == c.LITERAL:
                chars.add(chr(av))
            elif op in (c.MAX_REPEAT, c.MIN_REPEAT) or op == getattr(c, "POSSESSIVE_REPEAT", None):
                walk(av[2])
            elif op == c.SUBPATTERN:
                walk(av[-1])
            elif op == c.BRANCH:
                for branch in av[1]:
                    walk(branch)
            elif op == c.IN:
                for sub_op, sub_av in av:
                    if sub_op == c.LITERAL:
                        chars.add(chr(sub_av))
                    elif sub_op == c.RANGE:
                        chars.add(chr(sub_av[0]))

    walk(tree)
    return {ch for ch in chars if ch.isprintable() or ch.isspace()}


_TRIAL_SCRIPT = """
import json, re, sys
job = json.loads(sys.stdin.read())
pattern = re.compile(job["pattern"])
for text in job["inputs"]:
    pattern.search(text)
sys.stdout.write("ok")
"""


def _trial(pattern: str, literals: set[str]) -> bool:
    """Whether the pattern searches every adversarial input within the time limit."""
    length = MAX_REGEX_INPUT
    alphabet = sorted((set("a0 .,-/:") | literals) - {"\x00"})[:24]
    inputs = []
    for char in alphabet:
        inputs.append(char * (length - 1) + "\x00")
    inputs.append(("a " * length)[: length - 1] + "\x00")
    inputs.append(("a1" * length)[: length - 1] + "!")
    try:
        completed = subprocess.run(  # noqa: S603 - our own interpreter, our own script
            [sys.executable, "-I", "-S", "-c", _TRIAL_SCRIPT],
            input=json.dumps({"pattern": pattern, "inputs": inputs}),
            capture_output=True,
            text=True,
            timeout=PATTERN_TRIAL_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return completed.returncode == 0 and completed.stdout == "ok"
