"""extract_invoice and extract_document: named fields with confidences and page citations.

extract_invoice reads vendor, customer, number, dates, currency, amounts and line items, by
layout-aware rules (engine `local`) or Textract AnalyzeExpense (engine `textract`, AWS only); a
user template (`templateName`) adds or overrides fields. extract_document is seed 003's templated
extraction: `templateName` names a template (the built-in `invoice`, or the tenant's own) and
`filterName` one of its subsets of fields. Both can hold the job for review when a required
field's confidence is below `confidenceThreshold` / `documentReview`.

Pages are read in the page batches (text, or OCR for scans); the fields are found in Assemble,
where every page of a document is at hand.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field
from pydantic.json_schema import SkipJsonSchema

from pdfjobs import errors, filetypes
from pdfjobs.jobtypes.base import InputDocument, InputFiles, JobSettings, JobType, OutputFile
from pdfjobs.jobtypes.ocr import OCR_INPUT_TYPES
from pdfjobs.jobtypes.page_reading import ReadingSettings, check_languages, read_pages
from pdfjobs.jobtypes.review import ReviewSettings, apply_corrections, flagged_fields
from pdfjobs.settings import get_settings
from pdfjobs.templates import INVOICE_FIELDS, NAME_PATTERN, TemplateBody, built_in

if TYPE_CHECKING:
    from pdfjobs.records import FileRecord, Principal

_PAGES_PER_BATCH = 4
_INTERNAL = ("template_snapshot",)


class _FieldSettings(ReadingSettings, ReviewSettings):
    internal_fields: ClassVar[tuple[str, ...]] = _INTERNAL

    engine: Literal["local", "textract", "bedrock"] = Field(
        default="local",
        description="`local` rules and templates; `textract` (AWS only): AnalyzeExpense; `bedrock`: an LLM "
        "on Amazon Bedrock reads the page text into the template's fields (off unless configured).",
    )
    template_name: str | None = Field(default=None, pattern=NAME_PATTERN, description="A template by name.")
    filter_name: str | None = Field(
        default=None, pattern=NAME_PATTERN, description="One of the template's named subsets of fields."
    )
    return_text: bool = Field(default=False, description="Add each document's full text beside its fields.")
    # The template as it was at submit (later edits do not change a job); set by the server.
    template_snapshot: SkipJsonSchema[dict[str, Any] | None] = None


class ExtractInvoiceSettings(_FieldSettings):
    pass


class ExtractDocumentSettings(_FieldSettings):
    pass


class _FieldJobType(JobType):
    accepted_content_types: ClassVar[tuple[str, ...]] = OCR_INPUT_TYPES

    def check_submission(self, settings: JobSettings, inputs: Sequence[FileRecord]) -> None:
        super().check_submission(settings, inputs)
        assert isinstance(settings, _FieldSettings)
        if settings.engine in ("textract", "bedrock"):
            from pdfjobs.engines import bedrock, textract

            available, reason = (textract if settings.engine == "textract" else bedrock).available()
            if not available:
                raise errors.EngineUnavailable(
                    f"The {settings.engine} engine is not available here: {reason}",
                    details={"field": "settings.engine"},
                )
        if settings.engine != "textract":
            check_languages(settings)

    def resolve_settings(self, settings: JobSettings, principal: Principal) -> JobSettings:
        from pdfjobs.services.templates import TemplateService

        assert isinstance(settings, _FieldSettings)
        name = settings.template_name or self.default_template(settings)
        if name is None:
            return settings
        snapshot = TemplateService().snapshot(principal, name, settings.filter_name)
        return settings.model_copy(update={"template_snapshot": snapshot})

    def default_template(self, settings: _FieldSettings) -> str | None:
        return None

    def batch_size(self, settings: JobSettings, pages: int) -> int:
        assert isinstance(settings, _FieldSettings)
        if settings.engine == "textract":
            return pages  # one AnalyzeExpense job reads the whole document
        return _PAGES_PER_BATCH

    def process_batch(self, source: InputDocument, pages: list[int], settings: JobSettings) -> Any:
        assert isinstance(settings, _FieldSettings)
        if settings.engine == "textract":
            return _read_with_textract(source, pages, settings)
        read = read_pages(source, pages, settings)
        with_text = [page["page"] for page in read if page.get("source") == "text"]
        if with_text and source.content_type == filetypes.PDF:
            # Issuers often print their name and ids only in a logo: read the pictures of text pages too.
            from pdfjobs.engines.invoices import pages_from_pdf
            from pdfjobs.isolation import run_isolated

            config = get_settings()
            pictured = run_isolated(
                pages_from_pdf,
                str(source.path),
                settings.password,
                ocr_images=True,
                languages=tuple(settings.languages),
                numbers=with_text,
                timeout=config.engine_timeout_seconds,
                memory_mb=config.engine_memory_mb,
            )
            by_number = {page["page"]: page for page in pictured}
            read = [
                {**page, "lines": by_number[page["page"]]["lines"]} if page["page"] in by_number else page
                for page in read
            ]
        return read

    # -- fields ------------------------------------------------------------------------------------
    def assemble(self, documents: list[dict[str, Any]], settings: JobSettings, inputs: InputFiles) -> list[OutputFile]:
        assert isinstance(settings, _FieldSettings)
        result = {"documents": [self._document_result(document, settings) for document in documents]}
        return _outputs(result)

    def _document_result(self, document: dict[str, Any], settings: _FieldSettings) -> dict[str, Any]:
        from pdfjobs.engines.invoices import extract_invoice

        pages = document["pages"]
        template = settings.template_snapshot
        expense = next((page.get("expense") for page in pages if page.get("expense")), None)
        if expense is not None:
            found = expense
        elif settings.engine == "bedrock":
            found = {"fields": _with_bedrock(pages, template), "lineItems": []}
        else:
            found = extract_invoice(pages, template=_engine_template(template))
            if _engine_template(template) is not None:
                # A template field the template's anchors miss falls back to the rules' value, if any.
                rules = extract_invoice(pages)["fields"]
                for name, field in found["fields"].items():
                    if field.get("value") is None and (rules.get(name) or {}).get("value") is not None:
                        found["fields"][name] = rules[name]
        fields = dict(found.get("fields", {}))
        selected = self.selected_fields(template, settings.filter_name)
        if selected is not None:
            fields = {name: fields.get(name) or _missing() for name in selected}
        entry: dict[str, Any] = {
            "index": document["index"],
            "fileId": document.get("fileId"),
            "filename": document.get("filename"),
            "pageCount": document.get("pageCount"),
            "template": template.get("name") if template else None,
            "fields": fields,
            "pages": [
                {
                    "page": page["page"],
                    "width": page.get("width"),
                    "height": page.get("height"),
                    "source": page.get("source"),
                }
                for page in pages
            ],
        }
        if self.has_line_items(template, settings.filter_name):
            entry["lineItems"] = found.get("lineItems", [])
        if settings.return_text:
            entry["text"] = "\f".join(page.get("text", "") for page in pages)
        return _with_field_elements(entry)

    def selected_fields(self, template: dict[str, Any] | None, filter_name: str | None) -> list[str] | None:
        """Which fields the result keeps: a filter's, a template's, or (None) all the engine finds."""
        if template is None:
            return None
        body = TemplateBody.model_validate({k: v for k, v in template.items() if k != "name"})
        if filter_name is not None:
            return list(body.filters[filter_name])
        if template.get("name") == "invoice":
            return None
        names = [field.name for field in body.fields]
        return [*INVOICE_FIELDS, *[n for n in names if n not in INVOICE_FIELDS]] if self.keeps_invoice_fields else names

    keeps_invoice_fields: ClassVar[bool] = False

    def has_line_items(self, template: dict[str, Any] | None, filter_name: str | None) -> bool:
        return filter_name is None and (
            template is None or template.get("name") == "invoice" or self.keeps_invoice_fields
        )

    # -- review ------------------------------------------------------------------------------------
    def review_threshold(self, settings: JobSettings) -> float | None:
        assert isinstance(settings, _FieldSettings)
        return settings.review_threshold()

    def flagged_fields(self, result: dict[str, Any], settings: JobSettings, threshold: float) -> list[str]:
        assert isinstance(settings, _FieldSettings)
        return flagged_fields(result, threshold, _required(settings.template_snapshot))

    def reviewed_outputs(
        self, result: dict[str, Any], corrections: dict[str, Any], settings: JobSettings
    ) -> list[OutputFile]:
        corrected = apply_corrections(result, corrections)
        corrected["documents"] = [_with_field_elements(document) for document in corrected["documents"]]
        return _outputs(corrected)


class ExtractInvoice(_FieldJobType):
    name: ClassVar[str] = "extract_invoice"
    description: ClassVar[str] = (
        "Invoice fields (vendor, customer, number, dates, currency, amounts) and line items, each with a "
        "confidence and page citation; optional template fields and review gate."
    )
    settings_model: ClassVar[type[JobSettings]] = ExtractInvoiceSettings
    keeps_invoice_fields: ClassVar[bool] = True

    def default_template(self, settings: _FieldSettings) -> str | None:
        return "invoice" if settings.filter_name is not None else None


class ExtractDocument(_FieldJobType):
    name: ClassVar[str] = "extract_document"
    description: ClassVar[str] = (
        "Templated extraction (seed 003): the fields of a named template (`templateName`; `invoice` is built "
        "in) or of one of its filters (`filterName`), with confidences, page citations and the review gate."
    )
    settings_model: ClassVar[type[JobSettings]] = ExtractDocumentSettings

    def check_submission(self, settings: JobSettings, inputs: Sequence[FileRecord]) -> None:
        assert isinstance(settings, ExtractDocumentSettings)
        if settings.template_name is None and settings.filter_name is None:
            raise errors.ValidationFailed(
                "settings.templateName is required unless settings.filterName is given.",
                details={"field": "settings.templateName"},
            )
        super().check_submission(settings, inputs)

    def default_template(self, settings: _FieldSettings) -> str | None:
        return "invoice"  # a filterName alone filters the built-in invoice template


def _required(template: dict[str, Any] | None) -> set[str]:
    body = TemplateBody.model_validate(
        {k: v for k, v in (template or {"name": "invoice", **(_built_in_invoice())}).items() if k != "name"}
    )
    return {field.name for field in body.fields if field.required}


def _built_in_invoice() -> dict[str, Any]:
    body = built_in("invoice")
    assert body is not None
    return body.model_dump(by_alias=True, exclude_none=True)


def _engine_template(template: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the invoice engine needs of a user template (the built-in one is the engine itself)."""
    if template is None or template.get("name") == "invoice":
        return None
    return {
        "name": template["name"],
        "fields": [
            {
                "name": field["name"],
                "type": field.get("type", "string"),
                "keywords": field.get("keywords", []),
                "regex": field.get("regex"),
                "pageHints": field.get("pageHints", []),
                "required": field.get("required", False),
                "options": field.get("options", []),
            }
            for field in template.get("fields", [])
        ],
    }


