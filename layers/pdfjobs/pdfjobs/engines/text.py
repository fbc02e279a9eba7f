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
import struct
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
# What _CONTROL removes or a joined hyphen, but for CR: pdfium's own CRLF line breaks are on every
# page and never inside a segment, so only a CR outside them needs cleaning. (Looked for one by one:
# a substring test is far cheaper per character than a regular expression's character class.)
_NEEDS_CLEANING = (*(chr(c) for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)), "\x7f", "\ufffe")
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
    order: int  # pdfium's order of the page's segments, set by _blocks

    def __init__(self, x0: float, y0: float, x1: float, y1: float, text: str) -> None:
        # One attribute per statement, no max() call: this runs for every segment. (order is set by
        # _blocks before anything reads it.)
        self.x0 = x0
        self.y0 = y0
        self.x1 = x1
        self.y1 = y1
        self.text = text
        h = y1 - y0
        self.h = 0.1 if h < 0.1 else h


def extract_text(path: str | os.PathLike[str], pages: list[int], password: str | None = None) -> list[dict[str, Any]]:
    """One JSON-ready dict per requested (1-based) page, in the order requested."""
    with open_pdf(path, password) as document:
        page_count = len(document)
        for number in pages:
            if not 1 <= number <= page_count:
                raise errors.PageOutOfRange(f"Page {number} is not in the document, which has {page_count} pages.")
        return [_extract_page(document, number) for number in pages]


def _extract_page(document: pdfium.PdfDocument, number: int) -> dict[str, Any]:
    # pdfium's own calls rather than pypdfium2's page and text page objects: this runs per page.
    page = pdfium_c.FPDF_LoadPage(document.raw, number - 1)
    if not page:
        raise pdfium.PdfiumError("Failed to load page.")
    try:
        width, height = pdfium_c.FPDF_GetPageWidthF(page), pdfium_c.FPDF_GetPageHeightF(page)
        rotation = _ROTATIONS.get(pdfium_c.FPDFPage_GetRotation(page))
        if rotation is None:
            raise pdfium.PdfiumError("Failed to get page rotation.")
        textpage = pdfium_c.FPDFText_LoadPage(page)
        if not textpage:
            raise pdfium.PdfiumError("Failed to load text page.")
        try:
            count = pdfium_c.FPDFText_CountChars(textpage)
            segments = _TextPage(textpage, page_bbox(page), rotation).segments(count) if count > 0 else []
        finally:
            pdfium_c.FPDFText_ClosePage(textpage)
    finally:
        pdfium_c.FPDF_ClosePage(page)
    blocks = _blocks(segments, width, height)
    return {
        "page": number,
        "width": round(width, 2),
        "height": round(height, 2),
        "rotation": rotation,
        "text": "\n\n".join([block["text"] for block in blocks]),
        "blocks": blocks,
    }


_ROTATIONS = {0: 0, 1: 90, 2: 180, 3: 270}


def page_bbox(page: Any) -> tuple[float, float, float, float]:
    """The page's visible box (media box clipped by crop box): left, bottom, right, top."""
    rect = pdfium_c.FS_RECTF()
    if not pdfium_c.FPDF_GetPageBoundingBox(page, rect):
        raise pdfium.PdfiumError("Failed to get page bounding box.")
    return (rect.left, rect.bottom, rect.right, rect.top)


# --- characters to segments -------------------------------------------------------------------------


