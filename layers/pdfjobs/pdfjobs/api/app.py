"""Builds the API resolver and resolves API Gateway proxy events."""

from __future__ import annotations

import json
import queue
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.depends import DependencyResolutionError
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from pdfjobs import __version__, errors
from pdfjobs.api.routers import api_keys, engines, files, health, jobs, templates
from pdfjobs.jobtypes.registry import job_types
from pdfjobs.observability import logger

TITLE = "PDF Jobs API"
DESCRIPTION = (
    "Asynchronous PDF processing: presigned uploads, idempotent jobs, polling, results as signed URLs. "
    "Authenticate with `Authorization: Bearer <key>` (or `Authorization: api-key <key>`, or `X-API-Key`). "
    "Send `Idempotency-Key` on mutations: replays within 24 hours return the original response with "
    '`Idempotent-Replayed: true`. Every error is `{"error": {"code", "message", "requestId", "details"?}}`.'
)


def _request_id(app: APIGatewayRestResolver) -> str:
    return str(app.current_event.request_context.request_id or "")


def error_response(app: APIGatewayRestResolver, error: errors.PdfJobsError) -> Response:
    body: dict[str, Any] = {"code": error.code, "message": error.message, "requestId": _request_id(app)}
    if error.details:
        body["details"] = error.details
    return Response(
        status_code=error.status,
        content_type="application/json",
        body=json.dumps({"error": body}, ensure_ascii=False),
    )


def _validation_error(exc: RequestValidationError) -> errors.PdfJobsError:
    problems = exc.errors()
    if any(problem.get("type") == "json_invalid" for problem in problems):
        return errors.MalformedJson()
    return errors.validation_failed(problems)


def _servers() -> list[Any]:
    # Powertools' OpenAPI models take ~150 ms to import: load them only when a document is asked for.
    from aws_lambda_powertools.event_handler.openapi.models import Server

    return [Server(url="/v1", description="this deployment (API Gateway stage v1)")]


class PdfJobsResolver(APIGatewayRestResolver):
    """Powertools' resolver, documenting our validation errors as they are: 400s in the one envelope.

    Powertools adds its own 422 `HTTPValidationError` response to every operation; we never send it.
    """

    def get_openapi_schema(self, **kwargs: Any) -> Any:
        schema = super().get_openapi_schema(**kwargs)
        document = schema.model_dump(by_alias=True, exclude_none=True)
        for path_item in document.get("paths", {}).values():
            for operation in path_item.values():
                responses = operation.get("responses", {}) if isinstance(operation, dict) else {}
                for status in (422, "422"):
                    if responses.get(status, {}).get("description") == "Validation Error":
                        del responses[status]
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        _document_job_types(schemas)
        _document_results(schemas)
        return type(schema).model_validate(document)


def _document_job_types(schemas: dict[str, Any]) -> None:
    """Each job type's settings model, referenced from CreateJobRequest (validated per job type at submit)."""
    references = []
    for job_type in job_types().values():
        model = job_type.settings_model
        generated = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
        schemas.update(generated.pop("$defs", {}))
        generated["description"] = f"`settings` of jobType `{job_type.name}`: {job_type.description}"
        schemas[model.__name__] = generated
        references.append({"$ref": f"#/components/schemas/{model.__name__}"})
    request = schemas.get("CreateJobRequest", {}).get("properties", {})
    if "jobType" in request:
        request["jobType"]["enum"] = sorted(job_types())
    if "settings" in request:
        request["settings"] = {**request["settings"], "anyOf": references}
        request["settings"].pop("additionalProperties", None)
        request["settings"].pop("type", None)


def _document_results(schemas: dict[str, Any]) -> None:
    """The extraction result schema (document -> pages -> elements), which `data` of a result follows."""
    from pdfjobs.results import ExtractionResult

    generated = ExtractionResult.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
    schemas.update(generated.pop("$defs", {}))
    generated["description"] = (
        "`data` of an extraction job's result (extract_text with page citations, extract_table, extract_form, "
        "extract_invoice, extract_document): documents -> pages -> elements, each with its page and bbox."
    )
    schemas["ExtractionResult"] = generated


def build_app() -> APIGatewayRestResolver:
    app = PdfJobsResolver(enable_validation=True)
    for router in (health.router, api_keys.router, files.router, jobs.router, engines.router, templates.router):
        app.include_router(router)
    # No servers here: Powertools then derives the base path (the stage) per request, and its
    # OpenAPI models load only when /docs is first asked for.
    app.enable_swagger(path="/docs", title=TITLE, version=__version__, description=DESCRIPTION)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_document() -> Response[Any]:
        return Response(
            status_code=200,
            content_type="application/json",
            body=openapi_json(app),
            headers={"Cache-Control": "no-store"},
        )

    @app.exception_handler(errors.PdfJobsError)
    def domain_error(exc: errors.PdfJobsError) -> Response:
        return error_response(app, exc)

    @app.exception_handler(RequestValidationError)
    def invalid_request(exc: RequestValidationError) -> Response:
        return error_response(app, _validation_error(exc))

    @app.exception_handler(DependencyResolutionError)
    def dependency_failed(exc: DependencyResolutionError) -> Response:
        # Depends() wraps what a dependency raised; auth errors are PdfJobsErrors underneath.
        cause = exc.__cause__
        if isinstance(cause, errors.PdfJobsError):
            return error_response(app, cause)
        return unexpected(cause if isinstance(cause, Exception) else exc)

    @app.not_found
    def not_found(_exc: NotFoundError) -> Response:
        return error_response(
            app,
            errors.RouteNotFound(f"No route for {app.current_event.http_method} {app.current_event.path}."),
        )

    @app.exception_handler(Exception)
    def unexpected(exc: Exception) -> Response:
        logger.exception("unhandled error", extra={"error_type": type(exc).__name__})
        return error_response(app, errors.Internal())

    return app


def openapi_json(app: APIGatewayRestResolver) -> str:
    return app.get_openapi_json_schema(title=TITLE, version=__version__, description=DESCRIPTION, servers=_servers())


# Warm resolver instances, one per concurrent request: a resolver holds the current event, and
# the local runtime serves requests on threads (in AWS each instance serves one at a time anyway).
_idle: queue.SimpleQueue[APIGatewayRestResolver] = queue.SimpleQueue()


def resolve(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        app = _idle.get_nowait()
    except queue.Empty:
        app = build_app()
    try:
        app.append_context(lambda_context=context)
        result = app.resolve(event, context)
    finally:
        _idle.put(app)
    request_id = str((event.get("requestContext") or {}).get("requestId") or "")
    result.setdefault("headers", {})["X-Request-Id"] = request_id
    if result.get("multiValueHeaders") is not None:
        result["multiValueHeaders"]["X-Request-Id"] = [request_id]
    return result
