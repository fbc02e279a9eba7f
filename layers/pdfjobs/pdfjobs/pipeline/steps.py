"""Each function here is one state of statemachines/job.asl.json; handlers only call them."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from pdfjobs import clock, errors, filetypes
from pdfjobs.jobtypes.base import InputDocument, JobType, without_secrets
from pdfjobs.jobtypes.registry import get_job_type
from pdfjobs.observability import logger, metrics
from pdfjobs.pdf.page_ranges import batches, resolve_pages
from pdfjobs.pipeline.verification import verify_output
from pdfjobs.records import ErrorInfo, JobRecord, JobStatus, OutputRecord, QualityCheck, ReviewState
from pdfjobs.repositories.files import FileRepository
from pdfjobs.repositories.jobs import JobRepository
from pdfjobs.settings import get_settings
from pdfjobs.storage import ObjectStore, batch_key, document_pdf_key, output_key


class Pipeline:
    def __init__(
        self,
        jobs: JobRepository | None = None,
        files: FileRepository | None = None,
        store: ObjectStore | None = None,
    ) -> None:
        self.jobs = jobs or JobRepository()
        self.files = files or FileRepository()
        self.store = store or ObjectStore()

    # -- Prepare ---------------------------------------------------------------------------
    def prepare(self, event: dict[str, Any]) -> dict[str, Any]:
        """Marks the job running, opens every input, and plans page batches per document."""
        tenant_id, job_id = event["tenantId"], event["jobId"]
        with _stage("prepare"):
            job = self.jobs.transition(
                tenant_id, job_id, [JobStatus.QUEUED], JobStatus.RUNNING, started_at=clock.iso(clock.now())
            )
            job_type, settings = _job_type_of(job)
            config = get_settings()
            planned = []
            documents = [document.model_dump(mode="json", exclude_none=True) for document in job.documents]
            for document in job.documents:
                if not job_type.paged_input:
                    documents[document.index].update(status="running")
                    planned.append({"index": document.index, "batches": []})
                    continue
                try:
                    with self.open_input(job, document.index) as source:
                        if source.content_type in filetypes.IMAGE_TYPES:
                            source_key = document_pdf_key(tenant_id, job_id, document.index)
                            page_count = self._image_as_pdf(source, source_key, settings)
                            documents[document.index]["source_key"] = source_key
                        else:
                            page_count = _count_pages(source.path, getattr(settings, "password", None))
                    if page_count > config.max_pages:
                        raise errors.PdfTooManyPages(
                            f"Document {document.index} has {page_count} pages; the limit is {config.max_pages}."
                        )
                    pages = resolve_pages(getattr(settings, "pages", None), page_count)
                except errors.PdfJobsError as error:
                    documents[document.index].update(
                        status="failed", error={"code": error.code, "message": error.message}
                    )
                    self.jobs.update_fields(tenant_id, job_id, JobStatus.RUNNING, documents=documents)
                    raise
                documents[document.index].update(status="running", page_count=page_count, pages_selected=len(pages))
                size = max(1, job_type.batch_size(settings, len(pages)))
                # A batch is (start, count) into the document's selected pages, never the page numbers
                # themselves: Step Functions caps state at 256 KB, and 20 x 2000 pages would not fit.
                planned.append(
                    {
                        "index": document.index,
                        "batches": [
                            {"start": start, "count": len(batch)}
                            for start, batch in zip(range(0, len(pages), size), batches(pages, size), strict=True)
                        ],
                    }
                )
            self.jobs.update_fields(
                tenant_id,
                job_id,
                JobStatus.RUNNING,
                documents=documents,
                pages_total=sum(d.get("pages_selected") or 0 for d in documents),
            )
        return {
            "jobId": job_id,
            "tenantId": tenant_id,
            "jobType": job.job_type,
            "pageConcurrency": config.page_concurrency or os.cpu_count() or 1,
            "documents": planned,
        }

    def _image_as_pdf(self, source: InputDocument, key: str, settings: Any) -> int:
        """Turns an image input into PDF pages once, stored with the job; returns the page count."""
        from pdfjobs.images import image_to_pdf
        from pdfjobs.isolation import run_isolated

        config = get_settings()
        destination = source.path.with_suffix(".pdf")
        pages = run_isolated(
            image_to_pdf,
            str(source.path),
            str(destination),
            default_dpi=getattr(settings, "dpi", None) or config.ocr_default_dpi,
            max_pixels=config.max_image_pixels,
            max_frames=config.max_pages,
            timeout=config.engine_timeout_seconds,
            memory_mb=config.engine_memory_mb,
        )
        self.store.put_file(key, destination, filetypes.PDF)
        return int(pages)

    # -- ProcessBatch ----------------------------------------------------------------------
    def process_batch(self, event: dict[str, Any]) -> dict[str, Any]:
        """Runs the job type's engine over one page batch of one document; stores the part in S3."""
        tenant_id, job_id = event["tenantId"], event["jobId"]
        index, start, count = int(event["documentIndex"]), int(event["batch"]["start"]), int(event["batch"]["count"])
        with _stage("process_batch"):
            job = self._running_job(tenant_id, job_id)
            job_type, settings = _job_type_of(job)
            page_count = job.documents[index].page_count
            if page_count is None:
                raise errors.Internal("The document was not prepared.")
            pages = resolve_pages(getattr(settings, "pages", None), page_count)[start : start + count]
            with self.open_input(job, index) as source:
                part = job_type.process_batch(source, pages, settings)
            key = batch_key(tenant_id, job_id, index, start)
            self.store.put_bytes(key, json.dumps(part, ensure_ascii=False).encode(), "application/json")
            self.jobs.add_pages_done(tenant_id, job_id, len(pages))
            metrics.add_metric(name="PagesProcessed", unit=MetricUnit.Count, value=len(pages))
        return {"documentIndex": index, "firstPage": pages[0], "pages": len(pages)}

    # -- Assemble --------------------------------------------------------------------------
    def assemble(self, event: dict[str, Any]) -> dict[str, Any]:
        tenant_id, job_id = event["tenantId"], event["jobId"]
        with _stage("assemble"):
            job = self._running_job(tenant_id, job_id)
            job_type, settings = _job_type_of(job)
            documents = []
            for planned in event["documents"]:
                state = job.documents[planned["index"]]
                pages: list[Any] = []
                for batch in planned["batches"]:
                    part = json.loads(self.store.read_bytes(batch_key(tenant_id, job_id, state.index, batch["start"])))
                    pages.extend(part)
                documents.append(
                    {
                        "index": state.index,
                        "fileId": state.file_id,
                        "filename": state.filename,
                        "pageCount": state.page_count,
                        "pages": pages,
                    }
                )
            outputs = []
            for output in job_type.assemble(documents, settings, _JobInputs(self, job)):
                key = output_key(tenant_id, job_id, output.name)
                self.store.put_bytes(key, output.data, output.content_type)
                outputs.append(
                    OutputRecord(
                        name=output.name,
                        key=key,
                        content_type=output.content_type,
                        size_bytes=len(output.data),
                    )
                )
        return {
            "jobId": job_id,
            "tenantId": tenant_id,
            "jobType": job.job_type,
            "outputs": [o.model_dump() for o in outputs],
        }

    # -- Verify ----------------------------------------------------------------------------
    def verify(self, event: dict[str, Any]) -> dict[str, Any]:
        """Checks every output before the job may succeed; the checks are kept on the job either way."""
        tenant_id, job_id = event["tenantId"], event["jobId"]
        with _stage("verify"):
            outputs = [OutputRecord.model_validate(o) for o in event["outputs"]]
            checks: list[QualityCheck] = []
            for output in outputs:
                checks.extend(verify_output(output, self.store))
            checks.extend(self._job_type_checks(event, outputs))
            failed = [check for check in checks if not check.passed]
            if failed:
                self.jobs.update_fields(
                    tenant_id,
                    job_id,
                    JobStatus.RUNNING,
                    quality_checks=[c.model_dump(exclude_none=True) for c in checks],
                )
                raise errors.OutputInvalid(
                    "An output failed its checks: " + ", ".join(check.name for check in failed) + "."
                )
        return {**event, "qualityChecks": [check.model_dump(exclude_none=True) for check in checks]}

    # -- Finalize --------------------------------------------------------------------------
    def finalize(self, event: dict[str, Any]) -> dict[str, Any]:
        tenant_id, job_id = event["tenantId"], event["jobId"]
        with _stage("finalize"):
            job = self._running_job(tenant_id, job_id)
            now = clock.now()
            documents = [
                {**document.model_dump(mode="json", exclude_none=True), "status": "succeeded"}
                for document in job.documents
            ]
            review = self._review_needed(job, [OutputRecord.model_validate(o) for o in event["outputs"]])
            if review is not None:
                held = self.jobs.transition(
                    tenant_id,
                    job_id,
                    [JobStatus.RUNNING],
                    JobStatus.REVIEW_REQUIRED,
                    outputs=event["outputs"],
                    quality_checks=event["qualityChecks"],
                    documents=documents,
                    review=review.model_dump(),
                    expires_at=clock.iso(now + timedelta(hours=get_settings().retention_hours)),
                    settings=without_secrets(job.settings),
                    event=job_event(
                        "job.review_required",
                        job,
                        {"reviewThreshold": round(review.threshold * 100), "flaggedFields": review.flagged_fields},
                    ),
                )
                logger.info("job held for review", extra={"job_id": job_id, "flagged": review.flagged_fields})
                return {"jobId": job_id, "status": str(held.status)}
            done = self.jobs.transition(
                tenant_id,
                job_id,
                [JobStatus.RUNNING],
                JobStatus.SUCCEEDED,
                outputs=event["outputs"],
                quality_checks=event["qualityChecks"],
                documents=documents,
                completed_at=clock.iso(now),
                expires_at=clock.iso(now + timedelta(hours=get_settings().retention_hours)),
                settings=without_secrets(job.settings),
            )
            _count_outcome(done)
        return {"jobId": job_id, "status": str(done.status)}

    def _job_type_checks(self, event: dict[str, Any], outputs: list[OutputRecord]) -> list[QualityCheck]:
        """A job type's own checks of its result.json (read only for job types that have some)."""
        job_type = get_job_type(str(event.get("jobType") or ""))
        if job_type is None:  # an event from before Assemble named the job type
            job_type, _ = _job_type_of(self._running_job(event["tenantId"], event["jobId"]))
        result = next((output for output in outputs if output.name == "result.json"), None)
        if not job_type.checks_result or result is None:
            return []
        try:
            data = json.loads(self.store.read_bytes(result.key))
        except ValueError:
            return []  # an unreadable result.json already fails its own proofs
        return job_type.quality_checks(data)

    def _review_needed(self, job: JobRecord, outputs: list[OutputRecord]) -> ReviewState | None:
        job_type, settings = _job_type_of(job)
        threshold = job_type.review_threshold(settings)
        result = next((output for output in outputs if output.name == "result.json"), None)
        if threshold is None or result is None:
            return None  # most jobs: no review asked, so result.json is not read again
        flagged = job_type.flagged_fields(json.loads(self.store.read_bytes(result.key)), settings, threshold)
        if not flagged:
            return None
        return ReviewState(threshold=threshold, flagged_fields=flagged, required_at=clock.iso(clock.now()))

    # -- MarkFailed ------------------------------------------------------------------------
    def mark_failed(self, event: dict[str, Any]) -> dict[str, Any]:
        """Turns the Step Functions error into the job's error code; a job already ended is left alone."""
        tenant_id, job_id = event["tenantId"], event["jobId"]
        info = error_info_from_states_error(event.get("error") or {})
        job = self.jobs.get(tenant_id, job_id, consistent=True)
        try:
            failed = self.jobs.transition(
                tenant_id,
                job_id,
                [JobStatus.QUEUED, JobStatus.RUNNING],
                JobStatus.FAILED,
                error=info.model_dump(),
                completed_at=clock.iso(clock.now()),
                settings=without_secrets(job.settings if job else {}),
            )
        except errors.JobStateConflict:
            logger.info("job already ended; failure not recorded", extra={"job_id": job_id, "code": info.code})
            return {"jobId": job_id, "status": str(job.status) if job else "missing"}
        _count_outcome(failed)
        logger.info("job failed", extra={"job_id": job_id, "code": info.code})
        return {"jobId": job_id, "status": str(failed.status), "error": info.model_dump()}

    # -- shared ----------------------------------------------------------------------------
    def _running_job(self, tenant_id: str, job_id: str) -> JobRecord:
        job = self.jobs.get(tenant_id, job_id, consistent=True)
        if job is None or job.status != JobStatus.RUNNING:
            raise errors.JobStateConflict(f"The job is {job.status if job else 'missing'}; stopping.")
        return job

    @contextmanager
    def open_input(self, job: JobRecord, index: int) -> Iterator[InputDocument]:
        """The document downloaded to a private temporary directory, removed afterwards."""
        document = job.documents[index]
        if document.source_key:
            key, content_type = document.source_key, filetypes.PDF
        else:
            file = self.files.get_file(job.tenant_id, document.file_id) if document.file_id else None
            if file is None:
                raise errors.NotFound(f"Input file {document.file_id} no longer exists.")
            key, content_type = file.object_key, file.content_type
        with tempfile.TemporaryDirectory(prefix="pdfjobs-") as workdir:
            path = Path(workdir) / "input"
            self.store.download(key, path)
            yield InputDocument(index=index, path=path, bucket=self.store.bucket, key=key, content_type=content_type)


