"""Uploads and files: presigned uploads, direct uploads, verification of what arrived."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from pdfjobs import clock, filetypes, ids
from pdfjobs.errors import (
    FileEmpty,
    FileTooLarge,
    NotFound,
    PdfJobsError,
    UnsupportedFileType,
    UploadExpired,
    UploadNotReceived,
    UploadSizeMismatch,
)
from pdfjobs.records import FileRecord, Principal, Scope, UploadRecord
from pdfjobs.repositories.files import FileRepository
from pdfjobs.services.auth import require
from pdfjobs.settings import get_settings
from pdfjobs.storage import ObjectStore, file_key

# Inspecting an upload happens inside a synchronous API call (API Gateway allows 29 s).
_INSPECT_TIMEOUT_SECONDS = 20.0


def clean_filename(name: str) -> str:
    """Keeps the last path segment, printable characters only, at most 255 characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c for c in base if c.isprintable()).strip()
    return cleaned[:255] or "file"


class FileService:
    def __init__(self, files: FileRepository | None = None, store: ObjectStore | None = None) -> None:
        self.files = files or FileRepository()
        self.store = store or ObjectStore()

    def create_upload(self, principal: Principal, filename: str, content_type: str, size_bytes: int) -> dict[str, Any]:
        require(principal, Scope.FILES_WRITE)
        settings = get_settings()
        if size_bytes <= 0:
            raise FileEmpty("sizeBytes must be at least 1.", details={"field": "sizeBytes"})
        if size_bytes > settings.max_upload_bytes:
            raise FileTooLarge(
                f"sizeBytes exceeds the upload limit of {settings.max_upload_bytes} bytes.",
                details={"field": "sizeBytes", "limit": settings.max_upload_bytes},
            )
        declared = content_type.split(";")[0].strip().lower()
        if declared not in filetypes.SUPPORTED_TYPES:
            raise UnsupportedFileType(
                f"contentType must be one of {', '.join(filetypes.SUPPORTED_TYPES)}.",
                details={"field": "contentType"},
            )
        now = clock.now()
        file_id = ids.new_id("file")
        upload = UploadRecord(
            id=ids.new_id("upl"),
            tenant_id=principal.tenant_id,
            filename=clean_filename(filename),
            content_type=declared,
            size_bytes=size_bytes,
            file_id=file_id,
            object_key=file_key(principal.tenant_id, file_id),
            created_at=now,
            url_expires_at=now + timedelta(seconds=settings.upload_url_ttl_seconds),
            expires_at=now + timedelta(hours=settings.retention_hours),
        )
        self.files.put_upload(upload)
        post = self.store.presigned_upload(upload.object_key, declared, size_bytes, settings.upload_url_ttl_seconds)
        return {
            "uploadId": upload.id,
            "method": "POST",
            "url": post["url"],
            "fields": post["fields"],
            "expiresAt": clock.iso(upload.url_expires_at),
        }

    def complete_upload(self, principal: Principal, upload_id: str) -> FileRecord:
        require(principal, Scope.FILES_WRITE)
        upload = self.files.get_upload(principal.tenant_id, upload_id) if ids.has_prefix(upload_id, "upl") else None
        if upload is None:
            raise NotFound("No upload with this id.")
        if upload.status == "completed":
            existing = self.files.get_file(principal.tenant_id, upload.file_id)
            if existing is None:
                raise NotFound("The file of this upload has been deleted.")
            return existing
        head = self.store.head(upload.object_key)
        if head is None:
            if clock.now() > upload.url_expires_at:
                raise UploadExpired("The upload URL expired before a file arrived; create a new upload.")
            raise UploadNotReceived()
        if head.size != upload.size_bytes:
            self.store.delete(upload.object_key)
            raise UploadSizeMismatch(
                f"Declared {upload.size_bytes} bytes but {head.size} arrived.",
                details={"declared": upload.size_bytes, "received": head.size},
            )
        file = self._verify_stored_object(
            principal.tenant_id, upload.file_id, upload.object_key, upload.filename, head.size
        )
        self.files.complete_upload(upload, file)
        return file

    def upload_direct(self, principal: Principal, filename: str, data: bytes) -> FileRecord:
        """POST /files: a small file sent in the request body itself."""
        require(principal, Scope.FILES_WRITE)
        settings = get_settings()
        if len(data) > settings.max_direct_upload_bytes:
            raise FileTooLarge(
                f"Direct uploads are limited to {settings.max_direct_upload_bytes} bytes; "
                "use POST /v1/uploads for larger files.",
                details={"limit": settings.max_direct_upload_bytes},
            )
        if not data:
            raise FileEmpty()
        content_type = filetypes.sniff(data[: filetypes.SNIFF_BYTES])
        if content_type is None:
            raise UnsupportedFileType()
        file_id = ids.new_id("file")
        key = file_key(principal.tenant_id, file_id)
        self.store.put_bytes(key, data, content_type)
        file = self._verify_stored_object(principal.tenant_id, file_id, key, clean_filename(filename), len(data))
        self.files.put_file(file)
        return file

    def _verify_stored_object(self, tenant_id: str, file_id: str, key: str, filename: str, size: int) -> FileRecord:
        """Checks what really arrived (bytes, not names or declared types); deletes it if unusable."""
        if size == 0:
            self.store.delete(key)
            raise FileEmpty()
        content_type = filetypes.sniff(self.store.read_head(key, filetypes.SNIFF_BYTES))
        if content_type is None:
            self.store.delete(key)
            raise UnsupportedFileType(
                "The file's bytes are not PDF, PNG, JPEG, TIFF, BMP or HTML, whatever its name says."
            )
        page_count, encrypted, digest = None, False, ""
        with tempfile.TemporaryDirectory(prefix="pdfjobs-") as workdir:
            local = Path(workdir) / "input"
            digest = self.store.download(key, local)
            if content_type == filetypes.PDF:
                page_count, encrypted = _inspect_pdf_safely(local)
            elif content_type in filetypes.IMAGE_TYPES:
                try:
                    page_count = _inspect_image_safely(local)
                except PdfJobsError:
                    self.store.delete(key)  # an image nothing can read or that is too large is not kept
                    raise
        now = clock.now()
        return FileRecord(
            id=file_id,
            tenant_id=tenant_id,
            filename=filename,
            content_type=content_type,
            size_bytes=size,
            sha256=digest,
            page_count=page_count,
            encrypted=encrypted,
            object_key=key,
            created_at=now,
            expires_at=now + timedelta(hours=get_settings().retention_hours),
        )

    def get(self, principal: Principal, file_id: str) -> FileRecord:
        require(principal, Scope.FILES_READ)
        file = self.files.get_file(principal.tenant_id, file_id) if ids.has_prefix(file_id, "file") else None
        if file is None:
            raise NotFound("No file with this id.")
        return file

    def content_url(self, principal: Principal, file_id: str) -> str:
        file = self.get(principal, file_id)
        return self.store.presigned_download(file.object_key, get_settings().download_url_ttl_seconds, file.filename)

    def delete(self, principal: Principal, file_id: str) -> None:
        require(principal, Scope.FILES_WRITE)
        file = self.get(principal, file_id)
        self.store.delete(file.object_key)
        self.files.mark_deleted(principal.tenant_id, file.id)


def _inspect_pdf_safely(path: Path) -> tuple[int | None, bool]:
    """Page count and encryption, in an isolated worker; an unreadable PDF is kept, and its job fails."""
    from pdfjobs.isolation import run_isolated
    from pdfjobs.pdf.document import inspect_pdf

    settings = get_settings()
    try:
        info = run_isolated(
            inspect_pdf, str(path), timeout=_INSPECT_TIMEOUT_SECONDS, memory_mb=settings.engine_memory_mb
        )
    except PdfJobsError:
        return None, False
    return info.page_count, info.encrypted


def _inspect_image_safely(path: Path) -> int:
    """Frames (pages) of an image upload, from its headers in an isolated worker; refuses what
    cannot be read (image.invalid) or declares more pixels than the limit (image.too_many_pixels)."""
    from pdfjobs.images import inspect_image
    from pdfjobs.isolation import run_isolated

    settings = get_settings()
    info = run_isolated(
        inspect_image,
        str(path),
        settings.max_image_pixels,
        settings.max_pages,
        timeout=_INSPECT_TIMEOUT_SECONDS,
        memory_mb=settings.engine_memory_mb,
    )
    return info.frames
