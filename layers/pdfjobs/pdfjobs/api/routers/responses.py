"""OpenAPI response declarations shared by the routers."""

from __future__ import annotations

from typing import Any, cast

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from pdfjobs.api.schemas import ErrorEnvelope


def ok(model: Any, description: str = "OK") -> OpenAPIResponse:
    return cast(OpenAPIResponse, {"description": description, "content": {"application/json": {"model": model}}})


def _error(description: str) -> OpenAPIResponse:
    return ok(ErrorEnvelope, description)


def errors(*statuses: int) -> dict[int, OpenAPIResponse]:
    """The error responses a route can give, always with the auth errors."""
    meanings = {
        400: "Invalid request (validation.error, request.malformed_json, request.invalid)",
        401: "auth.missing_key or auth.invalid_key",
        403: "auth.revoked_key or auth.forbidden (scope)",
        404: "resource.not_found (also for another tenant's ids)",
        409: "Conflict (job.not_cancellable, result.not_ready, job.failed, idempotency.in_progress, ...)",
        410: "Gone (result.expired, upload.expired, file.expired)",
        413: "file.too_large",
        415: "file.unsupported_type",
        422: "idempotency.payload_mismatch",
        500: "internal",
        503: "A dependency is unavailable",
    }
    return {status: _error(meanings[status]) for status in sorted({401, 403, 500, *statuses})}