class _TextPage:
    """pdfium's text page, seen in display coordinates, cut into segments."""

    def __init__(self, raw: Any, bbox: tuple[float, float, float, float], rotation: int) -> None:
        self.raw = raw
        self.handle = ctypes.cast(raw, ctypes.c_void_p)  # for the unchecked calls below
        self.rotation = rotation
        self.to_display = display_transform(bbox, rotation)
        self._upright, self._left, self._top = rotation == 0, bbox[0], bbox[3]
        self.text = ""
        self.needs_cleaning = False
        self._rect = (ctypes.c_float * 4)()  # an FS_RECTF: left, top, right, bottom
        self._rect_pointer = ctypes.byref(self._rect)
        self._edges = (ctypes.c_double * 4)()  # left, top, right, bottom
        self._edge_pointers = tuple(ctypes.byref(self._edges, i * ctypes.sizeof(ctypes.c_double)) for i in range(4))

    def box(self, index: int) -> Box:
        """The loose box of a character: font ascent to descent, so one line's boxes share a height."""
        _get_loose_char_box(self.handle, index, self._rect_pointer)
        left, top, right, bottom = _unpack_rect(self._rect)
        if self._upright:  # the common case, without the general transform's call
            return (left - self._left, self._top - top, right - self._left, self._top - bottom)
        return self.to_display((left, bottom, right, top))

    def segments(self, count: int) -> list[_Segment]:
        """The segments of the page's `count` (> 0) characters, in pdfium's order."""
        self.text = text = page_text(self.raw, count)
        self.needs_cleaning = text.count("\r") != text.count("\r\n") or any(c in text for c in _NEEDS_CLEANING)
        segments: list[_Segment] = []
        line = self._line
        start = 0
        if "\ufffe" not in text:  # the common case, without a regular expression
            for piece in text.split("\r\n"):
                line(start, start + len(piece), segments)
                start += len(piece) + 2
            return segments
        for match in _LINE_BREAK.finditer(text):
            end = match.start()
            # The joined-hyphen marker ends its visual line as a hyphen.
            line(start, end + 1 if text[end] == "\ufffe" else end, segments)
            start = match.end()
        line(start, len(text), segments)
        return segments

    def _line(self, start: int, end: int, out: list[_Segment]) -> None:
        """Cut pdfium's line text[start:end] into segments; the common case costs two box look-ups."""
        line = self.text[start:end]
        stripped = line.strip()
        if not stripped:
            return
        if len(stripped) != len(line):
            start += len(line) - len(line.lstrip())
            end = start + len(stripped)
        # The loose boxes of the first and last characters. (Locals and conditional expressions
        # rather than indexing and min/max calls: this runs for every line.)
        fx0, fy0, fx1, fy1 = self.box(start)
        lx0, ly0, lx1, ly1 = self.box(end - 1)
        top = fy0 if fy0 < ly0 else ly0
        bottom = fy1 if fy1 > ly1 else ly1
        height = fy1 - fy0 if fy1 - fy0 < ly1 - ly0 else ly1 - ly0
        if height < 0.1:
            height = 0.1
        shared = (fy1 if fy1 < ly1 else ly1) - (fy0 if fy0 > ly0 else ly0)
        if shared < 0.5 * height:
            if _overlap(fx0, fx1, lx0, lx1) >= 0.5 * min(fx1 - fx0, lx1 - lx0):
                # A vertical line of text: kept whole.
                out.append(self._segment(start, end, min(fx0, lx0), top, max(fx1, lx1), bottom))
            else:
                self._split_by_characters(start, end, out)
            return
        if lx0 < fx0:
            # Runs right to left on display (upside-down or RTL text): kept whole.
            out.append(self._segment(start, end, lx0, top, max(fx1, lx1), bottom))
            return
        cuts: list[_Cut] = []
        words = stripped.split()
        # Wide gaps can only be at whitespace, so a single word is never cut (and its objects need
        # not be counted). Else look when the line is several text objects or too wide for its text:
        # from the objects when they are fewer than the characters around its spaces, else by
        # probing around each space (a stripped line has one whitespace run fewer than words).
        if len(words) > 1:
            objects = _count_rects(self.handle, start, end - start)
            if objects > 1 or lx1 - fx0 > 0.9 * height * (end - start):
                spaces = _Spaces(self.text, start, end)
                from_rects = self._cuts_from_rects(objects, spaces, height) if objects <= 2 * len(words) - 2 else None
                cuts = self._cuts_by_probing(spaces.all(), height) if from_rects is None else from_rects
        if not cuts:
            if self.needs_cleaning:
                out.append(self._segment(start, end, fx0, top, lx1, bottom))
            else:  # the whole line, stripped: text[start:end] is `stripped`
                out.append(_Segment(fx0, top, lx1, bottom, " ".join(words)))
            return
        # Pieces of one line share its height: the loose boxes of its first and last characters.
        piece_start, piece_x0 = start, fx0
        for space_start, space_end, gap_x0, gap_x1 in cuts:
            out.append(self._segment(piece_start, space_start, piece_x0, top, gap_x0, bottom))
            piece_start, piece_x0 = space_end, gap_x1
        out.append(self._segment(piece_start, end, piece_x0, top, lx1, bottom))

    def _cuts_from_rects(self, objects: int, spaces: _Spaces, height: float) -> list[_Cut] | None:
        """Wide gaps between the line's text objects (the last FPDFText_CountRects call), placed at
        spaces; None when a gap cannot be placed (then the caller probes every space)."""
        handle, (left_at, top_at, right_at, bottom_at), edges = self.handle, self._edge_pointers, self._edges
        along_y, reverse = self.rotation in (90, 270), self.rotation in (180, 270)
        wide = _WORD_GAP * height
        cuts: list[_Cut] = []
        previous_start = previous_end = 0.0
        searched_from = 0  # spaces before an earlier cut are out of the search
        for i in range(objects):
            _get_rect(handle, i, left_at, top_at, right_at, bottom_at)
            left, top, right, bottom = _unpack_edges(edges)
            # The object's extent along the displayed x axis, up to a constant offset.
            if along_y:
                start, end = (-top, -bottom) if reverse else (bottom, top)
            else:
                start, end = (-right, -left) if reverse else (left, right)
            if i:
                if start < previous_start:
                    return None  # the line runs backwards: positions are no guide
                if start - previous_end > wide:
                    gap_x1 = self.to_display((left, bottom, right, top))[0]
                    found = self._space_before(spaces.all(), searched_from, gap_x1, height)
                    if found is None:
                        return None
                    cuts.append((*spaces.all()[found], gap_x1 - (start - previous_end), gap_x1))
                    searched_from = found + 1
            previous_start, previous_end = start, end
        return cuts

    def _space_before(self, spaces: list[tuple[int, int]], low: int, x: float, height: float) -> int | None:
        """The space right before the displayed position x: the first (from low) whose next character
        starts near or after x. Characters advance left to right, so a galloping search; the space is
        usually the first one past the previous cut (a table cell is a word or two), one look-up."""
        x -= 0.5 * height
        box, count, step, high = self.box, len(spaces), 1, low
        while high < count and box(spaces[high][1])[0] < x:
            low, high, step = high + 1, high + step, step * 2
        if high > count:
            high = count
        while low < high:  # spaces[high] (if any) qualifies and low is past every space known not to
            middle = (low + high) // 2
            if box(spaces[middle][1])[0] >= x:
                high = middle
            else:
                low = middle + 1
        return low if low < count else None

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


