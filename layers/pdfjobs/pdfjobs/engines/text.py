"""Text of born-digital PDFs: per page, the text and its blocks (paragraphs/regions) in reading order.

How a page is read, cheaply (per line and per word gap, never a Python loop over every character):

1. pdfium's text page gives the characters in content order with its own line breaks (CRLF),
   fetched in one call.
2. Each pdfium line becomes one or more *segments*: its extent comes from the loose boxes of its
   first and last characters; a line made of several text objects is cut at whitespace where the
   gap is wide (table cells, columns written row by row). Lines whose ends do not sit on one
   baseline (pdfium joined visual lines) fall back to per-character boxes.
3. Segments are ordered by a recursive XY-cut: a region is split at its widest horizontal
   whitespace bands (rows) or vertical ones (column gutters); widest first, so a title above two
   columns is cut off before the columns could be sliced into rows. When both cuts exist:
   columns of prose lines are columns; a "column" that is one line is a cell (label and value);
   otherwise the cut that agrees better with the content-stream order wins (tables written row
   by row stay rows, side-by-side blocks written one after the other stay blocks), rows on a tie.
4. Segments sharing a baseline form lines; consecutive lines form blocks while they stack like a
   paragraph (just below, sharing width, same height, no wider gap than the page's usual leading).
   Text entirely off the page is dropped, text running off it clipped.

Coordinates are PDF points with the origin at the top left of the page as displayed (after
/Rotate), y growing downward.
"""

from __future__ import annotations

import ctypes
import itertools
import math
import operator
import os
import re
from collections.abc import Callable
from statistics import median
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from pdfjobs import errors
from pdfjobs.pdf.document import open_pdf

# Gaps are measured in units of the page's median line height (a loose box is ~1.15 em tall).
_WORD_GAP = 0.9  # wider than any justified word space: the line is cut into two segments
_COLUMN_GAP = 0.9  # a blank vertical band this wide, top to bottom of a region, separates columns
_ROW_GAP = 0.05  # any real blank horizontal band separates rows
_PROSE_WIDTH = 10.0  # columns whose typical line is this wide are text columns, read one after another
_PARAGRAPH_LEADING = 1.5  # a blank band this much above the page's usual leading starts a paragraph
_PARAGRAPH_GAP = 0.3  # ...and so does one this much (in line heights) above it
_SIZE_CHANGE = 1.25  # line heights differing by this ratio start a new block
_HEADING_RATIO = 1.3  # a short block this much taller than the page's text is a Markdown heading

_WHITESPACE = re.compile(r"\s+")
_LINE_BREAK = re.compile("\r\n|\ufffe")  # pdfium marks a hyphen it joined across lines as U+FFFE
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # unmapped glyphs come out as control codes
_NEEDS_CLEANING = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ufffe]")
_MARKDOWN_INLINE = re.compile(r"([\\`*_\[\]<])")
# Line starts that Markdown reads as a heading, quote, list item or setext underline.
_MARKDOWN_LINE_START = re.compile(r"^([#>]|[-+*](?= )|\d+(?=[.)] )|[=-]+$)", re.MULTILINE)

Box = tuple[float, float, float, float]  # x0, y0 (top), x1, y1 (bottom) in display space
_Cut = tuple[int, int, float, float]  # a wide gap at text[start:end], from x0 to x1 on display
_BY_TOP = operator.attrgetter("y0")
_BY_LEFT = operator.attrgetter("x0")


class _Segment:
    """A run of text on one baseline, with no wide gap inside."""

    __slots__ = ("h", "order", "text", "x0", "x1", "y0", "y1")

    def __init__(self, x0: float, y0: float, x1: float, y1: float, text: str) -> None:
        self.x0, self.y0, self.x1, self.y1, self.text = x0, y0, x1, y1, text
        self.h = max(y1 - y0, 0.1)
        self.order = 0


def extract_text(path: str | os.PathLike[str], pages: list[int], password: str | None = None) -> list[dict[str, Any]]:
    """One JSON-ready dict per requested (1-based) page, in the order requested."""
    with open_pdf(path, password) as document:
        page_count = len(document)
        for number in pages:
            if not 1 <= number <= page_count:
                raise errors.PageOutOfRange(f"Page {number} is not in the document, which has {page_count} pages.")
        return [_extract_page(document, number) for number in pages]


