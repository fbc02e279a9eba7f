"""Tables of PDF pages: ruled (lattice) and borderless (stream) tables, their cells and spans.

A page is read with pdfplumber (pdfminer.six underneath): its characters and its vector graphics.

1. Lattice. The rules are stroked lines, the edges of stroked rectangles, thin filled rectangles
   (how most producers draw rules) and the axis-aligned pieces of stroked paths; white ones, and
   large fills (cell shading), are not. Rules are snapped to shared positions and joined end to
   end; rules that cross one another form a candidate grid. Its column lines are the x of its
   vertical rules (plus the ends of its horizontal ones, for tables without side borders), its
   row lines likewise. A unit cell of the grid runs on into its neighbour wherever no rule
   separates them: that is a merged cell, with its row and column spans. Characters go to the
   cell holding their centre; a cell's lines are joined with newlines, and text turned a quarter
   (vertical headers) is read in its own direction. A grid is a table when it has at least two
   rows and two columns and text in two cells, and is not mostly boxed paragraphs (a framed page)
   nor boxes round text laid out in columns of its own (then the stream reading takes it).
2. Stream, for the text outside lattice tables. Characters become words and text lines; a line
   is cut into segments at gaps wider than about a line height (or at a vertical rule). Runs of
   lines with at least two segments (up to three one-segment lines, such as a header's second
   line or a section heading, may sit between them) are candidate tables. Their columns are the
   blank vertical bands no segment crosses, once the segments that span columns are set aside:
   where few lines cross a stretch of x, whatever crosses its least-crossed part and reaches out
   of the stretch into a column (a header over two columns) spans columns. Every text line is a
   row, and a segment crossing column lines is a cell spanning them. Taller lines (titles) and
   one- or two-segment lines making a column of their own (captions) are trimmed off the edges.
   A candidate is a table when at least three rows have two filled cells and two of its columns
   are not prose (a numbered list or two columns of text are not tables).

`tables_from_words` runs the same stream analysis on OCR words, for scanned pages.

Boxes are PDF points with the origin at the top left of the page as displayed (after /Rotate).
"""

from __future__ import annotations

import bisect
import csv
import io
import itertools
import os
import re
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from pdfjobs import errors
from pdfjobs.pdf.document import count_pages

# Limits against pathological pages (each keeps the work per page near-linear).
MAX_CHARS = 50_000  # a page with more characters is not analysed (it says so: "tooComplex")
MAX_RULES = 100_000  # more rule pieces than this: no lattice analysis, stream only
MAX_CROSSING_TESTS = 2_000_000  # rule pairs examined for crossings, at most
MAX_GRID_CELLS = 40_000  # a candidate grid with more unit cells is not a table
MAX_TABLES = 200  # per page

# Lattice: distances in points.
_THIN = 3.0  # a filled rectangle this thin (or thinner) is a rule
_SNAP = 3.0  # rules this close to one another share a position
_JOIN = 3.0  # collinear rules with a gap this small are one rule
_CROSS = 3.0  # a rule ending this short of another still crosses it
_MIN_RULE = 6.0  # shorter joined rules are ignored (dots, tick marks)
_COVER = 2.0  # a rule covers a cell side when it misses at most this much of each end
_PARAGRAPH_WORDS = 20  # a ruled cell of this many words is a paragraph; a grid mostly of them is not a table

# Text: distances in units of a character's size or a line's height.
_LINE_CENTRE = 0.35  # characters whose centres are this close (x the larger height) share a line
_SCRIPT_RATIO = 0.8  # a box this much smaller than its line's, half inside it, is a superscript
_WORD_GAP = 0.15  # a gap wider than this (x the font size) between characters separates words
_SEGMENT_GAP = 0.9  # a gap wider than this (x the line height) between words separates cells
_BLOCK_GAP = 3.0  # a blank band this tall (x the line height) ends a stream table
_NARROW_LINE = 0.4  # a one-segment line narrower than this (x the page's text width) may sit in a table
_MAX_INTERIOR = 3  # ... and at most this many such lines in a row
_MIN_ROWS = 3  # a stream table has at least this many rows with two filled cells
_TITLE_RATIO = 1.25  # an edge line this much taller than the table's lines is a title, not a row
_PROSE_WORDS = 5  # a cell of this many words is prose ...
_MIN_BAND = 0.25  # a column gap is at least this wide (x the median line height)
_MAX_TRIMS = 6  # title and caption lines trimmed off a stream table's edges, at most
_MAX_SPANNING = 6  # a stretch crossed by more lines than this is not a gap under a spanning header

