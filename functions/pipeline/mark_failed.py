"""Pipeline state `mark_failed` of statemachines/job.asl.json."""

from pdfjobs.observability import logger, metrics, tracer
from pdfjobs.pipeline.steps import Pipeline


@logger.inject_lambda_context(correlation_id_path="jobId")
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: object) -> dict:
    return Pipeline().mark_failed(event)