class _JobInputs:
    """The InputFiles a job type's assemble step opens its documents through."""

    def __init__(self, pipeline: Pipeline, job: JobRecord) -> None:
        self._pipeline, self._job = pipeline, job

    def open(self, index: int) -> AbstractContextManager[InputDocument]:
        return self._pipeline.open_input(self._job, index)


_TIMEOUT_ERRORS = ("States.Timeout", "Sandbox.Timedout")


def error_info_from_states_error(error: dict[str, Any]) -> ErrorInfo:
    """Maps {"Error", "Cause"} from a Catch to a client-safe code and message."""
    name = str(error.get("Error", ""))
    if name in _TIMEOUT_ERRORS:
        return ErrorInfo(code=errors.EngineTimeout.code, message=errors.EngineTimeout.default_message)
    known = errors.error_class_by_name(name)
    if known is None or known is errors.Internal:
        logger.error("pipeline failed with an unexpected error", extra={"error": name, "cause": error.get("Cause")})
        return ErrorInfo(code=errors.Internal.code, message=errors.Internal.default_message)
    message = known.default_message
    try:
        cause = json.loads(error.get("Cause") or "{}")
        message = str(cause.get("errorMessage") or message)
    except (TypeError, ValueError):
        pass
    return ErrorInfo(code=known.code, message=message)


