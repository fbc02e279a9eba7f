"""The local runtime (pdfjobs.local) against real moto, over real HTTP on loopback.

Most tests share one runtime built from a small fixture template (local_runtime_fixtures/) whose
handlers record what they saw in a DynamoDB table of that same stack; one test builds the real
template.yaml; the CLI tests run `python -m pdfjobs.local` as a subprocess.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import pytest
import requests
from botocore.config import Config

from pdfjobs.local.api_gateway import ApiRoute, RestApi
from pdfjobs.local.environment import merged_function_environment
from pdfjobs.local.lambda_functions import FunctionInvocationError, FunctionSpec, InvocationResult
from pdfjobs.local.resources import Stack
from pdfjobs.local.runtime import LocalRuntime, generate_admin_key
from pdfjobs.local.sqs_poller import failed_message_ids
from pdfjobs.local.template import SamTemplate, TemplateError, load_template_file

pytestmark = pytest.mark.timeout(90)

FIXTURES = Path(__file__).parent / "local_runtime_fixtures"
TEMPLATE = FIXTURES / "template.yaml"
REPO = Path(__file__).resolve().parents[2]
ADMIN_KEY = "pdfj_local-runtime-test-key"
ACCOUNT = "123456789012"
HTTP_TIMEOUT = 20


def wait_for(condition: Callable[[], Any], timeout: float = 15.0, interval: float = 0.1) -> Any:
    """Poll until condition() is truthy; fail the test (not hang) after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------
# Template, intrinsics and pure rules (no servers)
# ---------------------------------------------------------------------------------------------


def test_short_tags_load_as_cloudformation_long_form(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "Resources:\n"
        "  X:\n"
        "    Type: AWS::SQS::Queue\n"
        "    Properties:\n"
        "      A: !Ref Y\n"
        "      B: !GetAtt Q.Arn\n"
        "      C: !Sub 'x-${Y}'\n"
        "      D: !Join [',', [a, b]]\n"
        "      E: !If [Cond, 1, 2]\n"
        "      F: !GetAtt [Q, QueueName]\n"
    )
    properties = load_template_file(path)["Resources"]["X"]["Properties"]
    assert properties == {
        "A": {"Ref": "Y"},
        "B": {"Fn::GetAtt": ["Q", "Arn"]},
        "C": {"Fn::Sub": "x-${Y}"},
        "D": {"Fn::Join": [",", ["a", "b"]]},
        "E": {"Fn::If": ["Cond", 1, 2]},
        "F": {"Fn::GetAtt": ["Q", "QueueName"]},
    }


def test_stack_resolves_intrinsics_to_deterministic_addresses() -> None:
    stack = Stack(SamTemplate.load(TEMPLATE), {"Greeting": "hello", "UseFifo": "no"}, "http://127.0.0.1:4566")
    resolve = stack.resolve
    assert resolve({"Ref": "WorkQueue"}) == f"http://127.0.0.1:4566/{ACCOUNT}/pdfjobs-local-WorkQueue"
    assert resolve({"Fn::GetAtt": ["WorkQueue", "Arn"]}) == f"arn:aws:sqs:us-east-1:{ACCOUNT}:pdfjobs-local-WorkQueue"
    assert resolve({"Ref": "FilesBucket"}) == "pdfjobs-local-filesbucket"
    assert resolve({"Ref": "Flow"}) == f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:pdfjobs-local-Flow"
    assert resolve({"Fn::GetAtt": ["ItemFunction", "Arn"]}) == (
        f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:pdfjobs-local-ItemFunction"
    )
    assert resolve({"Fn::Sub": "${AWS::Region}:${Flow.Name}:${!Kept}"}) == "us-east-1:pdfjobs-local-Flow:${Kept}"
    assert resolve({"Fn::Sub": ["${A}-${Greeting}", {"A": {"Ref": "AWS::AccountId"}}]}) == f"{ACCOUNT}-hello"
    assert resolve({"a": {"Ref": "AWS::NoValue"}, "b": [1, {"Ref": "AWS::NoValue"}]}) == {"b": [1]}
    assert resolve({"Fn::Select": [1, {"Fn::Split": [",", "x,y,z"]}]}) == "y"
    assert not stack.has_resource("OnlyWithFifo")  # its Condition is false
    with pytest.raises(TemplateError, match="Nope"):
        resolve({"Ref": "Nope"})
    with pytest.raises(TemplateError, match="not available locally"):
        resolve({"Fn::GetAtt": ["CallsTable", "StreamArn"]})


def _spec(logical_id: str, environment: dict[str, str]) -> FunctionSpec:
    return FunctionSpec(logical_id, logical_id, "arn", Path(), "app.handler", 3, 128, environment)