def _with_bedrock(pages: list[dict[str, Any]], template: dict[str, Any] | None) -> dict[str, Any]:
    """The template's fields (the built-in invoice's when none) read by the LLM engine."""
    from pdfjobs.engines import bedrock

    body = template or {"name": "invoice", **_built_in_invoice()}
    return bedrock.extract_fields(pages, list(body["fields"]))


def _missing() -> dict[str, Any]:
    return {"value": None, "confidence": 0.0, "page": None, "bbox": None, "source": None}


def _with_field_elements(document: dict[str, Any]) -> dict[str, Any]:
    """Each page's elements: the fields found on it (derived, so corrections show everywhere)."""
    by_page: dict[int, list[dict[str, Any]]] = {}
    for name, field in document["fields"].items():
        if field.get("page"):
            by_page.setdefault(int(field["page"]), []).append({"type": "field", "name": name, **field})
    for page in document["pages"]:
        page["elements"] = by_page.get(page["page"], [])
    return document


def _outputs(result: dict[str, Any]) -> list[OutputFile]:
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(["Document", "Field", "Value", "Confidence", "Page"])
    for document in result["documents"]:
        for name, field in document["fields"].items():
            writer.writerow(
                [
                    document["index"] + 1,
                    name,
                    field.get("value") or "",
                    field.get("confidence"),
                    field.get("page") or "",
                ]
            )
    return [
        OutputFile("result.json", "application/json", json.dumps(result, ensure_ascii=False).encode()),
        OutputFile("result.csv", "text/csv; charset=utf-8", rows.getvalue().encode()),
    ]


