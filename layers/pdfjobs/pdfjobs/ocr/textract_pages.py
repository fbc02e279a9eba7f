"""OCR pages with Amazon Textract (AWS only): the page decisions are made here as for Tesseract,
then one asynchronous Textract job reads a multi-page document from S3, or single pages are
rendered and sent synchronously (encrypted PDFs, which Textract cannot open itself)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from pdfjobs.jobtypes.base import InputDocument
from pdfjobs.ocr.pages import OcrOptions, plan_pages, render_page_image
from pdfjobs.settings import get_settings


def recognize_with_textract(source: InputDocument, numbers: list[int], options: OcrOptions) -> list[dict[str, Any]]:
    from pdfjobs.engines import textract
    from pdfjobs.isolation import run_isolated

    config = get_settings()
    planned = run_isolated(
        plan_pages,
        str(source.path),
        numbers,
        options,
        timeout=config.engine_timeout_seconds,
        memory_mb=config.engine_memory_mb,
    )
    pending = [page for page in planned if page["source"] == "pending"]
    if not pending:
        return list(planned)
    sizes = {page["page"]: (page["width"], page["height"]) for page in pending}
    found: dict[int, dict[str, Any]] = {}
    if len(pending) > 1 and not options.password:
        for page in textract.detect_document(source.bucket, source.key, sizes):
            found[page["page"]] = page
    else:
        for page in pending:
            with tempfile.TemporaryDirectory(prefix="pdfjobs-textract-") as workdir:
                image_path = Path(workdir) / "page.png"
                run_isolated(
                    render_page_image,
                    str(source.path),
                    page["page"],
                    options,
                    str(image_path),
                    timeout=config.engine_timeout_seconds,
                    memory_mb=config.engine_memory_mb,
                )
                found[page["page"]] = textract.detect_page(
                    image_path.read_bytes(), page["width"], page["height"], page=page["page"]
                )
    results = []
    for page in planned:
        if page["source"] != "pending":
            results.append(page)
            continue
        lines = found.get(page["page"], {}).get("lines", [])
        results.append(
            {
                **page,
                "source": "ocr",
                "engine": "textract",
                "text": "\n".join(line["text"] for line in lines),
                "lines": lines,
            }
        )
    return results