def test_functions_that_disagree_on_a_variable_cannot_share_the_process() -> None:
    agreeing = [_spec("A", {"X": "1", "Y": "2"}), _spec("B", {"X": "1", "Z": "3"})]
    assert merged_function_environment(agreeing) == {"X": "1", "Y": "2", "Z": "3"}
    with pytest.raises(TemplateError, match="A sets X='1' but B sets X='2'"):
        merged_function_environment([_spec("A", {"X": "1"}), _spec("B", {"X": "2"})])


def test_api_routes_match_like_api_gateway() -> None:
    api = RestApi("Api", "id", "v1", ())
    proxy = ApiRoute(api, "/{proxy+}", "ANY", None)  # type: ignore[arg-type]
    item = ApiRoute(api, "/items/{itemId}", "GET", None)  # type: ignore[arg-type]
    root = ApiRoute(api, "/", "ANY", None)  # type: ignore[arg-type]
    assert proxy.match("/jobs/abc/result") == {"proxy": "jobs/abc/result"}
    assert proxy.match("/") is None
    assert root.match("/") == {}
    assert root.match("/jobs") is None
    assert item.match("/items/42") == {"itemId": "42"}
    assert item.match("/items/42/more") is None
    assert item.match("/items/") is None
    assert item.specificity() < proxy.specificity()


def test_binary_media_types_match_exact_and_wildcards() -> None:
    api = RestApi("Api", "id", "v1", ("multipart/form-data", "image/*"))
    assert api.is_binary("multipart/form-data")
    assert api.is_binary("image/png")
    assert not api.is_binary("application/json")


def _result(payload: Any, error: str | None = None) -> InvocationResult:
    return InvocationResult(json.dumps(payload).encode(), error)


def test_batch_item_failures_follow_lambda_rules() -> None:
    ids = ["m1", "m2", "m3"]
    assert failed_message_ids(_result({"batchItemFailures": [{"itemIdentifier": "m2"}]}), ids, True) == {"m2"}
    assert failed_message_ids(_result({"batchItemFailures": []}), ids, True) == set()
    assert failed_message_ids(_result(None), ids, True) == set()
    # Malformed reports fail the whole batch, as Lambda does.
    assert failed_message_ids(_result({"batchItemFailures": [{"itemIdentifier": "zz"}]}), ids, True) == set(ids)
    assert failed_message_ids(_result({"batchItemFailures": [{"itemIdentifier": ""}]}), ids, True) == set(ids)
    assert failed_message_ids(_result({"batchItemFailures": [{"id": "m1"}]}), ids, True) == set(ids)
    # Without ReportBatchItemFailures the response is ignored; a function error fails everything.
    assert failed_message_ids(_result({"batchItemFailures": [{"itemIdentifier": "m2"}]}), ids, False) == set()
    assert failed_message_ids(_result({"errorType": "X"}, "Unhandled"), ids, True) == set(ids)


def test_admin_key_is_generated_when_not_given() -> None:
    key = LocalRuntime(TEMPLATE).admin_key
    assert key.startswith("pdfj_") and len(key) > 40
    assert key != generate_admin_key()
    assert LocalRuntime(TEMPLATE, admin_key=ADMIN_KEY).admin_key == ADMIN_KEY


def test_bad_parameters_fail_before_anything_starts() -> None:
    runtime = LocalRuntime(TEMPLATE, api_port=0, aws_port=0, lambda_port=0, parameter_overrides={"Greeting": "bye"})
    with pytest.raises(TemplateError, match="Greeting"):
        runtime.start()
    with pytest.raises(TemplateError, match="unknown parameters"):
        LocalRuntime(TEMPLATE, aws_port=0, parameter_overrides={"Nope": "1"}).start()
    with pytest.raises(ValueError, match="sha256"):
        LocalRuntime(TEMPLATE, admin_key=ADMIN_KEY, parameter_overrides={"AdminApiKeySha256": "0" * 64}).start()


def test_a_taken_port_is_reported_not_hung_on() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match=f"port {port}"):
            LocalRuntime(TEMPLATE, api_port=0, aws_port=port, lambda_port=0).start()


def _runtime_threads() -> list[str]:
    prefixes = ("sqs-", "local-", "async-")
    return [t.name for t in threading.enumerate() if t.name.startswith(prefixes) or "_server_entry" in t.name]


def test_stop_joins_every_thread_and_the_process_can_start_another() -> None:
    for _ in range(2):
        with LocalRuntime(TEMPLATE, api_port=0, aws_port=0, lambda_port=0) as rt:
            assert any(name.startswith("sqs-") for name in _runtime_threads())
            base_url, aws_endpoint = rt.base_url, rt.aws_endpoint
            assert requests.get(f"{base_url}/v1/x", timeout=HTTP_TIMEOUT).status_code == 200
        assert _runtime_threads() == []
        for url in (base_url, aws_endpoint):
            with pytest.raises(requests.ConnectionError):
                requests.get(url, timeout=HTTP_TIMEOUT)
        with pytest.raises(RuntimeError, match="not started"):
            rt.invoke("EchoFunction", {})


