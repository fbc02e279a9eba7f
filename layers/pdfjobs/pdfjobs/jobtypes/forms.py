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
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field
from pydantic.json_schema import SkipJsonSchema

from pdfjobs import errors, filetypes
from pdfjobs.jobtypes.base import InputDocument, InputFiles, JobSettings, JobType, OutputFile
from pdfjobs.jobtypes.ocr import OCR_INPUT_TYPES
from pdfjobs.jobtypes.page_reading import AnalysisSettings, check_languages, read_pages
from pdfjobs.results import field_elements_by_page
from pdfjobs.settings import get_settings
from pdfjobs.templates import NAME_PATTERN

if TYPE_CHECKING:
    from pdfjobs.records import FileRecord, Principal


class ExtractFormSettings(AnalysisSettings):
    internal_fields: ClassVar[tuple[str, ...]] = ("template_snapshot",)

    engine: Literal["local", "textract", "bedrock"] = Field(  # type: ignore[assignment]
        default="local",
        description="`local`: the form's own fields, else its layout; `textract` (AWS only): AnalyzeDocument "
        "FORMS; `bedrock`: an LLM reads the page text into the fields of `templateName` (off unless configured).",
    )
    template_name: str | None = Field(
        default=None, pattern=NAME_PATTERN, description="With engine bedrock: the fields to read (required)."
    )
    filter_name: str | None = Field(default=None, pattern=NAME_PATTERN)
    template_snapshot: SkipJsonSchema[dict[str, Any] | None] = None


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
            return
        if settings.engine == "bedrock":
            from pdfjobs.engines import bedrock

            available, reason = bedrock.available()
            if not available:
                raise errors.EngineUnavailable(
                    f"The bedrock engine is not available here: {reason}", details={"field": "settings.engine"}
                )
            if settings.template_name is None:
                raise errors.ValidationFailed(
                    "engine bedrock reads the fields of a template: set settings.templateName.",
                    details={"field": "settings.templateName"},
                )
        check_languages(settings)

    def resolve_settings(self, settings: JobSettings, principal: Principal) -> JobSettings:
        from pdfjobs.services.templates import TemplateService

        assert isinstance(settings, ExtractFormSettings)
        if settings.template_name is None:
            return settings
        snapshot = TemplateService().snapshot(principal, settings.template_name, settings.filter_name)
        return settings.model_copy(update={"template_snapshot": snapshot})

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
            if settings.engine == "bedrock" and settings.template_snapshot is not None:
                fields = _bedrock_fields(document["pages"], settings.template_snapshot, settings.filter_name)
            elif not fields and not form.get("xfa"):
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


def _bedrock_fields(
    pages: list[dict[str, Any]], template: dict[str, Any], filter_name: str | None
) -> list[dict[str, Any]]:
    """The template's fields as the LLM engine reads them, in the form result's field shape."""
    from pdfjobs.engines import bedrock

    wanted = template.get("filters", {}).get(filter_name) if filter_name else None
    fields = [field for field in template["fields"] if wanted is None or field["name"] in wanted]
    found = bedrock.extract_fields(pages, fields)
    return [
        {
            "type": "field",
            "name": name,
            "label": name,
            "fieldType": "text",
            "section": "",
            "options": [],
            "required": False,
            "readOnly": False,
            **found[name],
        }
        for name in (field["name"] for field in fields)
    ]
