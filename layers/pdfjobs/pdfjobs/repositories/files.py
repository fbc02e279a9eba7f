"""Uploads (pending presigned uploads) and files (completed, typed, hashed inputs)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from pdfjobs import aws_clients, clock
from pdfjobs.errors import UploadAlreadyCompleted
from pdfjobs.records import FileRecord, UploadRecord
from pdfjobs.repositories.base import TableRepository
from pdfjobs.repositories.keys import tenant_pk


class FileRepository(TableRepository):
    def put_upload(self, upload: UploadRecord) -> None:
        self._table.put_item(
            Item={
                **upload.to_item(),
                "PK": tenant_pk(upload.tenant_id),
                "SK": f"UPLOAD#{upload.id}",
                "ttl": int(upload.expires_at.timestamp()),
            },
            ConditionExpression="attribute_not_exists(PK)",
        )

    def get_upload(self, tenant_id: str, upload_id: str) -> UploadRecord | None:
        item = self._table.get_item(Key={"PK": tenant_pk(tenant_id), "SK": f"UPLOAD#{upload_id}"}).get("Item")
        return UploadRecord.model_validate(item) if item else None

    def complete_upload(self, upload: UploadRecord, file: FileRecord) -> None:
        """Marks the upload completed and creates its file in one transaction (pending is the condition)."""
        try:
            self._transact(
                {
                    "Update": {
                        "Key": {"PK": tenant_pk(upload.tenant_id), "SK": f"UPLOAD#{upload.id}"},
                        "UpdateExpression": "SET #s = :completed",
                        "ConditionExpression": "#s = :pending",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": {":completed": "completed", ":pending": "pending"},
                    }
                },
                {"Put": {"Item": self._file_item(file), "ConditionExpression": "attribute_not_exists(PK)"}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "TransactionCanceledException":
                raise UploadAlreadyCompleted() from error
            raise

    def put_file(self, file: FileRecord) -> None:
        self._table.put_item(Item=self._file_item(file), ConditionExpression="attribute_not_exists(PK)")

    def get_file(self, tenant_id: str, file_id: str) -> FileRecord | None:
        item = self._table.get_item(Key={"PK": tenant_pk(tenant_id), "SK": f"FILE#{file_id}"}).get("Item")
        if not item or item.get("status") == "deleted":
            return None
        return FileRecord.model_validate(item)

    def get_files(self, tenant_id: str, file_ids: list[str]) -> dict[str, FileRecord]:
        """Several files in one BatchGetItem (ids are already de-duplicated and bounded by the caller)."""
        if not file_ids:
            return {}
        keys = [{"PK": tenant_pk(tenant_id), "SK": f"FILE#{file_id}"} for file_id in file_ids]
        resource = aws_clients.dynamodb_table(self.table_name).meta.client
        found: dict[str, FileRecord] = {}
        request: dict[str, Any] = {self.table_name: {"Keys": keys}}
        for _ in range(5):  # unprocessed keys are retried a bounded number of times
            response = resource.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(self.table_name, []):
                if item.get("status") != "deleted":
                    record = FileRecord.model_validate(item)
                    found[record.id] = record
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
        return found

    def mark_deleted(self, tenant_id: str, file_id: str) -> None:
        """Keeps a tombstone until TTL so ids are never reused and reads answer 404."""
        self._table.update_item(
            Key={"PK": tenant_pk(tenant_id), "SK": f"FILE#{file_id}"},
            UpdateExpression="SET #s = :deleted, deleted_at = :now",
            ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":deleted": "deleted", ":now": clock.iso(clock.now())},
        )

    @staticmethod
    def _file_item(file: FileRecord) -> dict[str, Any]:
        return {
            **file.to_item(),
            "PK": tenant_pk(file.tenant_id),
            "SK": f"FILE#{file.id}",
            "ttl": int(file.expires_at.timestamp()) + 30 * 86400,
        }