def _extract_page(document: pdfium.PdfDocument, number: int) -> dict[str, Any]:
    page = document[number - 1]
    try:
        width, height = page.get_size()
        rotation = page.get_rotation()
        textpage = page.get_textpage()
        try:
            segments = _TextPage(textpage.raw, page.get_bbox(), rotation).segments()
        finally:
            textpage.close()
    finally:
        page.close()
    blocks = _blocks(segments, width, height)
    return {
        "page": number,
        "width": round(width, 2),
        "height": round(height, 2),
        "rotation": rotation,
        "text": "\n\n".join(block["text"] for block in blocks),
        "blocks": blocks,
    }


# --- characters to segments -------------------------------------------------------------------------


class _TextPage:
    """pdfium's text page, seen in display coordinates, cut into segments."""

    def __init__(self, raw: Any, bbox: tuple[float, float, float, float], rotation: int) -> None:
        self.raw = raw
        self.rotation = rotation
        self.to_display = _display_transform(bbox, rotation)
        self._upright, self._left, self._top = rotation == 0, bbox[0], bbox[3]
        self.text = ""
        self.needs_cleaning = False
        self._loose = pdfium_c.FS_RECTF()
        self._edges = (ctypes.c_double(), ctypes.c_double(), ctypes.c_double(), ctypes.c_double())

    def box(self, index: int) -> Box:
        """The loose box of a character: font ascent to descent, so one line's boxes share a height."""
        r = self._loose
        pdfium_c.FPDFText_GetLooseCharBox(self.raw, index, r)
        if self._upright:  # the common case, without the general transform's call
            left, top = self._left, self._top
            return (r.left - left, top - r.top, r.right - left, top - r.bottom)
        return self.to_display((r.left, r.bottom, r.right, r.top))

    def segments(self) -> list[_Segment]:
        count = pdfium_c.FPDFText_CountChars(self.raw)
        if count <= 0:
            return []
        self.text = text = _page_text(self.raw, count)
        self.needs_cleaning = _NEEDS_CLEANING.search(text) is not None
        segments: list[_Segment] = []
        start = 0
        for match in [*_LINE_BREAK.finditer(text), None]:
            end = match.start() if match else len(text)
            # The joined-hyphen marker ends its visual line as a hyphen.
            hyphen = match is not None and match.group() == "\ufffe"
            self._line(start, end + 1 if hyphen else end, segments)
            start = match.end() if match else end
        return segments

    def _line(self, start: int, end: int, out: list[_Segment]) -> None:
        """Cut pdfium's line text[start:end] into segments; the common case costs two box look-ups."""
        line = self.text[start:end]
        stripped = line.strip()
        if not stripped:
            return
        start += len(line) - len(line.lstrip())
        end = start + len(stripped)
        first, last = self.box(start), self.box(end - 1)
        # (Conditional expressions rather than min/max calls: this runs for every line.)
        top = first[1] if first[1] < last[1] else last[1]
        bottom = first[3] if first[3] > last[3] else last[3]
        height = first[3] - first[1] if first[3] - first[1] < last[3] - last[1] else last[3] - last[1]
        if height < 0.1:
            height = 0.1
        shared = (first[3] if first[3] < last[3] else last[3]) - (first[1] if first[1] > last[1] else last[1])
        if shared < 0.5 * height:
            if _overlap(first[0], first[2], last[0], last[2]) >= 0.5 * min(first[2] - first[0], last[2] - last[0]):
                # A vertical line of text: kept whole.
                out.append(self._segment(start, end, min(first[0], last[0]), top, max(first[2], last[2]), bottom))
            else:
                self._split_by_characters(start, end, out)
            return
        if last[0] < first[0]:
            # Runs right to left on display (upside-down or RTL text): kept whole.
            out.append(self._segment(start, end, last[0], top, max(first[2], last[2]), bottom))
            return
        objects = pdfium_c.FPDFText_CountRects(self.raw, start, end - start)
        too_wide = last[2] - first[0] > 0.9 * height * (end - start)
        spaces = (
            [(m.start() + start, m.end() + start) for m in _WHITESPACE.finditer(stripped)]
            if objects > 1 or too_wide
            else []
        )
        cuts: list[_Cut] = []
        if spaces:
            # Wide gaps: from the line's text objects when they are fewer than the characters around
            # its spaces, else by probing around each space.
            from_rects = self._cuts_from_rects(objects, spaces, height) if objects <= 2 * len(spaces) else None
            cuts = self._cuts_by_probing(spaces, height) if from_rects is None else from_rects
        # Pieces of one line share its height: the loose boxes of its first and last characters.
        piece_start, piece_x0 = start, first[0]
        for space_start, space_end, gap_x0, gap_x1 in cuts:
            out.append(self._segment(piece_start, space_start, piece_x0, top, gap_x0, bottom))
            piece_start, piece_x0 = space_end, gap_x1
        out.append(self._segment(piece_start, end, piece_x0, top, last[2], bottom))

    def _cuts_from_rects(self, objects: int, spaces: list[tuple[int, int]], height: float) -> list[_Cut] | None:
        """Wide gaps between the line's text objects (the last FPDFText_CountRects call), placed at
        spaces; None when a gap cannot be placed (then the caller probes every space)."""
        raw, (left, top, right, bottom), get_rect = self.raw, self._edges, pdfium_c.FPDFText_GetRect
        along_y, reverse = self.rotation in (90, 270), self.rotation in (180, 270)
        wide = _WORD_GAP * height
        cuts: list[_Cut] = []
        previous_start = previous_end = 0.0
        searched_from = 0  # spaces before an earlier cut are out of the search
        for i in range(objects):
            get_rect(raw, i, left, top, right, bottom)
            # The object's extent along the displayed x axis, up to a constant offset.
            start, end = (bottom.value, top.value) if along_y else (left.value, right.value)
            if reverse:
                start, end = -end, -start
            if i:
                if start < previous_start:
                    return None  # the line runs backwards: positions are no guide
                if start - previous_end > wide:
                    gap_x1 = self.to_display((left.value, bottom.value, right.value, top.value))[0]
                    found = self._space_before(spaces, searched_from, gap_x1, height)
                    if found is None:
                        return None
                    cuts.append((*spaces[found], gap_x1 - (start - previous_end), gap_x1))
                    searched_from = found + 1
            previous_start, previous_end = start, end
        return cuts

    def _space_before(self, spaces: list[tuple[int, int]], low: int, x: float, height: float) -> int | None:
        """Binary search (characters advance left to right) for the space right before the displayed
        position x: the first whose next character starts near or after x."""
        high = len(spaces)
        while low < high:
            middle = (low + high) // 2
            if self.box(spaces[middle][1])[0] >= x - 0.5 * height:
                high = middle
            else:
                low = middle + 1
        return low if low < len(spaces) else None

    def _cuts_by_probing(self, spaces: list[tuple[int, int]], height: float) -> list[_Cut]:
        cuts = []
        for space_start, space_end in spaces:
            before, after = self.box(space_start - 1), self.box(space_end)
            if after[0] - before[2] > _WORD_GAP * height or after[0] < before[0]:
                cuts.append((space_start, space_end, before[2], after[0]))
        return cuts

    def _split_by_characters(self, start: int, end: int, out: list[_Segment]) -> None:
        """Slow path for a line pdfium did not keep on one baseline: runs of characters that do."""
        text = self.text
        run_start = run_end = -1
        x0 = y0 = x1 = y1 = previous_x1 = 0.0
        for index in range(start, end):
            if text[index].isspace():
                continue
            b = self.box(index)
            if run_start >= 0:
                h = max(min(y1 - y0, b[3] - b[1]), 0.1)
                same_line = _overlap(y0, y1, b[1], b[3]) >= 0.5 * h
                if same_line and -h < b[0] - previous_x1 <= _WORD_GAP * h:
                    run_end, previous_x1 = index + 1, b[2]
                    x0, y0, x1, y1 = min(x0, b[0]), min(y0, b[1]), max(x1, b[2]), max(y1, b[3])
                    continue
                out.append(self._segment(run_start, run_end, x0, y0, x1, y1))
            run_start, run_end, previous_x1 = index, index + 1, b[2]
            x0, y0, x1, y1 = b
        if run_start >= 0:
            out.append(self._segment(run_start, run_end, x0, y0, x1, y1))

    def _segment(self, start: int, end: int, x0: float, y0: float, x1: float, y1: float) -> _Segment:
        """The segment text[start:end] with its display box, whitespace collapsed."""
        piece = self.text[start:end]
        if self.needs_cleaning:
            piece = _CONTROL.sub("", piece.replace("\ufffe", "-"))
        return _Segment(x0, y0, x1, y1, " ".join(piece.split()))


