"""Key formats of the single table, in one place."""

from __future__ import annotations


def tenant_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}"


def api_key_hash_pk(key_hash: str) -> str:
    return f"APIKEYHASH#{key_hash}"


ALL_API_KEYS = "APIKEYS"


def job_status_pk(tenant_id: str, status: str) -> str:
    return f"TENANT#{tenant_id}#STATUS#{status}"


def job_type_pk(tenant_id: str, job_type: str) -> str:
    return f"TENANT#{tenant_id}#TYPE#{job_type}"