def _read_with_textract(source: InputDocument, pages: list[int], settings: _FieldSettings) -> list[dict[str, Any]]:
    """Page facts locally, fields from one AnalyzeExpense job (or per rendered page when encrypted)."""
    from pdfjobs.engines import expense
    from pdfjobs.jobtypes.textract_reading import page_images, planned_pages, reads_from_storage

    planned = planned_pages(source, pages, settings.password)
    sizes = {page["page"]: (page["width"], page["height"]) for page in planned}
    if reads_from_storage(source, settings.password):
        found = expense.fields_from_expense(expense.analyze_document(source.bucket, source.key), sizes)
    else:
        per_page = []
        for number, image in page_images(source, pages, settings.password):
            # A one-page image is Textract's page 1: its citations are moved to this page.
            mapped = expense.fields_from_expense(expense.analyze_expense(image), {1: sizes[number]})
            for field in [*mapped["fields"].values(), *(f for item in mapped["lineItems"] for f in item.values())]:
                if field.get("page"):
                    field["page"] = number
            per_page.append(mapped)
        found = _merge_pages(per_page)
    planned = [{**page, "source": "textract"} for page in planned]
    planned[0]["expense"] = found
    return planned


def _merge_pages(per_page: list[dict[str, Any]]) -> dict[str, Any]:
    """Fields of a document read page by page: each field where it was found most surely."""
    fields: dict[str, Any] = {}
    for mapped in per_page:
        for name, field in mapped["fields"].items():
            best = fields.get(name)
            if (
                field.get("value") is not None
                and (best is None or best.get("value") is None or field["confidence"] > best["confidence"])
            ) or best is None:
                fields[name] = field
    return {"fields": fields, "lineItems": [item for mapped in per_page for item in mapped["lineItems"]]}
