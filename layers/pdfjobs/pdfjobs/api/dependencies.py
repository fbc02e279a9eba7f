"""What routes receive per request (Depends): the caller, and the request's own facts.

Routes never read state off the resolver: locally several requests run at once, each on
its own resolver instance, and everything a route needs comes through these.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.request import Request

from pdfjobs import idempotency
from pdfjobs.records import Principal
from pdfjobs.services.auth import Authenticator


@dataclass(frozen=True)
class RequestInfo:
    headers: dict[str, str]
    request_id: str
    raw_body: bytes
    lambda_context: Any


def request_info(request: Request) -> RequestInfo:
    event = request.resolved_event
    body = event.body or ""
    raw = base64.b64decode(body) if event.is_base64_encoded else body.encode()
    return RequestInfo(
        headers={name.lower(): value for name, value in (event.headers or {}).items()},
        request_id=str((event.get("requestContext") or {}).get("requestId") or ""),
        raw_body=raw,
        lambda_context=request.context.get("lambda_context"),
    )


def current_principal(request: Request) -> Principal:
    return Authenticator().authenticate(request.resolved_event.headers or {})


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        headers=headers,
    )


def mutation(
    principal: Principal,
    info: RequestInfo,
    operation: str,
    payload: Any,
    compute: Callable[[], idempotency.MutationResponse],
) -> Response:
    """Runs a mutation once per Idempotency-Key; replays answer with `Idempotent-Replayed: true`."""
    key = idempotency.key_from_headers(info.headers)
    if key is None:
        outcome = compute()
    else:
        outcome = idempotency.run_idempotent(
            tenant_id=principal.tenant_id,
            key=key,
            operation=operation,
            payload=payload,
            compute=compute,
            lambda_context=info.lambda_context,
        )
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    return json_response(outcome.status, outcome.body, headers)
