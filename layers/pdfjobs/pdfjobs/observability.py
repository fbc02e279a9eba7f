"""Powertools Logger, Metrics and Tracer: one of each, shared by every function."""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="pdfjobs")
metrics = Metrics(namespace="PdfJobs", service="pdfjobs")

# Most API requests record no metric of their own; an empty flush is expected, not a problem.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

Handler = Callable[[Any, Any], Any]


@functools.cache
def _tracer() -> Any:
    """The Powertools Tracer, or None when tracing is off: X-Ray's SDK costs ~150 ms to load."""
    if os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() in ("1", "true"):
        return None
    from aws_lambda_powertools import Tracer

    return Tracer(service="pdfjobs")


def capture_lambda_handler(handler: Handler) -> Handler:
    """`tracer.capture_lambda_handler`, with the Tracer built at the first call rather than at import."""
    traced: Handler | None = None

    @functools.wraps(handler)
    def wrapper(event: Any, context: Any) -> Any:
        nonlocal traced
        if traced is None:
            tracer = _tracer()
            traced = tracer.capture_lambda_handler(handler, capture_response=False) if tracer else handler
        return traced(event, context)

    return wrapper