def _display_transform(
    bbox: tuple[float, float, float, float], rotation: int
) -> Callable[[tuple[float, float, float, float]], Box]:
    """Map a PDF-space box (left, bottom, right, top) to the displayed page's top-left space."""
    left, bottom, right, top = bbox
    w, h = right - left, top - bottom
    if rotation == 90:
        return lambda b: (h - (top - b[1]), b[0] - left, h - (top - b[3]), b[2] - left)
    if rotation == 180:
        return lambda b: (w - (b[2] - left), b[1] - bottom, w - (b[0] - left), b[3] - bottom)
    if rotation == 270:
        return lambda b: (top - b[3], w - (b[2] - left), top - b[1], w - (b[0] - left))
    return lambda b: (b[0] - left, top - b[3], b[2] - left, top - b[1])


def _page_text(raw: Any, count: int) -> str:
    """The page's characters, index-aligned with pdfium's character list."""
    buffer = (ctypes.c_ushort * (count + 1))()
    written = pdfium_c.FPDFText_GetText(raw, 0, count, buffer)
    text = bytes(memoryview(buffer)[: max(written - 1, 0)]).decode("utf-16-le", errors="replace")
    if len(text) == count:
        return text
    # Rare: pdfium left characters out of its text (or a character needed a surrogate pair), so
    # indexes no longer line up; go per character. A broken ToUnicode map can yield any number.
    codes = (pdfium_c.FPDFText_GetUnicode(raw, i) for i in range(count))
    return "".join(chr(code) if 0 < code <= 0x10FFFF else "\ufffd" for code in codes)


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return min(a1, b1) - max(a0, b0)


