"""hOCR 1.2 output: the OCR pages (see `pdfjobs.ocr`) as one XHTML document.

Each page is an `ocr_page` whose coordinate space is the page as displayed, in PDF points
from its top left (`bbox 0 0 W H`, `scan_res 72 72`: one unit is one point, 1/72 inch); its
lines are `ocr_line` and their words `ocrx_word`, each with an integer `bbox` (rounded
outwards, so it still holds the word) and an integer `x_wconf` confidence.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

_DOCTYPE = (
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n'
    '    "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">'
)
_CAPABILITIES = "ocr_page ocr_line ocrx_word ocrp_wconf"
# Characters XML 1.0 cannot carry, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_WHITESPACE = re.compile(r"\s+")


def to_hocr(pages: Sequence[dict[str, Any]], *, title: str = "OCR result", languages: Sequence[str] = ()) -> str:
    """The hOCR document of `pages` (OCR page dicts, boxes in points from the top left)."""
    head = [
        f"  <title>{_text(title)}</title>",
        '  <meta http-equiv="Content-Type" content="text/html; charset=utf-8" />',
        '  <meta name="ocr-system" content="pdfjobs" />',
        f'  <meta name="ocr-capabilities" content="{_CAPABILITIES}" />',
        f'  <meta name="ocr-number-of-pages" content="{len(pages)}" />',
        '  <meta name="ocr-coordinate-units" content="pt" />',
    ]
    if languages:  # OCR engine codes (eng, chi_sim), so not an xml:lang
        head.append(f'  <meta name="ocr-langs" content="{_attribute(" ".join(languages))}" />')
    body: list[str] = []
    for position, page in enumerate(pages):
        body += _page(page, position)
    return "\n".join(
        [
            '<?xml version="1.0" encoding="UTF-8"?>',
            _DOCTYPE,
            '<html xmlns="http://www.w3.org/1999/xhtml">',
            " <head>",
            *head,
            " </head>",
            " <body>",
            *body,
            " </body>",
            "</html>",
            "",
        ]
    )


def _page(page: dict[str, Any], position: int) -> list[str]:
    number = _integer(page.get("page"), position + 1)
    width = _coordinate(page.get("width"), math.ceil)
    height = _coordinate(page.get("height"), math.ceil)
    out = [
        f'  <div class="ocr_page" id="page_{number}" '
        f'title="bbox 0 0 {width} {height}; ppageno {number - 1}; scan_res 72 72">'
    ]
    for line_number, line in enumerate(page.get("lines") or (), start=1):
        words = list(_words(line))
        if not words:
            continue
        box = _bbox(line.get("bbox")) if line.get("bbox") is not None else None
        if box is None:
            box = _hull(word_box for _, word_box, _ in words)
        out.append(
            f'   <span class="ocr_line" id="line_{number}_{line_number}" title="bbox {" ".join(map(str, box))}">'
        )
        for word_number, (text, word_box, confidence) in enumerate(words, start=1):
            properties = f"bbox {' '.join(map(str, word_box))}"
            if confidence is not None:
                properties += f"; x_wconf {confidence}"
            out.append(
                f'    <span class="ocrx_word" id="word_{number}_{line_number}_{word_number}" '
                f'title="{properties}">{_text(text)}</span>'
            )
        out.append("   </span>")
    out.append("  </div>")
    return out


def _words(line: dict[str, Any]) -> Iterable[tuple[str, tuple[int, int, int, int], int | None]]:
    words = line.get("words") or [line]
    for word in words:
        text = _WHITESPACE.sub(" ", _NOT_XML.sub("", str(word.get("text") or ""))).strip()
        box = _bbox(word.get("bbox"))
        if text and box is not None:
            yield text, box, _confidence(word.get("confidence"))


def _bbox(value: Any) -> tuple[int, int, int, int] | None:
    """An integer box holding the given one (rounded outwards), or None if it is no box."""
    try:
        x0, y0, x1, y1 = (float(number) for number in value)
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(number) for number in (x0, y0, x1, y1)):
        return None
    x0, x1 = sorted((x0, x1))
    y0, y1 = sorted((y0, y1))
    return math.floor(x0), math.floor(y0), math.ceil(x1), math.ceil(y1)


def _hull(boxes: Iterable[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    listed = list(boxes)
    return (
        min(box[0] for box in listed),
        min(box[1] for box in listed),
        max(box[2] for box in listed),
        max(box[3] for box in listed),
    )


def _confidence(value: Any) -> int | None:
    try:
        confidence = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(confidence):
        return None
    return max(0, min(100, round(confidence)))


def _coordinate(value: Any, rounding: Any) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0
    return int(rounding(number)) if math.isfinite(number) and number > 0 else 0


def _integer(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _text(value: str) -> str:
    return escape(_NOT_XML.sub("", value), quote=False)


def _attribute(value: str) -> str:
    return escape(_NOT_XML.sub("", value), quote=True)
