"""Powertools Logger, Metrics and Tracer: one of each, shared by every function."""

from __future__ import annotations

import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="pdfjobs")
metrics = Metrics(namespace="PdfJobs", service="pdfjobs")
tracer = Tracer(service="pdfjobs")

# Most API requests record no metric of their own; an empty flush is expected, not a problem.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