# --- segments to blocks in reading order --------------------------------------------------------------


def _blocks(segments: list[_Segment], width: float, height: float) -> list[dict[str, Any]]:
    visible = []
    for order, s in enumerate(segments):
        s.order = order  # pdfium's (content stream) order, the producer's own idea of reading order
        # Text entirely off the page is not shown, so not read; text running off it is clipped.
        if s.text and s.x1 > 0 and s.y1 > 0 and s.x0 < width and s.y0 < height:
            if s.x0 < 0 or s.y0 < 0 or s.x1 > width or s.y1 > height:
                s.x0, s.y0, s.x1, s.y1 = max(s.x0, 0.0), max(s.y0, 0.0), min(s.x1, width), min(s.y1, height)
            visible.append(s)
    segments = visible
    if not segments:
        return []
    line_height = median(s.h for s in segments)
    lines = [line for region in _xy_cut(segments, line_height) for line in _region_lines(region)]
    return _group_lines(lines)


def _xy_cut(segments: list[_Segment], line_height: float) -> list[list[_Segment]]:
    """Regions in reading order; an explicit stack, so a dense page cannot hit the recursion limit."""
    regions: list[list[_Segment]] = []
    stack = [segments]
    while stack:
        region = stack.pop()
        if len(region) == 1 or _one_line(region):
            regions.append(region)  # a table row or a form line stays one line, not a cell per block
            continue
        rows = _cut(region, _ROW_GAP * line_height, vertical=True)
        columns = _cut(region, _COLUMN_GAP * line_height, vertical=False)
        if len(rows) > 1 and len(columns) > 1:
            parts = columns if _prefer_columns(rows, columns, line_height) else rows
        elif len(rows) > 1:
            parts = rows
        elif len(columns) > 1:
            parts = columns
        else:
            regions.append(region)
            continue
        stack.extend(reversed(parts))
    return regions


