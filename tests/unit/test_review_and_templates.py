"""Template validation, the review gate's field rules, and the shared extraction result schema."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pdfjobs import errors
from pdfjobs.jobtypes.review import ReviewSettings, apply_corrections, flagged_fields
from pdfjobs.results import ExtractionResult
from pdfjobs.templates import BUILT_IN, TemplateBody, TemplateIn, built_in


def _field(value: str | None, confidence: float, page: int | None = 1) -> dict:
    return {"value": value, "confidence": confidence, "page": page, "bbox": [1, 2, 3, 4] if page else None}


def _result(*documents: dict) -> dict:
    return {
        "documents": [
            {"index": index, "pages": [{"page": 1, "elements": []}], "fields": fields}
            for index, fields in enumerate(documents)
        ]
    }


def test_required_fields_below_the_threshold_or_missing_are_flagged() -> None:
    result = _result({"total": _field("10.00", 0.95), "invoiceNumber": _field("A1", 0.5), "vendor": _field(None, 0)})
    assert flagged_fields(result, 0.9, {"total", "invoiceNumber"}) == ["invoiceNumber"]
    assert flagged_fields(result, 0.99, {"total", "vendor"}) == ["total", "vendor"]
    assert flagged_fields(result, 0.1, {"total"}) == []


def test_several_documents_name_fields_by_index() -> None:
    result = _result({"total": _field("1", 0.2)}, {"total": _field("2", 0.99)})
    assert flagged_fields(result, 0.9, {"total"}) == ["0:total"]
    corrected = apply_corrections(result, {"0:total": "1.50"})
    assert corrected["documents"][0]["fields"]["total"] == {**_field("1.50", 1.0), "source": "review"}
    assert corrected["documents"][1]["fields"]["total"]["value"] == "2"


def test_corrections_must_name_known_fields_with_plain_values() -> None:
    result = _result({"total": _field("1", 0.2)})
    with pytest.raises(errors.ValidationFailed, match="nope"):
        apply_corrections(result, {"nope": "x"})
    with pytest.raises(errors.ValidationFailed):
        apply_corrections(result, {"total": {"nested": True}})
    assert apply_corrections(result, {"total": None})["documents"][0]["fields"]["total"]["value"] is None


def test_review_settings_take_one_threshold_in_either_spelling() -> None:
    assert ReviewSettings.model_validate({"documentReview": 92}).review_threshold() == 0.92
    assert ReviewSettings.model_validate({"confidenceThreshold": 0.85}).review_threshold() == 0.85
    assert ReviewSettings.model_validate({}).review_threshold() is None
    for bad in ({"documentReview": 0}, {"documentReview": 100}, {"confidenceThreshold": 1.5}):
        with pytest.raises(ValidationError):
            ReviewSettings.model_validate(bad)
    with pytest.raises(ValidationError, match="not both"):
        ReviewSettings.model_validate({"documentReview": 90, "confidenceThreshold": 0.9})


def test_template_models_validate_names_fields_and_filters() -> None:
    good = TemplateIn.model_validate(
        {
            "name": "policy",
            "fields": [{"name": "policyNumber", "keywords": ["Policy No"]}],
            "filters": {"ids": ["policyNumber"]},
        }
    )
    assert good.fields[0].type == "string" and good.filters == {"ids": ["policyNumber"]}
    bad_bodies = [
        {"name": "bad name", "fields": [{"name": "a"}]},
        {"name": "t", "fields": []},
        {"name": "t", "fields": [{"name": "a"}, {"name": "a"}]},
        {"name": "t", "fields": [{"name": "a", "type": "enum"}]},
        {"name": "t", "fields": [{"name": "a", "pageHints": [0]}]},
        {"name": "t", "fields": [{"name": "a"}], "filters": {"f": ["b"]}},
        {"name": "t", "fields": [{"name": "a", "keywords": [""]}]},
        {"name": "t", "fields": [{"name": "a"}], "unknown": 1},
    ]
    for body in bad_bodies:
        with pytest.raises(ValidationError):
            TemplateIn.model_validate(body)


def test_the_built_in_invoice_template_is_valid_and_has_required_fields() -> None:
    body = built_in("invoice")
    assert isinstance(body, TemplateBody) and set(BUILT_IN) == {"invoice"}
    assert {field.name for field in body.fields if field.required} == {"invoiceNumber", "issueDate", "total"}
    assert set(body.filters) == {"totals", "parties", "header"}
    assert built_in("nope") is None


def test_the_result_schema_accepts_every_element_kind() -> None:
    result = ExtractionResult.model_validate(
        {
            "documents": [
                {
                    "index": 0,
                    "pages": [
                        {
                            "page": 1,
                            "elements": [
                                {"type": "text", "page": 1, "bbox": [0, 0, 1, 1], "text": "Hi"},
                                {
                                    "type": "table",
                                    "page": 1,
                                    "bbox": [0, 0, 9, 9],
                                    "rows": 1,
                                    "columns": 1,
                                    "cells": [{"row": 0, "column": 0, "text": "x"}],
                                },
                                {"type": "field", "name": "total", "value": "1.00", "confidence": 0.9, "page": 1},
                            ],
                        }
                    ],
                    "fields": {"total": {"type": "field", "name": "total", "value": "1.00"}},
                }
            ]
        }
    )
    kinds = [element.type for element in result.documents[0].pages[0].elements]
    assert kinds == ["text", "table", "field"]
    with pytest.raises(ValidationError):
        ExtractionResult.model_validate(
            {"documents": [{"index": 0, "pages": [{"page": 1, "elements": [{"type": "chart", "page": 1}]}]}]}
        )
