"""What each engine can do on this deployment: GET /v1/engines (seed 004's engine listing)."""

from __future__ import annotations

import ctypes.util
import importlib.util
from functools import lru_cache
from typing import Any

from pdfjobs import filetypes
from pdfjobs.records import Principal, Scope
from pdfjobs.services.auth import require
from pdfjobs.settings import get_settings

_OCR_JOB_TYPES = ["ocr_pdf", "searchable_pdf"]
_OCR_INPUTS = [filetypes.PDF, *filetypes.IMAGE_TYPES]


def list_engines(principal: Principal) -> list[dict[str, Any]]:
    require(principal, Scope.JOBS_READ)
    from pdfjobs.engines import bedrock

    return [_tesseract(), _textract(), _pdfium_text(), _weasyprint(), _structured(), bedrock.status()]


def _limits() -> dict[str, Any]:
    config = get_settings()
    return {
        "maxUploadBytes": config.max_upload_bytes,
        "maxPages": config.max_pages,
        "maxPagePixels": config.ocr_max_page_pixels,
        "maxImagePixels": config.max_image_pixels,
        "pageTimeoutSeconds": config.ocr_page_timeout_seconds,
        "dpi": {"min": 72, "max": 1200, "default": "from the page images (150-600), else 300"},
    }


def _tesseract() -> dict[str, Any]:
    from pdfjobs.engines import tesseract

    status = tesseract.status()
    return {
        "id": "tesseract",
        "kind": "ocr",
        "available": status.available,
        "reason": status.reason,
        "version": status.version,
        "languages": list(status.languages),
        "inputFormats": _OCR_INPUTS,
        "outputFormats": ["json", "txt", "hocr", "pdf"],
        "jobTypes": _OCR_JOB_TYPES,
        "features": ["mode", "languages", "deskew", "rotatePages", "dpi"],
        "limits": _limits(),
    }


def _textract() -> dict[str, Any]:
    from pdfjobs.engines import textract
    from pdfjobs.jobtypes.ocr import TEXTRACT_LANGUAGES

    available, reason = textract.available()
    return {
        "id": "textract",
        "kind": "ocr",
        "available": available,
        "reason": reason,
        "version": None,
        "languages": list(TEXTRACT_LANGUAGES),
        "inputFormats": _OCR_INPUTS,
        "outputFormats": ["json", "txt", "hocr", "pdf"],
        "jobTypes": _OCR_JOB_TYPES,
        "features": ["mode", "dpi"],
        "limits": _limits(),
    }


def _pdfium_text() -> dict[str, Any]:
    return {
        "id": "pdfium",
        "kind": "text",
        "available": True,
        "reason": None,
        "version": _package_version("pypdfium2"),
        "languages": [],
        "inputFormats": [filetypes.PDF],
        "outputFormats": ["json", "txt", "md"],
        "jobTypes": ["extract_text"],
        "features": ["pages", "includeLayout", "includePageCitations"],
        "limits": {"maxUploadBytes": get_settings().max_upload_bytes, "maxPages": get_settings().max_pages},
    }


def _structured() -> dict[str, Any]:
    return {
        "id": "local",
        "kind": "extraction",
        "available": True,
        "reason": None,
        "version": _package_version("pdfplumber"),
        "languages": [],
        "inputFormats": _OCR_INPUTS,
        "outputFormats": ["json", "csv", "md", "zip"],
        "jobTypes": ["extract_table", "extract_form", "extract_invoice", "extract_document"],
        "features": ["templateName", "filterName", "confidenceThreshold", "documentReview", "returnText"],
        "limits": {"maxPages": get_settings().max_pages},
    }


def _weasyprint() -> dict[str, Any]:
    available, reason = _weasyprint_status()
    config = get_settings()
    return {
        "id": "weasyprint",
        "kind": "html",
        "available": available,
        "reason": reason,
        "version": _package_version("weasyprint"),
        "languages": [],
        "inputFormats": [filetypes.HTML, "settings.html", "settings.url"],
        "outputFormats": ["pdf"],
        "jobTypes": ["html_to_pdf"],
        "features": ["pageSize", "orientation", "margins", "printBackground", "header", "footer", "strictResources"],
        "limits": {
            "maxHtmlBytes": config.html_max_bytes,
            "maxResourceBytes": config.html_resource_max_bytes,
            "maxResourcesTotalBytes": config.html_resources_total_bytes,
            "maxResources": config.html_resource_max_count,
            "resourceTimeoutSeconds": config.html_resource_timeout_seconds,
            "renderTimeoutSeconds": config.html_render_timeout_seconds,
        },
    }


@lru_cache(maxsize=1)
def _weasyprint_status() -> tuple[bool, str | None]:
    # Importing WeasyPrint takes half a second; finding it and Pango is enough to know.
    if importlib.util.find_spec("weasyprint") is None:
        return False, "WeasyPrint is not installed."
    if ctypes.util.find_library("pango-1.0") is None:
        return False, "Pango is not installed (Debian: libpango-1.0-0 libpangoft2-1.0-0)."
    return True, None


def _package_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None