# ---------------------------------------------------------------------------------------------
# The real template.yaml
# ---------------------------------------------------------------------------------------------


def test_real_template_creates_its_resources_and_function_environment() -> None:
    before = dict(os.environ)
    with LocalRuntime(REPO / "template.yaml", api_port=0, aws_port=0, lambda_port=0, admin_key=ADMIN_KEY) as rt:
        names = rt.resource_names
        assert names["JobsTable"] == "pdfjobs-local-JobsTable"
        assert names["FilesBucket"] == "pdfjobs-local-filesbucket"
        assert names["ApiFunction"] == "pdfjobs-local-ApiFunction"
        session = boto3.session.Session(region_name="us-east-1")
        dynamodb = session.client("dynamodb", endpoint_url=rt.aws_endpoint)
        table = dynamodb.describe_table(TableName=names["JobsTable"])["Table"]
        assert [k["AttributeName"] for k in table["KeySchema"]] == ["PK", "SK"]
        assert sorted(i["IndexName"] for i in table["GlobalSecondaryIndexes"]) == ["GSI1", "GSI2", "GSI3"]
        ttl = dynamodb.describe_time_to_live(TableName=names["JobsTable"])["TimeToLiveDescription"]
        assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}
        idempotency = dynamodb.describe_time_to_live(TableName=names["IdempotencyTable"])
        assert idempotency["TimeToLiveDescription"]["AttributeName"] == "expiration"

        s3 = session.client("s3", endpoint_url=rt.aws_endpoint)
        cors = s3.get_bucket_cors(Bucket=names["FilesBucket"])["CORSRules"][0]
        assert cors["AllowedMethods"] == ["GET", "PUT", "POST"] and cors["MaxAgeSeconds"] == 3000

        sqs = session.client("sqs", endpoint_url=rt.aws_endpoint)
        attributes = sqs.get_queue_attributes(QueueUrl=names["WebhookQueue"], AttributeNames=["All"])["Attributes"]
        assert attributes["VisibilityTimeout"] == "60"
        assert json.loads(attributes["RedrivePolicy"]) == {
            "deadLetterTargetArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:pdfjobs-local-WebhookDeadLetterQueue",
            "maxReceiveCount": 8,
        }

        sfn = session.client("stepfunctions", endpoint_url=rt.aws_endpoint)
        definition = sfn.describe_state_machine(stateMachineArn=names["JobStateMachine"])["definition"]
        assert "${" not in definition
        prepare = json.loads(definition)["States"]["Prepare"]["Parameters"]["FunctionName"]
        assert prepare == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:pdfjobs-local-PrepareFunction"

        assert os.environ["PDFJOBS_TABLE_NAME"] == names["JobsTable"]
        assert os.environ["PDFJOBS_BUCKET_NAME"] == names["FilesBucket"]
        assert os.environ["PDFJOBS_WEBHOOK_QUEUE_URL"] == names["WebhookQueue"]
        assert os.environ["PDFJOBS_STATE_MACHINE_ARN"] == names["JobStateMachine"]
        assert os.environ["PDFJOBS_ADMIN_KEY_SHA256"] == hashlib.sha256(ADMIN_KEY.encode()).hexdigest()
        assert os.environ["PDFJOBS_RETENTION_HOURS"] == "24"
        assert os.environ["AWS_ENDPOINT_URL"] == rt.aws_endpoint
        assert os.environ["AWS_ENDPOINT_URL_LAMBDA"] == rt.lambda_endpoint
        assert os.environ["PDFJOBS_PUBLIC_S3_ENDPOINT"] == rt.aws_endpoint
        assert rt.api_url == f"{rt.base_url}/v1"
    assert dict(os.environ) == before


# ---------------------------------------------------------------------------------------------
# The fixture stack: Lambda endpoint, Step Functions, API Gateway front, SQS pollers
# ---------------------------------------------------------------------------------------------


