"""Templates (CRUD, validation, tenancy) and the review gate, end to end through the local runtime."""

from __future__ import annotations

import json

import pytest
import requests

from tests.corpus import corpus_file
from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e

POLICY_TEMPLATE = {
    "name": "aws-bill",
    "description": "Fields of an AWS bill",
    "fields": [
        {"name": "invoiceNumber", "type": "string", "keywords": ["Invoice Number"], "required": True},
        {"name": "accountNumber", "type": "string", "keywords": ["Account number"]},
        {"name": "billingPeriod", "type": "string", "regex": r"billing period (\w+ \d+ - \w+ \d+ , \d{4})"},
        {"name": "total", "type": "amount", "keywords": ["TOTAL AMOUNT DUE", "Total"], "required": True},
    ],
    "filters": {"ids": ["invoiceNumber", "accountNumber"]},
}


def _template(api: Api, body: dict, method: str = "POST", name: str | None = None) -> requests.Response:
    path = f"/templates/{name}" if name else "/templates"
    return api.request(method, path, json=body)


def test_template_lifecycle_and_validation(tenant_a: Api, tenant_b: Api) -> None:
    body = {**POLICY_TEMPLATE, "name": "lifecycle"}
    created = _template(tenant_a, body)
    assert created.status_code == 201, created.text
    assert created.json()["version"] == 1 and created.json()["builtIn"] is False
    assert _template(tenant_a, body).json()["error"]["code"] == "template.exists"
    assert _template(tenant_a, {**body, "name": "invoice"}).status_code == 409  # built-in names are taken

    listed = tenant_a.get("/templates").json()["items"]
    assert [item["name"] for item in listed][:1] == ["invoice"] and "lifecycle" in {i["name"] for i in listed}
    assert tenant_a.get("/templates/invoice").json()["builtIn"] is True

    replaced = _template(tenant_a, {"fields": body["fields"][:1]}, "PUT", "lifecycle")
    assert replaced.status_code == 200 and replaced.json()["version"] == 2
    assert len(tenant_a.get("/templates/lifecycle").json()["fields"]) == 1

    # Another tenant sees nothing of it.
    assert tenant_b.get("/templates/lifecycle").status_code == 404
    assert "lifecycle" not in {item["name"] for item in tenant_b.get("/templates").json()["items"]}

    assert tenant_a.delete("/templates/lifecycle").status_code == 200
    assert tenant_a.get("/templates/lifecycle").status_code == 404
    assert tenant_a.delete("/templates/invoice").status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"fields": [{"name": "x", "regex": "(unclosed"}]}, "fields[0].regex"),
        ({"fields": [{"name": "x", "regex": "(a+)+$"}]}, "fields[0].regex"),
        ({"fields": [{"name": "x", "type": "enum"}]}, "fields.0"),
        ({"fields": [{"name": "x"}, {"name": "x"}]}, "body"),
        ({"filters": {"f": ["nope"]}}, "body"),
        ({"name": "bad name!"}, "name"),
    ],
)
def test_invalid_templates_are_refused_naming_the_problem(tenant_a: Api, change: dict, field: str) -> None:
    response = _template(tenant_a, {**POLICY_TEMPLATE, "name": "invalid", "filters": {}, **change})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "validation.error"
    assert error["details"]["field"].startswith(field), error


def _wait(api: Api, job: dict) -> dict:
    done, _ = api.wait(job["id"], timeout=120)
    return done


def test_templated_extraction_with_a_filter(tenant_a: Api) -> None:
    assert _template(tenant_a, POLICY_TEMPLATE).status_code in (201, 409)
    file = tenant_a.upload(corpus_file("invoices/AmazonWebServices.pdf"))
    done = _wait(tenant_a, tenant_a.submit("extract_document", [file["id"]], {"templateName": "aws-bill"}))
    assert done["status"] == "succeeded", done
    data = tenant_a.get(f"/jobs/{done['id']}/result").json()["data"]
    fields = data["documents"][0]["fields"]
    assert set(fields) == {"invoiceNumber", "accountNumber", "billingPeriod", "total"}
    assert fields["invoiceNumber"]["value"] == "42183017"
    assert fields["total"]["value"] == "4.11"
    assert fields["accountNumber"]["value"] == "296664039561" and fields["accountNumber"]["source"] == "template"
    assert fields["billingPeriod"]["value"] == "July 1 - July 31 , 2014"

    filtered = _wait(
        tenant_a,
        tenant_a.submit("extract_document", [file["id"]], {"templateName": "aws-bill", "filterName": "ids"}),
    )
    data = tenant_a.get(f"/jobs/{filtered['id']}/result").json()["data"]
    assert set(data["documents"][0]["fields"]) == {"invoiceNumber", "accountNumber"}

    built_in = _wait(tenant_a, tenant_a.submit("extract_document", [file["id"]], {"filterName": "totals"}))
    data = tenant_a.get(f"/jobs/{built_in['id']}/result").json()["data"]
    assert set(data["documents"][0]["fields"]) == {"currency", "subtotal", "tax", "total"}


