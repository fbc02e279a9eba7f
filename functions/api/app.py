"""API function: every /v1 route. A handler is decorators plus one call."""

from aws_lambda_powertools.logging import correlation_paths

from pdfjobs.api.app import resolve
from pdfjobs.observability import capture_lambda_handler, logger, metrics


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
@capture_lambda_handler
def lambda_handler(event: dict, context: object) -> dict:
    return resolve(event, context)
