"""extract_text: text per page, optional layout blocks with page citations; JSON, text and Markdown."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from pydantic import Field

from pdfjobs import filetypes
from pdfjobs.jobtypes.base import InputDocument, InputFiles, JobSettings, JobType, OutputFile, PdfInputSettings
from pdfjobs.settings import get_settings


class ExtractTextSettings(PdfInputSettings):
    include_layout: bool = Field(default=False, description="Add `blocks` per page, in reading order.")
    include_page_citations: bool = Field(
        default=False,
        description="Give every block its page number and bounding box (PDF points, top-left origin).",
    )


class ExtractText(JobType):
    name: ClassVar[str] = "extract_text"
    description: ClassVar[str] = "Text of born-digital PDFs, with optional layout blocks and page citations."
    settings_model: ClassVar[type[JobSettings]] = ExtractTextSettings
    accepted_content_types: ClassVar[tuple[str, ...]] = (filetypes.PDF,)

    def process_batch(self, source: InputDocument, pages: list[int], settings: JobSettings) -> Any:
        # Engines load lazily: the API imports job types for validation and must start fast.
        from pdfjobs.engines.text import extract_text
        from pdfjobs.isolation import run_isolated

        assert isinstance(settings, ExtractTextSettings)
        config = get_settings()
        return run_isolated(
            extract_text,
            str(source.path),
            pages,
            settings.password,
            timeout=config.engine_timeout_seconds,
            memory_mb=config.engine_memory_mb,
        )

    def assemble(self, documents: list[dict[str, Any]], settings: JobSettings, inputs: InputFiles) -> list[OutputFile]:
        from pdfjobs.engines.text import to_markdown, to_plain_text

        assert isinstance(settings, ExtractTextSettings)
        shaped = [
            {**document, "pages": [self._shape_page(page, settings) for page in document["pages"]]}
            for document in documents
        ]
        all_pages = [page for document in documents for page in document["pages"]]
        result = {"documents": shaped}
        return [
            OutputFile("result.json", "application/json", json.dumps(result, ensure_ascii=False).encode()),
            OutputFile("result.txt", "text/plain; charset=utf-8", to_plain_text(all_pages).encode()),
            OutputFile("result.md", "text/markdown; charset=utf-8", to_markdown(all_pages).encode()),
        ]

    @staticmethod
    def _shape_page(page: dict[str, Any], settings: ExtractTextSettings) -> dict[str, Any]:
        shaped: dict[str, Any] = {
            key: page[key] for key in ("page", "width", "height", "rotation", "text") if key in page
        }
        if settings.include_layout or settings.include_page_citations:
            blocks = []
            for block in page.get("blocks", []):
                entry: dict[str, Any] = {"text": block["text"]}
                if settings.include_page_citations:
                    # A cited block is a text element of the one extraction result schema (pdfjobs.results).
                    entry = {"type": "text", **entry, "page": page["page"], "bbox": block["bbox"]}
                blocks.append(entry)
            shaped["blocks"] = blocks
        return shaped
