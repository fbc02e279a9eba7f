"""extract_table: every table on every page, as rows of cells with spans and boxes.

Born-digital pages go through the table engine (ruling lines, then word positions); pages
without a text layer are read by OCR first and their words laid out into tables the same way.
Outputs: result.json (the extraction result schema), CSV (result.csv for one table, result.zip
with one CSV per table for several) and result.md.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pdfjobs.jobtypes.base import InputDocument, InputFiles, JobSettings, JobType, OutputFile
from pdfjobs.jobtypes.ocr import OCR_INPUT_TYPES
from pdfjobs.jobtypes.page_reading import AnalysisSettings, check_languages, read_pages
from pdfjobs.settings import get_settings

if TYPE_CHECKING:
    from pdfjobs.records import FileRecord

# A page's OCR takes seconds: small batches fan out; text pages are quick either way.
_PAGES_PER_BATCH = 4


class ExtractTableSettings(AnalysisSettings):
    pass


class ExtractTable(JobType):
    name: ClassVar[str] = "extract_table"
    description: ClassVar[str] = "Every table on every page: cells with spans and boxes; JSON, CSV and Markdown."
    settings_model: ClassVar[type[JobSettings]] = ExtractTableSettings
    accepted_content_types: ClassVar[tuple[str, ...]] = OCR_INPUT_TYPES

    def check_submission(self, settings: JobSettings, inputs: Sequence[FileRecord]) -> None:
        super().check_submission(settings, inputs)
        assert isinstance(settings, ExtractTableSettings)
        if settings.engine == "textract":
            from pdfjobs.jobtypes.textract_reading import check_available

            check_available()
        else:
            check_languages(settings)

    def batch_size(self, settings: JobSettings, pages: int) -> int:
        assert isinstance(settings, ExtractTableSettings)
        if settings.engine == "textract" and not settings.password:
            return pages  # one asynchronous AnalyzeDocument job reads the whole document
        return _PAGES_PER_BATCH

    def process_batch(self, source: InputDocument, pages: list[int], settings: JobSettings) -> Any:
        from pdfjobs.engines.tables import extract_tables, tables_from_words
        from pdfjobs.isolation import run_isolated

        assert isinstance(settings, ExtractTableSettings)
        if settings.engine == "textract":
            from pdfjobs.jobtypes.textract_reading import analyzed_pages

            return [
                {key: page[key] for key in ("page", "width", "height", "source")} | {"elements": page["tables"]}
                for page in analyzed_pages(source, pages, settings.password, ("TABLES",))
            ]
        config = get_settings()
        found = run_isolated(
            extract_tables,
            str(source.path),
            pages,
            settings.password,
            timeout=config.engine_timeout_seconds,
            memory_mb=config.engine_memory_mb,
        )
        results = []
        for page in found:
            if page.get("needsOcr"):
                # A scan: OCR its words, then lay them out into tables like a born-digital page.
                (read,) = read_pages(source, [page["page"]], settings)
                words = [word for line in read["lines"] for word in line["words"]]
                tables = tables_from_words(words, read["width"], read["height"], page["page"])
                page = {"page": page["page"], "width": read["width"], "height": read["height"], "tables": tables}
                page["source"] = "ocr"
            results.append(
                {
                    "page": page["page"],
                    "width": page.get("width"),
                    "height": page.get("height"),
                    "source": page.get("source", "text"),
                    "elements": page["tables"],
                }
            )
        return results

    def assemble(self, documents: list[dict[str, Any]], settings: JobSettings, inputs: InputFiles) -> list[OutputFile]:
        from pdfjobs.engines.tables import to_csv, to_markdown

        result = {
            "documents": [
                {
                    "index": document["index"],
                    "fileId": document.get("fileId"),
                    "filename": document.get("filename"),
                    "pageCount": document.get("pageCount"),
                    "pages": document["pages"],
                }
                for document in documents
            ]
        }
        tables = [
            (document["index"], page["page"], position, table)
            for document in documents
            for page in document["pages"]
            for position, table in enumerate(page["elements"])
        ]
        outputs = [
            OutputFile("result.json", "application/json", json.dumps(result, ensure_ascii=False).encode()),
            OutputFile("result.md", "text/markdown; charset=utf-8", to_markdown([t for *_, t in tables]).encode()),
        ]
        if len(tables) == 1:
            outputs.append(OutputFile("result.csv", "text/csv; charset=utf-8", to_csv(tables[0][3]).encode()))
        elif tables:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for index, page, position, table in tables:
                    prefix = f"document-{index + 1}-" if len(documents) > 1 else ""
                    archive.writestr(f"{prefix}page-{page}-table-{position + 1}.csv", to_csv(table))
            outputs.append(OutputFile("result.zip", "application/zip", buffer.getvalue()))
        return outputs
