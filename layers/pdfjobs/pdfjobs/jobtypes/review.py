"""The review gate of field extraction (seed 000's confidenceThreshold, seed 003's documentReview):
a required field below the threshold holds the job at review_required until a person decides."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from pdfjobs.errors import ValidationFailed
from pdfjobs.jobtypes.base import JobSettings


class ReviewSettings(JobSettings):
    confidence_threshold: float | None = Field(
        default=None, ge=0, le=1, description="Hold the job for review when a required field's confidence is below."
    )
    document_review: int | None = Field(
        default=None, ge=1, le=99, description="The same threshold in percent (seed 003's spelling)."
    )

    @model_validator(mode="after")
    def _one_threshold(self) -> ReviewSettings:
        if self.confidence_threshold is not None and self.document_review is not None:
            raise ValueError("give confidenceThreshold or documentReview, not both")
        return self

    def review_threshold(self) -> float | None:
        if self.document_review is not None:
            return self.document_review / 100
        return self.confidence_threshold


def flagged_fields(result: dict[str, Any], threshold: float, required: set[str]) -> list[str]:
    """Required fields (by result key) whose confidence is below the threshold, or that were not found."""
    flagged = []
    for key, field in _fields(result):
        name = key.rsplit(":", 1)[-1]
        if name in required and (field.get("value") is None or float(field.get("confidence") or 0) < threshold):
            flagged.append(key)
    return flagged


def apply_corrections(result: dict[str, Any], corrections: dict[str, Any]) -> dict[str, Any]:
    """The result with each corrected field's value replaced (confidence 1, source review)."""
    known = dict(_fields(result))
    unknown = sorted(set(corrections) - set(known))
    if unknown:
        raise ValidationFailed(
            f"corrections name unknown fields: {', '.join(unknown)}; fields are: {', '.join(sorted(known))}.",
            details={"field": "corrections", "unknown": unknown},
        )
    for key, value in corrections.items():
        if value is not None and not isinstance(value, str | int | float | bool):
            raise ValidationFailed(f"corrections.{key} must be a string, number, boolean or null.")
        known[key].update(value=None if value is None else str(value), confidence=1.0, source="review")
    return result


def _fields(result: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(key, field) of every named field; keys are the field names, prefixed `<index>:` when the job has
    several documents."""
    documents = result.get("documents", [])
    several = len(documents) > 1
    found = []
    for document in documents:
        for name, field in (document.get("fields") or {}).items():
            found.append((f"{document['index']}:{name}" if several else name, field))
    return found
