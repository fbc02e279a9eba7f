"""API keys and tenants: creation, the three header forms, listing without secrets, revocation."""

from __future__ import annotations

import pytest
import requests

from tests.e2e.conftest import Api, Stack

pytestmark = pytest.mark.e2e


def test_created_key_is_shown_once_and_listed_without_secret(admin: Api) -> None:
    created = admin.post("/api-keys", json={"name": "listing", "tenantId": "keys-listing"})
    assert created.status_code == 201
    body = created.json()
    assert body["key"].startswith("pdfj_") and len(body["key"]) >= 40
    assert body["prefix"] == body["key"][:8]
    assert body["tenantId"] == "keys-listing"
    listed = admin.get("/api-keys", params={"tenantId": "keys-listing"})
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert [item["id"] for item in items] == [body["id"]]
    assert body["key"] not in listed.text
    assert "hash" not in listed.text.lower()
    assert set(items[0]) >= {"id", "name", "prefix", "tenantId", "scopes", "createdAt", "active"}


def test_three_header_forms_authenticate(stack: Stack, tenant_a: Api) -> None:
    for headers in (
        {"Authorization": f"Bearer {tenant_a.key}"},
        {"Authorization": f"api-key {tenant_a.key}"},
        {"X-API-Key": tenant_a.key},
    ):
        assert requests.get(stack.url("/jobs"), headers=headers, timeout=10).status_code == 200


def test_missing_and_unknown_keys_are_401(stack: Stack) -> None:
    missing = requests.get(stack.url("/jobs"), timeout=10)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "auth.missing_key"
    unknown = requests.get(stack.url("/jobs"), headers={"X-API-Key": "pdfj_" + "x" * 43}, timeout=10)
    assert unknown.status_code == 401 and unknown.json()["error"]["code"] == "auth.invalid_key"


def test_revoked_key_gets_403_and_record_stays_for_audit(admin: Api) -> None:
    created = admin.post("/api-keys", json={"name": "to revoke", "tenantId": "keys-revoke"}).json()
    user = Api(admin.stack, created["key"])
    assert user.get("/jobs").status_code == 200
    revoked = admin.delete(f"/api-keys/{created['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    denied = user.get("/jobs")
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "auth.revoked_key"
    listed = admin.get("/api-keys", params={"tenantId": "keys-revoke"}).json()["items"]
    assert listed[0]["id"] == created["id"] and listed[0]["active"] is False and listed[0]["revokedAt"]


def test_tenant_keys_act_only_in_their_tenant(tenant_a: Api, tenant_b: Api) -> None:
    foreign = tenant_a.post("/api-keys", json={"name": "sneaky", "tenantId": "someone-else"})
    assert foreign.status_code == 403
    own = tenant_a.post("/api-keys", json={"name": "second key"})
    assert own.status_code == 201
    assert tenant_a.get("/api-keys", params={"tenantId": "someone-else"}).status_code == 403
    ids_b = {item["id"] for item in tenant_b.get("/api-keys").json()["items"]}
    assert own.json()["id"] not in ids_b
    # B cannot revoke A's key: it answers exactly like a missing key.
    attempt = tenant_b.delete(f"/api-keys/{own.json()['id']}")
    assert attempt.status_code == 404 and attempt.json()["error"]["code"] == "resource.not_found"


def test_a_tenant_key_cannot_grant_admin(tenant_a: Api) -> None:
    response = tenant_a.post("/api-keys", json={"name": "escalate", "scopes": ["admin"]})
    assert response.status_code == 403


def test_scopes_limit_what_a_key_may_do(admin: Api) -> None:
    reader = admin.post("/api-keys", json={"name": "reader", "tenantId": "keys-scopes", "scopes": ["jobs:read"]}).json()
    api = Api(admin.stack, reader["key"])
    assert api.get("/jobs").status_code == 200
    denied = api.post("/uploads", json={"filename": "a.pdf", "contentType": "application/pdf", "sizeBytes": 10})
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "auth.forbidden"
