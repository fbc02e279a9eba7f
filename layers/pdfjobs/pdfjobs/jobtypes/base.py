"""What every job type provides to the pipeline."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from pdfjobs.pdf.page_ranges import validate_page_ranges
from pdfjobs.settings import get_settings

if TYPE_CHECKING:
    from pdfjobs.records import FileRecord, Principal, QualityCheck


class JobSettings(BaseModel):
    """Base of every job type's settings: camelCase on the wire, unknown fields rejected."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)
    # Fields the server fills in at submit (a template's copy); a client may not send them.
    internal_fields: ClassVar[tuple[str, ...]] = ()

    def public(self) -> dict[str, Any]:
        """The settings as shown back to clients: secrets masked."""
        shown = self.model_dump(by_alias=True, exclude_none=True, exclude=set(self.internal_fields))
        if "password" in shown:
            shown["password"] = "***"  # noqa: S105 - a mask, not a secret
        return shown


class PdfInputSettings(JobSettings):
    pages: str | None = Field(
        default=None,
        description='Pages to process, 1-based: "1-3,7", "5-" (to the end). Default: all pages.',
        examples=["1-3,7"],
    )
    password: str | None = Field(
        default=None,
        max_length=1024,
        description="Opens an encrypted PDF. Never shown back; dropped when the job ends.",
    )

    @field_validator("pages")
    @classmethod
    def _pages_syntax(cls, value: str | None) -> str | None:
        return validate_page_ranges(value) if value else None


def without_secrets(settings: dict[str, Any]) -> dict[str, Any]:
    """Stored settings minus what must not outlive the job (a PDF's password)."""
    return {key: value for key, value in settings.items() if key != "password"}


@dataclass(frozen=True)
class OutputFile:
    name: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class InputDocument:
    """One input of a job as an engine sees it: a local copy, and where it lives in S3.

    Image inputs arrive here already turned into PDF pages (Prepare converts them once).
    """

    index: int
    path: Path
    bucket: str
    key: str
    content_type: str


class InputFiles(Protocol):
    """Opens a job's input documents by index, for the Assemble step (a local copy per `with`)."""

    def open(self, index: int) -> AbstractContextManager[InputDocument]: ...


class JobType(ABC):
    name: ClassVar[str]
    description: ClassVar[str]
    settings_model: ClassVar[type[JobSettings]]
    accepted_content_types: ClassVar[tuple[str, ...]]
    # False for job types whose input is not paged (HTML): Prepare plans no page batches.
    paged_input: ClassVar[bool] = True
    # True for job types with quality_checks of their own: Verify then reads their result.json.
    checks_result: ClassVar[bool] = False

    def parse_settings(self, raw: dict[str, Any]) -> JobSettings:
        return self.settings_model.model_validate(raw)

    def check_submission(self, settings: JobSettings, inputs: Sequence[FileRecord]) -> None:
        """Refuses, at submit time, what the settings model cannot know (engines, languages, inputs)."""
        if not inputs:
            from pdfjobs.errors import ValidationFailed

            raise ValidationFailed("inputFileIds needs at least one file id.", details={"field": "inputFileIds"})

    def resolve_settings(self, settings: JobSettings, principal: Principal) -> JobSettings:
        """The settings as the job will keep them: what the server adds at submit (a template's copy)."""
        return settings

    def inline_input_name(self, settings: JobSettings) -> str:
        """The document's name when its input is in the settings, not a file (see check_submission)."""
        return "inline"

    def batch_size(self, settings: JobSettings, pages: int) -> int:
        """How many pages one ProcessBatch invocation takes."""
        return get_settings().page_batch_size

    def quality_checks(self, result: dict[str, Any]) -> list[QualityCheck]:
        """Checks of the job's own beside the generic output proofs (from its result.json)."""
        return []

    def review_threshold(self, settings: JobSettings) -> float | None:
        """The confidence (0..1) required fields must reach, when the settings ask for review."""
        return None

    def flagged_fields(self, result: dict[str, Any], settings: JobSettings, threshold: float) -> list[str]:
        """Required fields of `result` below `threshold` (called only when review_threshold gives one)."""
        return []

    def reviewed_outputs(
        self, result: dict[str, Any], corrections: dict[str, Any], settings: JobSettings
    ) -> list[OutputFile]:
        """The outputs again, with a reviewer's corrections applied to result.json's fields."""
        from pdfjobs.errors import ReviewNotPending

        raise ReviewNotPending(f"{self.name} jobs have no review.")

    @abstractmethod
    def process_batch(self, source: InputDocument, pages: list[int], settings: JobSettings) -> Any:
        """Runs the engine on some pages of one document; the result must be JSON-serialisable."""

    @abstractmethod
    def assemble(self, documents: list[dict[str, Any]], settings: JobSettings, inputs: InputFiles) -> list[OutputFile]:
        """Joins every document's batch results (in page order) into the job's outputs."""
