"""Templates: one item per (tenant, name); versions count writes."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from pdfjobs.records import TemplateRecord
from pdfjobs.repositories.base import TableRepository
from pdfjobs.repositories.keys import tenant_pk

_LIST_LIMIT = 1000


def _sk(name: str) -> str:
    return f"TEMPLATE#{name}"


class TemplateRepository(TableRepository):
    def create(self, template: TemplateRecord) -> bool:
        """False when the name is taken."""
        try:
            self._table.put_item(Item=self._item(template), ConditionExpression="attribute_not_exists(PK)")
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def replace(self, template: TemplateRecord, expected_version: int) -> bool:
        """False when another write got there first (the version moved)."""
        try:
            self._table.put_item(
                Item=self._item(template),
                ConditionExpression="#v = :expected",
                ExpressionAttributeNames={"#v": "version"},
                ExpressionAttributeValues={":expected": expected_version},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def get(self, tenant_id: str, name: str) -> TemplateRecord | None:
        item = self._table.get_item(Key={"PK": tenant_pk(tenant_id), "SK": _sk(name)}, ConsistentRead=True).get("Item")
        return TemplateRecord.model_validate(item) if item else None

    def list(self, tenant_id: str) -> list[TemplateRecord]:
        from boto3.dynamodb.conditions import Key

        response = self._table.query(
            KeyConditionExpression=Key("PK").eq(tenant_pk(tenant_id)) & Key("SK").begins_with("TEMPLATE#"),
            Limit=_LIST_LIMIT,
        )
        return [TemplateRecord.model_validate(item) for item in response.get("Items", [])]

    def delete(self, tenant_id: str, name: str) -> bool:
        response = self._table.delete_item(Key={"PK": tenant_pk(tenant_id), "SK": _sk(name)}, ReturnValues="ALL_OLD")
        return bool(response.get("Attributes"))

    @staticmethod
    def _item(template: TemplateRecord) -> dict[str, Any]:
        return {**template.to_item(), "PK": tenant_pk(template.tenant_id), "SK": _sk(template.name)}
