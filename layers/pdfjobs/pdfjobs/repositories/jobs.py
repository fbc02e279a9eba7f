"""Jobs: one item per job under its tenant; every status change is one conditional write."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from pdfjobs import clock, ids
from pdfjobs.errors import BadRequest, JobStateConflict
from pdfjobs.records import JobRecord, JobStatus
from pdfjobs.repositories.base import TableRepository
from pdfjobs.repositories.keys import job_status_pk, job_type_pk, tenant_pk

# Listing with a filter reads at most this many DynamoDB pages per request (no unbounded loops).
_MAX_LIST_READS = 10


def encode_cursor(job_id: str) -> str:
    return base64.urlsafe_b64encode(job_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        job_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        job_id = ""
    if not ids.has_prefix(job_id, "job"):
        raise BadRequest("The cursor is not valid.", details={"field": "cursor"})
    return job_id


# Outbox events outlive their delivery schedule (hours) by a week, then DynamoDB's TTL removes them.
_EVENT_TTL_SECONDS = 8 * 24 * 3600


def storable(value: Any) -> Any:
    """`value` with every float as a Decimal: DynamoDB's SDK refuses floats (settings and review
    thresholds hold some)."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {key: storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable(item) for item in value]
    return value


def _assignments(fields: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any], list[str]]:
    """`SET` clauses for `fields`, with placeholder names and values (attribute names may be reserved words)."""
    names = {f"#f{i}": name for i, name in enumerate(fields)}
    values = {f":v{i}": storable(value) for i, value in enumerate(fields.values())}
    return names, values, [f"#f{i} = :v{i}" for i in range(len(fields))]