class _Spaces:
    """The whitespace runs of text[start:end] (a stripped line), found only when first needed."""

    __slots__ = ("_found", "end", "start", "text")

    def __init__(self, text: str, start: int, end: int) -> None:
        self.text, self.start, self.end = text, start, end
        self._found: list[tuple[int, int]] | None = None

    def all(self) -> list[tuple[int, int]]:
        if self._found is None:
            self._found = [m.span() for m in _WHITESPACE.finditer(self.text, self.start, self.end)]
        return self._found


def _unchecked(function: Any, restype: Any) -> Any:
    """A second ctypes handle on a pdfium function, without pypdfium2's argument types: their
    conversions cost as much as the call itself, and these run per line and per character.
    Callers must pass only c_void_p handles, byref() pointers and small ints."""
    unchecked = type(function)(ctypes.cast(function, ctypes.c_void_p).value)
    unchecked.restype = restype
    return unchecked


# (Their FPDF_BOOL results are not needed: on failure the output stays as it was.)
_get_loose_char_box = _unchecked(pdfium_c.FPDFText_GetLooseCharBox, None)  # (text page, index, FS_RECTF*)
_get_rect = _unchecked(pdfium_c.FPDFText_GetRect, None)  # (text page, index, double* left, top, right, bottom)
_count_rects = _unchecked(pdfium_c.FPDFText_CountRects, ctypes.c_int)  # (text page, start, count)
_unpack_rect = struct.Struct("4f").unpack_from
_unpack_edges = struct.Struct("4d").unpack_from


