"""Tables and form fields read by Textract AnalyzeDocument (AWS only) for extract_table and
extract_form: one asynchronous job for a whole document, or single rendered pages when the PDF
is encrypted (Textract cannot open it itself). Page sizes and rotations come from the PDF."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pdfjobs import errors, filetypes
from pdfjobs.jobtypes.base import InputDocument
from pdfjobs.settings import get_settings


def planned_pages(source: InputDocument, pages: list[int], password: str | None) -> list[dict[str, Any]]:
    """Each page's displayed size and rotation (what Textract's ratios are scaled by)."""
    from pdfjobs.isolation import run_isolated
    from pdfjobs.ocr.pages import OcrOptions, plan_pages

    config = get_settings()
    return list(
        run_isolated(
            plan_pages,
            str(source.path),
            pages,
            OcrOptions(mode="force", password=password),
            timeout=config.engine_timeout_seconds,
            memory_mb=config.engine_memory_mb,
        )
    )


def page_images(source: InputDocument, pages: list[int], password: str | None) -> Iterator[tuple[int, bytes]]:
    """Each page rendered as PNG, for Textract's synchronous calls (encrypted PDFs)."""
    from pdfjobs.isolation import run_isolated
    from pdfjobs.ocr.pages import OcrOptions, render_page_image

    config = get_settings()
    options = OcrOptions(mode="force", password=password, default_dpi=config.ocr_default_dpi)
    for number in pages:
        with tempfile.TemporaryDirectory(prefix="pdfjobs-textract-") as workdir:
            image = Path(workdir) / "page.png"
            run_isolated(
                render_page_image,
                str(source.path),
                number,
                options,
                str(image),
                timeout=config.engine_timeout_seconds,
                memory_mb=config.engine_memory_mb,
            )
            yield number, image.read_bytes()


def reads_from_storage(source: InputDocument, password: str | None) -> bool:
    """Whether Textract can read the stored document itself (one asynchronous job) or needs page images."""
    return not password or source.content_type != filetypes.PDF


def analyzed_pages(
    source: InputDocument, pages: list[int], password: str | None, features: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Per page: `{"page", "width", "height", "rotation", "source": "textract", "tables", "fields"}`."""
    from pdfjobs.engines import textract_analysis

    planned = planned_pages(source, pages, password)
    sizes = {page["page"]: (page["width"], page["height"]) for page in planned}
    if reads_from_storage(source, password):
        found = textract_analysis.analyze_document(source.bucket, source.key, sizes, features=features)
    else:
        found = {
            number: textract_analysis.analyze_page(image, *sizes[number], page=number, features=features)
            for number, image in page_images(source, pages, password)
        }
    return [
        {
            "page": page["page"],
            "width": page["width"],
            "height": page["height"],
            "rotation": page["rotation"],
            "source": "textract",
            "tables": found.get(page["page"], {}).get("tables", []),
            "fields": found.get(page["page"], {}).get("fields", []),
        }
        for page in planned
    ]


def check_available() -> None:
    from pdfjobs.engines import textract_analysis

    available, reason = textract_analysis.available()
    if not available:
        raise errors.EngineUnavailable(
            f"The textract engine is not available here: {reason}", details={"field": "settings.engine"}
        )
