"""POST/GET /api-keys, DELETE /api-keys/{id}."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from pdfjobs.api.dependencies import RequestInfo, current_principal, mutation, request_info
from pdfjobs.api.routers.responses import errors, ok
from pdfjobs.api.schemas import ApiKeyList, ApiKeyOut, CreateApiKeyRequest, CreatedApiKey, RevokedApiKeyOut
from pdfjobs.idempotency import MutationResponse
from pdfjobs.records import Principal
from pdfjobs.services.auth import ApiKeyService

router = APIGatewayRouter()
TAGS = ["API keys"]


@router.post(
    "/api-keys",
    summary="Create an API key (the secret is returned only here)",
    tags=TAGS,
    responses={201: ok(CreatedApiKey, "Created"), **errors(400, 409, 422)},
)
def create_api_key(
    body: CreateApiKeyRequest,
    principal: Annotated[Principal, Depends(current_principal)],
    info: Annotated[RequestInfo, Depends(request_info)],
) -> Response[Any]:
    def compute() -> MutationResponse:
        record, secret = ApiKeyService().create(principal, body.name, body.scopes, body.tenant_id)
        created = CreatedApiKey(**ApiKeyOut.of(record).model_dump(), key=secret)
        return MutationResponse(201, created.wire())

    return mutation(principal, info, "api-keys.create", body.wire(), compute)


@router.get(
    "/api-keys",
    summary="List API keys (metadata only, never secrets)",
    tags=TAGS,
    responses={200: ok(ApiKeyList), **errors(400)},
)
def list_api_keys(
    principal: Annotated[Principal, Depends(current_principal)],
    tenant_id: Annotated[str | None, Query(alias="tenantId", description="Operator key: one tenant's keys")] = None,
) -> ApiKeyList:
    return ApiKeyList(items=[ApiKeyOut.of(r) for r in ApiKeyService().list(principal, tenant_id)])


@router.delete(
    "/api-keys/<key_id>",
    summary="Revoke an API key (soft: the record stays for audit)",
    tags=TAGS,
    responses={200: ok(RevokedApiKeyOut), **errors(404, 409, 422)},
)
def revoke_api_key(
    key_id: str,
    principal: Annotated[Principal, Depends(current_principal)],
    info: Annotated[RequestInfo, Depends(request_info)],
) -> Response[Any]:
    def compute() -> MutationResponse:
        record = ApiKeyService().revoke(principal, key_id)
        assert record.revoked_at is not None
        body = RevokedApiKeyOut(id=record.id, revoked=True, revoked_at=record.revoked_at)
        return MutationResponse(200, body.wire())

    return mutation(principal, info, "api-keys.revoke", {"id": key_id}, compute)
