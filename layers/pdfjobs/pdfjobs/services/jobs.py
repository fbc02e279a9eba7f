"""Jobs from the API's side: submit, read, list, cancel, delete, and results."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError
from pydantic import ValidationError

from pdfjobs import aws_clients, clock, ids
from pdfjobs.errors import (
    EngineTimeout,
    FileExpired,
    Internal,
    JobCancelledResult,
    JobFailedResult,
    JobNotCancellable,
    JobStateConflict,
    NotFound,
    ResultExpired,
    ResultFormatUnavailable,
    ResultNotReady,
    ReviewNotPending,
    ReviewRejected,
    ReviewRequired,
    UnsupportedFileType,
    ValidationFailed,
    validation_failed,
)
from pdfjobs.jobtypes.base import without_secrets
from pdfjobs.jobtypes.registry import get_job_type, job_type_names
from pdfjobs.observability import logger
from pdfjobs.records import (
    ACTIVE_STATUSES,
    DocumentState,
    ErrorInfo,
    JobRecord,
    JobStatus,
    OutputRecord,
    Principal,
    Scope,
)
from pdfjobs.repositories.files import FileRepository
from pdfjobs.repositories.jobs import JobRepository
from pdfjobs.services.auth import require
from pdfjobs.settings import get_settings
from pdfjobs.storage import ObjectStore, job_prefix, output_key

# Statuses whose retention runs: results (or a job waiting for review) expire after it.
_FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.REVIEW_REQUIRED)
# Execution statuses that end a job the pipeline itself could not mark failed.
_ENDED_EXECUTIONS = {
    "TIMED_OUT": ErrorInfo(code=EngineTimeout.code, message="The job took longer than its time limit."),
    "FAILED": ErrorInfo(code=Internal.code, message=Internal.default_message),
    "ABORTED": ErrorInfo(code=Internal.code, message="The job's execution was stopped outside the API."),
}


class JobService:
    def __init__(
        self,
        jobs: JobRepository | None = None,
        files: FileRepository | None = None,
        store: ObjectStore | None = None,
    ) -> None:
        self.jobs = jobs or JobRepository()
        self.files = files or FileRepository()
        self.store = store or ObjectStore()

    def submit(
        self,
        principal: Principal,
        job_type_name: str,
        input_file_ids: list[str],
        settings: dict[str, Any],
        delete_inputs_with_job: bool = False,
    ) -> JobRecord:
        require(principal, Scope.JOBS_WRITE)
        config = get_settings()
        job_type = get_job_type(job_type_name)
        if job_type is None:
            raise ValidationFailed(
                f"Unknown jobType {job_type_name!r}; one of: {', '.join(job_type_names())}.",
                details={"field": "jobType"},
            )
        internal = job_type.settings_model.internal_fields
        sent_internal = [key for key in settings if key in internal or _snake(key) in internal]
        if sent_internal:
            raise ValidationFailed(
                f"settings.{sent_internal[0]} is set by the server, not by clients.",
                details={"field": f"settings.{sent_internal[0]}"},
            )
        try:
            parsed = job_type.parse_settings(settings)
        except ValidationError as error:
            raise validation_failed(error.errors(), prefix="settings") from error
        if len(input_file_ids) > config.max_documents_per_job:
            raise ValidationFailed(
                f"At most {config.max_documents_per_job} input files per job.",
                details={"field": "inputFileIds"},
            )
        if len(set(input_file_ids)) != len(input_file_ids):
            raise ValidationFailed("inputFileIds lists a file twice.", details={"field": "inputFileIds"})
        valid_ids = [file_id for file_id in input_file_ids if ids.has_prefix(file_id, "file")]
        found = self.files.get_files(principal.tenant_id, valid_ids)
        now = clock.now()
        for position, file_id in enumerate(input_file_ids):
            file = found.get(file_id)
            field = f"inputFileIds[{position}]"
            if file is None:
                raise NotFound(f"No file {file_id!r}.", details={"field": field})
            if file.expires_at <= now:
                raise FileExpired(f"File {file_id!r} is past its retention period.", details={"field": field})
            if file.content_type not in job_type.accepted_content_types:
                raise UnsupportedFileType(
                    f"{job_type.name} accepts {', '.join(job_type.accepted_content_types)}; "
                    f"file {file_id!r} is {file.content_type}.",
                    details={"field": field},
                )
        inputs = [found[file_id] for file_id in input_file_ids]
        job_type.check_submission(parsed, inputs)
        parsed = job_type.resolve_settings(parsed, principal)
        documents = [
            DocumentState(index=i, file_id=file.id, filename=file.filename, page_count=file.page_count)
            for i, file in enumerate(inputs)
        ] or [DocumentState(index=0, filename=job_type.inline_input_name(parsed))]
        job = JobRecord(
            id=ids.new_id("job"),
            tenant_id=principal.tenant_id,
            job_type=job_type.name,
            settings=parsed.model_dump(by_alias=False, exclude_none=True),
            input_file_ids=input_file_ids,
            delete_inputs_with_job=delete_inputs_with_job,
            documents=documents,
            created_at=now,
            updated_at=now,
            expires_at=now + timedelta(hours=config.retention_hours),
        )
        self.jobs.create(job)
        return self._start(job)

    def _start(self, job: JobRecord) -> JobRecord:
        try:
            aws_clients.client("stepfunctions").start_execution(
                stateMachineArn=get_settings().state_machine_arn,
                name=job.id,
                input=json.dumps({"jobId": job.id, "tenantId": job.tenant_id}),
            )
        except ClientError as error:
            logger.exception("could not start the job's execution", extra={"job_id": job.id})
            self.jobs.transition(
                job.tenant_id,
                job.id,
                [JobStatus.QUEUED],
                JobStatus.FAILED,
                error=ErrorInfo(code="internal", message="The job could not be started.").model_dump(),
            )
            raise Internal("The job could not be started; try again.") from error
        return job

    def get(self, principal: Principal, job_id: str) -> JobRecord:
        require(principal, Scope.JOBS_READ)
        job = self.jobs.get(principal.tenant_id, job_id) if ids.has_prefix(job_id, "job") else None
        if job is None:
            raise NotFound("No job with this id.")
        return self._expire_if_due(self._reconcile_if_stale(job))

    def _reconcile_if_stale(self, job: JobRecord) -> JobRecord:
        """An active job untouched for a while is checked against its execution: one that ended
        without reaching its Catch (a whole-execution timeout, a stop outside the API) fails the job."""
        stale_after = timedelta(seconds=get_settings().job_stale_after_seconds)
        if job.status not in ACTIVE_STATUSES or clock.now() - job.updated_at < stale_after:
            return job
        try:
            execution = aws_clients.client("stepfunctions").describe_execution(executionArn=execution_arn(job.id))
        except ClientError:
            logger.exception("could not describe the job's execution", extra={"job_id": job.id})
            return job
        outcome = _ENDED_EXECUTIONS.get(execution["status"])
        if outcome is None:
            return job  # still running, or it succeeded and Finalize's write is on its way
        try:
            return self.jobs.transition(
                job.tenant_id,
                job.id,
                ACTIVE_STATUSES,
                JobStatus.FAILED,
                error=outcome.model_dump(),
                completed_at=clock.iso(clock.now()),
                settings=without_secrets(job.settings),
            )
        except JobStateConflict:
            return self.jobs.get(job.tenant_id, job.id, consistent=True) or job

    def _expire_if_due(self, job: JobRecord) -> JobRecord:
        """Retention ends lazily, on the first read after it: a conditional move to `expired`."""
        if job.status not in _FINISHED or clock.now() < job.expires_at:
            return job
        try:
            expired = self.jobs.transition(job.tenant_id, job.id, _FINISHED, JobStatus.EXPIRED)
        except JobStateConflict:
            return self.jobs.get(job.tenant_id, job.id, consistent=True) or job
        self.store.delete_prefix(job_prefix(job.tenant_id, job.id))
        return expired

    def list(
        self,
        principal: Principal,
        limit: int,
        cursor: str | None,
        status: JobStatus | None,
        job_type: str | None,
    ) -> tuple[list[JobRecord], str | None]:
        require(principal, Scope.JOBS_READ)
        if job_type is not None and get_job_type(job_type) is None:
            raise ValidationFailed(f"Unknown jobType {job_type!r}.", details={"field": "jobType"})
        return self.jobs.list(principal.tenant_id, limit=limit, cursor=cursor, status=status, job_type=job_type)

    def cancel(self, principal: Principal, job_id: str) -> JobRecord:
        require(principal, Scope.JOBS_WRITE)
        job = self.get(principal, job_id)
        try:
            cancelled = self.jobs.transition(
                job.tenant_id,
                job.id,
                [JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.REVIEW_REQUIRED],
                JobStatus.CANCELLED,
                completed_at=clock.iso(clock.now()),
            )
        except JobStateConflict as error:
            current = self.jobs.get(job.tenant_id, job.id, consistent=True)
            status = current.status if current else job.status
            raise JobNotCancellable(
                f"The job is {status}; only queued, running or review_required jobs can be cancelled."
            ) from error
        self._stop_execution(cancelled, "cancelled by the client")
        return cancelled

    def delete(self, principal: Principal, job_id: str) -> None:
        require(principal, Scope.JOBS_WRITE)
        job = self.get(principal, job_id)
        if job.status == JobStatus.DELETED:
            return  # deleting twice is not an error: the outcome is the same
        try:
            deleted = self.jobs.transition(
                job.tenant_id,
                job.id,
                [s for s in JobStatus if s != JobStatus.DELETED],
                JobStatus.DELETED,
                settings={},
            )
        except JobStateConflict:
            return  # a concurrent delete won
        self._stop_execution(deleted, "deleted by the client")
        self.store.delete_prefix(job_prefix(job.tenant_id, job.id))
        if job.delete_inputs_with_job:
            for file_id in job.input_file_ids:
                file = self.files.get_file(job.tenant_id, file_id)
                if file is not None:
                    self.store.delete(file.object_key)
                    self.files.mark_deleted(job.tenant_id, file_id)

    def result_output(self, principal: Principal, job_id: str, fmt: str) -> tuple[OutputRecord, str, str | None]:
        """The output of a succeeded job in format `fmt` (by file extension): the record, a signed URL,
        and the text itself when it is text and small enough to answer in the body."""
        job = self._succeeded(principal, job_id)
        matching = [output for output in job.outputs if output.name.rsplit(".", 1)[-1] == fmt]
        if not matching:
            available = sorted({output.name.rsplit(".", 1)[-1] for output in job.outputs})
            raise ResultFormatUnavailable(
                f"This job has no {fmt} output; it has: {', '.join(available)}.",
                details={"field": "format", "available": available},
            )
        output = matching[0]
        config = get_settings()
        url = self.store.presigned_download(output.key, config.download_url_ttl_seconds, output.name)
        textual = output.content_type.startswith(("text/", "application/json"))
        if textual and output.size_bytes <= config.inline_result_max_bytes:
            return output, url, self.store.read_bytes(output.key).decode("utf-8")
        return output, url, None

    def review(self, principal: Principal, job_id: str, decision: str, corrections: dict[str, Any]) -> JobRecord:
        """A reviewer's decision on a job held for review: approve (with corrections) or reject."""
        require(principal, Scope.JOBS_WRITE)
        job = self.get(principal, job_id)
        if job.status != JobStatus.REVIEW_REQUIRED or job.review is None:
            raise ReviewNotPending(f"The job is {job.status}; only review_required jobs take a review.")
        job_type = get_job_type(job.job_type)
        if job_type is None:
            raise Internal(f"Unknown job type {job.job_type}")
        decided = job.review.model_copy(
            update={"decision": decision, "decided_at": clock.iso(clock.now()), "corrections": corrections}
        )
        if decision == "reject":
            if corrections:
                raise ValidationFailed("A rejection takes no corrections.", details={"field": "corrections"})
            return self._decide(
                job,
                JobStatus.FAILED,
                review=decided.model_dump(),
                error=ErrorInfo(code=ReviewRejected.code, message=ReviewRejected.default_message).model_dump(),
                completed_at=clock.iso(clock.now()),
            )
        settings = job_type.parse_settings(job.settings)
        result = next((output for output in job.outputs if output.name == "result.json"), None)
        if result is None:
            raise Internal("The job has no result.json to review.")
        outputs = job_type.reviewed_outputs(json.loads(self.store.read_bytes(result.key)), corrections, settings)
        records = []
        for output in outputs:
            key = output_key(job.tenant_id, job.id, output.name)
            self.store.put_bytes(key, output.data, output.content_type)
            records.append(
                OutputRecord(name=output.name, key=key, content_type=output.content_type, size_bytes=len(output.data))
            )
        return self._decide(
            job,
            JobStatus.SUCCEEDED,
            review=decided.model_dump(),
            outputs=[record.model_dump() for record in records],
            completed_at=clock.iso(clock.now()),
        )

    def _decide(self, job: JobRecord, to_status: JobStatus, **fields: Any) -> JobRecord:
        try:
            return self.jobs.transition(job.tenant_id, job.id, [JobStatus.REVIEW_REQUIRED], to_status, **fields)
        except JobStateConflict as error:
            raise ReviewNotPending("Another decision or a cancel reached the job first.") from error

    def _stop_execution(self, job: JobRecord, cause: str) -> None:
        try:
            aws_clients.client("stepfunctions").stop_execution(executionArn=execution_arn(job.id), cause=cause)
        except ClientError:
            # Already finished: nothing to stop, and the status write above is what counts.
            logger.info("execution was not running", extra={"job_id": job.id})

    def _succeeded(self, principal: Principal, job_id: str) -> JobRecord:
        """The job, when it has a result; else the error that says why not (GET .../result's errors)."""
        job = self.get(principal, job_id)
        if job.status in (JobStatus.EXPIRED, JobStatus.DELETED):
            raise ResultExpired(f"The job is {job.status}; its results are gone.")
        if job.status == JobStatus.FAILED:
            raise JobFailedResult(details={"error": job.error.model_dump() if job.error else None})
        if job.status == JobStatus.CANCELLED:
            raise JobCancelledResult()
        if job.status == JobStatus.REVIEW_REQUIRED and job.review is not None:
            raise ReviewRequired(
                details={
                    "reviewThreshold": round(job.review.threshold * 100),
                    "reviewFlaggedFieldCount": len(job.review.flagged_fields),
                    "flaggedFields": job.review.flagged_fields,
                }
            )
        if job.status != JobStatus.SUCCEEDED:
            raise ResultNotReady(details={"status": str(job.status), "progress": job.progress})
        return job

    def result(self, principal: Principal, job_id: str) -> dict[str, Any]:
        job = self._succeeded(principal, job_id)
        config = get_settings()
        ttl = config.download_url_ttl_seconds
        url_expiry = clock.iso(clock.now() + timedelta(seconds=ttl))
        outputs = []
        data: Any = None
        for output in job.outputs:
            outputs.append(
                {
                    "name": output.name,
                    "contentType": output.content_type,
                    "sizeBytes": output.size_bytes,
                    "url": self.store.presigned_download(output.key, ttl, output.name),
                    "expiresAt": url_expiry,
                }
            )
            if output.name == "result.json" and output.size_bytes <= config.inline_result_max_bytes:
                data = json.loads(self.store.read_bytes(output.key))
        return {"jobId": job.id, "status": str(job.status), "data": data, "outputs": outputs}


def _snake(name: str) -> str:
    return "".join(f"_{char.lower()}" if char.isupper() else char for char in name)


def execution_arn(job_id: str) -> str:
    """A job's execution is named after the job, so its ARN is derived, never stored."""
    machine = get_settings().state_machine_arn
    return machine.replace(":stateMachine:", ":execution:", 1) + ":" + job_id