_WHITESPACE = re.compile(r"[^\S\n]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# OCR reads table rules as these: bars, underscores, runs of dashes (hyphen, em dash, en dash).
_RULE_LIKE = re.compile("^(?:[|\u00a6_]+|[-\u2014\u2013=_]{3,})$")

Box = tuple[float, float, float, float]


class _Glyph:
    """A character in display space (top-left origin): box, text, size and writing direction.

    direction: 0 left to right, 1 bottom to top (turned 90 degrees anticlockwise), 2 top to
    bottom, 3 upside down.
    """

    __slots__ = ("bottom", "direction", "size", "text", "top", "x0", "x1")

    def __init__(self, x0: float, top: float, x1: float, bottom: float, text: str, size: float, direction: int):
        self.x0, self.top, self.x1, self.bottom = x0, top, x1, bottom
        self.text, self.size, self.direction = text, size, direction


class _Word:
    __slots__ = ("bottom", "text", "top", "x0", "x1")

    def __init__(self, x0: float, top: float, x1: float, bottom: float, text: str) -> None:
        self.x0, self.top, self.x1, self.bottom, self.text = x0, top, x1, bottom, text


class _Segment:
    """Words on one line with no wide gap between them: a cell's text on that line."""

    __slots__ = ("bottom", "text", "top", "x0", "x1")

    def __init__(self, words: list[_Word]) -> None:
        self.x0 = words[0].x0
        self.x1 = max(w.x1 for w in words)
        self.top = min(w.top for w in words)
        self.bottom = max(w.bottom for w in words)
        self.text = " ".join(w.text for w in words)


class _Line:
    __slots__ = ("bottom", "height", "segments", "top", "x0", "x1")

    def __init__(self, segments: list[_Segment], height: float) -> None:
        self.segments = segments
        self.top = min(s.top for s in segments)
        self.bottom = max(s.bottom for s in segments)
        self.x0, self.x1 = segments[0].x0, max(s.x1 for s in segments)
        self.height = height


# --- public API ------------------------------------------------------------------------------------------


def extract_tables(path: str | os.PathLike[str], pages: list[int], password: str | None = None) -> list[dict[str, Any]]:
    """One JSON-ready dict per requested (1-based) page, in the order requested:
    `{"page", "width", "height", "tables": [...]}`, plus `"needsOcr": true` on a page without text.

    Raises PdfPasswordRequired, PdfPasswordIncorrect, PdfInvalid or PageOutOfRange.
    """
    path = os.fspath(path)
    page_count = count_pages(path, password)  # the same password and damage errors as every engine
    for number in pages:
        if not 1 <= number <= page_count:
            raise errors.PageOutOfRange(f"Page {number} is not in the document, which has {page_count} pages.")
    pdf = _open(path, password)
    try:
        return [_page_tables(pdf, number) for number in pages]
    finally:
        pdf.close()


def tables_from_words(words: Iterable[dict[str, Any]], width: float, height: float, page: int) -> list[dict[str, Any]]:
    """Stream tables from OCR words: dicts with "text" and "bbox" ([x0, y0, x1, y1], points, top-left
    origin). OCR lines (dicts with "words") are accepted too and read word by word."""
    items: list[_Word] = []
    for item in words:
        for word in item.get("words", [item]):
            text = _WHITESPACE.sub(" ", _CONTROL.sub("", str(word.get("text") or ""))).strip().strip("|¦")
            if not text or _RULE_LIKE.match(text):
                continue
            x0, y0, x1, y1 = (float(v) for v in word["bbox"])
            if not (x0 < x1 and y0 < y1 and x1 > 0 and y1 > 0 and x0 < width and y0 < height):
                continue  # empty, off the page, or not numbers (NaN fails every comparison)
            x0, y0, x1, y1 = max(x0, 0.0), max(y0, 0.0), min(x1, width), min(y1, height)
            items.append(_Word(x0, y0, x1, y1, text))
            if len(items) > MAX_CHARS:
                return []
    lines = _word_lines(items)
    tables = [_stream_json(t, page) for t in _stream_tables(lines)]
    tables.sort(key=lambda t: (t["bbox"][1], t["bbox"][0]))
    return tables[:MAX_TABLES]


def table_grid(table: dict[str, Any]) -> list[list[str]]:
    """The table as rows x columns of text: a merged cell's text at its first position, "" elsewhere."""
    grid = [[""] * int(table["columns"]) for _ in range(int(table["rows"]))]
    for cell in table["cells"]:
        grid[cell["row"]][cell["column"]] = cell["text"]
    return grid


def to_csv(table: dict[str, Any]) -> str:
    """RFC 4180 CSV of table_grid (CRLF line ends; fields with commas, quotes or newlines quoted)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows(table_grid(table))
    return out.getvalue()


def to_markdown(tables: Sequence[dict[str, Any]]) -> str:
    """GitHub pipe tables, one per table, each under a heading naming its index and page."""
    parts = []
    for index, table in enumerate(tables, 1):
        grid = table_grid(table)
        lines = [f"### Table {index} (page {table['page']})", ""]
        if grid and grid[0]:
            rows = [[_markdown_cell(text) for text in row] for row in grid]
            lines.append("| " + " | ".join(rows[0]) + " |")
            lines.append("|" + "|".join(["---"] * len(rows[0])) + "|")
            lines.extend("| " + " | ".join(row) + " |" for row in rows[1:])
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + ("\n" if parts else "")


def _markdown_cell(text: str) -> str:
    text = text.replace("\\", "\\\\").replace("|", "\\|")
    return "<br>".join(line.strip() for line in text.split("\n"))


# --- opening the document and reading a page ------------------------------------------------------------------


def _open(path: str, password: str | None) -> Any:
    """pdfplumber's document. pdfium (count_pages) has already accepted the file and password."""
    import pdfplumber
    from pdfminer.pdfdocument import PDFPasswordIncorrect

    attempts = [password or "", ""] if password else [""]
    for attempt in attempts:
        try:
            return pdfplumber.open(path, password=attempt)
        except MemoryError:
            raise
        except Exception as error:
            cause = error.args[0] if error.args and isinstance(error.args[0], BaseException) else error
            if isinstance(cause, PDFPasswordIncorrect):
                continue  # an owner password pdfium accepted and pdfminer does not: try without
            raise errors.PdfInvalid(f"The document could not be read as a PDF: {_describe(cause)}.") from None
    if password:
        raise errors.PdfPasswordIncorrect()
    raise errors.PdfPasswordRequired()


def _describe(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text[:200]}" if text else type(error).__name__


def _page_tables(pdf: Any, number: int) -> dict[str, Any]:
    try:
        page = pdf.pages[number - 1]
        frame = _Frame(page)
        objects = page.objects
        chars = objects.get("char", [])
        graphics = [*objects.get("line", []), *objects.get("rect", []), *objects.get("curve", [])]
    except (MemoryError, errors.PdfJobsError):
        raise
    except Exception as error:  # pdfminer fails in many ways on damaged files
        raise errors.PdfInvalid(f"Page {number} could not be read: {_describe(error)}.") from None
    result: dict[str, Any] = {"page": number, "width": round(frame.width, 2), "height": round(frame.height, 2)}
    try:
        glyphs = [g for g in (frame.glyph(c) for c in chars) if g is not None]
        if not any(not g.text.isspace() for g in glyphs):
            return {**result, "tables": [], "needsOcr": True}
        if len(glyphs) > MAX_CHARS:
            return {**result, "tables": [], "tooComplex": True}
        tables = _tables(glyphs, graphics, frame, number)
    finally:
        page.close()
    return {**result, "tables": tables}


class _Frame:
    """Maps pdfplumber's coordinates to the displayed page: origin at its top left, y down.

    pdfminer draws the page through a matrix that turns it as /Rotate says, with the media box's
    (turned) lower-left corner at the origin, y up; pdfplumber then shifts x by the media box's
    left and adds `top`/`bottom`. The visible box is the crop box clipped to the media box.
    """

    def __init__(self, page: Any) -> None:
        raw = page.page_obj
        mx0, my0, mx1, my1 = (float(v) for v in raw.mediabox)
        rotate = raw.rotate
        if rotate == 90:
            ctm = (0.0, -1.0, 1.0, 0.0, -my0, mx1)
        elif rotate == 180:
            ctm = (-1.0, 0.0, 0.0, -1.0, mx1, my1)
        elif rotate == 270:
            ctm = (0.0, 1.0, -1.0, 0.0, my1, -mx0)
        else:
            ctm = (1.0, 0.0, 0.0, 1.0, -mx0, -my0)
        cx0, cy0, cx1, cy1 = (float(v) for v in raw.cropbox)
        left, right = max(min(cx0, cx1), min(mx0, mx1)), min(max(cx0, cx1), max(mx0, mx1))
        bottom, top = max(min(cy0, cy1), min(my0, my1)), min(max(cy0, cy1), max(my0, my1))
        if right <= left or top <= bottom:  # a crop box outside the media box: pdfium shows the media box
            left, right, bottom, top = min(mx0, mx1), max(mx0, mx1), min(my0, my1), max(my0, my1)
        a, b, c, d, e, f = ctm
        xs = [a * x + c * y + e for x in (left, right) for y in (bottom, top)]
        ys = [b * x + d * y + f for x in (left, right) for y in (bottom, top)]
        self.left, self.top = min(xs), max(ys)
        self.width, self.height = max(xs) - self.left, self.top - min(ys)
        # pdfplumber's x = device x + media box left (of its turned media box); y0/y1 are device y.
        self.x_shift = float(page.mediabox[0])
        self.plumber_top = float(page.mediabox[1]) + float(page.height)

    def box(self, obj: dict[str, Any]) -> Box:
        """Display box of a pdfplumber object (from its device-space x0, x1, y0, y1)."""
        dx = self.x_shift + self.left
        return (obj["x0"] - dx, self.top - obj["y1"], obj["x1"] - dx, self.top - obj["y0"])

    def point(self, point: Sequence[float]) -> tuple[float, float]:
        """Display point of a pdfplumber point (pts and path: pdfplumber's top-left coordinates)."""
        device_y = self.plumber_top - point[1]
        return (point[0] - self.x_shift - self.left, self.top - device_y)

    def glyph(self, char: dict[str, Any]) -> _Glyph | None:
        text = _CONTROL.sub("", str(char.get("text") or ""))
        if not text:
            return None
        x0, top, x1, bottom = self.box(char)
        cx, cy = (x0 + x1) / 2, (top + bottom) / 2
        if not (0 <= cx <= self.width and 0 <= cy <= self.height):
            return None  # off the visible page
        size = float(char.get("size") or 0) or (bottom - top) or 1.0
        a, b = (char.get("matrix") or (1, 0, 0, 1, 0, 0))[:2]
        direction = (1 if b > 0 else 2) if abs(b) > abs(a) else 0 if a >= 0 else 3
        return _Glyph(x0, top, x1, bottom, text, abs(size), direction)


# --- both analyses on one page ----------------------------------------------------------------------------


def _tables(glyphs: list[_Glyph], graphics: list[dict[str, Any]], frame: _Frame, number: int) -> list[dict[str, Any]]:
    tables: list[dict[str, Any]] = []
    rules = _rules(graphics, frame)
    if rules is not None:
        for grid in _grids(*rules):
            table = _lattice_table(grid, glyphs, number)
            if table is not None:
                tables.append(table)
                if len(tables) >= MAX_TABLES:
                    break
    boxes = [t["bbox"] for t in tables]
    outside = [g for g in glyphs if g.direction == 0 and not _inside_any(g, boxes)]
    lines = _word_lines(_words(outside), rules[1] if rules is not None else [])
    tables.extend(_stream_json(t, number) for t in _stream_tables(lines))
    tables.sort(key=lambda t: (t["bbox"][1], t["bbox"][0]))
    return tables[:MAX_TABLES]


def _inside_any(g: _Glyph, boxes: list[list[float]]) -> bool:
    cx, cy = (g.x0 + g.x1) / 2, (g.top + g.bottom) / 2
    return any(b[0] - 1 <= cx <= b[2] + 1 and b[1] - 1 <= cy <= b[3] + 1 for b in boxes)


# --- characters to words and lines --------------------------------------------------------------------------


def _line_groups(
    items: list[tuple[float, float, float, float, str, float]],
) -> list[list[tuple[float, float, float, float, str, float]]]:
    """(u0, v0, u1, v1, text, size) items grouped into lines by their centres across the line (v),
    in v order; sorts `items` in place."""
    items.sort(key=lambda it: it[1] + it[3])
    groups: list[list[tuple[float, float, float, float, str, float]]] = []
    centre = height = 0.0
    for it in items:
        c, h = (it[1] + it[3]) / 2, it[3] - it[1]
        if groups and _same_line(c, h, centre, height):
            groups[-1].append(it)
            if h > height:  # the line's centre is its tallest character's: superscripts join, not move it
                centre, height = c, h
        else:
            groups.append([it])
            centre, height = c, h
    return groups


def _frame_lines(items: list[tuple[float, float, float, float, str, float]]) -> list[list[_Word]]:
    """Group (u0, v0, u1, v1, text, size) items (u along the line, v across, growing down the
    lines) into lines of words, lines in v order, words in u order."""
    groups = _line_groups(items)
    lines = []
    for group in groups:
        group.sort(key=lambda it: it[0])
        words: list[_Word] = []
        current: list[tuple[float, float, float, float, str, float]] = []
        previous: tuple[float, float, float, float, str, float] | None = None
        space = False  # a space character since the previous glyph
        for it in group:
            if it[4].isspace():
                # A space drawn inside the glyph before it (some producers add one after a
                # ligature) separates nothing; any other does.
                if previous is None or it[0] >= previous[2] - 0.5 * (it[2] - it[0]):
                    space = True
                continue
            if previous is not None:
                if (
                    it[4] == previous[4]
                    and abs(it[0] - previous[0]) < 0.15 * it[5]
                    and abs(it[1] - previous[1]) < 0.15 * it[5]
                ):
                    continue  # the same glyph drawn twice (fake bold)
                if space or it[0] - previous[2] > _WORD_GAP * max(it[5], previous[5]):
                    words.append(_join(current))
                    current = []
            current.append(it)
            previous = it
            space = False
        if current:
            words.append(_join(current))
        if words:
            lines.append(words)
    return lines


def _same_line(c: float, h: float, centre: float, height: float) -> bool:
    """Whether a box (centre c, height h) is on the line (centre, height): centres close, or a
    clearly smaller box (a superscript or subscript) half inside the line's."""
    if abs(c - centre) <= _LINE_CENTRE * max(h, height):
        return True
    small, large = min(h, height), max(h, height)
    overlap = min(c + h / 2, centre + height / 2) - max(c - h / 2, centre - height / 2)
    return small < _SCRIPT_RATIO * large and overlap >= 0.5 * small


def _join(items: list[tuple[float, float, float, float, str, float]]) -> _Word:
    return _Word(
        items[0][0],
        min(it[1] for it in items),
        max(it[2] for it in items),
        max(it[3] for it in items),
        "".join(it[4] for it in items),
    )


def _words(glyphs: list[_Glyph]) -> list[_Word]:
    """Upright glyphs to words (in display space)."""
    items = [(g.x0, g.top, g.x1, g.bottom, g.text, g.size) for g in glyphs]
    return [word for line in _frame_lines(items) for word in line]


def _cell_text(glyphs: list[_Glyph]) -> str:
    """A cell's text: its lines joined by newlines, each direction's text read its own way."""
    by_direction: dict[int, list[tuple[float, float, float, float, str, float]]] = {}
    for g in glyphs:
        if g.direction == 1:  # read bottom to top, lines left to right
            item = (-g.bottom, g.x0, -g.top, g.x1, g.text, g.size)
        elif g.direction == 2:  # read top to bottom, lines right to left
            item = (g.top, -g.x1, g.bottom, -g.x0, g.text, g.size)
        elif g.direction == 3:
            item = (-g.x1, -g.bottom, -g.x0, -g.top, g.text, g.size)
        else:
            item = (g.x0, g.top, g.x1, g.bottom, g.text, g.size)
        by_direction.setdefault(g.direction, []).append(item)
    parts = []
    for _, items in sorted(by_direction.items(), key=lambda kv: -len(kv[1])):
        for line in _frame_lines(items):
            parts.append(" ".join(w.text for w in line))
    return _clean("\n".join(parts))


def _clean(text: str) -> str:
    lines = (_WHITESPACE.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def _word_lines(words: list[_Word], vertical: Sequence[_Rule] = ()) -> list[_Line]:
    """Words (display space) to text lines cut into segments, top to bottom: at wide gaps, and
    at vertical rules between words (`vertical`, sorted by x)."""
    rule_xs = [v[0] for v in vertical]
    items = [(w.x0, w.top, w.x1, w.bottom, w.text, w.bottom - w.top) for w in words]
    # Words are whole: group into lines, keeping each word (no glyph-level joining).
    groups = _line_groups(items)
    lines = []
    for group in groups:
        group.sort(key=lambda it: it[0])
        line_height = statistics.median(it[5] for it in group) or 1.0
        segments: list[_Segment] = []
        current: list[_Word] = []
        end = 0.0  # the right end of the current segment
        for it in group:
            word = _Word(it[0], it[1], it[2], it[3], it[4])
            if current and (
                word.x0 - end > _SEGMENT_GAP * line_height or _ruled(vertical, rule_xs, end, word.x0, it[1], it[3])
            ):
                segments.append(_Segment(current))
                current = []
            end = word.x1 if not current else max(end, word.x1)
            current.append(word)
        segments.append(_Segment(current))
        lines.append(_Line(segments, line_height))
    lines.sort(key=lambda line: line.top)
    return lines


def _ruled(vertical: Sequence[_Rule], xs: list[float], x0: float, x1: float, top: float, bottom: float) -> bool:
    """Whether a vertical rule runs between x0 and x1 past the middle of top..bottom."""
    middle = (top + bottom) / 2
    for k in range(bisect.bisect_left(xs, x0), bisect.bisect_right(xs, x1)):
        if vertical[k][1] <= middle <= vertical[k][2]:
            return True
    return False


# --- lattice ------------------------------------------------------------------------------------------------

_Rule = tuple[float, float, float]  # position across, start and end along (display space)


def _is_white(color: Any) -> bool:
    """An RGB white or a CMYK no-ink colour. (One component is ambiguous: pdfplumber does not say
    whether it is a grey, where 1 is white, or a separation tint, where 1 is full ink.)"""
    if not isinstance(color, (tuple, list)) or not all(isinstance(v, (int, float)) for v in color):
        return False
    if len(color) == 4:
        return all(v <= 0.05 for v in color)
    return len(color) == 3 and all(v >= 0.95 for v in color)


def _rules(graphics: list[dict[str, Any]], frame: _Frame) -> tuple[list[_Rule], list[_Rule]] | None:
    """Horizontal and vertical rules of the page, snapped and joined; None when there are too many."""
    horizontal: list[_Rule] = []
    vertical: list[_Rule] = []
    width, height = frame.width, frame.height

    # Rules are kept on the visible page, clipped to it (NaN and infinite coordinates fail the tests).
    def add_h(y: float, a: float, b: float) -> None:
        a, b = max(a, 0.0), min(b, width)
        if 0 <= y <= height and b > a:
            horizontal.append((y, a, b))

    def add_v(x: float, a: float, b: float) -> None:
        a, b = max(a, 0.0), min(b, height)
        if 0 <= x <= width and b > a:
            vertical.append((x, a, b))

    def thin(x0: float, top: float, x1: float, bottom: float) -> None:
        w, h = x1 - x0, bottom - top
        if h <= _THIN and w > h:
            add_h((top + bottom) / 2, x0, x1)
        elif w <= _THIN and h > w:
            add_v((x0 + x1) / 2, top, bottom)

    for obj in graphics:
        kind = obj.get("object_type")
        stroked = bool(obj.get("stroke")) and not _is_white(obj.get("stroking_color"))
        filled = bool(obj.get("fill")) and not _is_white(obj.get("non_stroking_color"))
        x0, top, x1, bottom = frame.box(obj)
        if kind == "line":
            if stroked:
                thin(x0, top, x1, bottom)
        elif kind == "rect":
            if stroked:
                if x1 - x0 <= _THIN or bottom - top <= _THIN:
                    thin(x0, top, x1, bottom)
                else:
                    add_h(top, x0, x1)
                    add_h(bottom, x0, x1)
                    add_v(x0, top, bottom)
                    add_v(x1, top, bottom)
            elif filled:
                thin(x0, top, x1, bottom)
        elif kind == "curve":
            if stroked:
                points = [frame.point(p) for p in obj.get("pts") or []]
                for (ax, ay), (bx, by) in itertools.pairwise(points):
                    if abs(ay - by) <= 0.5 and abs(ax - bx) > 0.5:
                        add_h((ay + by) / 2, min(ax, bx), max(ax, bx))
                    elif abs(ax - bx) <= 0.5 and abs(ay - by) > 0.5:
                        add_v((ax + bx) / 2, min(ay, by), max(ay, by))
            elif filled:
                thin(x0, top, x1, bottom)
        if len(horizontal) + len(vertical) > MAX_RULES:
            return None
    return _merge(horizontal), _merge(vertical)


def _merge(rules: list[_Rule]) -> list[_Rule]:
    """Snap rules to shared positions and join collinear ones that touch; drop short ones."""
    rules.sort()
    merged: list[_Rule] = []
    i = 0
    while i < len(rules):
        j = i + 1
        while j < len(rules) and rules[j][0] - rules[j - 1][0] <= _SNAP:
            j += 1
        group = rules[i:j]
        position = statistics.median(r[0] for r in group)
        pieces = sorted((r[1], r[2]) for r in group)
        start, end = pieces[0]
        for a, b in pieces[1:]:
            if a <= end + _JOIN:
                end = max(end, b)
            else:
                if end - start >= _MIN_RULE:
                    merged.append((position, start, end))
                start, end = a, b
        if end - start >= _MIN_RULE:
            merged.append((position, start, end))
        i = j
    return merged


class _Grid:
    """Column and row lines of a candidate table, with the rules on each line."""

    def __init__(
        self,
        xs: list[float],
        ys: list[float],
        vertical: list[list[tuple[float, float]]],
        horizontal: list[list[tuple[float, float]]],
    ):
        self.xs, self.ys = xs, ys
        self.vertical, self.horizontal = vertical, horizontal  # per line: (start, end) of its rules


def _grids(horizontal: list[_Rule], vertical: list[_Rule]) -> list[_Grid]:
    """Groups of crossing rules, each as a grid."""
    if not horizontal or not vertical:
        return []
    parent = list(range(len(horizontal) + len(vertical)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    positions = [h[0] for h in horizontal]  # sorted: _merge sorts by position
    tests = 0
    crossed = [False] * len(vertical)
    for vi, (x, top, bottom) in enumerate(vertical):
        lo = bisect.bisect_left(positions, top - _CROSS)
        hi = bisect.bisect_right(positions, bottom + _CROSS)
        tests += hi - lo
        if tests > MAX_CROSSING_TESTS:
            return []
        for hi_ in range(lo, hi):
            _, x0, x1 = horizontal[hi_]
            if x0 - _CROSS <= x <= x1 + _CROSS:
                crossed[vi] = True
                a, b = find(vi + len(horizontal)), find(hi_)
                if a != b:
                    parent[a] = b
    groups: dict[int, tuple[list[_Rule], list[_Rule]]] = {}
    for vi, rule in enumerate(vertical):
        if crossed[vi]:
            groups.setdefault(find(vi + len(horizontal)), ([], []))[1].append(rule)
    for hi_, rule in enumerate(horizontal):
        root = find(hi_)
        if root in groups:
            groups[root][0].append(rule)
    grids = []
    for hs, vs in groups.values():
        grid = _grid(hs, vs)
        if grid is not None:
            grids.append(grid)
    return grids


def _grid(hs: list[_Rule], vs: list[_Rule]) -> _Grid | None:
    xs = _positions([v[0] for v in vs] + [min(h[1] for h in hs), max(h[2] for h in hs)])
    ys = _positions([h[0] for h in hs] + [min(v[1] for v in vs), max(v[2] for v in vs)])
    if len(xs) < 3 or len(ys) < 3 or (len(xs) - 1) * (len(ys) - 1) > MAX_GRID_CELLS:
        return None
    vertical: list[list[tuple[float, float]]] = [[] for _ in xs]
    horizontal: list[list[tuple[float, float]]] = [[] for _ in ys]
    for x, a, b in vs:
        vertical[_nearest(xs, x)].append((a, b))
    for y, a, b in hs:
        horizontal[_nearest(ys, y)].append((a, b))
    return _Grid(xs, ys, vertical, horizontal)


def _positions(values: list[float]) -> list[float]:
    values.sort()
    out: list[float] = []
    for v in values:
        if not out or v - out[-1] > _SNAP:
            out.append(v)
    return out


def _nearest(lines: list[float], value: float) -> int:
    i = bisect.bisect_left(lines, value)
    if i == len(lines) or (i > 0 and value - lines[i - 1] < lines[i] - value):
        return i - 1
    return i


def _covered(rules: list[tuple[float, float]], start: float, end: float) -> bool:
    return any(a <= start + _COVER and b >= end - _COVER for a, b in rules)


def _lattice_table(grid: _Grid, glyphs: list[_Glyph], number: int) -> dict[str, Any] | None:
    xs, ys = grid.xs, grid.ys
    rows, cols = len(ys) - 1, len(xs) - 1
    # Which unit-cell sides carry a rule (the grid's outline always closes it).
    v_open = [
        [0 < j < cols and not _covered(grid.vertical[j], ys[i], ys[i + 1]) for j in range(cols + 1)]
        for i in range(rows)
    ]
    h_open = [
        [0 < i < rows and not _covered(grid.horizontal[i], xs[j], xs[j + 1]) for j in range(cols)]
        for i in range(rows + 1)
    ]
    owner = [[-1] * cols for _ in range(rows)]
    cells: list[list[int]] = []  # [row, column, rowSpan, columnSpan]
    for i in range(rows):
        for j in range(cols):
            if owner[i][j] >= 0:
                continue
            j2 = j
            while j2 + 1 < cols and v_open[i][j2 + 1] and owner[i][j2 + 1] < 0:
                j2 += 1
            i2 = i
            while i2 + 1 < rows and all(h_open[i2 + 1][c] and owner[i2 + 1][c] < 0 for c in range(j, j2 + 1)):
                i2 += 1
            index = len(cells)
            cells.append([i, j, i2 - i + 1, j2 - j + 1])
            for r in range(i, i2 + 1):
                for c in range(j, j2 + 1):
                    owner[r][c] = index
    # Characters to cells, by their centres.
    contents: list[list[_Glyph]] = [[] for _ in cells]
    for g in glyphs:
        cx, cy = (g.x0 + g.x1) / 2, (g.top + g.bottom) / 2
        if xs[0] < cx < xs[-1] and ys[0] < cy < ys[-1]:
            j = bisect.bisect_right(xs, cx) - 1
            i = bisect.bisect_right(ys, cy) - 1
            contents[owner[i][j]].append(g)
    # A grid whose cells hold text laid out in columns of their own (boxes round sections of a
    # borderless table) is too coarse to be the table: the stream analysis reads that text.
    in_columns = sum(len(c) for c in contents if _has_columns(c))
    if in_columns * 10 >= 3 * sum(len(c) for c in contents):
        return None
    texts = [_cell_text(c) if c else "" for c in contents]
    # Outer empty rows and columns that only the table's outline made (no rule on their outer
    # side) go, and so do grid lines no cell starts at (they only run through merged cells).
    keep_cols = _keep(cols, [(c[1], c[3]) for c in cells], texts, (bool(grid.vertical[0]), bool(grid.vertical[-1])))
    keep_rows = _keep(rows, [(c[0], c[2]) for c in cells], texts, (bool(grid.horizontal[0]), bool(grid.horizontal[-1])))
    col_map, row_map = _renumber(keep_cols), _renumber(keep_rows)
    out_cells: list[dict[str, Any]] = []
    for (i, j, rs, cs), text in zip(cells, texts, strict=True):
        r0, r1 = row_map[i], row_map[i + rs]
        c0, c1 = col_map[j], col_map[j + cs]
        if r1 > r0 and c1 > c0:  # else wholly in a row or column that went (so empty)
            out_cells.append(
                {
                    "row": r0,
                    "column": c0,
                    "rowSpan": r1 - r0,
                    "columnSpan": c1 - c0,
                    "text": text,
                    "bbox": _round([xs[j], ys[i], xs[j + cs], ys[i + rs]]),
                }
            )
    n_rows, n_cols = row_map[-1], col_map[-1]
    filled = [c["text"] for c in out_cells if c["text"]]
    if n_rows < 2 or n_cols < 2 or len(filled) < 2:
        return None
    if 2 * sum(1 for text in filled if len(text.split()) >= _PARAGRAPH_WORDS) > len(filled):
        return None  # boxes round paragraphs (a framed page in two columns), not a table
    out_cells.sort(key=lambda c: (c["row"], c["column"]))
    x0 = min(c["bbox"][0] for c in out_cells)
    y0 = min(c["bbox"][1] for c in out_cells)
    x1 = max(c["bbox"][2] for c in out_cells)
    y1 = max(c["bbox"][3] for c in out_cells)
    return {
        "type": "table",
        "page": number,
        "bbox": [x0, y0, x1, y1],
        "rows": n_rows,
        "columns": n_cols,
        "method": "lattice",
        "cells": out_cells,
    }


def _has_columns(glyphs: list[_Glyph]) -> bool:
    """Whether two or more of the text lines of a cell are cut by wide gaps (columns inside it)."""
    if len(glyphs) < 4:
        return False
    lines = _word_lines(_words([g for g in glyphs if g.direction == 0]))
    return sum(1 for line in lines if len(line.segments) >= 2) >= 2


def _keep(count: int, spans: list[tuple[int, int]], texts: list[str], ruled_ends: tuple[bool, bool]) -> list[bool]:
    """Which of `count` grid rows (or columns) stay: outer empty ones whose outer line has no rule go,
    and so do lines no cell starts at (they only run through merged cells)."""
    filled = [False] * count
    starts = [False] * count
    for (start, span), text in zip(spans, texts, strict=True):
        starts[start] = True
        if text:
            for k in range(start, start + span):
                filled[k] = True
    keep = [True] * count
    lo, hi = 0, count - 1
    if not ruled_ends[0]:
        while lo < hi and not filled[lo]:
            keep[lo] = False
            lo += 1
    if not ruled_ends[1]:
        while hi > lo and not filled[hi]:
            keep[hi] = False
            hi -= 1
    for k in range(count):
        if keep[k] and not starts[k] and k != lo:
            keep[k] = False  # merged into the line before it
    return keep


def _renumber(keep: list[bool]) -> list[int]:
    """Index in the kept grid of each grid line 0..count (line k starts row or column k; a line
    that went maps to the kept one before it)."""
    out = [0]
    for k in keep:
        out.append(out[-1] + (1 if k else 0))
    return out


def _round(values: Iterable[float]) -> list[float]:
    return [round(v, 2) for v in values]


# --- stream -------------------------------------------------------------------------------------------------


class _StreamTable:
    def __init__(self, lines: list[_Line], separators: list[float]) -> None:
        self.lines, self.separators = lines, separators
        self.grid: list[list[str]] = []
        self.spans: dict[tuple[int, int], int] = {}


def _stream_tables(lines: list[_Line]) -> list[_StreamTable]:
    if not lines:
        return []
    tables = []
    for block in _blocks(lines):
        table = _stream_table(block)
        if table is not None:
            tables.append(table)
            if len(tables) >= MAX_TABLES:
                break
    return tables


def _blocks(lines: list[_Line]) -> list[list[_Line]]:
    """Runs of lines that may be a table: lines with two or more segments, with at most a few
    narrow one-segment lines between them, and no tall blank band."""
    typical = statistics.median(line.height for line in lines)
    extent = max(line.x1 for line in lines) - min(line.x0 for line in lines)
    blocks: list[list[_Line]] = []
    current: list[_Line] = []
    pending: list[_Line] = []

    def close() -> None:
        if sum(1 for line in current if len(line.segments) >= 2) >= _MIN_ROWS:
            blocks.append(list(current))
        current.clear()
        pending.clear()

    for line in lines:
        last = pending[-1] if pending else current[-1] if current else None
        if last is not None and line.top - last.bottom > _BLOCK_GAP * max(typical, line.height, last.height):
            close()
        if len(line.segments) >= 2:
            current.extend(pending)
            pending.clear()
            current.append(line)
        elif (
            current
            and len(pending) < _MAX_INTERIOR
            and (
                line.x1 - line.x0 < _NARROW_LINE * extent  # a header's second line, a wrapped cell
                or not any(p.x1 - p.x0 >= _NARROW_LINE * extent for p in pending)  # one section heading
            )
        ):
            pending.append(line)
        else:
            close()
    close()
    return blocks


def _stream_table(block: list[_Line]) -> _StreamTable | None:
    typical = statistics.median(line.height for line in block)
    # Titles and captions at the edges are not rows: lines clearly taller than the table's, and
    # lines of one or two segments that make a column of their own ("Budget 2014-15 ... (In
    # crores)" above the header).
    for _ in range(_MAX_TRIMS + 1):
        if sum(1 for line in block if len(line.segments) >= 2) < _MIN_ROWS:
            return None
        separators = _separators(block)
        if not separators:
            return None
        lo, hi = 0, len(block)
        while lo < hi and block[lo].height > _TITLE_RATIO * typical:
            lo += 1
        while hi > lo and block[hi - 1].height > _TITLE_RATIO * typical:
            hi -= 1
        if (lo, hi) == (0, len(block)):
            if _caption(block, 0, separators):
                lo = 1
            elif _caption(block, len(block) - 1, separators):
                hi -= 1
            else:
                break
        block = block[lo:hi]
    else:
        return None  # still trimming: not a table with a clear top and bottom
    table = _StreamTable(block, separators)
    ncols = len(separators) + 1
    grid = [[""] * ncols for _ in block]
    spans: dict[tuple[int, int], int] = {}
    for r, line in enumerate(block):
        placed: list[tuple[int, int, str]] = []
        for segment in line.segments:
            c0 = bisect.bisect_right(separators, segment.x0)
            c1 = max(c0, bisect.bisect_left(separators, segment.x1))
            if placed and placed[-1][0] + placed[-1][1] > c0:
                # Shares a column with the segment before it: one cell.
                start, span, text = placed[-1]
                placed[-1] = (start, max(span, c1 - start + 1), text + " " + segment.text)
            else:
                placed.append((c0, c1 - c0 + 1, segment.text))
        for start, span, text in placed:
            grid[r][start] = _clean(text)
            if span > 1:
                spans[(r, start)] = span
    # Columns no segment starts in (crossed by spanning text only) go.
    starts = [any(row[c] for row in grid) for c in range(ncols)]
    if not all(starts):
        keep = [c for c in range(ncols) if starts[c]]
        remap = {c: i for i, c in enumerate(keep)}
        new_spans = {}
        for (r, c), span in spans.items():
            new_spans[(r, remap[c])] = sum(1 for k in range(c, c + span) if starts[k])
        grid = [[row[c] for c in keep] for row in grid]
        spans = new_spans
        separators = [separators[c - 1] for c in keep[1:]]
        table.separators = separators
        ncols = len(keep)
    table.grid, table.spans = grid, spans
    if ncols < 2 or sum(1 for row in grid if sum(1 for t in row if t) >= 2) < _MIN_ROWS:
        return None
    data_columns = 0
    for c in range(ncols):
        filled = [row[c] for row in grid if row[c]]
        prose = sum(1 for t in filled if len(t.split()) >= _PROSE_WORDS)
        if filled and prose * 2 < len(filled):
            data_columns += 1
    if data_columns < 2:
        return None
    return table


def _caption(block: list[_Line], index: int, separators: list[float]) -> bool:
    """Whether block[index] has at most two segments, one of them alone in its column."""
    line = block[index]
    if len(line.segments) > 2:
        return False
    others = {
        bisect.bisect_right(separators, s.x0) for k, other in enumerate(block) if k != index for s in other.segments
    }
    return any(bisect.bisect_right(separators, s.x0) not in others for s in line.segments)


def _separators(block: list[_Line]) -> list[float]:
    """x positions of the column lines of a candidate stream table (see the module docstring)."""
    multi = [line for line in block if len(line.segments) >= 2]
    if not multi:
        return []
    typical = statistics.median(line.height for line in multi)
    segments = [s for line in multi for s in line.segments]
    # Stretches few lines cross (at most 1, 2, ... of them); in each, its least-crossed part, the
    # valley. A segment that crosses a valley and reaches out of the stretch into a column spans
    # columns (a header over two columns): it does not hide their gap. (Text inside the stretch,
    # a column with few values, does not reach out of it.)
    pieces = _coverage(segments, _MAX_SPANNING)
    spanners: set[int] = set()
    for allowed in range(1, min(_MAX_SPANNING, max(1, len(multi) // 8)) + 1):
        for run in _coverage_runs(pieces, allowed, inner=False):
            least = min(piece[2] for piece in run)
            if least == 0:
                continue
            valley = max((p for p in run if p[2] == least), key=lambda p: p[1] - p[0])
            if valley[1] - valley[0] < _MIN_BAND * typical:
                continue
            start, end = run[0][0], run[-1][1]
            for s in valley[3]:  # the segments crossing the valley (`least` of them)
                if s.x0 < start or s.x1 > end:
                    spanners.add(id(s))
    kept = [s for s in segments if id(s) not in spanners]
    bands = [(run[0][0], run[-1][1]) for run in _coverage_runs(_coverage(kept, 0), 0, inner=True)]
    return [(a + b) / 2 for a, b in bands if b - a >= _MIN_BAND * typical]


_Piece = tuple[float, float, int, tuple[_Segment, ...]]


def _coverage(segments: list[_Segment], listed: int) -> list[_Piece]:
    """How many segments cross each stretch of x, as (start, end, count, crossing segments) from
    the leftmost segment start to the rightmost end; the crossing segments are listed only where
    there are at most `listed` of them (one sweep, so the lists cost no more than that)."""
    events = sorted([(s.x0, 1, k) for k, s in enumerate(segments)] + [(s.x1, -1, k) for k, s in enumerate(segments)])
    pieces: list[_Piece] = []
    active: dict[int, None] = {}
    for (x, step, k), (nx, _, _) in itertools.pairwise(events):
        if step > 0:
            active[k] = None
        else:
            active.pop(k, None)
        if nx > x:
            crossing = tuple(segments[i] for i in active) if len(active) <= listed else ()
            pieces.append((x, nx, len(active), crossing))
    return pieces


def _coverage_runs(pieces: list[_Piece], allowed: int, *, inner: bool) -> list[list[_Piece]]:
    """Maximal runs of stretches crossed by at most `allowed` segments; with `inner`, only those
    with segments on both sides (a column gap)."""
    runs: list[list[_Piece]] = []
    current: list[_Piece] = []
    for piece in [*pieces, (0.0, 0.0, allowed + 1, ())]:  # a sentinel closes the last run
        if piece[2] <= allowed:
            current.append(piece)
            continue
        if current and not (inner and (current[0][0] <= pieces[0][0] or current[-1][1] >= pieces[-1][1])):
            runs.append(current)
        current = []
    return runs


def _stream_json(table: _StreamTable, number: int) -> dict[str, Any]:
    lines, separators, grid = table.lines, table.separators, table.grid
    left = min(line.x0 for line in lines)
    right = max(line.x1 for line in lines)
    xs = [left, *separators, right]
    ys = [lines[0].top]
    for above, below in itertools.pairwise(lines):
        ys.append((above.bottom + below.top) / 2)
    ys.append(lines[-1].bottom)
    ncols = len(xs) - 1
    cells = []
    for r, row in enumerate(grid):
        c = 0
        while c < ncols:
            span = table.spans.get((r, c), 1)
            cells.append(
                {
                    "row": r,
                    "column": c,
                    "rowSpan": 1,
                    "columnSpan": span,
                    "text": row[c],
                    "bbox": _round([xs[c], ys[r], xs[c + span], ys[r + 1]]),
                }
            )
            c += span
    return {
        "type": "table",
        "page": number,
        "bbox": _round([left, ys[0], right, ys[-1]]),
        "rows": len(grid),
        "columns": ncols,
        "method": "stream",
        "cells": cells,
    }
