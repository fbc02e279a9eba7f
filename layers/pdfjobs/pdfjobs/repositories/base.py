"""What every DynamoDB repository shares: the table, resolved lazily from settings."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.types import TypeSerializer

from pdfjobs import aws_clients
from pdfjobs.settings import get_settings


class TableRepository:
    def __init__(self, table_name: str | None = None) -> None:
        self.table_name = table_name or get_settings().table_name

    @property
    def _table(self) -> Any:
        return aws_clients.dynamodb_table(self.table_name)

    def _transact(self, *actions: dict[str, Any]) -> None:
        """TransactWriteItems on this table with plain Python values, e.g. {"Put": {"Item": {...}}}.

        The resource API has no transactions, so keys, items and values are serialised here.
        """
        serializer = TypeSerializer()

        def wire(action: dict[str, Any]) -> dict[str, Any]:
            (kind, body), *_ = action.items()
            body = {"TableName": self.table_name, **body}
            for field in ("Key", "Item", "ExpressionAttributeValues"):
                if field in body:
                    body[field] = {name: serializer.serialize(value) for name, value in body[field].items()}
            return {kind: body}

        aws_clients.client("dynamodb").transact_write_items(TransactItems=[wire(action) for action in actions])