def _one_line(region: list[_Segment]) -> bool:
    """All segments share one line: their vertical extents overlap by half the smallest height."""
    top, bottom, h = -math.inf, math.inf, math.inf
    for s in region:
        if s.y0 > top:
            top = s.y0
        if s.y1 < bottom:
            bottom = s.y1
        if s.h < h:
            h = s.h
    return bottom - top >= 0.5 * h


def _cut(segments: list[_Segment], min_gap: float, *, vertical: bool) -> list[list[_Segment]]:
    """Split at the widest blank bands along y (vertical) or x: those at least min_gap wide and
    within 80% of the widest. Cutting the widest first is what keeps a title above two columns
    from slicing the columns into rows."""
    if vertical:
        ordered = sorted(segments, key=_BY_TOP)
        spans = [(s.y0, s.y1) for s in ordered]
    else:
        ordered = sorted(segments, key=_BY_LEFT)
        spans = [(s.x0, s.x1) for s in ordered]
    gaps = [0.0]  # gaps[i]: the blank band before ordered[i]
    reach = spans[0][1]
    for start, end in spans[1:]:
        gaps.append(start - reach)
        if end > reach:
            reach = end
    widest = max(gaps)
    if widest < min_gap:
        return [segments]
    threshold = max(min_gap, 0.8 * widest)
    starts = [i for i, gap in enumerate(gaps) if gap >= threshold]
    return [ordered[i:j] for i, j in zip([0, *starts], [*starts, len(ordered)], strict=True)]


def _prefer_columns(rows: list[list[_Segment]], columns: list[list[_Segment]], line_height: float) -> bool:
    """Both cuts are possible. Columns of prose are read one after the other; a column that is a
    single line is a cell of a row; otherwise the cut that agrees better with the producer's content
    order wins (a table written row by row stays rows, side-by-side blocks written one after the
    other stay blocks), and rows on a tie."""
    if all(median(s.x1 - s.x0 for s in column) >= _PROSE_WIDTH * line_height for column in columns):
        return True
    if any(_one_line(column) for column in columns):
        return False  # a lone line beside a block is a cell of a row (a label and its value)
    return _backward_steps(columns) < _backward_steps(rows)


def _backward_steps(parts: list[list[_Segment]]) -> int:
    """How often the content stream, segment to next segment, jumps back to an earlier part."""
    part_of = {s.order: i for i, part in enumerate(parts) for s in part}
    orders = sorted(part_of)
    return sum(1 for a, b in itertools.pairwise(orders) if part_of[b] < part_of[a])


def _region_lines(region: list[_Segment]) -> list[list[_Segment]]:
    """Segments whose vertical extents overlap by half the smaller height, each line left to right."""
    if len(region) == 1:
        return [region]
    lines: list[list[_Segment]] = []
    top = bottom = 0.0
    for s in sorted(region, key=_BY_TOP):
        if lines and (bottom if bottom < s.y1 else s.y1) - (top if top > s.y0 else s.y0) >= 0.5 * min(
            bottom - top, s.h
        ):
            lines[-1].append(s)
            if s.y1 > bottom:
                bottom = s.y1
        else:
            lines.append([s])
            top, bottom = s.y0, s.y1
    for line in lines:
        line.sort(key=_BY_LEFT)
    return lines


