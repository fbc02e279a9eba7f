"""Idempotency-Key on every mutation, on Powertools' idempotency utility and its DynamoDB table.

The key is scoped by tenant and operation; the stored response is the original status and body.
Same key + same payload replays it; a different payload is 422; a first call still running is 409.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from pdfjobs import aws_clients
from pdfjobs.errors import BadRequest, IdempotencyInProgress, IdempotencyPayloadMismatch
from pdfjobs.settings import get_settings

HEADER_NAMES = ("idempotency-key", "x-idempotency-key")
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class MutationResponse:
    status: int
    body: Any
    replayed: bool = False


def key_from_headers(headers: dict[str, str]) -> str | None:
    lowered = {name.lower(): value for name, value in headers.items()}
    for name in HEADER_NAMES:
        value = lowered.get(name, "").strip()
        if value:
            if len(value) > MAX_KEY_LENGTH or not value.isprintable():
                raise BadRequest(
                    f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} printable characters.",
                    details={"field": "Idempotency-Key"},
                )
            return value
    return None


def _mark_replayed(response: Any, idempotent_data: Any) -> Any:
    # Powertools calls this hook only when it returns a stored response.
    return {**response, "replayed": True}


def run_idempotent(
    *,
    tenant_id: str,
    key: str,
    operation: str,
    payload: Any,
    compute: Callable[[], MutationResponse],
    lambda_context: Any = None,
) -> MutationResponse:
    settings = get_settings()
    config = IdempotencyConfig(
        event_key_jmespath="[tenant, operation, key]",
        payload_validation_jmespath="payload",
        expires_after_seconds=settings.idempotency_ttl_seconds,
        hash_function="sha256",
        response_hook=_mark_replayed,
    )
    if lambda_context is not None:
        config.register_lambda_context(lambda_context)
    # A persistence layer per call: Powertools keeps per-call state on it, and requests run in threads locally.
    persistence = DynamoDBPersistenceLayer(
        table_name=settings.idempotency_table_name, boto3_client=aws_clients.client("dynamodb")
    )

    @idempotent_function(data_keyword_argument="request", persistence_store=persistence, config=config)
    def mutation(request: dict[str, Any]) -> dict[str, Any]:
        response = compute()
        return {"status": response.status, "body": response.body}

    try:
        stored = mutation(request={"tenant": tenant_id, "operation": operation, "key": key, "payload": payload})
    except IdempotencyAlreadyInProgressError as error:
        raise IdempotencyInProgress() from error
    except IdempotencyValidationError as error:
        raise IdempotencyPayloadMismatch() from error
    return MutationResponse(status=int(stored["status"]), body=stored["body"], replayed=bool(stored.get("replayed")))
