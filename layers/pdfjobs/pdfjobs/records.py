"""Domain records as stored (DynamoDB items hold `model_dump(mode="json")` of these)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class Record(BaseModel):
    model_config = {"extra": "ignore"}

    def to_item(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class Scope(StrEnum):
    ADMIN = "admin"
    JOBS_WRITE = "jobs:write"
    JOBS_READ = "jobs:read"
    FILES_WRITE = "files:write"
    FILES_READ = "files:read"
    KEYS_MANAGE = "keys:manage"


DEFAULT_SCOPES = [Scope.JOBS_WRITE, Scope.JOBS_READ, Scope.FILES_WRITE, Scope.FILES_READ, Scope.KEYS_MANAGE]


class ApiKeyRecord(Record):
    id: str
    tenant_id: str
    name: str
    prefix: str
    key_hash: str
    scopes: list[Scope]
    created_at: datetime
    revoked_at: datetime | None = None


class Principal(BaseModel):
    """Who is calling: resolved from the API key on every request."""

    key_id: str
    tenant_id: str
    scopes: frozenset[Scope]

    @property
    def is_admin(self) -> bool:
        return Scope.ADMIN in self.scopes

    def allows(self, scope: Scope) -> bool:
        return self.is_admin or scope in self.scopes


class UploadRecord(Record):
    id: str
    tenant_id: str
    filename: str
    content_type: str
    size_bytes: int
    file_id: str
    object_key: str
    status: str = "pending"  # pending -> completed
    created_at: datetime
    url_expires_at: datetime
    expires_at: datetime


class FileRecord(Record):
    id: str
    tenant_id: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    page_count: int | None = None
    encrypted: bool = False
    object_key: str
    status: str = "ready"
    owner_job_id: str | None = None
    created_at: datetime
    expires_at: datetime


class TemplateRecord(Record):
    tenant_id: str
    name: str
    version: int = 1
    body: dict[str, Any]  # a validated pdfjobs.templates.TemplateBody, camelCase as the client wrote it
    created_at: datetime
    updated_at: datetime


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    DELETED = "deleted"
    # Extraction held for a person: POST /jobs/{id}/review moves it to succeeded or failed.
    REVIEW_REQUIRED = "review_required"

    @property
    def is_terminal(self) -> bool:
        return self not in (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.REVIEW_REQUIRED)


ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)


class ErrorInfo(BaseModel):
    code: str
    message: str


class ReviewState(BaseModel):
    """Why a job waits for review, and what the reviewer decided."""

    threshold: float  # the confidence (0..1) a required field had to reach
    flagged_fields: list[str]
    required_at: str
    decision: str | None = None  # approve | reject
    decided_at: str | None = None
    corrections: dict[str, Any] = Field(default_factory=dict)


class DocumentState(BaseModel):
    index: int
    file_id: str | None = None  # None for an input given inline (html_to_pdf's settings.html or url)
    filename: str | None = None
    # Where the engines read this document: the file itself, or its PDF made by Prepare (images).
    source_key: str | None = None
    status: str = "queued"  # queued -> running -> succeeded | failed
    page_count: int | None = None
    pages_selected: int | None = None
    error: ErrorInfo | None = None


class OutputRecord(BaseModel):
    name: str
    key: str
    content_type: str
    size_bytes: int


class QualityCheck(BaseModel):
    name: str
    passed: bool
    detail: str | None = None


class JobRecord(Record):
    id: str
    tenant_id: str
    job_type: str
    status: JobStatus = JobStatus.QUEUED
    settings: dict[str, Any] = Field(default_factory=dict)
    input_file_ids: list[str]
    delete_inputs_with_job: bool = False
    documents: list[DocumentState]
    error: ErrorInfo | None = None
    outputs: list[OutputRecord] = Field(default_factory=list)
    quality_checks: list[QualityCheck] = Field(default_factory=list)
    review: ReviewState | None = None
    pages_total: int = 0
    pages_done: int = 0
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    expires_at: datetime

    @property
    def progress(self) -> int:
        """0..100, derived so it can only grow: pages done only grow and statuses only move forward."""
        if self.status == JobStatus.SUCCEEDED:
            return 100
        if self.status == JobStatus.QUEUED or self.pages_total <= 0:
            return 0 if self.status == JobStatus.QUEUED else 5
        return 5 + (90 * min(self.pages_done, self.pages_total)) // self.pages_total
