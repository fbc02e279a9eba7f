"""Lines and words of pages for the extraction job types: a page's own text where it has one,
OCR where it has none (the same page reading ocr_pdf does, in `skip` mode)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from pdfjobs.jobtypes.base import InputDocument, PdfInputSettings
from pdfjobs.jobtypes.ocr import LanguageCode
from pdfjobs.settings import get_settings


class ReadingSettings(PdfInputSettings):
    languages: list[LanguageCode] = Field(
        default_factory=lambda: ["eng"],
        min_length=1,
        max_length=5,
        description="OCR languages for pages without a text layer (scans), used together.",
    )


class AnalysisSettings(ReadingSettings):
    engine: Literal["local", "textract"] = Field(
        default="local",
        description="`local`: the page's own geometry (OCR for scans); `textract` (AWS only): AnalyzeDocument.",
    )


def read_pages(source: InputDocument, pages: list[int], settings: ReadingSettings) -> list[dict[str, Any]]:
    """One OCR-shaped page dict per page (`pdfjobs.ocr`): `source` is `text` or `ocr`."""
    from pdfjobs.isolation import run_isolated
    from pdfjobs.ocr.pages import OcrOptions, recognize_page

    config = get_settings()
    options = OcrOptions(
        languages=tuple(settings.languages),
        mode="skip",
        default_dpi=config.ocr_default_dpi,
        max_page_pixels=config.ocr_max_page_pixels,
        timeout=config.ocr_page_timeout_seconds,
        password=settings.password,
    )
    return [
        run_isolated(
            recognize_page,
            str(source.path),
            number,
            options,
            timeout=options.timeout + 30,
            memory_mb=config.engine_memory_mb,
        )
        for number in pages
    ]


def check_languages(settings: ReadingSettings) -> None:
    """Refuses uninstalled OCR languages at submit (400 listing the installed ones)."""
    from pdfjobs.engines import tesseract

    if tesseract.status().available:
        tesseract.check_languages(settings.languages)
