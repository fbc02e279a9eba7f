"""template.yaml and the state machine: valid for SAM, and holding the properties the design requires."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pdfjobs.local.template import SamTemplate
from tests.corpus import REPO_ROOT

TEMPLATE = SamTemplate.load(REPO_ROOT / "template.yaml")
ASL = json.loads((REPO_ROOT / "statemachines" / "job.asl.json").read_text())


def _sam(*args: str) -> subprocess.CompletedProcess[str]:
    """The SAM CLI of this virtualenv, on the project's template, without telemetry."""
    sam = Path(sys.executable).with_name("sam")
    return subprocess.run(
        [str(sam), *args, "--template", "template.yaml"],
        cwd=REPO_ROOT,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.slow
def test_sam_validate_lint_passes() -> None:
    result = _sam("validate", "--lint", "--region", "us-east-1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout


def _resources(kind: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in TEMPLATE.resources.items() if r["Type"] == kind}


def test_tables_have_recovery_ttl_and_encryption() -> None:
    tables = _resources("AWS::DynamoDB::Table")
    assert set(tables) == {"JobsTable", "IdempotencyTable"}
    for table in tables.values():
        properties = table["Properties"]
        assert properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert properties["SSESpecification"]["SSEEnabled"] is True
        assert properties["TimeToLiveSpecification"]["Enabled"] is True
    idempotency = tables["IdempotencyTable"]["Properties"]
    assert idempotency["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert idempotency["TimeToLiveSpecification"]["AttributeName"] == "expiration"


def test_bucket_is_private_encrypted_expiring_and_cors_enabled() -> None:
    bucket = _resources("AWS::S3::Bucket")["FilesBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert bucket["LifecycleConfiguration"]["Rules"][0]["Status"] == "Enabled"
    assert {"PUT", "POST"} <= set(bucket["CorsConfiguration"]["CorsRules"][0]["AllowedMethods"])


def test_no_managed_full_access_policies() -> None:
    for logical_id, resource in TEMPLATE.resources.items():
        policies = resource.get("Properties", {}).get("Policies", [])
        assert not any(isinstance(p, str) and "FullAccess" in p for p in policies), logical_id


def test_webhook_queue_dead_letters() -> None:
    queue = _resources("AWS::SQS::Queue")["WebhookQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["WebhookDeadLetterQueue", "Arn"]}


def test_every_function_has_a_log_group_with_retention_and_a_sample_event() -> None:
    functions = _resources("AWS::Serverless::Function")
    log_groups = [r["Properties"] for r in _resources("AWS::Logs::LogGroup").values()]
    events = {p.stem for p in (REPO_ROOT / "events").rglob("*.json")}
    for logical_id, function in functions.items():
        assert any(f"${{{logical_id}}}" in str(group["LogGroupName"]) for group in log_groups), logical_id
        module = function["Properties"]["Handler"].split(".")[0]
        assert module in events or logical_id == "ApiFunction", f"no events/ sample for {logical_id}"
        for sample in (REPO_ROOT / "events").rglob("*.json"):
            json.loads(sample.read_text())
    assert all(group["RetentionInDays"] == {"Ref": "LogRetentionDays"} for group in log_groups)


def _states(definition: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, state in definition["States"].items():
        found.append((name, state))
        if "ItemProcessor" in state:
            found.extend(_states(state["ItemProcessor"]))
    return found


def test_pipeline_shape_timeouts_retries_and_catch() -> None:
    states = dict(_states(ASL))
    assert ASL["StartAt"] == "Prepare"
    # The whole execution has a limit too, above any single task's (the API reports job.timeout).
    assert ASL["TimeoutSeconds"] > max(s["TimeoutSeconds"] for s in states.values() if "TimeoutSeconds" in s)
    assert states["Prepare"]["Next"] == "ProcessDocuments"
    assert states["ProcessDocuments"]["Type"] == "Map"
    assert states["ProcessPageBatches"]["Type"] == "Map"
    assert states["ProcessDocuments"]["Next"] == "Assemble"
    assert states["Assemble"]["Next"] == "Verify" and states["Verify"]["Next"] == "Finalize"
    tasks = {name: state for name, state in states.items() if state["Type"] == "Task"}
    assert set(tasks) == {"Prepare", "ProcessBatch", "Assemble", "Verify", "Finalize", "MarkFailed"}
    functions = _resources("AWS::Serverless::Function")
    for name, task in tasks.items():
        assert task["TimeoutSeconds"] > 0, name
        retried = {error for rule in task["Retry"] for error in rule["ErrorEquals"]}
        assert {"Lambda.ServiceException", "Lambda.TooManyRequestsException"} <= retried, name
        # A task's state timeout outlasts its function's own timeout, so Lambda reports first.
        function = task["Parameters"]["FunctionName"].strip("${}").removesuffix("Arn")
        timeout = functions[function]["Properties"].get("Timeout", 30)
        assert task["TimeoutSeconds"] >= timeout, name
    for name in ("Prepare", "Assemble", "Verify", "Finalize", "ProcessDocuments"):
        assert states[name]["Catch"][0]["Next"] == "MarkFailed", name
    assert states["MarkFailed"]["Next"] == "JobFailed" and states["JobFailed"]["Type"] == "Fail"
    substitutions = TEMPLATE.resources["JobStateMachine"]["Properties"]["DefinitionSubstitutions"]
    text = json.dumps(ASL)
    assert all("${" + key + "}" in text for key in substitutions)


@pytest.mark.slow
def test_sam_build_packages_the_layer_and_every_function(tmp_path: Path) -> None:
    """What `sam build` makes is what `sam deploy` ships: no Docker needed for Python."""
    build_dir = tmp_path / "build"
    result = _sam("build", "--no-cached", "--build-dir", str(build_dir))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    layer = build_dir / "PdfJobsLayer" / "python"
    for package in ("pdfjobs", "aws_lambda_powertools", "pypdfium2", "pydantic", "python_multipart"):
        assert (layer / package).is_dir(), package
    size = sum(f.stat().st_size for f in (build_dir / "PdfJobsLayer").rglob("*") if f.is_file())
    assert size < 250 * 1024 * 1024  # Lambda's limit for function + layers, unzipped
    for logical_id, resource in TEMPLATE.resources.items():
        if resource["Type"] == "AWS::Serverless::Function":
            module = resource["Properties"]["Handler"].split(".")[0]
            assert (build_dir / logical_id / f"{module}.py").is_file(), logical_id