class Calls:
    """Reads what the fixture handlers recorded in the stack's calls table."""

    def __init__(self, runtime: LocalRuntime) -> None:
        self._table = boto3.resource("dynamodb", endpoint_url=runtime.aws_endpoint, region_name="us-east-1").Table(
            runtime.resource_names["CallsTable"]
        )

    def __call__(self, pk: str) -> list[dict[str, Any]]:
        items = self._table.query(KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": pk})["Items"]
        return [{"sk": item["sk"], **json.loads(item.get("data", "{}"))} for item in items]

    def attempts(self, job_id: str) -> int:
        item = self._table.get_item(Key={"pk": f"flaky#{job_id}", "sk": "attempts"}).get("Item") or {}
        return int(item.get("attempts", 0))


@pytest.fixture(scope="class")
def rt() -> Iterator[LocalRuntime]:
    """One runtime of the fixture template for the whole TestFixtureStack class."""
    with LocalRuntime(TEMPLATE, api_port=0, aws_port=0, lambda_port=0, admin_key=ADMIN_KEY) as runtime:
        yield runtime


@pytest.fixture(scope="class")
def aws(rt: LocalRuntime) -> Callable[[str], Any]:
    session = boto3.session.Session(region_name="us-east-1")
    clients = {
        service: session.client(service, endpoint_url=rt.aws_endpoint) for service in ("sqs", "stepfunctions", "s3")
    }
    clients["lambda"] = session.client(
        "lambda",
        endpoint_url=rt.lambda_endpoint,
        config=Config(retries={"total_max_attempts": 1}, read_timeout=HTTP_TIMEOUT),
    )
    return clients.__getitem__


@pytest.fixture(scope="class")
def calls(rt: LocalRuntime) -> Calls:
    return Calls(rt)


class TestFixtureStack:
    # -- lifecycle and addresses --

    def test_addresses_and_resource_names(self, rt: LocalRuntime) -> None:
        assert rt.base_url.startswith("http://127.0.0.1:")
        assert rt.api_url == rt.base_url + "/v1"
        assert rt.resource_names["WorkQueue"] == f"{rt.aws_endpoint}/{ACCOUNT}/pdfjobs-local-WorkQueue"
        assert rt.resource_names["Flow"].endswith(":stateMachine:pdfjobs-local-Flow")
        assert "OnlyWithFifo" not in rt.resource_names
        assert "FlowLogGroup" not in rt.resource_names and "Api" not in rt.resource_names

    def test_a_second_runtime_in_the_process_is_refused(self, rt: LocalRuntime) -> None:
        with pytest.raises(RuntimeError, match="already running"):
            LocalRuntime(TEMPLATE, api_port=0, aws_port=0, lambda_port=0).start()

    def test_functions_see_every_variable_of_the_template_and_the_emulator(self, rt: LocalRuntime) -> None:
        env = rt.invoke("EchoFunction", {})["env"]
        names = rt.resource_names
        assert env["FIXTURE_TABLE"] == names["CallsTable"]
        assert env["FIXTURE_BUCKET"] == names["FilesBucket"]
        assert env["FIXTURE_QUEUE_URL"] == names["WorkQueue"]
        assert env["FIXTURE_DLQ_ARN"] == f"arn:aws:sqs:us-east-1:{ACCOUNT}:pdfjobs-local-WorkDeadLetterQueue"
        assert env["FIXTURE_SUB"] == "us-east-1/pdfjobs-local-WorkQueue/hello/${Literal}"
        assert env["FIXTURE_JOINED"] == "a-hello-standard"
        assert env["FIXTURE_FLAG"] == "true"
        # Set by EchoApiFunction only, visible to all: one process.
        assert env["FIXTURE_STATE_MACHINE_ARN"] == names["Flow"]
        assert env["FIXTURE_ADMIN_KEY_SHA256"] == hashlib.sha256(ADMIN_KEY.encode()).hexdigest()
        assert env["AWS_ENDPOINT_URL"] == rt.aws_endpoint
        assert env["AWS_ENDPOINT_URL_LAMBDA"] == rt.lambda_endpoint
        assert env["AWS_DEFAULT_REGION"] == "us-east-1"
        assert env["PDFJOBS_PUBLIC_S3_ENDPOINT"] == rt.aws_endpoint
        assert env["POWERTOOLS_TRACE_DISABLED"] == "true"

    # -- Lambda Invoke endpoint --

    def test_invoke_endpoint_accepts_every_form_of_function_name(self, rt: LocalRuntime, aws: Any) -> None:
        arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:pdfjobs-local-EchoFunction"
        for name in (
            "pdfjobs-local-EchoFunction",
            "EchoFunction",
            arn,
            f"{arn}:$LATEST",
            f"{ACCOUNT}:function:pdfjobs-local-EchoFunction",
        ):
            response = aws("lambda").invoke(FunctionName=name, Payload=json.dumps({"n": name}))
            assert response["StatusCode"] == 200 and "FunctionError" not in response, name
            assert json.loads(response["Payload"].read())["event"] == {"n": name}
        raw = requests.post(
            f"{rt.lambda_endpoint}/2015-03-31/functions/{quote(arn, safe='')}/invocations",
            data=b'{"raw": true}',
            timeout=HTTP_TIMEOUT,
        )
        assert raw.status_code == 200 and raw.json()["event"] == {"raw": True}

    def test_invoke_endpoint_says_not_found_like_lambda(self, aws: Any) -> None:
        client = aws("lambda")
        for name in ("NoSuchFunction", "arn:aws:lambda:eu-west-1:123456789012:function:pdfjobs-local-EchoFunction"):
            with pytest.raises(client.exceptions.ResourceNotFoundException):
                client.invoke(FunctionName=name, Payload=b"{}")
        with pytest.raises(client.exceptions.InvalidRequestContentException):
            client.invoke(FunctionName="EchoFunction", Payload=b"{not json")

    def test_handler_gets_a_real_shaped_context(self, aws: Any) -> None:
        response = aws("lambda").invoke(FunctionName="EchoFunction", Payload=b"{}")
        context = json.loads(response["Payload"].read())["context"]
        assert context["function_name"] == "pdfjobs-local-EchoFunction"
        assert context["function_version"] == "$LATEST"
        assert context["invoked_function_arn"].endswith(":function:pdfjobs-local-EchoFunction")
        assert context["memory_limit_in_mb"] == 256  # Globals
        assert 0 < context["remaining_ms"] <= 7000  # its own Timeout: 7
        assert context["log_group_name"] == "/aws/lambda/pdfjobs-local-EchoFunction"
        assert "[$LATEST]" in context["log_stream_name"]
        assert response["ResponseMetadata"]["RequestId"] == context["aws_request_id"]

    def test_functions_sharing_a_module_name_load_separately(self, rt: LocalRuntime) -> None:
        worker = rt.invoke("EchoFunction", {})["module"]
        api = json.loads(rt.invoke("EchoApiFunction", {"path": "/x"})["body"])["module"]
        assert worker != api  # both are app.py, in different CodeUri directories
        assert "EchoFunction" in worker and "EchoApiFunction" in api

    def test_handler_exception_is_reported_as_lambda_reports_it(self, aws: Any) -> None:
        response = aws("lambda").invoke(FunctionName="BoomFunction", Payload=json.dumps({"jobId": "j-err"}))
        assert response["StatusCode"] == 200
        assert response["FunctionError"] == "Unhandled"
        error = json.loads(response["Payload"].read())
        assert set(error) == {"errorMessage", "errorType", "requestId", "stackTrace"}
        assert error["errorType"] == "DocumentUnreadable"
        assert error["errorMessage"] == "document of j-err cannot be read"
        assert error["requestId"] == response["ResponseMetadata"]["RequestId"]
        assert "in boom" in error["stackTrace"][-1] and "app.py" in error["stackTrace"][-1]
        assert not any("lambda_functions.py" in frame for frame in error["stackTrace"])

    def test_powertools_handlers_run_concurrently_with_metrics_on(
        self, aws: Any, capfd: pytest.CaptureFixture[str]
    ) -> None:
        def invoke(n: int) -> dict[str, Any]:
            response = aws("lambda").invoke(FunctionName="InstrumentedFunction", Payload=json.dumps({"n": n}))
            assert "FunctionError" not in response, response["Payload"].read()
            return json.loads(response["Payload"].read())

        with ThreadPoolExecutor(max_workers=8) as pool:
            assert sorted(r["n"] for r in pool.map(invoke, range(8))) == list(range(8))
        emitted = capfd.readouterr().out
        assert '"Namespace": "PdfJobsLocalTest"' in emitted or '"Namespace":"PdfJobsLocalTest"' in emitted

    @pytest.mark.parametrize(
        ("function", "error_type"),
        [
            ("MissingModuleFunction", "Runtime.ImportModuleError"),
            ("MissingHandlerFunction", "Runtime.HandlerNotFound"),
            ("UnmarshallableFunction", "Runtime.MarshalError"),
        ],
    )
    def test_runtime_errors_have_lambdas_error_types(self, aws: Any, function: str, error_type: str) -> None:
        response = aws("lambda").invoke(FunctionName=function, Payload=b"{}")
        assert response["FunctionError"] == "Unhandled"
        assert json.loads(response["Payload"].read())["errorType"] == error_type

    def test_event_invocation_answers_202_and_runs_in_the_background(self, aws: Any, calls: Calls) -> None:
        key = uuid.uuid4().hex
        response = aws("lambda").invoke(
            FunctionName="EchoFunction", InvocationType="Event", Payload=json.dumps({"record": key})
        )
        assert response["StatusCode"] == 202
        recorded = wait_for(lambda: calls(f"echo#{key}"))
        assert recorded[0]["event"] == {"record": key}

    def test_runtime_invoke_returns_the_result_or_raises_the_lambda_error(self, rt: LocalRuntime) -> None:
        assert rt.invoke("PrepareFunction", {"a": 1}) == {"a": 1, "prepared": True}
        with pytest.raises(FunctionInvocationError) as raised:
            rt.invoke("BoomFunction", {"jobId": "x"})
        assert raised.value.payload["errorType"] == "DocumentUnreadable"
        with pytest.raises(KeyError):
            rt.invoke("NoSuchFunction", {})

    # -- Step Functions executing against the handlers --

    def _run(self, aws: Any, rt: LocalRuntime, execution_input: dict[str, Any]) -> dict[str, Any]:
        sfn = aws("stepfunctions")
        arn = sfn.start_execution(stateMachineArn=rt.resource_names["Flow"], input=json.dumps(execution_input))[
            "executionArn"
        ]
        return wait_for(
            lambda: (d := sfn.describe_execution(executionArn=arn))["status"] != "RUNNING" and d, timeout=30
        )

    def test_state_machine_runs_map_concurrently_and_retries(self, rt: LocalRuntime, aws: Any, calls: Calls) -> None:
        job = f"ok-{uuid.uuid4().hex[:8]}"
        execution = self._run(aws, rt, {"jobId": job, "items": [1, 2, 3, 4]})
        assert execution["status"] == "SUCCEEDED"
        output = json.loads(execution["output"])
        assert output["prepared"] is True
        assert output["results"] == [{"value": v, "times10": v * 10} for v in (1, 2, 3, 4)]
        # Items take 0.2 s each: one after another, the last would start at least 0.6 s after the first.
        starts = sorted(call["started"] for call in calls(f"item#{job}"))
        assert len(starts) == 4 and starts[-1] - starts[0] < 0.3
        assert calls.attempts(job) == 2  # failed once with TransientError, retried
        history = aws("stepfunctions").get_execution_history(executionArn=execution["executionArn"])["events"]
        failures = [e["taskFailedEventDetails"]["error"] for e in history if e["type"] == "TaskFailed"]
        assert failures == ["TransientError"]

    def test_caught_lambda_error_carries_error_type_and_cause(self, rt: LocalRuntime, aws: Any, calls: Calls) -> None:
        job = f"fail-{uuid.uuid4().hex[:8]}"
        execution = self._run(aws, rt, {"jobId": job, "items": [1], "fail": True})
        assert execution["status"] == "FAILED"
        assert execution["error"] == "JobFailed"
        error = calls(f"error#{job}")[0]["error"]
        assert error["Error"] == "DocumentUnreadable"
        cause = json.loads(error["Cause"])
        assert cause["errorType"] == "DocumentUnreadable"
        assert cause["errorMessage"] == f"document of {job} cannot be read"
        assert isinstance(cause["stackTrace"], list) and cause["stackTrace"]

    def test_unnamed_executions_get_unique_names(self, rt: LocalRuntime, aws: Any) -> None:
        sfn = aws("stepfunctions")
        arns = [
            sfn.start_execution(stateMachineArn=rt.resource_names["Flow"], input=json.dumps({"jobId": f"u{i}"}))[
                "executionArn"
            ]
            for i in range(2)
        ]
        assert arns[0] != arns[1] and not arns[0].endswith(":None")

    # -- API Gateway front --

    def test_api_request_becomes_a_rest_proxy_event(self, rt: LocalRuntime) -> None:
        response = requests.get(
            f"{rt.api_url}/items/42?tag=a&tag=b&one=1", headers={"X-Custom": "yes"}, timeout=HTTP_TIMEOUT
        )
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/json"
        assert response.headers["x-amzn-RequestId"]
        event = response.json()["event"]
        assert event["resource"] == "/items/{itemId}"
        assert event["path"] == "/items/42"
        assert event["httpMethod"] == "GET"
        assert event["pathParameters"] == {"itemId": "42"}
        assert event["queryStringParameters"] == {"tag": "b", "one": "1"}
        assert event["multiValueQueryStringParameters"] == {"tag": ["a", "b"], "one": ["1"]}
        assert event["headers"]["X-Custom"] == "yes"
        assert event["multiValueHeaders"]["X-Custom"] == ["yes"]
        assert event["body"] is None and event["isBase64Encoded"] is False
        context = event["requestContext"]
        assert context["stage"] == "v1"
        assert context["path"] == "/v1/items/42"
        assert context["resourcePath"] == "/items/{itemId}"
        assert context["httpMethod"] == "GET"
        assert context["accountId"] == ACCOUNT
        assert context["identity"]["sourceIp"] == "127.0.0.1"
        assert context["requestId"] == response.headers["x-amzn-RequestId"]
        assert abs(context["requestTimeEpoch"] / 1000 - time.time()) < 30
        assert len(context["apiId"]) == 10

    def test_api_greedy_root_and_unprefixed_paths(self, rt: LocalRuntime) -> None:
        proxied = requests.post(f"{rt.api_url}/jobs/abc", json={"a": 1}, timeout=HTTP_TIMEOUT).json()["event"]
        assert (proxied["resource"], proxied["path"]) == ("/{proxy+}", "/jobs/abc")
        assert proxied["pathParameters"] == {"proxy": "jobs/abc"}
        assert proxied["queryStringParameters"] is None
        assert json.loads(proxied["body"]) == {"a": 1} and proxied["isBase64Encoded"] is False
        root = requests.get(rt.api_url, timeout=HTTP_TIMEOUT).json()["event"]
        assert (root["resource"], root["path"], root["pathParameters"]) == ("/", "/", None)
        health = requests.get(f"{rt.base_url}/health", timeout=HTTP_TIMEOUT).json()["event"]
        assert (health["path"], health["requestContext"]["stage"]) == ("/health", "v1")

    def test_api_binary_bodies_are_base64_encoded(self, rt: LocalRuntime) -> None:
        pdf = b"%PDF-1.7\n\x00\xff\xfe binary"
        response = requests.post(f"{rt.api_url}/files", files={"file": ("a.pdf", pdf)}, timeout=HTTP_TIMEOUT)
        event = response.json()["event"]
        assert event["isBase64Encoded"] is True
        assert pdf in base64.b64decode(event["body"])
        not_utf8 = requests.post(
            f"{rt.api_url}/files", data=b"\xff\xfe", headers={"Content-Type": "text/plain"}, timeout=HTTP_TIMEOUT
        ).json()["event"]
        assert not_utf8["isBase64Encoded"] is True and base64.b64decode(not_utf8["body"]) == b"\xff\xfe"

    def test_api_binary_response_and_multi_value_headers(self, rt: LocalRuntime) -> None:
        binary = requests.get(f"{rt.api_url}/binary", timeout=HTTP_TIMEOUT)
        assert binary.status_code == 200 and binary.content == bytes(range(256))
        assert binary.headers["Content-Type"] == "application/octet-stream"
        cookies = requests.get(f"{rt.api_url}/cookies", timeout=HTTP_TIMEOUT)
        assert cookies.status_code == 201
        assert cookies.raw.headers.getlist("Set-Cookie") == ["a=1", "b=2"]
        assert cookies.headers["X-Single"] == "one"

    def test_api_handler_failures_are_502(self, rt: LocalRuntime) -> None:
        for path in ("boom", "malformed"):
            response = requests.get(f"{rt.api_url}/{path}", timeout=HTTP_TIMEOUT)
            assert response.status_code == 502
            assert response.json() == {"message": "Internal server error"}

    def test_api_refuses_bodies_over_10_mb(self, rt: LocalRuntime) -> None:
        too_big = b"x" * (10 * 1024 * 1024 + 1)
        response = requests.post(f"{rt.api_url}/files", data=too_big, timeout=HTTP_TIMEOUT)
        assert response.status_code == 413
        assert response.json() == {"message": "Request Too Long"}

    def test_api_handler_starts_an_execution_that_reaches_the_handlers(self, rt: LocalRuntime, aws: Any) -> None:
        job = f"api-{uuid.uuid4().hex[:8]}"
        response = requests.post(f"{rt.api_url}/start", json={"jobId": job, "items": [5]}, timeout=HTTP_TIMEOUT)
        assert response.status_code == 202
        sfn = aws("stepfunctions")
        arn = response.json()["executionArn"]
        execution = wait_for(lambda: (d := sfn.describe_execution(executionArn=arn))["status"] != "RUNNING" and d)
        assert execution["status"] == "SUCCEEDED"
        assert json.loads(execution["output"])["results"] == [{"value": 5, "times10": 50}]

    def test_presigned_upload_reaches_the_emulator(self, rt: LocalRuntime, aws: Any) -> None:
        s3 = aws("s3")
        bucket = rt.resource_names["FilesBucket"]
        url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up.bin"}, ExpiresIn=60)
        assert url.startswith(rt.aws_endpoint)
        assert requests.put(url, data=b"payload", timeout=HTTP_TIMEOUT).status_code == 200
        assert s3.get_object(Bucket=bucket, Key="up.bin")["Body"].read() == b"payload"

    # -- SQS event sources --

    def _queue_count(self, aws: Any, queue_url: str) -> int:
        attributes = aws("sqs").get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def test_sqs_partial_batch_failures_are_redelivered_then_dead_lettered(
        self, rt: LocalRuntime, aws: Any, calls: Calls
    ) -> None:
        tag = uuid.uuid4().hex[:8]
        ok_1, ok_2, bad = f"ok-1-{tag}", f"ok-2-{tag}", f"fail-{tag}"
        queue, dlq = rt.resource_names["WorkQueue"], rt.resource_names["WorkDeadLetterQueue"]
        aws("sqs").send_message_batch(
            QueueUrl=queue,
            Entries=[
                {
                    "Id": "1",
                    "MessageBody": ok_1,
                    "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "test"}},
                },
                {"Id": "2", "MessageBody": bad},
                {"Id": "3", "MessageBody": ok_2},
            ],
        )
        wait_for(lambda: self._queue_count(aws, dlq) == 1, timeout=20)
        assert [c["sk"].split("#")[0] for c in calls(f"partial#{ok_1}")] == ["1"]
        assert [c["sk"].split("#")[0] for c in calls(f"partial#{ok_2}")] == ["1"]
        assert sorted(c["sk"].split("#")[0] for c in calls(f"partial#{bad}")) == ["1", "2"]
        assert self._queue_count(aws, queue) == 0
        dead = aws("sqs").receive_message(QueueUrl=dlq, WaitTimeSeconds=1)["Messages"]
        assert [m["Body"] for m in dead] == [bad]
        aws("sqs").delete_message(QueueUrl=dlq, ReceiptHandle=dead[0]["ReceiptHandle"])

        record = calls(f"partial#{ok_1}")[0]["record"]
        assert record["eventSource"] == "aws:sqs"
        assert record["eventSourceARN"] == f"arn:aws:sqs:us-east-1:{ACCOUNT}:pdfjobs-local-WorkQueue"
        assert record["awsRegion"] == "us-east-1"
        assert record["body"] == ok_1
        assert record["md5OfBody"] == hashlib.md5(ok_1.encode()).hexdigest()  # noqa: S324 - SQS's checksum
        assert {"ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(
            record["attributes"]
        )
        assert record["messageAttributes"] == {
            "kind": {"stringValue": "test", "stringListValues": [], "binaryListValues": [], "dataType": "String"}
        }
        assert record["messageId"] and record["receiptHandle"]

    def test_sqs_handler_exception_keeps_the_whole_batch(self, rt: LocalRuntime, aws: Any, calls: Calls) -> None:
        body = f"whole-{uuid.uuid4().hex[:8]}"
        queue, dlq = rt.resource_names["RaiseQueue"], rt.resource_names["RaiseDeadLetterQueue"]
        aws("sqs").send_message(QueueUrl=queue, MessageBody=body)
        wait_for(lambda: self._queue_count(aws, dlq) == 1, timeout=20)
        assert sorted(c["sk"].split("#")[0] for c in calls(f"raising#{body}")) == ["1", "2"]
        assert self._queue_count(aws, queue) == 0


# ---------------------------------------------------------------------------------------------
# CLI: python -m pdfjobs.local
# ---------------------------------------------------------------------------------------------


def _cli_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PDFJOBS_PORT": "0", "PDFJOBS_AWS_PORT": "0", "PDFJOBS_LAMBDA_PORT": "0", **extra}


def test_cli_invoke_runs_one_function_and_prints_its_result() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pdfjobs.local",
            "--template",
            str(TEMPLATE),
            "invoke",
            "EchoFunction",
            "--event",
            str(FIXTURES / "events" / "echo.json"),
        ],
        env=_cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["event"] == {"hello": "world", "record": "cli"}
    assert result["context"]["function_name"] == "pdfjobs-local-EchoFunction"


