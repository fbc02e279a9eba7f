"""S3 adapter: the one place that knows object keys and how URLs are signed."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from pdfjobs import aws_clients
from pdfjobs.settings import get_settings

_CHUNK = 1024 * 1024


def file_key(tenant_id: str, file_id: str) -> str:
    return f"tenants/{tenant_id}/files/{file_id}"


def job_prefix(tenant_id: str, job_id: str) -> str:
    return f"tenants/{tenant_id}/jobs/{job_id}/"


def batch_key(tenant_id: str, job_id: str, document_index: int, batch_start: int) -> str:
    return f"{job_prefix(tenant_id, job_id)}parts/doc-{document_index:03d}/batch-{batch_start:05d}.json"


def document_pdf_key(tenant_id: str, job_id: str, document_index: int) -> str:
    """A job's own PDF of an input that arrived as an image."""
    return f"{job_prefix(tenant_id, job_id)}inputs/doc-{document_index:03d}.pdf"


def output_key(tenant_id: str, job_id: str, name: str) -> str:
    return f"{job_prefix(tenant_id, job_id)}outputs/{name}"


@dataclass(frozen=True)
class ObjectHead:
    size: int
    content_type: str | None


class ObjectStore:
    """Reads, writes and signs objects in the files bucket."""

    def __init__(self, bucket: str | None = None) -> None:
        self.bucket = bucket or get_settings().bucket_name

    @property
    def _s3(self) -> Any:
        return aws_clients.client("s3")

    def head(self, key: str) -> ObjectHead | None:
        try:
            response = self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return ObjectHead(size=response["ContentLength"], content_type=response.get("ContentType"))

    def read_head(self, key: str, length: int) -> bytes:
        response = self._s3.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{length - 1}")
        return bytes(response["Body"].read())

    def read_bytes(self, key: str) -> bytes:
        return bytes(self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def download(self, key: str, destination: Path) -> str:
        """Streams the object to `destination`; returns its sha256 hex digest."""
        digest = hashlib.sha256()
        body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"]
        with destination.open("wb") as out:
            for chunk in iter(lambda: body.read(_CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
        return digest.hexdigest()

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        self._s3.upload_file(str(path), self.bucket, key, ExtraArgs={"ContentType": content_type})

    def delete(self, key: str) -> None:
        self._s3.delete_object(Bucket=self.bucket, Key=key)

    def delete_prefix(self, prefix: str) -> int:
        deleted = 0
        for keys in self._pages_of_keys(prefix):
            self._s3.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys]})
            deleted += len(keys)
        return deleted

    def _pages_of_keys(self, prefix: str) -> Iterator[list[str]]:
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": 1000}):
            keys = [item["Key"] for item in page.get("Contents", [])]
            if keys:
                yield keys

    def presigned_upload(self, key: str, content_type: str, size_bytes: int, ttl_seconds: int) -> dict[str, Any]:
        """A browser-compatible POST policy that pins the key, the type and the exact size."""
        return dict(
            aws_clients.s3_presigner().generate_presigned_post(
                Bucket=self.bucket,
                Key=key,
                Fields={"Content-Type": content_type},
                Conditions=[
                    {"Content-Type": content_type},
                    ["content-length-range", size_bytes, size_bytes],
                ],
                ExpiresIn=ttl_seconds,
            )
        )

    def presigned_download(self, key: str, ttl_seconds: int, filename: str | None = None) -> str:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if filename:
            safe = "".join(c for c in filename if c.isprintable() and c not in '"\\')
            params["ResponseContentDisposition"] = f'attachment; filename="{safe}"'
        return str(
            aws_clients.s3_presigner().generate_presigned_url("get_object", Params=params, ExpiresIn=ttl_seconds)
        )

    def bucket_reachable(self) -> bool:
        self._s3.head_bucket(Bucket=self.bucket)
        return True
