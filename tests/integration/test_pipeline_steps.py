"""The pipeline's steps on moto, one at a time: transitions, progress, failures, cancellation."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import pytest
from pypdf import PdfReader, PdfWriter

from pdfjobs import clock, errors
from pdfjobs.pipeline.steps import Pipeline
from pdfjobs.records import FileRecord, JobRecord, JobStatus, Principal
from pdfjobs.services.files import FileService
from pdfjobs.services.jobs import JobService
from pdfjobs.storage import ObjectStore, output_key
from tests.corpus import corpus_file


def _upload(principal: Principal, relative: str) -> FileRecord:
    path = corpus_file(relative)
    return FileService().upload_direct(principal, path.name, path.read_bytes())


def _submit(principal: Principal, files: list[FileRecord], **settings: Any) -> JobRecord:
    return JobService().submit(principal, "extract_text", [f.id for f in files], settings)


def _event(job: JobRecord) -> dict[str, str]:
    return {"jobId": job.id, "tenantId": job.tenant_id}


def _process_all(pipeline: Pipeline, prepared: dict[str, Any]) -> None:
    for document in prepared["documents"]:
        for batch in document["batches"]:
            pipeline.process_batch(
                {**_event_of(prepared), "jobType": "extract_text", "documentIndex": document["index"], "batch": batch}
            )


def _event_of(prepared: dict[str, Any]) -> dict[str, str]:
    return {"jobId": prepared["jobId"], "tenantId": prepared["tenantId"]}


def test_steps_take_a_job_from_queued_to_succeeded(principal: Principal, settings_override: Any) -> None:
    settings_override(page_batch_size=3)
    file = _upload(principal, "text/Seige_of_Vicksburg_Sample_OCR-crazyones-merged.pdf")
    job = _submit(principal, [file], includePageCitations=True)
    pipeline, jobs = Pipeline(), JobService()
    assert jobs.get(principal, job.id).status == JobStatus.QUEUED

    prepared = pipeline.prepare(_event(job))
    assert prepared["documents"][0]["batches"] == [
        {"start": 0, "count": 3},
        {"start": 3, "count": 3},
        {"start": 6, "count": 1},
    ]
    running = jobs.get(principal, job.id)
    assert running.status == JobStatus.RUNNING and running.pages_total == 7 and running.progress == 5

    progress = [running.progress]
    for batch in prepared["documents"][0]["batches"]:
        pipeline.process_batch({**_event(job), "jobType": "extract_text", "documentIndex": 0, "batch": batch})
        progress.append(jobs.get(principal, job.id).progress)
    assert progress == sorted(progress) and progress[-1] == 95

    assembled = pipeline.assemble(prepared)
    assert {o["name"] for o in assembled["outputs"]} == {"result.json", "result.txt", "result.md"}
    verified = pipeline.verify(assembled)
    assert verified["qualityChecks"] and all(check["passed"] for check in verified["qualityChecks"])
    assert pipeline.finalize(verified)["status"] == "succeeded"

    done = jobs.get(principal, job.id)
    assert done.status == JobStatus.SUCCEEDED and done.progress == 100
    assert done.documents[0].status == "succeeded" and done.completed_at is not None
    result = jobs.result(principal, job.id)
    pages = result["data"]["documents"][0]["pages"]
    assert [page["page"] for page in pages] == list(range(1, 8))
    assert all(block["page"] == page["page"] for page in pages for block in page["blocks"])


def test_too_many_pages_fails_the_document_and_the_job(principal: Principal, settings_override: Any) -> None:
    settings_override(max_pages=5)
    file = _upload(principal, "text/Seige_of_Vicksburg_Sample_OCR-crazyones-merged.pdf")
    job = _submit(principal, [file])
    pipeline = Pipeline()
    with pytest.raises(errors.PdfTooManyPages) as raised:
        pipeline.prepare(_event(job))
    cause = json.dumps({"errorMessage": raised.value.message, "errorType": "PdfTooManyPages"})
    outcome = pipeline.mark_failed({**_event(job), "error": {"Error": "PdfTooManyPages", "Cause": cause}})
    assert outcome["status"] == "failed"
    failed = JobService().get(principal, job.id)
    assert failed.status == JobStatus.FAILED
    assert (
        failed.error is not None and failed.error.code == "pdf.too_many_pages" and "limit is 5" in failed.error.message
    )
    assert failed.documents[0].status == "failed" and failed.documents[0].error is not None


def test_a_status_moves_once_even_when_two_writers_race(principal: Principal) -> None:
    job = _submit(principal, [_upload(principal, "text/crazyones.pdf")])
    pipeline = Pipeline()
    pipeline.prepare(_event(job))
    with pytest.raises(errors.JobStateConflict):
        pipeline.prepare(_event(job))  # queued -> running may happen only once


def test_cancel_while_running_stops_every_later_step(principal: Principal) -> None:
    job = _submit(principal, [_upload(principal, "text/crazyones.pdf")])
    pipeline = Pipeline()
    prepared = pipeline.prepare(_event(job))
    cancelled = JobService().cancel(principal, job.id)
    assert cancelled.status == JobStatus.CANCELLED
    with pytest.raises(errors.JobStateConflict):
        _process_all(pipeline, prepared)
    with pytest.raises(errors.JobStateConflict):
        pipeline.finalize({**_event(job), "outputs": [], "qualityChecks": []})
    # The Catch then runs MarkFailed, which must leave the cancelled job alone.
    outcome = pipeline.mark_failed({**_event(job), "error": {"Error": "JobStateConflict", "Cause": "{}"}})
    assert outcome["status"] == "cancelled"
    assert JobService().get(principal, job.id).status == JobStatus.CANCELLED
    with pytest.raises(errors.JobNotCancellable):
        JobService().cancel(principal, job.id)


def test_an_output_that_fails_its_checks_fails_the_job(principal: Principal) -> None:
    job = _submit(principal, [_upload(principal, "text/crazyones.pdf")])
    pipeline = Pipeline()
    prepared = pipeline.prepare(_event(job))
    _process_all(pipeline, prepared)
    assembled = pipeline.assemble(prepared)
    # Corrupt the stored JSON output after it was written.
    ObjectStore().put_bytes(output_key(job.tenant_id, job.id, "result.json"), b"<html>oops", "application/json")
    with pytest.raises(errors.OutputInvalid):
        pipeline.verify(assembled)
    recorded = JobService().get(principal, job.id)
    failed_checks = {check.name for check in recorded.quality_checks if not check.passed}
    assert {"result.json:sizeBytes", "result.json:magicBytes", "result.json:opens"} <= failed_checks
    assert "result.txt:opens" not in failed_checks


def test_retention_expires_a_finished_job_and_its_results(principal: Principal) -> None:
    job = _submit(principal, [_upload(principal, "text/crazyones.pdf")])
    pipeline = Pipeline()
    prepared = pipeline.prepare(_event(job))
    _process_all(pipeline, prepared)
    pipeline.finalize(pipeline.verify(pipeline.assemble(prepared)))
    service = JobService()
    done = service.get(principal, job.id)
    assert service.result(principal, job.id)["outputs"]
    clock.freeze(done.expires_at + timedelta(seconds=1))
    expired = service.get(principal, job.id)
    assert expired.status == JobStatus.EXPIRED
    with pytest.raises(errors.ResultExpired):
        service.result(principal, job.id)
    assert ObjectStore().head(output_key(job.tenant_id, job.id, "result.json")) is None


def test_a_queued_job_cancelled_before_prepare_never_runs(principal: Principal) -> None:
    job = _submit(principal, [_upload(principal, "text/crazyones.pdf")])
    JobService().cancel(principal, job.id)
    with pytest.raises(errors.JobStateConflict):
        Pipeline().prepare(_event(job))
    assert JobService().get(principal, job.id).status == JobStatus.CANCELLED


def test_started_execution_is_named_after_the_job(aws_stack: Any, principal: Principal) -> None:
    from pdfjobs import aws_clients
    from pdfjobs.services.jobs import execution_arn

    job = _submit(principal, [_upload(principal, "text/crazyones.pdf")])
    described = aws_clients.client("stepfunctions").describe_execution(executionArn=execution_arn(job.id))
    assert described["name"] == job.id
    assert json.loads(described["input"]) == {"jobId": job.id, "tenantId": job.tenant_id}


def test_ids_from_another_tenant_are_not_found(principal: Principal) -> None:
    job = _submit(principal, [_upload(principal, "text/crazyones.pdf")])
    other = principal.model_copy(update={"tenant_id": principal.tenant_id + "-other"})
    with pytest.raises(errors.NotFound):
        JobService().get(other, job.id)
    with pytest.raises(errors.NotFound):
        JobService().submit(other, "extract_text", job.input_file_ids, {})
    with pytest.raises(errors.NotFound):
        FileService().get(other, job.input_file_ids[0])


def test_batches_carry_positions_not_page_numbers(principal: Principal, settings_override: Any, tmp_path: Any) -> None:
    settings_override(page_batch_size=2)
    file = _upload(principal, "text/Seige_of_Vicksburg_Sample_OCR-crazyones-merged.pdf")
    job = _submit(principal, [file], pages="2-3,6-")
    pipeline = Pipeline()
    prepared = pipeline.prepare(_event(job))
    assert prepared["documents"][0]["batches"] == [{"start": 0, "count": 2}, {"start": 2, "count": 2}]
    _process_all(pipeline, prepared)
    pipeline.finalize(pipeline.verify(pipeline.assemble(prepared)))
    pages = JobService().result(principal, job.id)["data"]["documents"][0]["pages"]
    assert [page["page"] for page in pages] == [2, 3, 6, 7]


def test_planned_state_stays_small_for_long_documents(principal: Principal) -> None:
    page = PdfReader(corpus_file("text/crazyones.pdf")).pages[0]
    writer = PdfWriter()
    for _ in range(2000):
        writer.add_page(page)
    buffer = io.BytesIO()
    writer.write(buffer)
    file = FileService().upload_direct(principal, "long.pdf", buffer.getvalue())
    job = _submit(principal, [file])
    prepared = Pipeline().prepare(_event(job))
    assert sum(b["count"] for b in prepared["documents"][0]["batches"]) == 2000
    # Step Functions caps state at 256 KB; 20 such documents must still fit with room to spare.
    assert len(json.dumps(prepared)) * 20 < 64 * 1024


def test_a_stale_job_whose_execution_ended_outside_the_pipeline_fails(principal: Principal) -> None:
    from pdfjobs import aws_clients
    from pdfjobs.services.jobs import execution_arn

    job = _submit(principal, [_upload(principal, "text/crazyones.pdf")])
    aws_clients.client("stepfunctions").stop_execution(executionArn=execution_arn(job.id))
    service = JobService()
    assert service.get(principal, job.id).status == JobStatus.QUEUED  # not stale yet: left alone
    clock.freeze(job.updated_at + timedelta(seconds=901))
    failed = service.get(principal, job.id)
    assert failed.status == JobStatus.FAILED
    assert failed.error is not None and failed.error.code == "internal"
    assert "outside the API" in failed.error.message


def test_a_stale_job_whose_execution_still_runs_is_left_alone(principal: Principal) -> None:
    job = _submit(principal, [_upload(principal, "text/crazyones.pdf")])
    clock.freeze(job.updated_at + timedelta(hours=1))
    assert JobService().get(principal, job.id).status == JobStatus.QUEUED
