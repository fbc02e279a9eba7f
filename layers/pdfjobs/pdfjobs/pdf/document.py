"""Opening PDFs with pdfium, turning its failures into the domain errors a client can act on.

pdfium is not thread-safe (not even across different documents), so every use of it goes
through `pdfium_lock`; in an isolated engine worker the lock is never contended.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from pdfjobs import errors

# Reentrant so that inspect_pdf/count_pages can be called by code already holding it.
pdfium_lock = threading.RLock()

_LOAD_ERRORS = {
    pdfium_c.FPDF_ERR_UNKNOWN: "pdfium could not load it",
    pdfium_c.FPDF_ERR_FILE: "the file could not be read",
    pdfium_c.FPDF_ERR_FORMAT: "it is not a PDF or it is damaged",
    pdfium_c.FPDF_ERR_SECURITY: "it is encrypted with an unsupported security handler",
    pdfium_c.FPDF_ERR_PAGE: "its page tree is damaged",
}


@dataclass(frozen=True)
class PdfInfo:
    page_count: int | None
    encrypted: bool
    needs_password: bool


class _PasswordRejected(Exception):
    """pdfium refused the password (or the missing password); internal to this module."""


def _load(path: str, password: str | None) -> pdfium.PdfDocument:
    """Load with pdfium's raw API, which reports why loading failed. Caller holds pdfium_lock."""
    if not os.path.isfile(path):
        # A missing local file is the caller's bug, not a property of the client's PDF.
        raise FileNotFoundError(path)
    encoded_password = None if password is None else password.encode("utf-8")
    raw = pdfium_c.FPDF_LoadDocument(os.fsencode(path), encoded_password)
    if not raw:
        code = pdfium_c.FPDF_GetLastError()
        if code == pdfium_c.FPDF_ERR_PASSWORD:
            raise _PasswordRejected
        reason = _LOAD_ERRORS.get(code, "pdfium could not load it")
        raise errors.PdfInvalid(f"The document could not be read as a PDF: {reason}.")
    if pdfium_c.FPDF_GetPageCount(raw) < 1:
        pdfium_c.FPDF_CloseDocument(raw)
        raise errors.PdfInvalid("The document could not be read as a PDF: it has no pages.")
    return pdfium.PdfDocument(raw)


def _open(path: str, password: str | None) -> pdfium.PdfDocument:
    password = password or None  # an empty password is the same as none
    try:
        return _load(path, password)
    except _PasswordRejected:
        if password is None:
            raise errors.PdfPasswordRequired() from None
    # A wrong password on a file that needs none (owner-password only) is harmless: open it anyway.
    try:
        return _load(path, None)
    except _PasswordRejected:
        raise errors.PdfPasswordIncorrect() from None


@contextmanager
def open_pdf(path: str | os.PathLike[str], password: str | None = None) -> Iterator[pdfium.PdfDocument]:
    """Yield an open pypdfium2 document (holding pdfium_lock) and always close it.

    Raises PdfPasswordRequired, PdfPasswordIncorrect or PdfInvalid.
    """
    with pdfium_lock:
        document = _open(os.fspath(path), password)
        try:
            yield document
        finally:
            document.close()


def count_pages(path: str | os.PathLike[str], password: str | None = None) -> int:
    with open_pdf(path, password) as document:
        return len(document)


def inspect_pdf(path: str | os.PathLike[str], password: str | None = None) -> PdfInfo:
    """Page count and encryption of an uploaded file; a missing or wrong password is not an error here."""
    path = os.fspath(path)
    with pdfium_lock:
        try:
            document = _open(path, password)
        except (errors.PdfPasswordRequired, errors.PdfPasswordIncorrect):
            return PdfInfo(page_count=None, encrypted=True, needs_password=True)
        try:
            # -1 when the document has no security handler, else the handler's revision (2..6).
            encrypted = pdfium_c.FPDF_GetSecurityHandlerRevision(document) != -1
            return PdfInfo(page_count=len(document), encrypted=encrypted, needs_password=False)
        finally:
            document.close()
