"""Jobs: submit, read, list, cancel, delete, results."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from pdfjobs.api.dependencies import RequestInfo, current_principal, json_response, mutation, request_info
from pdfjobs.api.routers.responses import errors, ok
from pdfjobs.api.schemas import CreateJobRequest, DeletedOut, JobList, JobOut, JobResultOut, ReviewRequest
from pdfjobs.idempotency import MutationResponse
from pdfjobs.records import JobStatus, Principal
from pdfjobs.services.jobs import JobService
from pdfjobs.settings import get_settings

router = APIGatewayRouter()
TAGS = ["Jobs"]


def _out(job: object) -> JobOut:
    return JobOut.of(job, get_settings().poll_retry_after_ms)  # type: ignore[arg-type]


@router.post(
    "/jobs",
    summary="Start an asynchronous job",
    description="Returns 202 with the queued job. Poll `statusUrl` (honouring `retryAfterMs`) until the status "
    "is terminal, then GET /jobs/{id}/result.",
    tags=TAGS,
    responses={202: ok(JobOut, "Accepted"), **errors(400, 404, 409, 410, 415, 422)},
)
def create_job(
    body: CreateJobRequest,
    principal: Annotated[Principal, Depends(current_principal)],
    info: Annotated[RequestInfo, Depends(request_info)],
) -> Response[Any]:
    def compute() -> MutationResponse:
        job = JobService().submit(
            principal, body.job_type, body.input_file_ids, body.settings, body.delete_inputs_with_job
        )
        return MutationResponse(202, _out(job).wire())

    return mutation(principal, info, "jobs.create", body.wire(), compute)


@router.get(
    "/jobs",
    summary="List jobs, newest first",
    tags=TAGS,
    responses={200: ok(JobList), **errors(400)},
)
def list_jobs(
    principal: Annotated[Principal, Depends(current_principal)],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[JobStatus | None, Query()] = None,
    job_type: Annotated[str | None, Query(alias="jobType", max_length=64)] = None,
) -> JobList:
    jobs, next_cursor = JobService().list(principal, limit, cursor, status, job_type)
    return JobList(items=[_out(job) for job in jobs], next_cursor=next_cursor)


@router.get("/jobs/<job_id>", summary="Read a job's status", tags=TAGS, responses={200: ok(JobOut), **errors(404)})
def get_job(job_id: str, principal: Annotated[Principal, Depends(current_principal)]) -> JobOut:
    return _out(JobService().get(principal, job_id))


@router.post(
    "/jobs/<job_id>/cancel",
    summary="Cancel a queued or running job",
    tags=TAGS,
    responses={200: ok(JobOut), **errors(404, 409, 422)},
)
def cancel_job(
    job_id: str,
    principal: Annotated[Principal, Depends(current_principal)],
    info: Annotated[RequestInfo, Depends(request_info)],
) -> Response[Any]:
    def compute() -> MutationResponse:
        return MutationResponse(200, _out(JobService().cancel(principal, job_id)).wire())

    return mutation(principal, info, "jobs.cancel", {"id": job_id}, compute)


@router.post(
    "/jobs/<job_id>/review",
    summary="Approve (with corrections) or reject a job held at review_required",
    tags=TAGS,
    responses={200: ok(JobOut), **errors(400, 404, 409, 422)},
)
def review_job(
    job_id: str,
    body: ReviewRequest,
    principal: Annotated[Principal, Depends(current_principal)],
    info: Annotated[RequestInfo, Depends(request_info)],
) -> Response[Any]:
    def compute() -> MutationResponse:
        job = JobService().review(principal, job_id, body.decision, body.corrections)
        return MutationResponse(200, _out(job).wire())

    return mutation(principal, info, "jobs.review", {"id": job_id, **body.wire()}, compute)


@router.delete(
    "/jobs/<job_id>",
    summary="Delete a job: purges its results (and its inputs when it owns them)",
    tags=TAGS,
    responses={200: ok(DeletedOut), **errors(404, 409, 422)},
)
def delete_job(
    job_id: str,
    principal: Annotated[Principal, Depends(current_principal)],
    info: Annotated[RequestInfo, Depends(request_info)],
) -> Response[Any]:
    def compute() -> MutationResponse:
        JobService().delete(principal, job_id)
        return MutationResponse(200, DeletedOut(id=job_id, deleted=True).wire())

    return mutation(principal, info, "jobs.delete", {"id": job_id}, compute)


@router.get(
    "/jobs/<job_id>/result",
    summary="A succeeded job's result: JSON inline when small, files as signed URLs; or one output by `format`",
    description="With `format` (csv, md, txt, hocr, pdf, zip, json) the one output of that kind is returned "
    "itself: text up to 256 KiB in the body with its content type, anything else as a 303 redirect to a "
    "signed URL. 400 `result.format_unavailable` lists the formats the job has.",
    tags=TAGS,
    responses={
        200: ok(JobResultOut),
        303: {"description": "See the signed URL in Location"},
        **errors(400, 404, 409, 410),
    },
)
def get_result(
    job_id: str,
    principal: Annotated[Principal, Depends(current_principal)],
    format: Annotated[str | None, Query(max_length=8, pattern="^[a-z]+$")] = None,
) -> Response[Any]:
    service = JobService()
    if format is None:
        # A Response either way: Powertools serialises a union return type without the camelCase aliases.
        return json_response(200, JobResultOut.model_validate(service.result(principal, job_id)).wire())
    output, url, body = service.result_output(principal, job_id, format)
    if body is not None:
        return Response(status_code=200, content_type=output.content_type, body=body)
    return Response(status_code=303, content_type="application/json", body="", headers={"Location": url})