def display_transform(
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


def page_text(raw: Any, count: int) -> str:
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


def _median(values: list[float]) -> float:
    """statistics.median of a non-empty list, without its generality (it runs per region)."""
    values.sort()
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


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
    line_height = _median([s.h for s in segments])
    lines = [line for region, by_top in _xy_cut(segments, line_height) for line in _region_lines(region, by_top)]
    return _group_lines(lines)


def _xy_cut(segments: list[_Segment], line_height: float) -> list[tuple[list[_Segment], bool]]:
    """Regions in reading order, each with whether it is already sorted by top; an explicit stack,
    so a dense page cannot hit the recursion limit."""
    regions: list[tuple[list[_Segment], bool]] = []
    # Each region with the axis it is already sorted along (the parts of a cut are): 0 none, 1 top, 2 left.
    stack = [(segments, 0)]
    while stack:
        region, sorted_by = stack.pop()
        if len(region) == 1 or _one_line(region):
            regions.append((region, sorted_by == 1))  # a table row or a form line stays one line, not a cell per block
            continue
        rows = _cut(region, _ROW_GAP * line_height, vertical=True, presorted=sorted_by == 1)
        columns = _cut(region, _COLUMN_GAP * line_height, vertical=False, presorted=sorted_by == 2)
        if len(rows) > 1 and len(columns) > 1:
            if _prefer_columns(rows, columns, line_height):
                parts, sorted_by = columns, 2
            else:
                parts, sorted_by = rows, 1
        elif len(rows) > 1:
            parts, sorted_by = rows, 1
        elif len(columns) > 1:
            parts, sorted_by = columns, 2
        else:
            regions.append((region, sorted_by == 1))
            continue
        stack.extend([(part, sorted_by) for part in reversed(parts)])
    return regions


def _one_line(region: list[_Segment]) -> bool:
    """All segments share one line: their vertical extents overlap by half the smallest height."""
    top, bottom, h = -math.inf, math.inf, math.inf
    for s in region:
        if s.y0 > top:
            top = s.y0
            if bottom - top < 0.05:  # below half of any height (>= 0.1), and it only shrinks: not one line
                return False
        if s.y1 < bottom:
            bottom = s.y1
            if bottom - top < 0.05:
                return False
        if s.h < h:
            h = s.h
    return bottom - top >= 0.5 * h


def _cut(segments: list[_Segment], min_gap: float, *, vertical: bool, presorted: bool = False) -> list[list[_Segment]]:
    """Split at the widest blank bands along y (vertical) or x: those at least min_gap wide and
    within 80% of the widest. Cutting the widest first is what keeps a title above two columns
    from slicing the columns into rows. presorted: segments are already in (stable) order along
    that axis, as the parts of an earlier cut along it are."""
    # Two passes, the second only when there is a cut: the widest band, then the bands close to it.
    # (The band before a segment: from the furthest end of those before it to its start.)
    # One copy per axis on purpose: this is the layout's hot loop, and reading y0/x0 through
    # getattr or attrgetter measured slower than the plain attribute.
    if vertical:
        ordered = segments if presorted else sorted(segments, key=_BY_TOP)
        rest = ordered[1:]
        reach = ordered[0].y1
        widest = 0.0
        for s in rest:
            if s.y0 - reach > widest:
                widest = s.y0 - reach
            if s.y1 > reach:
                reach = s.y1
        if widest < min_gap:
            return [segments]
        threshold = max(min_gap, 0.8 * widest)
        starts = []
        reach = ordered[0].y1
        for i, s in enumerate(rest, 1):
            if s.y0 - reach >= threshold:
                starts.append(i)
            if s.y1 > reach:
                reach = s.y1
    else:
        ordered = segments if presorted else sorted(segments, key=_BY_LEFT)
        rest = ordered[1:]
        reach = ordered[0].x1
        widest = 0.0
        for s in rest:
            if s.x0 - reach > widest:
                widest = s.x0 - reach
            if s.x1 > reach:
                reach = s.x1
        if widest < min_gap:
            return [segments]
        threshold = max(min_gap, 0.8 * widest)
        starts = []
        reach = ordered[0].x1
        for i, s in enumerate(rest, 1):
            if s.x0 - reach >= threshold:
                starts.append(i)
            if s.x1 > reach:
                reach = s.x1
    return [ordered[i:j] for i, j in zip([0, *starts], [*starts, len(ordered)], strict=True)]


def _prefer_columns(rows: list[list[_Segment]], columns: list[list[_Segment]], line_height: float) -> bool:
    """Both cuts are possible. Columns of prose are read one after the other; a column that is a
    single line is a cell of a row; otherwise the cut that agrees better with the producer's content
    order wins (a table written row by row stays rows, side-by-side blocks written one after the
    other stay blocks), and rows on a tie."""
    if all(_median([s.x1 - s.x0 for s in column]) >= _PROSE_WIDTH * line_height for column in columns):
        return True
    if any(_one_line(column) for column in columns):
        return False  # a lone line beside a block is a cell of a row (a label and its value)
    return _backward_steps(columns) < _backward_steps(rows)


def _backward_steps(parts: list[list[_Segment]]) -> int:
    """How often the content stream, segment to next segment, jumps back to an earlier part."""
    part_of = {s.order: i for i, part in enumerate(parts) for s in part}
    steps, previous = 0, -1
    for order in sorted(part_of):
        part = part_of[order]
        if part < previous:
            steps += 1
        previous = part
    return steps


def _region_lines(region: list[_Segment], by_top: bool = False) -> list[list[_Segment]]:
    """Segments whose vertical extents overlap by half the smaller height, each line left to right.
    by_top: the region is already (stably) sorted by top."""
    if len(region) == 1:
        return [region]
    lines: list[list[_Segment]] = []
    top = bottom = 0.0
    for s in region if by_top else sorted(region, key=_BY_TOP):
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
            first = line[0]
            x0, y0, x1, y1, h = first.x0, first.y0, first.x1, first.y1, first.h
            for s in line:
                if s.x0 < x0:
                    x0 = s.x0
                if s.y0 < y0:
                    y0 = s.y0
                if s.x1 > x1:
                    x1 = s.x1
                if s.y1 > y1:
                    y1 = s.y1
                if s.h > h:
                    h = s.h
            boxes.append((x0, y0, x1, y1))
            heights.append(h)
            texts.append(" ".join([s.text for s in line]))
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
    usual = max(_median(leading), 0.0) if leading else 0.0  # the page's usual leading
    starts = [0]
    for i in range(1, len(lines)):
        gap, h = gaps[i], smaller[i]
        if (
            gap is None
            or gap > max(_PARAGRAPH_LEADING * usual, usual + _PARAGRAPH_GAP * h)
            or heights[i - 1] + heights[i] - h > _SIZE_CHANGE * h  # the larger of the two heights
        ):
            starts.append(i)
    # Rounded once per line; a block's box is the extent of its lines' rounded boxes (rounding is
    # monotonic, so that is its own extent rounded) and costs no more rounding.
    rounded = [[round(b[0], 2), round(b[1], 2), round(b[2], 2), round(b[3], 2)] for b in boxes]
    return [_block(rounded[a:b], texts[a:b]) for a, b in itertools.pairwise([*starts, len(lines)])]


def _block(boxes: list[list[float]], texts: list[str]) -> dict[str, Any]:
    if len(boxes) == 1:
        box = boxes[0][:]
    else:
        x0s, y0s, x1s, y1s = zip(*boxes, strict=True)
        box = [min(x0s), min(y0s), max(x1s), max(y1s)]
    return {
        "text": "\n".join(texts),
        "bbox": box,
        "lines": [{"text": text, "bbox": b} for text, b in zip(texts, boxes, strict=True)],
    }


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
