"""What job-type tests hand to a job type in place of the pipeline: an input file record, and the
InputFiles an Assemble step opens its documents through (here: one local copy)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from pdfjobs import filetypes
from pdfjobs.jobtypes.base import InputDocument
from pdfjobs.records import FileRecord


def file_record(object_key: str = "tenants/t/files/file_1") -> FileRecord:
    """A stored PDF input as submit sees it (for check_submission)."""
    now = datetime.now(UTC)
    return FileRecord(
        id="file_1",
        tenant_id="t",
        filename="in.pdf",
        content_type=filetypes.PDF,
        size_bytes=10,
        sha256="0" * 64,
        page_count=1,
        encrypted=False,
        object_key=object_key,
        created_at=now,
        expires_at=now,
    )


class OneInput:
    """InputFiles that open the same local document for any index."""

    def __init__(self, source: InputDocument) -> None:
        self.source = source

    @contextmanager
    def _opened(self) -> Iterator[InputDocument]:
        yield self.source

    def open(self, index: int) -> Any:
        return self._opened()
