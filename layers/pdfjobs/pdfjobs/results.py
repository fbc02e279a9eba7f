"""The one result schema of the extraction job types: document -> pages -> elements, each element
with its page and bbox (PDF points, origin at the top-left of the page as displayed).

extract_text's cited blocks, extract_table's tables and extract_form's, extract_invoice's and
extract_document's fields are all elements; these models document them in the OpenAPI document
(components `ExtractionResult` and below) and the tests validate real results against them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

Box = Annotated[list[float], Field(min_length=4, max_length=4, description="[x0, y0, x1, y1] in PDF points")]


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


class TextElement(_Model):
    type: Literal["text"] = "text"
    page: int
    bbox: Box
    text: str


class TableCell(_Model):
    row: int
    column: int
    row_span: int = 1
    column_span: int = 1
    text: str
    bbox: Box | None = None


class TableElement(_Model):
    type: Literal["table"] = "table"
    page: int
    bbox: Box
    rows: int
    columns: int
    cells: list[TableCell]


class FieldValue(_Model):
    value: Any = None
    confidence: float | None = Field(default=None, ge=0, le=1)
    page: int | None = None
    bbox: Box | None = None
    source: str | None = Field(default=None, description="acroform, layout, rules, template, textract, bedrock, review")


class FieldElement(FieldValue):
    type: Literal["field"] = "field"
    name: str
    section: str | None = None


Element = Annotated[TextElement | TableElement | FieldElement, Field(discriminator="type")]


class PageResult(_Model):
    page: int
    width: float | None = None
    height: float | None = None
    elements: list[Element] = Field(default_factory=list)


class DocumentResult(_Model):
    index: int
    file_id: str | None = None
    filename: str | None = None
    page_count: int | None = None
    pages: list[PageResult]
    fields: dict[str, FieldValue] | list[FieldElement] | None = Field(
        default=None,
        description="The document's fields, each also an element of its page: by name for invoices and "
        "templates, in document order for forms (whose names may repeat on flattened forms).",
    )


class ExtractionResult(_Model):
    documents: list[DocumentResult]


def field_elements_by_page(fields: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """Fields that have a page, grouped by it (the page-level `elements` of a field result)."""
    grouped: dict[int, list[dict[str, Any]]] = {}
    for field in fields:
        if field.get("page"):
            grouped.setdefault(int(field["page"]), []).append({"type": "field", **field})
    return grouped
