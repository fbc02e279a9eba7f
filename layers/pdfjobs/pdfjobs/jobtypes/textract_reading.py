"""Tables and form fields read by Textract AnalyzeDocument (AWS only) for extract_table and
extract_form: one asynchronous job for a whole document, or single rendered pages when the PDF
is encrypted (Textract cannot open it itself). Page sizes and rotations come from the PDF."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from pdfjobs import errors, filetypes
from pdfjobs.jobtypes.base import InputDocument
from pdfjobs.settings import get_settings


def analyzed_pages(
    source: InputDocument, pages: list[int], password: str | None, features: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Per page: `{"page", "width", "height", "rotation", "source": "textract", "tables", "fields"}`."""
    from pdfjobs.engines import textract_analysis
    from pdfjobs.isolation import run_isolated
    from pdfjobs.ocr.pages import OcrOptions, plan_pages, render_page_image

    config = get_settings()
    options = OcrOptions(mode="force", password=password, default_dpi=config.ocr_default_dpi)
    planned = run_isolated(
        plan_pages,
        str(source.path),
        pages,
        options,
        timeout=config.engine_timeout_seconds,
        memory_mb=config.engine_memory_mb,
    )
    sizes = {page["page"]: (page["width"], page["height"]) for page in planned}
    if not password or source.content_type != filetypes.PDF:
        found = textract_analysis.analyze_document(source.bucket, source.key, sizes, features=features)
    else:
        found = {}
        for number in pages:
            with tempfile.TemporaryDirectory(prefix="pdfjobs-analysis-") as workdir:
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
                width, height = sizes[number]
                found[number] = textract_analysis.analyze_page(
                    image.read_bytes(), width, height, page=number, features=features
                )
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
