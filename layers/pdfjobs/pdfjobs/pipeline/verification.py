"""Output proofs: before a job may succeed, each output's type, size and bytes are checked,
and it must open with a real parser (seed 000's requiredOutputProofs)."""

from __future__ import annotations

import json
from collections.abc import Callable

from pdfjobs import filetypes
from pdfjobs.records import OutputRecord, QualityCheck
from pdfjobs.storage import ObjectStore


def _opens_as_json(data: bytes) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return False
    return True


def _opens_as_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _opens_as_xml(data: bytes) -> bool:
    from xml.etree import ElementTree

    try:
        ElementTree.fromstring(data)  # noqa: S314 - our own output, read back to prove it parses
    except ElementTree.ParseError:
        return False
    return True


def _opens_as_zip(data: bytes) -> bool:
    import io
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return archive.testzip() is None  # every member's CRC checks
    except zipfile.BadZipFile:
        return False


def _opens_as_pdf(data: bytes) -> bool:
    import pypdfium2

    from pdfjobs.pdf.document import pdfium_lock

    # pdfium is not thread-safe, and locally every function shares one process.
    with pdfium_lock:
        try:
            pypdfium2.PdfDocument(data).close()
        except pypdfium2.PdfiumError:
            return False
    return True


def _json_magic(data: bytes) -> bool:
    return data.lstrip()[:1] in (b"{", b"[")


# content type (without parameters) -> (magic-bytes check, "it opens" check)
_CHECKS: dict[str, tuple[Callable[[bytes], bool], Callable[[bytes], bool]]] = {
    "application/json": (_json_magic, _opens_as_json),
    "text/plain": (_opens_as_utf8, _opens_as_utf8),
    "text/markdown": (_opens_as_utf8, _opens_as_utf8),
    "text/csv": (_opens_as_utf8, _opens_as_utf8),
    "text/vnd.hocr+html": (_opens_as_utf8, _opens_as_xml),
    "application/zip": (lambda data: data.startswith(b"PK\x03\x04"), _opens_as_zip),
    filetypes.PDF: (
        lambda data: filetypes.sniff(data[: filetypes.SNIFF_BYTES]) == filetypes.PDF,
        _opens_as_pdf,
    ),
}


def verify_output(output: OutputRecord, store: ObjectStore) -> list[QualityCheck]:
    """Reads the stored object back and checks it; returns one QualityCheck per proof."""
    name = output.name
    base_type = output.content_type.split(";")[0].strip()
    checks = _CHECKS.get(base_type)
    head = store.head(output.key)
    stored_type = (head.content_type or "").split(";")[0].strip() if head else ""
    results = [
        QualityCheck(name=f"{name}:contentType", passed=checks is not None and stored_type == base_type),
        QualityCheck(
            name=f"{name}:sizeBytes",
            passed=head is not None and head.size == output.size_bytes,
            detail=None if head is None else f"{head.size} bytes",
        ),
    ]
    data = store.read_bytes(output.key) if head is not None and checks is not None else b""
    # An empty text output is legitimate (a page with no text); JSON and PDF magic checks need bytes.
    magic_ok = head is not None and checks is not None and checks[0](data)
    opens_ok = magic_ok and checks is not None and checks[1](data)
    results.append(QualityCheck(name=f"{name}:magicBytes", passed=magic_ok))
    results.append(QualityCheck(name=f"{name}:opens", passed=opens_ok))
    return results
