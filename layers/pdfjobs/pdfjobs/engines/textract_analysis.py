"""Amazon Textract AnalyzeDocument with TABLES and FORMS: Textract's tables and key-value pairs in
the shapes of our table engine (`pdfjobs.engines.tables`) and our form fields
(`pdfjobs.engines.forms`), with method and source "textract".

Textract answers with a flat list of Blocks. A TABLE names its CELLs (CHILD) and its MERGED_CELLs
(MERGED_CELL). Each CELL is one position of the grid (RowIndex and ColumnIndex from 1, spans of 1)
and names the WORDs and SELECTION_ELEMENTs in it; a MERGED_CELL has the spans and names the CELLs it
joins. A form's pairs are KEY_VALUE_SET blocks: a KEY (EntityTypes KEY) names its WORDs (CHILD) and
its VALUE block (VALUE), which names the WORDs or the SELECTION_ELEMENT (a check box with its
SelectionStatus) of the value. Geometry is in ratios of the page from its top-left corner as
displayed, so boxes become points by the page size the caller knows; confidences are 0..100.

Tables: every position of the grid is covered by exactly one cell. A merged cell takes the text of
the cells it joins; a position that no block covers is an empty cell. Fields: the key's text
without a trailing colon is the field's name and label; the value's box is the field's box; a
value with a selection element is a check box whose value is whether it is selected; the
confidence is the lower of the key's and the value's, as 0..1.

`analyze_page` (one page image, synchronous) and `analyze_document` (a document in S3, an
asynchronous job polled to the end, every page of results read) call Textract and map its answer;
failures are TextractFailed with a message a client may read, or EngineTimeout, as in
`pdfjobs.engines.textract`, whose `available()` applies here too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pdfjobs.engines import textract
from pdfjobs.engines.textract import ASYNC_MAX_PAGES, block_bbox, call, check_sync_image, job_results
from pdfjobs.errors import TextractFailed
from pdfjobs.filetypes import JPEG, PNG

SOURCE = "textract"
FEATURES = ("TABLES", "FORMS")  # the analyses this module maps
MAX_GRID_CELLS = 40_000  # a TABLE whose indices make a larger grid is dropped (as our table engine's limit)
_SYNC_TYPES = {PNG: "PNG", JPEG: "JPEG"}
_DONE = ("SUCCEEDED", "PARTIAL_SUCCESS")
_CHECKED, _UNCHECKED = "[x]", "[ ]"  # a selection element in a cell's text


PageResult = dict[str, list[dict[str, Any]]]


def available() -> tuple[bool, str | None]:
    """Whether Textract may be called here, and if not, why (the same setting as text detection)."""
    return textract.available()


def tables_and_fields_from_blocks(
    blocks: Iterable[Mapping[str, Any]], page_sizes: Mapping[int, tuple[float, float]]
) -> dict[int, PageResult]:
    """Textract Blocks (of one response or of all pages of results) as tables and fields per page.

    Returns page number -> `{"tables": [...], "fields": [...]}` for every page Textract returned,
    in page order; tables top to bottom, fields in the order of their keys, top to bottom.
    `page_sizes` maps page numbers (Textract's 1-based `Page`; an AnalyzeDocument response has
    none, which is page 1) to (width, height) in points as displayed. A page Textract returned that
    `page_sizes` lacks is an error: the caller sent Textract another document than it described.
    """
    by_id = {str(block["Id"]): block for block in blocks if "Id" in block}
    found: dict[int, list[tuple[tuple[float, float], dict[str, Any]]]] = {}
    numbers: set[int] = set()
    for block in by_id.values():
        kind = block.get("BlockType")
        if kind not in ("PAGE", "TABLE", "KEY_VALUE_SET"):
            continue
        number = int(block.get("Page", 1))
        numbers.add(number)
        if number not in page_sizes:
            raise TextractFailed(
                f"Amazon Textract returned page {number}, which the document does not have.",
                details={"page": number},
            )
        width, height = (float(side) for side in page_sizes[number])
        item: dict[str, Any] | None = None
        if kind == "TABLE":
            item = _table(block, by_id, number, width, height)
        elif kind == "KEY_VALUE_SET" and "KEY" in (block.get("EntityTypes") or ()):
            item = _field(block, by_id, number, width, height)
        if item is not None:
            # Tables by their own box, fields by their key's.
            x0, y0, _, _ = item["bbox"] if kind == "TABLE" else block_bbox(block, width, height)
            found.setdefault(number, []).append(((y0, x0), item))
    result: dict[int, PageResult] = {}
    for number in sorted(numbers):
        items = [item for _, item in sorted(found.get(number, []), key=lambda entry: entry[0])]
        result[number] = {
            "tables": [item for item in items if item["type"] == "table"],
            "fields": [item for item in items if item["type"] == "field"],
        }
    return result


def analyze_page(
    image: bytes,
    width: float,
    height: float,
    *,
    page: int = 1,
    features: Sequence[str] = FEATURES,
    client: Any = None,
) -> PageResult:
    """Tables and fields of one rendered page image (PNG or JPEG), `width` x `height` points, by a
    synchronous AnalyzeDocument; every table and field says it is on page `page`.

    The image is checked against Textract's synchronous limits first, so a request that could only
    fail is never sent.
    """
    feature_types = _feature_types(features)
    check_sync_image(image)
    client = client if client is not None else _client()
    response = call(
        client.analyze_document, job_kind="document analysis", Document={"Bytes": image}, FeatureTypes=feature_types
    )
    pages = tables_and_fields_from_blocks(response.get("Blocks", []), {1: (width, height)})
    if 1 not in pages:
        raise TextractFailed("Amazon Textract returned no page for the image.")
    result = pages[1]
    for item in (*result["tables"], *result["fields"]):
        item["page"] = page
    return result


def analyze_document(
    bucket: str,
    key: str,
    page_sizes: Mapping[int, tuple[float, float]],
    *,
    features: Sequence[str] = FEATURES,
    client: Any = None,
    poll_seconds: float = 2.0,
    timeout_seconds: float = 600.0,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[int, PageResult]:
    """Tables and fields of a document in S3 (PDF, TIFF, PNG or JPEG) by an asynchronous analysis job.

    The job is polled every `poll_seconds` until it finishes; all pages of results (NextToken) are
    read. Returns the pages Textract returned (with PARTIAL_SUCCESS, some may be missing), as
    `tables_and_fields_from_blocks` does.
    Raises TextractFailed when the job fails, EngineTimeout when it is not done in `timeout_seconds`.
    """
    feature_types = _feature_types(features)
    if len(page_sizes) > ASYNC_MAX_PAGES:
        raise TextractFailed(
            f"The document has {len(page_sizes)} pages; Amazon Textract reads at most {ASYNC_MAX_PAGES}.",
            details={"pages": len(page_sizes), "limit": ASYNC_MAX_PAGES},
        )
    client = client if client is not None else _client()
    started = call(
        client.start_document_analysis,
        job_kind="document analysis",
        DocumentLocation={"S3Object": {"Bucket": bucket, "Name": key}},
        FeatureTypes=feature_types,
    )
    responses = job_results(
        client.get_document_analysis,
        str(started["JobId"]),
        job_kind="document analysis",
        poll_seconds=poll_seconds,
        timeout_seconds=timeout_seconds,
        sleep=sleep,
    )
    blocks = [block for response in responses for block in response.get("Blocks", [])]
    return tables_and_fields_from_blocks(blocks, page_sizes)


# --- tables ------------------------------------------------------------------------------------------------


def _table(
    block: Mapping[str, Any], by_id: Mapping[str, Mapping[str, Any]], page: int, width: float, height: float
) -> dict[str, Any] | None:
    """One TABLE as our table, or None when it has no cells (or indices that make no sane grid)."""
    cells = [cell for cell in _related(block, by_id, "CHILD", "CELL") if _position(cell) is not None]
    merged = [cell for cell in _related(block, by_id, "MERGED_CELL", "MERGED_CELL") if _position(cell) is not None]
    if not cells and not merged:
        return None
    spans = [_position(cell) for cell in (*cells, *merged)]
    rows = max(row + row_span for row, _, row_span, _ in filter(None, spans))
    columns = max(column + column_span for _, column, _, column_span in filter(None, spans))
    if rows * columns > MAX_GRID_CELLS:
        return None
    texts = {str(cell["Id"]): _cell_text(cell, by_id) for cell in cells}
    covered: set[tuple[int, int]] = set()
    out: list[dict[str, Any]] = []

    def place(cell: Mapping[str, Any], text: str, box: list[float]) -> None:
        position = _position(cell)
        assert position is not None
        row, column, row_span, column_span = position
        area = {(r, c) for r in range(row, row + row_span) for c in range(column, column + column_span)}
        if area & covered:
            return  # a position is covered once: the first block (merged cells come first) keeps it
        covered.update(area)
        out.append(
            {"row": row, "column": column, "rowSpan": row_span, "columnSpan": column_span, "text": text, "bbox": box}
        )

    for cell in sorted(merged, key=_sort_key):
        joined = sorted(_related(cell, by_id, "CHILD", "CELL"), key=_sort_key)
        parts = [texts[str(child["Id"])] if str(child["Id"]) in texts else _cell_text(child, by_id) for child in joined]
        text = " ".join(part for part in parts if part)
        box = (
            block_bbox(cell, width, height)
            if _has_box(cell)
            else _hull([block_bbox(child, width, height) for child in joined])
        )
        place(cell, text, box)
    for cell in sorted(cells, key=_sort_key):
        place(cell, texts[str(cell["Id"])], block_bbox(cell, width, height))

    missing = [(row, column) for row in range(rows) for column in range(columns) if (row, column) not in covered]
    if missing:
        table_box = block_bbox(block, width, height)
        lefts: dict[int, float] = {}
        rights: dict[int, float] = {}
        tops: dict[int, float] = {}
        bottoms: dict[int, float] = {}
        for cell in cells:
            position = _position(cell)
            assert position is not None
            row, column, row_span, column_span = position
            x0, y0, x1, y1 = block_bbox(cell, width, height)
            if column_span == 1:
                lefts[column], rights[column] = min(lefts.get(column, x0), x0), max(rights.get(column, x1), x1)
            if row_span == 1:
                tops[row], bottoms[row] = min(tops.get(row, y0), y0), max(bottoms.get(row, y1), y1)
        for row, column in missing:
            box = [
                lefts.get(column, table_box[0]),
                tops.get(row, table_box[1]),
                rights.get(column, table_box[2]),
                bottoms.get(row, table_box[3]),
            ]
            out.append({"row": row, "column": column, "rowSpan": 1, "columnSpan": 1, "text": "", "bbox": box})
    out.sort(key=lambda cell: (cell["row"], cell["column"]))
    return {
        "type": "table",
        "page": page,
        "bbox": block_bbox(block, width, height),
        "rows": rows,
        "columns": columns,
        "method": SOURCE,
        "cells": out,
    }


def _position(cell: Mapping[str, Any]) -> tuple[int, int, int, int] | None:
    """(row, column, rowSpan, columnSpan), 0-based, of a CELL or MERGED_CELL; None when it has none."""
    try:
        row, column = int(cell["RowIndex"]) - 1, int(cell["ColumnIndex"]) - 1
        row_span, column_span = int(cell.get("RowSpan", 1)), int(cell.get("ColumnSpan", 1))
    except (KeyError, TypeError, ValueError):
        return None
    if row < 0 or column < 0 or row_span < 1 or column_span < 1:
        return None
    return row, column, row_span, column_span


def _sort_key(cell: Mapping[str, Any]) -> tuple[int, int]:
    position = _position(cell)
    return (position[0], position[1]) if position else (0, 0)


def _cell_text(cell: Mapping[str, Any], by_id: Mapping[str, Mapping[str, Any]]) -> str:
    """The cell's words joined by spaces, a selection element as "[x]" or "[ ]"."""
    parts = []
    for child in _related(cell, by_id, "CHILD", "WORD", "SELECTION_ELEMENT"):
        if child.get("BlockType") == "SELECTION_ELEMENT":
            parts.append(_CHECKED if child.get("SelectionStatus") == "SELECTED" else _UNCHECKED)
        elif text := _word_text(child):
            parts.append(text)
    return " ".join(parts)


