"""A handler decorated the way the real ones are (Powertools Logger, Metrics, Tracer), to check the
local runtime runs them: tracing disabled, metrics printed as EMF to stdout, concurrent invocations."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
metrics = Metrics(namespace="PdfJobsLocalTest")
tracer = Tracer()


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    metrics.add_metric(name="Invocations", unit=MetricUnit.Count, value=1)
    logger.info("instrumented handler ran", extra={"n": event.get("n")})
    return {"n": event.get("n")}
