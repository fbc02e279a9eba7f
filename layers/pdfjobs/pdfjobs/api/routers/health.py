"""GET /health: no auth; 200 when tables, bucket and queue answer, 503 when one does not."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from botocore.exceptions import BotoCoreError, ClientError

from pdfjobs import aws_clients
from pdfjobs.api.dependencies import json_response
from pdfjobs.api.routers.responses import ok
from pdfjobs.api.schemas import HealthOut
from pdfjobs.observability import logger
from pdfjobs.settings import get_settings
from pdfjobs.storage import ObjectStore

router = APIGatewayRouter()


def _check(name: str, probe: object) -> str:
    try:
        probe()  # type: ignore[operator]
    except (BotoCoreError, ClientError) as error:
        logger.warning("health check failed", extra={"check": name, "error": type(error).__name__})
        return "unavailable"
    return "ok"


@router.get(
    "/health",
    summary="Liveness and dependencies (no auth)",
    tags=["Health"],
    responses={200: ok(HealthOut), 503: ok(HealthOut, "A dependency is unavailable")},
)
def health() -> Response[Any]:
    settings = get_settings()
    dynamodb = aws_clients.client("dynamodb")
    checks = {
        "jobsTable": _check("jobsTable", lambda: dynamodb.describe_table(TableName=settings.table_name)),
        "idempotencyTable": _check(
            "idempotencyTable", lambda: dynamodb.describe_table(TableName=settings.idempotency_table_name)
        ),
        "bucket": _check("bucket", ObjectStore().bucket_reachable),
        "webhookQueue": _check(
            "webhookQueue",
            lambda: aws_clients.client("sqs").get_queue_attributes(
                QueueUrl=settings.webhook_queue_url, AttributeNames=["QueueArn"]
            ),
        ),
    }
    healthy = all(value == "ok" for value in checks.values())
    body = HealthOut(status="ok" if healthy else "degraded", checks=checks)
    return json_response(200 if healthy else 503, body.wire(), {"Cache-Control": "no-store"})
