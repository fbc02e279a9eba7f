"""What every DynamoDB repository shares: the table, resolved lazily from settings."""

from __future__ import annotations

from typing import Any

from pdfjobs import aws_clients
from pdfjobs.settings import get_settings


class TableRepository:
    def __init__(self, table_name: str | None = None) -> None:
        self.table_name = table_name or get_settings().table_name

    @property
    def _table(self) -> Any:
        return aws_clients.dynamodb_table(self.table_name)

    @property
    def _client(self) -> Any:
        """The low-level client, for transactions (the resource API has none)."""
        return aws_clients.client("dynamodb")
