"""Page selections: the `pages` setting of a job.

Syntax (1-based, inclusive, whitespace ignored), items separated by commas:
    "7"      page 7
    "1-3"    pages 1, 2 and 3
    "5-"     page 5 to the last page
    "-3"     the first three pages (same as "1-3")
Items may overlap and come in any order; the selection is sorted and de-duplicated.
Rejected: an empty item, 0, a descending range ("5-2"), a lone "-", anything but digits.
"""

from __future__ import annotations

import re

from pdfjobs import errors

# ASCII digits only (\d would accept other scripts' digits), an optional dash, and whitespace around it.
_ITEM = re.compile(r"(?P<start>[0-9]*)\s*(?:(?P<dash>-)\s*(?P<end>[0-9]*))?")
_MAX_DIGITS = 9  # no document has a billion pages; keeps int() of absurd input cheap


def validate_page_ranges(spec: str) -> str:
    """Check the syntax (not the page count) and return the normalised spec, e.g. " 2 , 4-5 " -> "2,4-5".

    Raises ValueError saying what is wrong (pydantic turns it into a validation error).
    """
    return ",".join(_format(start, end) for start, end in _parse(spec))


def resolve_pages(spec: str | None, page_count: int) -> list[int]:
    """The selected pages of a `page_count`-page document: 1-based, sorted, without duplicates.

    None or "" select every page. A page beyond the document raises PageOutOfRange naming it;
    a spec that is not valid syntax raises ValidationFailed.
    """
    if spec is None or not spec.strip():
        return list(range(1, page_count + 1))
    try:
        ranges = _parse(spec)
    except ValueError as error:
        raise errors.ValidationFailed(str(error)) from None
    selected: set[int] = set()
    for start, end in ranges:
        last = page_count if end is None else end
        # Checked before expanding, so "1-999999999" cannot allocate a billion pages.
        if start > page_count or last > page_count:
            missing = start if start > page_count else page_count + 1
            raise errors.PageOutOfRange(
                f"Page {missing} (in pages={_format(start, end)!r}) is not in the document, "
                f"which has {page_count} page{'s' if page_count != 1 else ''}."
            )
        selected.update(range(start, last + 1))
    return sorted(selected)


def batches(pages: list[int], size: int) -> list[list[int]]:
    """Consecutive runs of at most `size` pages, in order."""
    if size < 1:
        raise ValueError("batch size must be at least 1")
    return [pages[i : i + size] for i in range(0, len(pages), size)]


def _parse(spec: str) -> list[tuple[int, int | None]]:
    """(start, end) pairs; end None means "to the last page"."""
    if not isinstance(spec, str):
        raise ValueError("pages must be a string such as '1-3,7'")
    if not spec.strip():
        raise ValueError("pages is empty: leave it out to select every page")
    ranges: list[tuple[int, int | None]] = []
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            raise ValueError(f"pages {spec!r} has an empty item (two commas in a row, or a trailing comma)")
        match = _ITEM.fullmatch(item)
        if not match or not (match["start"] or match["end"]):
            raise ValueError(f"pages item {item!r} is not a page number or a range like '2-5', '5-' or '-3'")
        if len(match["start"]) > _MAX_DIGITS or len(match["end"] or "") > _MAX_DIGITS:
            raise ValueError(f"pages item {item!r} has a page number that is too large")
        start = int(match["start"]) if match["start"] else 1
        end: int | None
        if not match["dash"]:
            end = start
        elif match["end"]:
            end = int(match["end"])
        else:
            end = None  # "5-": to the last page
        if start == 0 or end == 0:
            raise ValueError(f"pages item {item!r} has page 0; pages are numbered from 1")
        if end is not None and end < start:
            raise ValueError(f"pages item {item!r} is a descending range; write it as '{end}-{start}'")
        ranges.append((start, end))
    return ranges


def _format(start: int, end: int | None) -> str:
    if end is None:
        return f"{start}-"
    return str(start) if start == end else f"{start}-{end}"
