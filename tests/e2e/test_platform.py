"""Health, OpenAPI, docs, and the one error envelope, over real HTTP."""

from __future__ import annotations

import pytest
import requests

from pdfjobs.errors import all_error_classes
from tests.e2e.conftest import Api, Stack

pytestmark = pytest.mark.e2e


def test_health_checks_every_dependency(stack: Stack) -> None:
    response = requests.get(stack.url("/health"), timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == {
        "jobsTable": "ok",
        "idempotencyTable": "ok",
        "bucket": "ok",
        "webhookQueue": "ok",
    }
    assert response.headers["X-Request-Id"]


def test_every_response_has_a_distinct_request_id(stack: Stack) -> None:
    ids = {requests.get(stack.url("/health"), timeout=10).headers["X-Request-Id"] for _ in range(3)}
    assert len(ids) == 3


def test_unknown_route_is_a_404_in_the_envelope(stack: Stack) -> None:
    response = requests.get(stack.url("/no-such-thing"), timeout=10)
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "route.not_found"
    assert error["requestId"] == response.headers["X-Request-Id"]


def test_openapi_lists_every_route_schema_and_error_code(stack: Stack) -> None:
    spec = requests.get(stack.url("/openapi.json"), timeout=10).json()
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    expected = {
        "/health": {"get"},
        "/api-keys": {"get", "post"},
        "/api-keys/{key_id}": {"delete"},
        "/uploads": {"post"},
        "/uploads/{upload_id}/complete": {"post"},
        "/files": {"post"},
        "/files/{file_id}": {"get", "delete"},
        "/files/{file_id}/content": {"get"},
        "/jobs": {"get", "post"},
        "/jobs/{job_id}": {"get", "delete"},
        "/jobs/{job_id}/cancel": {"post"},
        "/jobs/{job_id}/result": {"get"},
        "/jobs/{job_id}/review": {"post"},
        "/engines": {"get"},
        "/templates": {"get", "post"},
        "/templates/{name}": {"get", "put", "delete"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))
    schemas = spec["components"]["schemas"]
    for name in ("CreateJobRequest", "JobOut", "ErrorEnvelope", "FileOut", "UploadOut", "JobResultOut"):
        assert name in schemas
    # The one extraction result schema: documents -> pages -> elements (text, table, field).
    assert "ExtractionResult" in schemas and "TableElement" in schemas and "FieldElement" in schemas
    assert {"$ref": "#/components/schemas/ExtractInvoiceSettings"} in schemas["CreateJobRequest"]["properties"][
        "settings"
    ]["anyOf"]
    assert "templateSnapshot" not in schemas["ExtractDocumentSettings"]["properties"]  # server-side only
    assert set(schemas["CreateJobRequest"]["properties"]["jobType"]["enum"]) >= {
        "ocr_pdf",
        "searchable_pdf",
        "html_to_pdf",
        "extract_table",
        "extract_form",
        "extract_invoice",
        "extract_document",
    }
    settings = schemas["CreateJobRequest"]["properties"]["settings"]["anyOf"]
    assert {"$ref": "#/components/schemas/ExtractTextSettings"} in settings
    assert set(schemas["ExtractTextSettings"]["properties"]) == {
        "pages",
        "password",
        "includeLayout",
        "includePageCitations",
    }
    assert schemas["ExtractTextSettings"]["additionalProperties"] is False
    assert "extract_text" in schemas["CreateJobRequest"]["properties"]["jobType"]["enum"]
    assert "HTTPValidationError" not in schemas  # validation errors are 400s in the envelope
    text = str(spec)
    for cls in all_error_classes():
        assert cls.code in text, cls.code


def test_swagger_ui_is_served(stack: Stack) -> None:
    response = requests.get(stack.url("/docs"), timeout=10)
    assert response.status_code == 200
    assert "swagger" in response.text.lower()


def test_malformed_json_is_a_400(tenant_a: Api) -> None:
    response = tenant_a.post("/jobs", data="{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "request.malformed_json"


def test_no_stack_trace_or_internal_name_reaches_a_client(tenant_a: Api) -> None:
    response = tenant_a.post("/jobs", json={"jobType": 5, "inputFileIds": "nope"})
    assert response.status_code == 400
    text = response.text
    for leak in ("Traceback", "pdfjobs.", 'File "', "botocore", "dynamodb"):
        assert leak not in text


def test_local_runtime_also_serves_health_and_docs_without_the_stage(stack: Stack) -> None:
    if stack.aws_endpoint is None:
        pytest.skip("only the local runtime serves paths outside the stage; API Gateway serves /v1 only")
    root = stack.api_url.removesuffix("/v1")
    assert requests.get(root + "/health", timeout=10).json()["status"] == "ok"
    assert "/jobs" in requests.get(root + "/openapi.json", timeout=10).json()["paths"]
    docs = requests.get(root + "/docs", timeout=10)
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
