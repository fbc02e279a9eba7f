"""The process environment of the local stack: every function's variables (they all run in this one
process) plus what points the AWS SDK at the emulators."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from pdfjobs.local.lambda_functions import FunctionSpec
from pdfjobs.local.resources import REGION
from pdfjobs.local.template import TemplateError

# Variables that would send the SDK somewhere else: a named profile, real session credentials,
# or the switch that makes boto3 ignore AWS_ENDPOINT_URL.
_UNSET = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_SFN",
)


def merged_function_environment(specs: Iterable[FunctionSpec]) -> dict[str, str]:
    """One environment for all functions; two functions that disagree on a variable cannot share
    a process, so that is an error rather than a silent last-one-wins."""
    merged: dict[str, str] = {}
    owner: dict[str, str] = {}
    for spec in specs:
        for name, value in spec.environment.items():
            if name in merged and merged[name] != value:
                raise TemplateError(
                    f"{owner[name]} sets {name}={merged[name]!r} but {spec.logical_id} sets "
                    f"{name}={value!r}; functions share one process locally, so they must agree"
                )
            merged[name], owner[name] = value, spec.logical_id
    return merged


def emulator_environment(aws_endpoint: str, lambda_endpoint: str) -> dict[str, str | None]:
    """What the SDK and Powertools need to talk to the emulators (None unsets a variable)."""
    values: dict[str, str | None] = dict.fromkeys(_UNSET)
    values.update(
        {
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            # Every SDK client goes to moto's server, except Lambda, which goes to our Invoke endpoint
            # (that is also how moto's Step Functions interpreter reaches the handlers).
            "AWS_ENDPOINT_URL": aws_endpoint,
            "AWS_ENDPOINT_URL_LAMBDA": lambda_endpoint,
            # Presigned URLs must name the address clients can reach, not the AWS default.
            "PDFJOBS_PUBLIC_S3_ENDPOINT": aws_endpoint,
            # Textract exists only in AWS: the local runtime never calls it and reports it unavailable.
            "PDFJOBS_TEXTRACT_ENABLED": "false",
            # Bedrock likewise: every SDK call goes to the emulator here, which has no Bedrock.
            "PDFJOBS_BEDROCK_MODEL_ID": "",
            # Page batches use this machine's cores (0 = CPU count).
            "PDFJOBS_PAGE_CONCURRENCY": "0",
            # The template's path for the AWS layer; locally Tesseract finds its Debian data itself.
            "TESSDATA_PREFIX": None,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_DEV": "false",
        }
    )
    return values


class ProcessEnvironment:
    """Sets variables in os.environ and puts the previous values back on restore()."""

    def __init__(self) -> None:
        self._saved: dict[str, str | None] = {}

    def apply(self, values: Mapping[str, str | None]) -> None:
        for name, value in values.items():
            self._saved.setdefault(name, os.environ.get(name))
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def restore(self) -> None:
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved.clear()
