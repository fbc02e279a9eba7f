"""The API function's handler on moto, with the sample events from events/: paths the e2e suite
cannot reach by HTTP alone (a dependency down, time passing)."""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
from datetime import timedelta
from typing import Any

import pytest

from pdfjobs import clock
from pdfjobs.records import Principal
from pdfjobs.services.files import FileService
from tests.corpus import REPO_ROOT, corpus_file
from tests.integration.conftest import ADMIN_KEY


def _handler() -> Any:
    spec = importlib.util.spec_from_file_location("api_app_under_test", REPO_ROOT / "functions" / "api" / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.lambda_handler


class Context:
    function_name = "pdfjobs-ApiFunction"
    memory_limit_in_mb = 1769
    aws_request_id = "test-request"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:pdfjobs-ApiFunction"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def _call(
    method: str, path: str, key: str | None = None, body: Any = None, query: dict[str, str] | None = None
) -> tuple[int, Any]:
    event = copy.deepcopy(json.loads((REPO_ROOT / "events" / "api" / "health.json").read_text()))
    event["httpMethod"], event["path"] = method, path
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    event["headers"] = headers
    event["multiValueHeaders"] = {name: [value] for name, value in headers.items()}
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} if query else None
    event["body"] = json.dumps(body) if body is not None else None
    response = _handler()(event, Context())
    assert response["headers"]["X-Request-Id"] == event["requestContext"]["requestId"]
    return response["statusCode"], json.loads(response["body"]) if response["body"] else None


@pytest.fixture
def admin_key(aws_stack: Any, settings_override: Any) -> str:
    settings_override(admin_key_sha256=hashlib.sha256(ADMIN_KEY.encode()).hexdigest())
    return ADMIN_KEY


def test_health_is_503_when_a_dependency_is_missing(aws_stack: Any, settings_override: Any) -> None:
    status, body = _call("GET", "/health")
    assert status == 200 and body["status"] == "ok"
    settings_override(webhook_queue_url=aws_stack.aws_endpoint + "/123456789012/no-such-queue")
    status, body = _call("GET", "/health")
    assert status == 503
    assert body["status"] == "degraded" and body["checks"]["webhookQueue"] == "unavailable"
    assert body["checks"]["jobsTable"] == "ok"


def test_operator_lists_keys_across_tenants(admin_key: str) -> None:
    created = [
        _call("POST", "/api-keys", admin_key, {"name": f"k{i}", "tenantId": f"list-all-{i}"})[1] for i in range(2)
    ]
    status, body = _call("GET", "/api-keys", admin_key)
    assert status == 200
    listed = {item["id"]: item["tenantId"] for item in body["items"]}
    for key in created:
        assert listed[key["id"]] == key["tenantId"]
    assert all("key" not in item for item in body["items"])


def test_upload_url_expiry_is_410_when_nothing_arrived(admin_key: str) -> None:
    _, key = _call("POST", "/api-keys", admin_key, {"name": "uploader", "tenantId": "expiry"})
    status, upload = _call(
        "POST", "/uploads", key["key"], {"filename": "a.pdf", "contentType": "application/pdf", "sizeBytes": 100}
    )
    assert status == 201 and upload["method"] == "POST" and "policy" in {f.lower() for f in upload["fields"]}
    clock.freeze(clock.now() + timedelta(hours=1))
    status, body = _call("POST", f"/uploads/{upload['uploadId']}/complete", key["key"], {})
    assert status == 410 and body["error"]["code"] == "upload.expired"


def test_a_job_on_an_expired_file_is_410(admin_key: str, principal: Principal) -> None:
    _, key = _call("POST", "/api-keys", admin_key, {"name": "late", "tenantId": principal.tenant_id})
    path = corpus_file("text/crazyones.pdf")
    file = FileService().upload_direct(principal, path.name, path.read_bytes())
    clock.freeze(file.expires_at + timedelta(seconds=1))
    status, body = _call("POST", "/jobs", key["key"], {"jobType": "extract_text", "inputFileIds": [file.id]})
    assert status == 410 and body["error"]["code"] == "file.expired"
    assert body["error"]["details"]["field"] == "inputFileIds[0]"


@pytest.mark.parametrize("limit", ["0", "101", "ten"])
def test_list_limit_is_bounded(admin_key: str, limit: str) -> None:
    status, body = _call("GET", "/jobs", admin_key, query={"limit": limit})
    assert status == 400 and body["error"]["code"] == "validation.error"
    assert body["error"]["details"]["field"] == "query.limit"


def test_revoking_twice_keeps_the_first_revocation(admin_key: str) -> None:
    _, created = _call("POST", "/api-keys", admin_key, {"name": "twice", "tenantId": "revoke-twice"})
    first_status, first = _call("DELETE", f"/api-keys/{created['id']}", admin_key)
    clock.freeze(clock.now() + timedelta(minutes=5))
    second_status, second = _call("DELETE", f"/api-keys/{created['id']}", admin_key)
    assert first_status == second_status == 200
    assert second["revokedAt"] == first["revokedAt"]
    status, body = _call("GET", "/jobs", created["key"])
    assert status == 403 and body["error"]["code"] == "auth.revoked_key"