class JobRepository(TableRepository):
    @staticmethod
    def _key(tenant_id: str, job_id: str) -> dict[str, str]:
        return {"PK": tenant_pk(tenant_id), "SK": f"JOB#{job_id}"}

    def create(self, job: JobRecord) -> None:
        self._table.put_item(
            Item={
                **storable(job.to_item()),
                **self._key(job.tenant_id, job.id),
                "GSI2PK": job_status_pk(job.tenant_id, job.status),
                "GSI2SK": job.id,
                "GSI3PK": job_type_pk(job.tenant_id, job.job_type),
                "GSI3SK": job.id,
                # The record outlives its results so late readers get 410/expired, not 404.
                "ttl": int(job.expires_at.timestamp()) + 30 * 86400,
            },
            ConditionExpression="attribute_not_exists(PK)",
        )

    def get(self, tenant_id: str, job_id: str, consistent: bool = False) -> JobRecord | None:
        item = self._table.get_item(Key=self._key(tenant_id, job_id), ConsistentRead=consistent).get("Item")
        return JobRecord.model_validate(item) if item else None

    def transition(
        self,
        tenant_id: str,
        job_id: str,
        from_statuses: Iterable[JobStatus],
        to_status: JobStatus,
        *,
        event: dict[str, Any] | None = None,
        **fields: Any,
    ) -> JobRecord:
        """Moves the job to `to_status` only if it is in one of `from_statuses`; returns the new record.

        With `event` (`{"id", "type", "createdAt", "data"}`), the event is written to the tenant's
        outbox in the same transaction: the status change and its event cannot part.
        """
        allowed = list(from_statuses)
        now = clock.iso(clock.now())
        values: dict[str, Any] = {
            ":to": str(to_status),
            ":now": now,
            ":gsi2": job_status_pk(tenant_id, to_status),
            **{f":from{i}": str(s) for i, s in enumerate(allowed)},
        }
        names, field_values, field_sets = _assignments(fields)
        names["#status"] = "status"
        values.update(field_values)
        sets = ["#status = :to", "updated_at = :now", "GSI2PK = :gsi2", *field_sets]
        condition = f"#status IN ({', '.join(f':from{i}' for i in range(len(allowed)))})"
        if event is not None:
            return self._transition_with_event(tenant_id, job_id, to_status, sets, condition, names, values, event)
        try:
            response = self._table.update_item(
                Key=self._key(tenant_id, job_id),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                item: dict[str, Any] = dict(error.response.get("Item") or {})  # type: ignore[call-overload]
                old = item.get("status", {}).get("S", "missing")
                raise JobStateConflict(f"The job is {old}; it cannot become {to_status}.") from error
            raise
        return JobRecord.model_validate(response["Attributes"])

    def _transition_with_event(
        self,
        tenant_id: str,
        job_id: str,
        to_status: JobStatus,
        sets: list[str],
        condition: str,
        names: dict[str, str],
        values: dict[str, Any],
        event: dict[str, Any],
    ) -> JobRecord:
        outbox_item = {
            **storable(event),
            "PK": tenant_pk(tenant_id),
            "SK": f"EVENT#{event['id']}",
            "tenant_id": tenant_id,
            "status": "pending",
            "ttl": int(clock.now().timestamp()) + _EVENT_TTL_SECONDS,
        }
        try:
            self._transact(
                {
                    "Update": {
                        "Key": self._key(tenant_id, job_id),
                        "UpdateExpression": "SET " + ", ".join(sets),
                        "ConditionExpression": condition,
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": values,
                    }
                },
                {"Put": {"Item": outbox_item, "ConditionExpression": "attribute_not_exists(PK)"}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "TransactionCanceledException":
                raise JobStateConflict(f"The job changed; it cannot become {to_status}.") from error
            raise
        job = self.get(tenant_id, job_id, consistent=True)
        if job is None:
            raise JobStateConflict("The job is missing.")
        return job

    def pending_events(self, tenant_id: str) -> list[dict[str, Any]]:
        """The tenant's outbox, oldest first (the webhooks dispatcher reads it)."""
        from boto3.dynamodb.conditions import Key

        response = self._table.query(
            KeyConditionExpression=Key("PK").eq(tenant_pk(tenant_id)) & Key("SK").begins_with("EVENT#"),
            ConsistentRead=True,
        )
        return [dict(item) for item in response.get("Items", [])]

    def update_fields(self, tenant_id: str, job_id: str, while_status: JobStatus, **fields: Any) -> None:
        """Sets fields only while the job is still in `while_status` (a cancelled job is left alone)."""
        names, values, sets = _assignments(fields)
        names["#status"] = "status"
        values.update({":while": str(while_status), ":now": clock.iso(clock.now())})
        self._update_while(tenant_id, job_id, "SET " + ", ".join(["updated_at = :now", *sets]), names, values)

    def add_pages_done(self, tenant_id: str, job_id: str, pages: int) -> None:
        self._update_while(
            tenant_id,
            job_id,
            "ADD pages_done :n SET updated_at = :now",
            {"#status": "status"},
            {":n": pages, ":while": str(JobStatus.RUNNING), ":now": clock.iso(clock.now())},
        )

    def _update_while(
        self, tenant_id: str, job_id: str, expression: str, names: dict[str, str], values: dict[str, Any]
    ) -> None:
        try:
            self._table.update_item(
                Key=self._key(tenant_id, job_id),
                UpdateExpression=expression,
                ConditionExpression="#status = :while",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise JobStateConflict("The job is no longer in the expected state.") from error
            raise

    def list(
        self,
        tenant_id: str,
        *,
        limit: int,
        cursor: str | None = None,
        status: JobStatus | None = None,
        job_type: str | None = None,
    ) -> tuple[list[JobRecord], str | None]:
        """A tenant's jobs newest first; status and type filters use their own indexes."""
        after = decode_cursor(cursor) if cursor else None
        if status is not None:
            index, hash_name, range_name, hash_value = (
                "GSI2",
                "GSI2PK",
                "GSI2SK",
                job_status_pk(tenant_id, status),
            )
            filter_expression = Attr("job_type").eq(job_type) if job_type else None
        elif job_type is not None:
            index, hash_name, range_name, hash_value = (
                "GSI3",
                "GSI3PK",
                "GSI3SK",
                job_type_pk(tenant_id, job_type),
            )
            filter_expression = None
        else:
            index, hash_name, range_name, hash_value = "", "PK", "SK", tenant_pk(tenant_id)
            filter_expression = None

        condition: Any = Key(hash_name).eq(hash_value)
        if not index:
            condition = condition & Key("SK").begins_with("JOB#")
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": condition,
            "ScanIndexForward": False,
            "Limit": limit + 1,
        }
        if index:
            kwargs["IndexName"] = index
        if filter_expression is not None:
            kwargs["FilterExpression"] = filter_expression
        if after:
            start = self._key(tenant_id, after)
            if index:
                start.update({hash_name: hash_value, range_name: after})
            kwargs["ExclusiveStartKey"] = start

        found: list[JobRecord] = []
        for _ in range(_MAX_LIST_READS):
            response = self._table.query(**kwargs)
            found.extend(JobRecord.model_validate(item) for item in response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if len(found) > limit or not last:
                break
            kwargs["ExclusiveStartKey"] = last
        else:
            last = True  # reads ran out before the page filled: let the client continue

        page = found[:limit]
        more = len(found) > limit or bool(last)
        next_cursor = encode_cursor(page[-1].id) if page and more else None
        return page, next_cursor