@pytest.mark.parametrize(
    ("settings", "status", "code"),
    [
        ({}, 400, "validation.error"),
        ({"templateName": "no-such-template"}, 404, "resource.not_found"),
        ({"templateName": "invoice", "filterName": "nope"}, 400, "validation.error"),
        ({"templateName": "invoice", "templateSnapshot": {"fields": []}}, 400, "validation.error"),
        ({"templateName": "invoice", "documentReview": 100}, 400, "validation.error"),
        ({"templateName": "invoice", "documentReview": 90, "confidenceThreshold": 0.9}, 400, "validation.error"),
    ],
)
def test_bad_extraction_requests(tenant_a: Api, settings: dict, status: int, code: str) -> None:
    file = tenant_a.upload(corpus_file("invoices/AmazonWebServices.pdf"))
    response = tenant_a.post(
        "/jobs", json={"jobType": "extract_document", "inputFileIds": [file["id"]], "settings": settings}
    )
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_review_gate_holds_approves_with_corrections_and_rejects(tenant_a: Api) -> None:
    file = tenant_a.upload(corpus_file("invoices/AmazonWebServices.pdf"))
    held = _wait(tenant_a, tenant_a.submit("extract_invoice", [file["id"]], {"documentReview": 99}))
    assert held["status"] == "review_required", held.get("error")
    assert held["reviewThreshold"] == 99 and held["reviewFlaggedFieldCount"] >= 1
    assert held["reviewRequiredAt"] and held["resultAvailable"] is False
    blocked = tenant_a.get(f"/jobs/{held['id']}/result")
    assert blocked.status_code == 409 and blocked.json()["error"]["code"] == "review.required"
    if tenant_a.stack.aws_endpoint:  # behind the API: the hold wrote its event to the outbox with it
        events = [event for event in _outbox(tenant_a) if event["data"]["jobId"] == held["id"]]
        assert [event["type"] for event in events] == ["job.review_required"]
        assert events[0]["data"]["flaggedFields"] == held["review"]["flaggedFields"]

    unknown = tenant_a.post(f"/jobs/{held['id']}/review", json={"decision": "approve", "corrections": {"nope": 1}})
    assert unknown.status_code == 400
    approved = tenant_a.post(
        f"/jobs/{held['id']}/review", json={"decision": "approve", "corrections": {"invoiceNumber": "INV-CORRECTED"}}
    )
    assert approved.status_code == 200, approved.text
    job = approved.json()
    assert job["status"] == "succeeded" and job["review"]["decision"] == "approve"
    assert job["review"]["corrections"] == {"invoiceNumber": "INV-CORRECTED"}
    data = tenant_a.get(f"/jobs/{held['id']}/result").json()["data"]
    corrected = data["documents"][0]["fields"]["invoiceNumber"]
    assert corrected["value"] == "INV-CORRECTED" and corrected["source"] == "review"
    csv_text = tenant_a.get(f"/jobs/{held['id']}/result", params={"format": "csv"}).text
    assert "INV-CORRECTED" in csv_text
    again = tenant_a.post(f"/jobs/{held['id']}/review", json={"decision": "reject"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "review.not_pending"

    second = _wait(tenant_a, tenant_a.submit("extract_invoice", [file["id"]], {"confidenceThreshold": 0.99}))
    assert second["status"] == "review_required"
    rejected = tenant_a.post(f"/jobs/{second['id']}/review", json={"decision": "reject"})
    assert rejected.status_code == 200 and rejected.json()["status"] == "failed"
    assert rejected.json()["error"]["code"] == "review.rejected"

    # A threshold every required field reaches lets the job through.
    passed = _wait(tenant_a, tenant_a.submit("extract_invoice", [file["id"]], {"documentReview": 1}))
    assert passed["status"] == "succeeded" and passed["review"] is None


def test_result_formats_are_served_or_redirected(tenant_a: Api) -> None:
    file = tenant_a.upload(corpus_file("invoices/AmazonWebServices.pdf"))
    done = _wait(tenant_a, tenant_a.submit("extract_invoice", [file["id"]], {}))
    assert done["status"] == "succeeded", done
    as_json = tenant_a.get(f"/jobs/{done['id']}/result", params={"format": "json"})
    assert as_json.status_code == 200 and json.loads(as_json.text)["documents"]
    missing = tenant_a.get(f"/jobs/{done['id']}/result", params={"format": "pdf"})
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "result.format_unavailable"
    assert set(missing.json()["error"]["details"]["available"]) == {"csv", "json"}


def test_a_template_that_matches_nothing_gives_nulls_and_review_when_required(tenant_a: Api) -> None:
    body = {
        "name": "nothing-matches",
        "fields": [
            {"name": "policyNumber", "keywords": ["Policy number"], "required": True},
            {"name": "vin", "regex": r"VIN ([A-HJ-NPR-Z0-9]{17})"},
        ],
    }
    assert _template(tenant_a, body).status_code in (201, 409)
    file = tenant_a.upload(corpus_file("text/crazyones.pdf"))
    done = _wait(tenant_a, tenant_a.submit("extract_document", [file["id"]], {"templateName": "nothing-matches"}))
    assert done["status"] == "succeeded", done
    fields = tenant_a.get(f"/jobs/{done['id']}/result").json()["data"]["documents"][0]["fields"]
    assert {name: (f["value"], f["confidence"]) for name, f in fields.items()} == {
        "policyNumber": (None, 0.0),
        "vin": (None, 0.0),
    }
    held = _wait(
        tenant_a,
        tenant_a.submit("extract_document", [file["id"]], {"templateName": "nothing-matches", "documentReview": 50}),
    )
    assert held["status"] == "review_required" and held["review"]["flaggedFields"] == ["policyNumber"]


def _outbox(api: Api) -> list[dict]:
    import boto3
    from boto3.dynamodb.conditions import Key

    dynamodb = boto3.resource(
        "dynamodb",
        endpoint_url=api.stack.aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    name = next(table.name for table in dynamodb.tables.all() if "jobs" in table.name.lower())
    tenant = api.get("/jobs", params={"limit": 1}).json()["items"][0]["id"]  # any job of this tenant
    table = dynamodb.Table(name)
    owner = table.scan(FilterExpression=Key("SK").eq(f"JOB#{tenant}"))["Items"][0]["PK"]
    return [
        dict(item)
        for item in table.query(KeyConditionExpression=Key("PK").eq(owner) & Key("SK").begins_with("EVENT#"))["Items"]
    ]