# --- form fields -------------------------------------------------------------------------------------------


def _field(
    key: Mapping[str, Any], by_id: Mapping[str, Mapping[str, Any]], page: int, width: float, height: float
) -> dict[str, Any] | None:
    """One KEY with its VALUE as our field, or None when the key has no words or no value."""
    label = " ".join(text for word in _related(key, by_id, "CHILD", "WORD") if (text := _word_text(word)))
    label = label.strip().removesuffix(":").strip()
    values = [
        block for block in _related(key, by_id, "VALUE", "KEY_VALUE_SET") if "VALUE" in (block.get("EntityTypes") or ())
    ]
    if not label or not values:
        return None
    value = values[0]
    children = _related(value, by_id, "CHILD", "WORD", "SELECTION_ELEMENT")
    selections = [child for child in children if child.get("BlockType") == "SELECTION_ELEMENT"]
    kind: str
    content: Any
    if selections:
        kind, content = "checkbox", selections[0].get("SelectionStatus") == "SELECTED"
    else:
        kind = "text"
        content = " ".join(text for child in children if (text := _word_text(child)))
    confidences = [_confidence(block) for block in (key, value) if block.get("Confidence") is not None]
    return {
        "type": "field",
        "name": label,
        "label": label,
        "fieldType": kind,
        "value": content,
        "options": [],
        "page": page,
        "bbox": block_bbox(value, width, height),
        "section": "",
        "required": False,
        "readOnly": False,
        "source": SOURCE,
        "confidence": round(min(confidences) / 100.0, 2) if confidences else 0.0,
    }


