"""extract_form: the fields of a form with their values, sections and pages (seed 001).

AcroForm fields come from the form itself (names, types, values, options, rects, and the
section from the field hierarchy); a flattened or scanned form has no fields, so key-value pairs
are read from the page layout (its text, or OCR). A metadata block says what the document
states about itself (form type, issuer, version). An XFA-only form yields its XFA data when it
carries some, and fails with `form.xfa_only` when it does not. Outputs: result.json and seed
001's CSV (result.csv, also `GET /v1/jobs/{id}/result?format=csv`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pdfjobs import errors, filetypes
from pdfjobs.jobtypes.base import InputDocument, InputFiles, JobSettings, JobType, OutputFile
from pdfjobs.jobtypes.ocr import OCR_INPUT_TYPES
from pdfjobs.jobtypes.page_reading import AnalysisSettings, check_languages, read_pages
from pdfjobs.results import field_elements_by_page
from pdfjobs.settings import get_settings

if TYPE_CHECKING:
    from pdfjobs.records import FileRecord


class ExtractFormSettings(AnalysisSettings):
    pass


class ExtractForm(JobType):
    name: ClassVar[str] = "extract_form"
    description: ClassVar[str] = (
        "Form fields with values, sections and pages: AcroForm fields, or key-value pairs of flattened and "
        "scanned forms; a metadata block; CSV download."
    )
    settings_model: ClassVar[type[JobSettings]] = ExtractFormSettings
    accepted_content_types: ClassVar[tuple[str, ...]] = OCR_INPUT_TYPES

    def check_submission(self, settings: JobSettings, inputs: Sequence[FileRecord]) -> None:
        super().check_submission(settings, inputs)
        assert isinstance(settings, ExtractFormSettings)
        if settings.engine == "textract":
            from pdfjobs.jobtypes.textract_reading import check_available

            check_available()
        else:
            check_languages(settings)

    def batch_size(self, settings: JobSettings, pages: int) -> int:
        assert isinstance(settings, ExtractFormSettings)
        if settings.engine == "textract" and not settings.password:
            return pages  # one asynchronous AnalyzeDocument job reads the whole document
        return get_settings().page_batch_size

    def process_batch(self, source: InputDocument, pages: list[int], settings: JobSettings) -> Any:
        assert isinstance(settings, ExtractFormSettings)
        if settings.engine == "textract":
            from pdfjobs.jobtypes.textract_reading import analyzed_pages

            return analyzed_pages(source, pages, settings.password, ("FORMS",))
        # Lines of every page, for forms without AcroForm fields (cheap where a page has text).
        return read_pages(source, pages, settings)

    def assemble(self, documents: list[dict[str, Any]], settings: JobSettings, inputs: InputFiles) -> list[OutputFile]:
        from pdfjobs.engines.forms import extract_form, fields_from_layout, to_csv
        from pdfjobs.isolation import run_isolated

        assert isinstance(settings, ExtractFormSettings)
        config = get_settings()
        shaped = []
        csv_parts = []
        for document in documents:
            with inputs.open(document["index"]) as source:
                form = run_isolated(
                    extract_form,
                    str(source.path),
                    settings.password if source.content_type == filetypes.PDF else None,
                    timeout=config.engine_timeout_seconds,
                    memory_mb=config.engine_memory_mb,
                )
            if form.get("xfa") and not form.get("fields") and not form.get("xfaData"):
                raise errors.FormXfaOnly(
                    f"{document.get('filename') or 'The document'} is a dynamic XFA form with no AcroForm fields "
                    "and no XFA data to return."
                )
            fields = form["fields"] if form.get("fields") else []
            if not fields and not form.get("xfa"):
                if settings.engine == "textract":
                    fields = [field for page in document["pages"] for field in page.get("fields", [])]
                else:
                    fields = fields_from_layout(document["pages"])
            by_page = field_elements_by_page(fields)
            shaped.append(
                {
                    "index": document["index"],
                    "fileId": document.get("fileId"),
                    "filename": document.get("filename"),
                    "pageCount": document.get("pageCount"),
                    "acroform": bool(form.get("acroform")),
                    "xfa": bool(form.get("xfa")),
                    "metadata": form.get("metadata") or {},
                    "fields": fields,
                    "xfaData": form.get("xfaData"),
                    "pages": [
                        {
                            "page": page["page"],
                            "width": page.get("width"),
                            "height": page.get("height"),
                            "source": page.get("source"),
                            "elements": by_page.get(page["page"], []),
                        }
                        for page in document["pages"]
                    ],
                }
            )
            csv_parts.append(to_csv({**form, "fields": fields}))
        result = {"documents": shaped}
        return [
            OutputFile("result.json", "application/json", json.dumps(result, ensure_ascii=False).encode()),
            OutputFile("result.csv", "text/csv; charset=utf-8", "\n".join(csv_parts).encode()),
        ]