def job_event(event_type: str, job: JobRecord, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A webhook event body (Standard Webhooks: id, type, createdAt, data): ids and links, never results."""
    from pdfjobs import ids

    return {
        "id": ids.new_id("evt"),
        "type": event_type,
        "createdAt": clock.iso(clock.now()),
        "data": {
            "jobId": job.id,
            "jobType": job.job_type,
            "statusUrl": f"/v1/jobs/{job.id}",
            **(extra or {}),
        },
    }


def _job_type_of(job: JobRecord) -> tuple[JobType, Any]:
    job_type = get_job_type(job.job_type)
    if job_type is None:
        raise errors.Internal(f"Unknown job type {job.job_type}")
    return job_type, job_type.parse_settings(job.settings)


def _count_pages(path: Path, password: str | None) -> int:
    from pdfjobs.isolation import run_isolated
    from pdfjobs.pdf.document import count_pages

    config = get_settings()
    return int(
        run_isolated(
            count_pages,
            str(path),
            password,
            timeout=config.engine_timeout_seconds,
            memory_mb=config.engine_memory_mb,
        )
    )


def _count_outcome(job: JobRecord) -> None:
    metrics.add_dimension(name="jobType", value=job.job_type)
    metrics.add_metric(name=f"Jobs{str(job.status).capitalize()}", unit=MetricUnit.Count, value=1)


@contextmanager
def _stage(name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        metrics.add_metric(
            name=f"StageDuration_{name}",
            unit=MetricUnit.Milliseconds,
            value=(time.perf_counter() - started) * 1000,
        )
