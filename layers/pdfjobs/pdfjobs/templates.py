"""Extraction templates: a named, tenant-scoped schema of fields that extraction jobs apply by
`templateName` (seed 003), with named subsets of fields selected by `filterName`.

The model here is the one validation for both the API and the jobs; `BUILT_IN` holds the
templates every tenant has (`invoice`), which user templates cannot shadow.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"
FIELD_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class TemplateField(_Model):
    name: str = Field(pattern=FIELD_NAME_PATTERN, description="The key of the field in the result.")
    type: Literal["string", "date", "amount", "enum"] = "string"
    keywords: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Anchors: labels printed next to (or above) the value, e.g. 'Policy number'.",
    )
    regex: str | None = Field(
        default=None,
        max_length=500,
        description="A Python regular expression for the value; its first group is the value if it has one. "
        "Checked when the template is written: one that does not compile or can backtrack "
        "catastrophically is refused. Matching is bounded in input size and time.",
    )
    page_hints: list[int] = Field(default_factory=list, max_length=20, description="1-based pages to look on first.")
    required: bool = Field(default=False, description="A required field below the review threshold holds the job.")
    options: list[str] = Field(default_factory=list, max_length=100, description="The allowed values of an enum.")

    @field_validator("keywords", "options")
    @classmethod
    def _short_strings(cls, values: list[str]) -> list[str]:
        if any(not value.strip() or len(value) > 200 for value in values):
            raise ValueError("entries must be non-empty and at most 200 characters")
        return values

    @field_validator("page_hints")
    @classmethod
    def _pages(cls, values: list[int]) -> list[int]:
        if any(value < 1 for value in values):
            raise ValueError("pages are numbered from 1")
        return values

    @model_validator(mode="after")
    def _findable(self) -> TemplateField:
        if self.type == "enum" and not self.options:
            raise ValueError(f"enum field {self.name!r} needs options")
        return self


class TemplateBody(_Model):
    """What a client writes: POST /templates (with `name`) and PUT /templates/{name}."""

    description: str | None = Field(default=None, max_length=1000)
    fields: list[TemplateField] = Field(min_length=1, max_length=200)
    filters: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Named subsets of the fields, chosen by a job's `filterName`.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> TemplateBody:
        names = [field.name for field in self.fields]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"field names repeat: {', '.join(duplicates)}")
        for filter_name, selected in self.filters.items():
            if not _valid_name(filter_name):
                raise ValueError(f"filter name {filter_name!r} must match {NAME_PATTERN}")
            unknown = sorted(set(selected) - set(names))
            if unknown or not selected:
                raise ValueError(f"filter {filter_name!r} names no field or unknown fields: {', '.join(unknown)}")
        return self


class TemplateIn(TemplateBody):
    name: str = Field(pattern=NAME_PATTERN)


def _valid_name(name: str) -> bool:
    import re

    return re.fullmatch(NAME_PATTERN, name) is not None


def check_patterns(body: TemplateBody) -> None:
    """Every regex compiles and cannot backtrack catastrophically (ValidationFailed naming it)."""
    from pdfjobs.engines.invoices import validate_pattern
    from pdfjobs.errors import ValidationFailed

    for position, field in enumerate(body.fields):
        if field.regex is None:
            continue
        try:
            validate_pattern(field.regex)
        except ValidationFailed as error:
            raise ValidationFailed(
                f"fields[{position}].regex ({field.name}): {error.message}",
                details={"field": f"fields[{position}].regex", "pattern": field.regex},
            ) from error


INVOICE_FIELDS = (
    "vendor",
    "customer",
    "invoiceNumber",
    "issueDate",
    "dueDate",
    "currency",
    "subtotal",
    "tax",
    "total",
)

# The built-in invoice template: the invoice engine's own fields, and filters over them.
BUILT_IN: dict[str, dict[str, Any]] = {
    "invoice": {
        "description": "Invoices: parties, number, dates, currency, amounts and line items (built in).",
        "fields": [
            {"name": name, "type": kind, "required": name in ("invoiceNumber", "issueDate", "total")}
            for name, kind in (
                ("vendor", "string"),
                ("customer", "string"),
                ("invoiceNumber", "string"),
                ("issueDate", "date"),
                ("dueDate", "date"),
                ("currency", "string"),
                ("subtotal", "amount"),
                ("tax", "amount"),
                ("total", "amount"),
            )
        ],
        "filters": {
            "totals": ["currency", "subtotal", "tax", "total"],
            "parties": ["vendor", "customer"],
            "header": ["invoiceNumber", "issueDate", "dueDate"],
        },
    }
}


def built_in(name: str) -> TemplateBody | None:
    raw = BUILT_IN.get(name)
    return TemplateBody.model_validate(raw) if raw is not None else None


TemplateSource = Literal["built_in", "tenant"]
