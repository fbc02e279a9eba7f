"""API keys: the tenant's record plus an auth item addressed by the key's hash."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from pdfjobs import clock
from pdfjobs.records import ApiKeyRecord
from pdfjobs.repositories.base import TableRepository
from pdfjobs.repositories.keys import ALL_API_KEYS, api_key_hash_pk, tenant_pk

_AUTH_SK = "AUTH"


class ApiKeyRepository(TableRepository):
    def create(self, record: ApiKeyRecord) -> None:
        """Writes the record and its auth item together, or neither."""
        item = {
            **record.to_item(),
            "PK": tenant_pk(record.tenant_id),
            "SK": f"APIKEY#{record.id}",
            "GSI1PK": ALL_API_KEYS,
            "GSI1SK": record.id,
        }
        auth = {
            "PK": api_key_hash_pk(record.key_hash),
            "SK": _AUTH_SK,
            "key_id": record.id,
            "tenant_id": record.tenant_id,
            "scopes": [str(s) for s in record.scopes],
            "revoked": False,
        }
        self._transact(
            {"Put": {"Item": item, "ConditionExpression": "attribute_not_exists(PK)"}},
            {"Put": {"Item": auth, "ConditionExpression": "attribute_not_exists(PK)"}},
        )

    def find_auth(self, key_hash: str) -> dict[str, Any] | None:
        """The auth item for a key hash: one strongly consistent read per request."""
        response = self._table.get_item(Key={"PK": api_key_hash_pk(key_hash), "SK": _AUTH_SK}, ConsistentRead=True)
        item: dict[str, Any] | None = response.get("Item")
        return item

    def get(self, tenant_id: str, key_id: str) -> ApiKeyRecord | None:
        item = self._table.get_item(Key={"PK": tenant_pk(tenant_id), "SK": f"APIKEY#{key_id}"}).get("Item")
        return ApiKeyRecord.model_validate(item) if item else None

    def find_any_tenant(self, key_id: str) -> ApiKeyRecord | None:
        """Operator lookup by id across tenants (GSI1)."""
        response = self._table.query(
            IndexName="GSI1", KeyConditionExpression=Key("GSI1PK").eq(ALL_API_KEYS) & Key("GSI1SK").eq(key_id)
        )
        items = response.get("Items", [])
        return ApiKeyRecord.model_validate(items[0]) if items else None

    def list(self, tenant_id: str | None, limit: int = 100) -> list[ApiKeyRecord]:
        """A tenant's keys, or every key when tenant_id is None (operator), newest first."""
        condition: Any
        if tenant_id is None:
            condition = Key("GSI1PK").eq(ALL_API_KEYS)
            kwargs: dict[str, Any] = {"IndexName": "GSI1"}
        else:
            condition = Key("PK").eq(tenant_pk(tenant_id)) & Key("SK").begins_with("APIKEY#")
            kwargs = {}
        response = self._table.query(KeyConditionExpression=condition, ScanIndexForward=False, Limit=limit, **kwargs)
        return [ApiKeyRecord.model_validate(item) for item in response.get("Items", [])]

    def revoke(self, record: ApiKeyRecord, at: datetime | None = None) -> datetime:
        """Soft revoke: the record stays for audit; the auth item answers revoked from now on."""
        stored = clock.iso(at or clock.now())
        try:
            self._transact(
                {
                    "Update": {
                        "Key": {"PK": tenant_pk(record.tenant_id), "SK": f"APIKEY#{record.id}"},
                        "UpdateExpression": "SET revoked_at = :at",
                        "ConditionExpression": "attribute_exists(PK) AND attribute_not_exists(revoked_at)",
                        "ExpressionAttributeValues": {":at": stored},
                    }
                },
                {
                    "Update": {
                        "Key": {"PK": api_key_hash_pk(record.key_hash), "SK": _AUTH_SK},
                        "UpdateExpression": "SET revoked = :true",
                        "ExpressionAttributeValues": {":true": True},
                    }
                },
            )
        except ClientError as error:
            # Already revoked: revoking again is a no-op that keeps the first timestamp.
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            current = self.get(record.tenant_id, record.id)
            if current is None or current.revoked_at is None:
                raise
            return current.revoked_at
        return clock.parse_iso(stored)  # what was stored, to the millisecond
