"""Pipeline state `process_batch` of statemachines/job.asl.json."""

from pdfjobs.observability import capture_lambda_handler, logger, metrics
from pdfjobs.pipeline.steps import Pipeline


@logger.inject_lambda_context(correlation_id_path="jobId")
@metrics.log_metrics
@capture_lambda_handler
def lambda_handler(event: dict, context: object) -> dict:
    return Pipeline().process_batch(event)
