"""SQS event source mappings: a poller per `Type: SQS` event, feeding the function real-shaped SQS
events and deleting what succeeded, as Lambda's pollers do. Visibility timeouts and the queue's
redrive policy are the queue's own (moto moves a message to the dead-letter queue on the receive
after its maxReceiveCount-th)."""

from __future__ import annotations

import base64
import json
import logging
import threading
from dataclasses import dataclass
from typing import Any

from pdfjobs.local.lambda_functions import FunctionRegistry, InvocationResult, LocalFunction
from pdfjobs.local.resources import QUEUE_TYPE, REGION, Stack
from pdfjobs.local.template import TemplateError

# One ReceiveMessage returns at most 10 messages; larger BatchSizes need a batching window.
MAX_RECEIVE = 10
DEFAULT_BATCH_SIZE = 10

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SqsEventSource:
    function: LocalFunction
    queue_url: str
    queue_arn: str
    batch_size: int
    report_batch_item_failures: bool


def sqs_event_sources(stack: Stack, functions: FunctionRegistry) -> list[SqsEventSource]:
    queues_by_arn = {stack.arn(lid): lid for lid in stack.logical_ids(QUEUE_TYPE)}
    sources = []
    for function in functions:
        for event_name, event in function.spec.events.items():
            if event.get("Type") != "SQS":
                continue
            properties = stack.resolve(event.get("Properties") or {})
            if properties.get("Enabled", True) in (False, "false"):
                continue
            queue_logical_id = queues_by_arn.get(str(properties.get("Queue")))
            if queue_logical_id is None:
                raise TemplateError(
                    f"{function.spec.logical_id}.{event_name}: the queue must be a queue of this template"
                )
            sources.append(
                SqsEventSource(
                    function=function,
                    queue_url=stack.queue_url(queue_logical_id),
                    queue_arn=stack.arn(queue_logical_id),
                    batch_size=int(properties.get("BatchSize", DEFAULT_BATCH_SIZE)),
                    report_batch_item_failures="ReportBatchItemFailures"
                    in (properties.get("FunctionResponseTypes") or []),
                )
            )
    return sources


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """One record of the SQS event Lambda delivers, from one ReceiveMessage message."""
    attributes = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        attribute: dict[str, Any] = {
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value["DataType"],
        }
        if "StringValue" in value:
            attribute["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
        attributes[name] = attribute
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": attributes,
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def failed_message_ids(result: InvocationResult, message_ids: list[str], report_failures: bool) -> set[str]:
    """The messages that stay on the queue after an invocation, by Lambda's rules: a function error
    fails the whole batch; with ReportBatchItemFailures only the listed ids fail, and a malformed
    list (empty, null or unknown itemIdentifier) fails the whole batch."""
    everything = set(message_ids)
    if result.function_error:
        return everything
    if not report_failures:
        return set()
    response = result.json()
    if response is None:
        return set()
    if not isinstance(response, dict):
        return everything
    failures = response.get("batchItemFailures") or []
    if not isinstance(failures, list):
        return everything
    failed = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in everything:
            return everything
        failed.add(identifier)
    return failed


class SqsPoller:
    """Long-polls one queue on a thread and invokes the function with each batch."""

    def __init__(self, source: SqsEventSource, sqs_client: Any, wait_seconds: int = 1) -> None:
        self.source = source
        self._sqs = sqs_client
        # Short long-polls, so stop() returns within about a second.
        self._wait_seconds = wait_seconds
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sqs-{source.function.spec.logical_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, wait: bool = True) -> None:
        """Ask the poller to stop after its current receive; with wait, join it too."""
        self._stopping.set()
        if wait and self._thread.is_alive():
            self._thread.join(timeout=self._wait_seconds + 30)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.poll_once()
            except Exception:
                log.exception("polling %s failed", self.source.queue_url)
                self._stopping.wait(1)

    def poll_once(self) -> int:
        """Receive one batch, invoke, delete what succeeded. Returns how many messages came."""
        source = self.source
        response = self._sqs.receive_message(
            QueueUrl=source.queue_url,
            MaxNumberOfMessages=min(source.batch_size, MAX_RECEIVE),
            WaitTimeSeconds=self._wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages") or []
        if not messages:
            return 0
        event = {"Records": [sqs_record(message, source.queue_arn) for message in messages]}
        result = source.function.invoke(json.dumps(event).encode())
        ids = [message["MessageId"] for message in messages]
        failed = failed_message_ids(result, ids, source.report_batch_item_failures)
        if result.function_error:
            log.error("%s failed on a batch of %d: %s", source.function.spec.logical_id, len(ids), result.payload)
        done = [message for message in messages if message["MessageId"] not in failed]
        for start in range(0, len(done), MAX_RECEIVE):
            entries = [
                {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                for index, message in enumerate(done[start : start + MAX_RECEIVE])
            ]
            self._sqs.delete_message_batch(QueueUrl=source.queue_url, Entries=entries)
        return len(messages)