def _group_lines(lines: list[list[_Segment]]) -> list[dict[str, Any]]:
    """Consecutive lines (in reading order) form a block while they stack like lines of a paragraph:
    the next one just below, sharing some width, about the same height, no wider gap than usual."""
    boxes: list[Box] = []
    heights: list[float] = []
    texts: list[str] = []
    for line in lines:
        if len(line) == 1:
            s = line[0]
            boxes.append((s.x0, s.y0, s.x1, s.y1))
            heights.append(s.h)
            texts.append(s.text)
        else:
            boxes.append(
                (min(s.x0 for s in line), min(s.y0 for s in line), max(s.x1 for s in line), max(s.y1 for s in line))
            )
            heights.append(max(s.h for s in line))
            texts.append(" ".join(s.text for s in line))
    # gaps[i]: the blank band above line i when it sits just below line i - 1, else None.
    gaps: list[float | None] = [None]
    smaller = [0.0]  # smaller[i]: the smaller height of lines i - 1 and i
    for i in range(1, len(lines)):
        upper, lower = boxes[i - 1], boxes[i]
        h = heights[i] if heights[i] < heights[i - 1] else heights[i - 1]
        smaller.append(h)
        blank = lower[1] - upper[3]
        shares_width = (upper[2] if upper[2] < lower[2] else lower[2]) > (upper[0] if upper[0] > lower[0] else lower[0])
        gaps.append(blank if -0.5 * h <= blank <= 2 * h and shares_width else None)
    leading = [gap for gap in gaps if gap is not None]
    usual = max(median(leading), 0.0) if leading else 0.0  # the page's usual leading
    starts = [0]
    for i in range(1, len(lines)):
        gap, h = gaps[i], smaller[i]
        if (
            gap is None
            or gap > max(_PARAGRAPH_LEADING * usual, usual + _PARAGRAPH_GAP * h)
            or heights[i - 1] + heights[i] - h > _SIZE_CHANGE * h  # the larger of the two heights
        ):
            starts.append(i)
    return [_block(boxes[a:b], texts[a:b]) for a, b in itertools.pairwise([*starts, len(lines)])]


def _block(boxes: list[Box], texts: list[str]) -> dict[str, Any]:
    if len(boxes) == 1:
        box = boxes[0]
    else:
        box = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
    return {
        "text": "\n".join(texts),
        "bbox": _rounded(box),
        "lines": [{"text": text, "bbox": _rounded(b)} for text, b in zip(texts, boxes, strict=True)],
    }


def _rounded(box: Box) -> list[float]:
    return [round(box[0], 2), round(box[1], 2), round(box[2], 2), round(box[3], 2)]


# --- renderings --------------------------------------------------------------------------------------


def _page_blocks_text(page: dict[str, Any]) -> list[str]:
    blocks = page.get("blocks")
    if blocks is None:  # a page shaped without layout still has its text
        return [page["text"]] if page.get("text") else []
    return [block["text"] for block in blocks]


def to_plain_text(pages: list[dict[str, Any]]) -> str:
    """Pages separated by form feeds, blocks by blank lines."""
    return "\f".join("\n\n".join(_page_blocks_text(page)) for page in pages)


def to_markdown(pages: list[dict[str, Any]]) -> str:
    """A `<!-- page N -->` marker per page, blocks as paragraphs, clearly larger short blocks as headings."""
    parts: list[str] = []
    for page in pages:
        parts.append(f"<!-- page {page['page']} -->")
        blocks = page.get("blocks")
        if blocks is None:
            parts.extend(_escape_markdown(text) for text in _page_blocks_text(page))
            continue
        heights = [line["bbox"][3] - line["bbox"][1] for block in blocks for line in block["lines"]]
        body_height = median(heights) if heights else 0.0
        for block in blocks:
            text = _escape_markdown(block["text"])
            if _is_heading(block, body_height):
                parts.append("## " + " ".join(text.split()))
            else:
                parts.append(text)
    return "\n\n".join(parts) + "\n"


def _is_heading(block: dict[str, Any], body_height: float) -> bool:
    lines = block["lines"]
    if not body_height or len(lines) > 2 or len(block["text"]) > 200:
        return False
    height = min(line["bbox"][3] - line["bbox"][1] for line in lines)
    return height >= _HEADING_RATIO * body_height


def _escape_markdown(text: str) -> str:
    """Escape only what would turn plain text into Markdown syntax."""
    text = _MARKDOWN_INLINE.sub(r"\\\1", text)
    return _MARKDOWN_LINE_START.sub(_escape_line_start, text)


def _escape_line_start(match: re.Match[str]) -> str:
    marker = match.group()
    if marker[0].isdigit():
        return marker + "\\"  # "1. " is escaped as "1\\. ": the backslash goes before the dot
    return "\\" + marker