def test_cli_invoke_reports_a_function_error_with_exit_status_1(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text('{"jobId": "cli"}')
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pdfjobs.local",
            "--template",
            str(TEMPLATE),
            "invoke",
            "BoomFunction",
            "-e",
            str(event),
        ],
        env=_cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert json.loads(done.stdout)["errorType"] == "DocumentUnreadable"


def test_cli_serves_until_sigterm_and_exits_cleanly() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "pdfjobs.local", "--template", str(TEMPLATE)],
        env=_cli_env(PDFJOBS_ADMIN_KEY=ADMIN_KEY),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        banner = []
        assert process.stdout is not None
        for line in process.stdout:
            banner.append(line)
            if line.startswith("Ctrl-C"):
                break
        fields = dict(re.findall(r"^  (\S.*?)\s{2,}(\S+)", "".join(banner), re.MULTILINE))
        assert fields["Admin key"] == ADMIN_KEY
        api_url = fields["API"]
        assert fields["Docs"] == f"{api_url}/docs"
        assert api_url.endswith("/v1")
        assert fields["AWS endpoint"].startswith("http://127.0.0.1:")
        response = requests.get(f"{api_url}/hello", timeout=HTTP_TIMEOUT)
        assert response.status_code == 200
        assert response.json()["function"] == "pdfjobs-local-EchoApiFunction"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert "stopped." in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
