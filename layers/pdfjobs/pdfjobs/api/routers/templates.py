"""Extraction templates: POST/GET/PUT/DELETE /templates (tenant-scoped; `invoice` is built in)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from pdfjobs.api.dependencies import RequestInfo, current_principal, mutation, request_info
from pdfjobs.api.routers.responses import errors, ok
from pdfjobs.api.schemas import DeletedOut, TemplateList, TemplateOut
from pdfjobs.idempotency import MutationResponse
from pdfjobs.records import Principal
from pdfjobs.services.templates import TemplateService
from pdfjobs.templates import TemplateBody, TemplateIn

router = APIGatewayRouter()
TAGS = ["Templates"]


@router.post(
    "/templates",
    summary="Create a named extraction template (fields, anchors, patterns, filters)",
    tags=TAGS,
    responses={201: ok(TemplateOut, "Created"), **errors(400, 409, 422)},
)
def create_template(
    body: TemplateIn,
    principal: Annotated[Principal, Depends(current_principal)],
    info: Annotated[RequestInfo, Depends(request_info)],
) -> Response[Any]:
    raw = body.model_dump(by_alias=True, exclude_none=True)

    def compute() -> MutationResponse:
        return MutationResponse(201, TemplateService().create(principal, raw))

    return mutation(principal, info, "templates.create", raw, compute)


@router.get(
    "/templates", summary="List templates (built-in first)", tags=TAGS, responses={200: ok(TemplateList), **errors()}
)
def list_templates(principal: Annotated[Principal, Depends(current_principal)]) -> TemplateList:
    return TemplateList.model_validate({"items": TemplateService().list(principal)})


@router.get("/templates/<name>", summary="Read a template", tags=TAGS, responses={200: ok(TemplateOut), **errors(404)})
def get_template(name: str, principal: Annotated[Principal, Depends(current_principal)]) -> TemplateOut:
    return TemplateOut.model_validate(TemplateService().get(principal, name))


@router.put(
    "/templates/<name>",
    summary="Replace a template (its version goes up)",
    tags=TAGS,
    responses={200: ok(TemplateOut), **errors(400, 404, 409, 422)},
)
def replace_template(
    name: str,
    body: TemplateBody,
    principal: Annotated[Principal, Depends(current_principal)],
    info: Annotated[RequestInfo, Depends(request_info)],
) -> Response[Any]:
    raw = body.model_dump(by_alias=True, exclude_none=True)

    def compute() -> MutationResponse:
        return MutationResponse(200, TemplateService().replace(principal, name, raw))

    return mutation(principal, info, "templates.replace", {"name": name, **raw}, compute)


@router.delete(
    "/templates/<name>",
    summary="Delete a template (jobs already submitted keep their copy)",
    tags=TAGS,
    responses={200: ok(DeletedOut), **errors(404, 409, 422)},
)
def delete_template(
    name: str,
    principal: Annotated[Principal, Depends(current_principal)],
    info: Annotated[RequestInfo, Depends(request_info)],
) -> Response[Any]:
    def compute() -> MutationResponse:
        TemplateService().delete(principal, name)
        return MutationResponse(200, DeletedOut(id=name, deleted=True).wire())

    return mutation(principal, info, "templates.delete", {"name": name}, compute)
