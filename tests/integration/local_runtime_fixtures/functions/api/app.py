"""Test API handler: echoes the proxy event, and a few paths exercise API Gateway's rules."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import boto3


def _json(status: int, body: Any) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    path = event["path"]
    if path == "/boom":
        raise RuntimeError("the API handler failed")
    if path == "/malformed":
        return {"statusCode": 200, "body": {"not": "a string"}}
    if path == "/binary":
        body = base64.b64encode(bytes(range(256))).decode()
        return {
            "statusCode": 200,
            "headers": {"Content-Type": "application/octet-stream"},
            "body": body,
            "isBase64Encoded": True,
        }
    if path == "/cookies":
        return {
            "statusCode": 201,
            "headers": {"X-Single": "one", "Set-Cookie": "ignored=1"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": "",
        }
    if path == "/start":
        execution = boto3.client("stepfunctions").start_execution(
            stateMachineArn=os.environ["FIXTURE_STATE_MACHINE_ARN"], input=event["body"]
        )
        return _json(202, {"executionArn": execution["executionArn"]})
    if path == "/env":
        return _json(200, {k: v for k, v in os.environ.items() if k.startswith("FIXTURE_")})
    return _json(200, {"event": event, "module": __name__, "function": context.function_name})