# --- blocks ------------------------------------------------------------------------------------------------


def _related(
    block: Mapping[str, Any], by_id: Mapping[str, Mapping[str, Any]], relationship: str, *block_types: str
) -> list[Mapping[str, Any]]:
    """The blocks of `block_types` that `block` names in its relationships of type `relationship`, in order."""
    found = []
    for related in block.get("Relationships") or ():
        if related.get("Type") != relationship:
            continue
        for related_id in related.get("Ids") or ():
            other = by_id.get(str(related_id))
            if other is not None and other.get("BlockType") in block_types:
                found.append(other)
    return found


def _word_text(word: Mapping[str, Any]) -> str:
    return " ".join(str(word.get("Text") or "").split())


def _has_box(block: Mapping[str, Any]) -> bool:
    return bool((block.get("Geometry") or {}).get("BoundingBox"))


def _hull(boxes: list[list[float]]) -> list[float]:
    if not boxes:
        return [0.0, 0.0, 0.0, 0.0]
    return [
        min(box[0] for box in boxes),
        min(box[1] for box in boxes),
        max(box[2] for box in boxes),
        max(box[3] for box in boxes),
    ]


def _confidence(block: Mapping[str, Any]) -> float:
    return min(max(float(block.get("Confidence", 0.0)), 0.0), 100.0)


# --- calling Textract --------------------------------------------------------------------------------------


def _feature_types(features: Sequence[str]) -> list[str]:
    """The FeatureTypes to send: TABLES and/or FORMS, each once, in the caller's order."""
    if isinstance(features, str):
        raise ValueError(f"features must be a sequence of names such as {list(FEATURES)}, not one string")
    chosen = list(dict.fromkeys(str(feature).upper() for feature in features))
    unknown = [feature for feature in chosen if feature not in FEATURES]
    if not chosen or unknown:
        raise ValueError(f"features must be one or more of {list(FEATURES)}; got {list(features)}")
    return chosen


def _client() -> Any:
    from pdfjobs import aws_clients

    return aws_clients.client("textract")
