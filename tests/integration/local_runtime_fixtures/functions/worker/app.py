"""Test handlers for the local runtime: each records what it saw in the calls table (through the
moto server, as real handlers reach AWS), so tests can assert what happened in the pipeline."""

from __future__ import annotations

import json
import os
import time
from functools import lru_cache
from typing import Any

import boto3


class DocumentUnreadable(Exception):
    """A domain error: its class name is the Step Functions error name."""


class TransientError(Exception):
    """Retried by the state machine."""


@lru_cache(maxsize=1)
def _table() -> Any:
    return boto3.resource("dynamodb").Table(os.environ["FIXTURE_TABLE"])


def _record(pk: str, sk: str, **data: Any) -> None:
    _table().put_item(Item={"pk": pk, "sk": sk, "kind": pk.split("#")[0], "data": json.dumps(data)})


def _context(context: Any) -> dict[str, Any]:
    return {
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "aws_request_id": context.aws_request_id,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }


def echo(event: Any, context: Any) -> dict[str, Any]:
    if isinstance(event, dict) and event.get("record"):
        _record(f"echo#{event['record']}", "call", event=event)
    env = {name: value for name, value in os.environ.items() if name.startswith(("FIXTURE_", "AWS_", "POWERTOOLS_"))}
    env["PDFJOBS_PUBLIC_S3_ENDPOINT"] = os.environ.get("PDFJOBS_PUBLIC_S3_ENDPOINT", "")
    return {"event": event, "context": _context(context), "env": env, "module": __name__}


def prepare(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {**event, "prepared": True}


def item(event: dict[str, Any], context: Any) -> dict[str, Any]:
    started = time.time()
    time.sleep(0.2)  # long enough that sequential items would start visibly later than concurrent ones
    _record(f"item#{event['jobId']}", str(event["value"]), started=started)
    return {"value": event["value"], "times10": event["value"] * 10}


def flaky(event: dict[str, Any], context: Any) -> dict[str, Any]:
    attempts = _table().update_item(
        Key={"pk": f"flaky#{event['jobId']}", "sk": "attempts"},
        UpdateExpression="ADD attempts :one",
        ExpressionAttributeValues={":one": 1},
        ReturnValues="UPDATED_NEW",
    )["Attributes"]["attempts"]
    if attempts == 1:
        raise TransientError("first attempt always fails")
    return event


def boom(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise DocumentUnreadable(f"document of {event['jobId']} cannot be read")


def on_error(event: dict[str, Any], context: Any) -> dict[str, Any]:
    _record(f"error#{event['jobId']}", "error", error=event["error"])
    return {"handled": True}


def unmarshallable(event: Any, context: Any) -> Any:
    return {"a set": {1, 2}}


def partial_consumer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    failures = []
    for record in event["Records"]:
        count = record["attributes"]["ApproximateReceiveCount"]
        _record(f"partial#{record['body']}", f"{count}#{record['messageId']}", record=record)
        if record["body"].startswith("fail"):
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}


def raising_consumer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    for record in event["Records"]:
        count = record["attributes"]["ApproximateReceiveCount"]
        _record(f"raising#{record['body']}", f"{count}#{record['messageId']}")
    raise RuntimeError("the whole batch fails")
