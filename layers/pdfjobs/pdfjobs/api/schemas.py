"""Request and response bodies of the /v1 API (camelCase on the wire); the OpenAPI document is built from these."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from pdfjobs import clock, errors
from pdfjobs.jobtypes.registry import get_job_type
from pdfjobs.records import ApiKeyRecord, DocumentState, FileRecord, JobRecord, JobStatus, Scope


class Schema(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    def wire(self) -> dict[str, Any]:
        # Absent values are explicit nulls: clients see the same keys on every response.
        return self.model_dump(mode="json", by_alias=True)


# -- errors ----------------------------------------------------------------------------------
ERROR_CODES = sorted({cls.code for cls in errors.all_error_classes()})


class ErrorBody(Schema):
    """Documents the envelope; `details` is left out when there are none."""

    code: str = Field(description="Stable dotted code. Known codes: " + ", ".join(ERROR_CODES) + ".")
    message: str
    request_id: str
    details: dict[str, Any] | None = None


class ErrorEnvelope(Schema):
    error: ErrorBody


# -- API keys --------------------------------------------------------------------------------
class CreateApiKeyRequest(Schema):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[Scope] | None = Field(default=None, description="Default: every scope but admin.")
    tenant_id: str | None = Field(default=None, description="Operator key only: create the key in this tenant.")


class ApiKeyOut(Schema):
    id: str
    name: str
    prefix: str = Field(description="First 8 characters of the key, to recognise it.")
    tenant_id: str
    scopes: list[Scope]
    created_at: datetime
    revoked_at: datetime | None = None
    active: bool

    @classmethod
    def of(cls, record: ApiKeyRecord) -> ApiKeyOut:
        # Never the hash: only the public fields, plus whether the key still works.
        public = record.model_dump(include=set(cls.model_fields))
        return cls.model_validate({**public, "active": record.revoked_at is None})


class CreatedApiKey(ApiKeyOut):
    key: str = Field(description="The secret. Shown only in this response; store it now.")


class ApiKeyList(Schema):
    items: list[ApiKeyOut]


class RevokedApiKeyOut(Schema):
    id: str
    revoked: bool
    revoked_at: datetime


# -- uploads and files -------------------------------------------------------------------------
class CreateUploadRequest(Schema):
    filename: str = Field(min_length=1, max_length=1024)
    content_type: str = Field(min_length=1, max_length=255)
    size_bytes: int = Field(gt=-1, description="Exact size of the file to upload; the URL accepts only this size.")


class UploadOut(Schema):
    upload_id: str
    method: Literal["POST", "PUT"]
    url: str
    fields: dict[str, str] | None = Field(default=None, description="Form fields to send before the `file` field.")
    headers: dict[str, str] | None = None
    expires_at: datetime


class FileOut(Schema):
    id: str
    status: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    page_count: int | None
    encrypted: bool
    created_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, record: FileRecord) -> FileOut:
        # Only the public fields: the object key, tenant and owner stay internal.
        return cls.model_validate(record.model_dump(include=set(cls.model_fields)))


class DeletedOut(Schema):
    id: str
    deleted: bool


# -- jobs ------------------------------------------------------------------------------------
class CreateJobRequest(Schema):
    job_type: str = Field(description="extract_text")
    input_file_ids: list[str] = Field(description="Files from POST /uploads or POST /files, in order.")
    settings: dict[str, Any] = Field(
        default_factory=dict, description="Validated per job type: see the *Settings schemas."
    )
    delete_inputs_with_job: bool = Field(
        default=False, description="When true the job owns its inputs: DELETE /jobs/{id} deletes them too."
    )


class ErrorInfoOut(Schema):
    code: str
    message: str


class DocumentOut(Schema):
    index: int
    file_id: str | None = None
    filename: str | None = None
    status: str
    page_count: int | None = None
    pages_selected: int | None = None
    error: ErrorInfoOut | None = None

    @classmethod
    def of(cls, document: DocumentState) -> DocumentOut:
        # Only the public fields: where the pipeline keeps its copy stays internal.
        return cls.model_validate(document.model_dump(include=set(cls.model_fields)))


class QualityCheckOut(Schema):
    name: str
    passed: bool
    detail: str | None = None


class ReviewOut(Schema):
    threshold: int = Field(description="Required fields had to reach this confidence (percent).")
    flagged_fields: list[str]
    required_at: datetime
    decision: Literal["approve", "reject"] | None = None
    decided_at: datetime | None = None
    corrections: dict[str, Any] = Field(default_factory=dict)


class ReviewRequest(Schema):
    decision: Literal["approve", "reject"]
    corrections: dict[str, Any] = Field(
        default_factory=dict, description="Field name -> corrected value, applied to the result on approve."
    )


class JobOut(Schema):
    id: str
    job_type: str
    status: JobStatus
    progress: int = Field(ge=0, le=100)
    input_file_ids: list[str]
    settings: dict[str, Any]
    documents: list[DocumentOut]
    status_url: str
    result_url: str | None = None
    retry_after_ms: int | None = None
    error: ErrorInfoOut | None = None
    quality_checks: list[QualityCheckOut] = Field(default_factory=list)
    result_available: bool = False
    review_threshold: int | None = Field(default=None, description="Set while or after the job awaited review.")
    review_flagged_field_count: int | None = None
    review_required_at: datetime | None = None
    review: ReviewOut | None = None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    expires_at: datetime

    @classmethod
    def of(cls, job: JobRecord, retry_after_ms: int) -> JobOut:
        job_type = get_job_type(job.job_type)
        shown = job.settings
        if job_type is not None:
            try:
                shown = job_type.parse_settings(job.settings).public()
            except ValueError:
                shown = {}
        terminal = job.status.is_terminal
        return cls(
            id=job.id,
            job_type=job.job_type,
            status=job.status,
            progress=job.progress,
            input_file_ids=job.input_file_ids,
            settings=shown,
            documents=[DocumentOut.of(d) for d in job.documents],
            status_url=f"/v1/jobs/{job.id}",
            result_url=f"/v1/jobs/{job.id}/result" if job.status == JobStatus.SUCCEEDED else None,
            retry_after_ms=None if terminal else retry_after_ms,
            error=ErrorInfoOut.model_validate(job.error.model_dump()) if job.error else None,
            quality_checks=[QualityCheckOut.model_validate(c.model_dump()) for c in job.quality_checks],
            result_available=job.status == JobStatus.SUCCEEDED,
            review_threshold=round(job.review.threshold * 100) if job.review else None,
            review_flagged_field_count=len(job.review.flagged_fields) if job.review else None,
            review_required_at=job.review.required_at if job.review else None,
            review=ReviewOut(
                threshold=round(job.review.threshold * 100),
                flagged_fields=job.review.flagged_fields,
                required_at=job.review.required_at,
                decision=job.review.decision,
                decided_at=job.review.decided_at,
                corrections=job.review.corrections,
            )
            if job.review
            else None,
            created_at=job.created_at,
            updated_at=job.updated_at,
            started_at=job.started_at,
            completed_at=job.completed_at,
            expires_at=job.expires_at,
        )


class JobList(Schema):
    items: list[JobOut]
    next_cursor: str | None = None


class OutputOut(Schema):
    name: str
    content_type: str
    size_bytes: int
    url: str
    expires_at: datetime


class JobResultOut(Schema):
    job_id: str
    status: JobStatus
    data: Any = Field(default=None, description="The JSON result inline when it is small; else see outputs.")
    outputs: list[OutputOut]


# -- templates -------------------------------------------------------------------------------
class TemplateOut(Schema):
    model_config = ConfigDict(extra="allow")  # the template's own fields, as TemplateBody defines them

    name: str
    built_in: bool
    version: int
    description: str | None = None
    fields: list[dict[str, Any]]
    filters: dict[str, list[str]] = Field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None


class TemplateList(Schema):
    items: list[TemplateOut]


# -- engines ---------------------------------------------------------------------------------
class EngineOut(Schema):
    id: str
    kind: Literal["ocr", "text", "html", "extraction", "llm"]
    available: bool
    reason: str | None = Field(default=None, description="Why the engine is unavailable, when it is.")
    version: str | None = None
    languages: list[str] = Field(description="Language codes the engine reads (OCR engines).")
    input_formats: list[str]
    output_formats: list[str]
    job_types: list[str]
    features: list[str] = Field(description="Job settings this engine honours.")
    limits: dict[str, Any]


class EngineList(Schema):
    engines: list[EngineOut]


class HealthOut(Schema):
    status: Literal["ok", "degraded"]
    checks: dict[str, str]
    time: datetime = Field(default_factory=clock.now)
