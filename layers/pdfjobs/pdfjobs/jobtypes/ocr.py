"""searchable_pdf and ocr_pdf: scanned pages to words, and words back onto the pages.

Both run the same page OCR (`pdfjobs.ocr.pages`) in the page batches; they differ in what
Assemble makes of the words: searchable_pdf the input with an invisible text layer, ocr_pdf
the words as JSON, plain text, hOCR, or that same searchable PDF (`outputFormat`).
"""

from __future__ import annotations

import base64
import json
import math
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field, StringConstraints

from pdfjobs import errors, filetypes
from pdfjobs.jobtypes.base import InputDocument, InputFiles, JobSettings, JobType, OutputFile, PdfInputSettings
from pdfjobs.settings import get_settings

if TYPE_CHECKING:
    from pdfjobs.ocr.pages import OcrOptions
    from pdfjobs.records import FileRecord

LanguageCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]{2,40}$")]
# Amazon Textract's text detection reads these languages (and detects which one by itself).
TEXTRACT_LANGUAGES = ("eng", "fra", "deu", "ita", "por", "spa")
OCR_INPUT_TYPES = (filetypes.PDF, *filetypes.IMAGE_TYPES)
# OCR pages take seconds each, so batches stay small and many run at once; a document of up to
# 64 pages gets one batch per page, larger ones up to 8 pages per batch (2000 pages: 250 batches).
_PAGES_PER_BATCH_STEP = 64
_MAX_PAGES_PER_BATCH = 8


class OcrSettings(PdfInputSettings):
    engine: Literal["tesseract", "textract"] = Field(
        default="tesseract", description="OCR engine; GET /v1/engines says which are available here."
    )
    languages: list[LanguageCode] = Field(
        default_factory=lambda: ["eng"],
        min_length=1,
        max_length=5,
        description="Tesseract language codes, all used together (e.g. eng+fra). GET /v1/engines lists them.",
        examples=[["eng", "fra"]],
    )
    mode: Literal["skip", "redo", "force"] = Field(
        default="skip",
        description="Pages that already have text: `skip` them, `redo` (replace an earlier OCR layer, "
        "skip pages with visible text), or `force` (OCR every page; an earlier OCR layer is replaced).",
    )
    deskew: bool = Field(default=False, description="Measure each page's skew and read it straightened.")
    rotate_pages: bool = Field(
        default=False, description="Detect pages scanned sideways or upside down and turn them upright."
    )
    dpi: int | None = Field(
        default=None,
        ge=72,
        le=1200,
        description="Resolution to read pages at, and of image inputs that state none. "
        "Default: each page's own image resolution (150-600), else 300.",
    )


class OcrPdfSettings(OcrSettings):
    output_format: Literal["pdf", "txt", "json", "hocr"] = Field(
        default="json",
        description="The main output beside result.json: a searchable PDF, plain text, or hOCR.",
    )


# Page fields the pipeline keeps for itself: never shown in a result.
_INTERNAL_PAGE_FIELDS = ("replacesText", "textLayerPdf")


def ocr_options(settings: OcrSettings) -> OcrOptions:
    from pdfjobs.ocr.pages import OcrOptions

    config = get_settings()
    return OcrOptions(
        languages=tuple(settings.languages),
        mode=settings.mode,
        deskew=settings.deskew,
        rotate_pages=settings.rotate_pages,
        dpi=settings.dpi,
        default_dpi=config.ocr_default_dpi,
        max_page_pixels=config.ocr_max_page_pixels,
        timeout=config.ocr_page_timeout_seconds,
        password=settings.password,
        text_layer=not isinstance(settings, OcrPdfSettings) or settings.output_format == "pdf",
    )


class _OcrJobType(JobType):
    accepted_content_types: ClassVar[tuple[str, ...]] = OCR_INPUT_TYPES

    def check_submission(self, settings: JobSettings, inputs: Sequence[FileRecord]) -> None:
        super().check_submission(settings, inputs)
        assert isinstance(settings, OcrSettings)
        if settings.engine == "textract":
            from pdfjobs.engines import textract

            available, reason = textract.available()
            if not available:
                raise errors.EngineUnavailable(
                    f"The textract engine is not available here: {reason}", details={"field": "settings.engine"}
                )
            unsupported = [code for code in settings.languages if code not in TEXTRACT_LANGUAGES]
            if unsupported:
                raise errors.LanguageUnavailable(
                    f"Textract does not read {', '.join(unsupported)}; it reads {', '.join(TEXTRACT_LANGUAGES)}.",
                    details={"field": "settings.languages", "installed": list(TEXTRACT_LANGUAGES)},
                )
            return
        from pdfjobs.engines import tesseract

        status = tesseract.status()
        if not status.available:
            raise errors.EngineUnavailable(
                f"The tesseract engine is not available here: {status.reason}", details={"field": "settings.engine"}
            )
        tesseract.check_languages(settings.languages)

    def batch_size(self, settings: JobSettings, pages: int) -> int:
        assert isinstance(settings, OcrSettings)
        if settings.engine == "textract" and not settings.password:
            return pages  # one asynchronous Textract job reads the whole document
        return min(_MAX_PAGES_PER_BATCH, max(1, math.ceil(pages / _PAGES_PER_BATCH_STEP)))

    def process_batch(self, source: InputDocument, pages: list[int], settings: JobSettings) -> Any:
        assert isinstance(settings, OcrSettings)
        options = ocr_options(settings)
        if settings.engine == "textract":
            from pdfjobs.ocr.textract_pages import recognize_with_textract

            return recognize_with_textract(source, pages, options)
        from pdfjobs.isolation import run_isolated
        from pdfjobs.ocr.pages import recognize_page

        config = get_settings()
        # The worker's own timeout sits above Tesseract's, so a stuck page is Tesseract's timeout first.
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

    # -- outputs -------------------------------------------------------------------------------
    @staticmethod
    def searchable_pdfs(documents: list[dict[str, Any]], settings: OcrSettings, inputs: InputFiles) -> list[OutputFile]:
        """Each input with an invisible text layer over the words OCR found; nothing else changes."""
        from pdfjobs.isolation import run_isolated
        from pdfjobs.pdf.text_layer import PageOverlay, PageText, add_text_layer

        config = get_settings()
        outputs = []
        for document in documents:
            ocr_pages = [page for page in document["pages"] if page.get("source") == "ocr"]
            layers: list[PageText | PageOverlay] = []
            for page in ocr_pages:
                rotation = page["rotation"] if page.get("orientationCorrection") else None
                if page.get("textLayerPdf"):
                    # Tesseract drew this page's layer itself (as OCRmyPDF uses it).
                    layers.append(
                        PageOverlay(
                            index=page["page"] - 1,
                            pdf=base64.b64decode(page["textLayerPdf"]),
                            rotation=rotation,
                            skew_degrees=page.get("skewDegrees", 0.0),
                        )
                    )
                else:
                    layers.append(
                        PageText(
                            index=page["page"] - 1,
                            lines=page["lines"],
                            width=page["width"],
                            height=page["height"],
                            rotation=rotation,
                            skew_degrees=page.get("skewDegrees", 0.0),
                        )
                    )
            replaced = [page["page"] - 1 for page in ocr_pages if page.get("replacesText")]
            name = "result.pdf" if len(documents) == 1 else f"result-{document['index'] + 1}.pdf"
            with inputs.open(document["index"]) as source, tempfile.TemporaryDirectory() as workdir:
                destination = Path(workdir) / name
                run_isolated(
                    add_text_layer,
                    str(source.path),
                    str(destination),
                    layers,
                    password=settings.password if source.content_type == filetypes.PDF else None,
                    remove_invisible_text=replaced,
                    # A searchable PDF should not be bigger than it must: lossless recompression,
                    # bounded to a part of the engine's time limit.
                    recompress_budget_seconds=config.engine_timeout_seconds / 4,
                    timeout=config.engine_timeout_seconds,
                    memory_mb=config.engine_memory_mb,
                )
                outputs.append(OutputFile(name, filetypes.PDF, destination.read_bytes()))
        return outputs


def _page_summary(page: dict[str, Any]) -> dict[str, Any]:
    """A page of the result without its words (searchable_pdf's JSON stays small)."""
    summary = {key: value for key, value in page.items() if key not in ("lines", "text", *_INTERNAL_PAGE_FIELDS)}
    confidences = [line["confidence"] for line in page.get("lines", [])]
    summary["words"] = sum(len(line["words"]) for line in page.get("lines", []))
    summary["meanConfidence"] = round(sum(confidences) / len(confidences), 2) if confidences else None
    return summary


def _result_json(documents: list[dict[str, Any]], shape: Callable[[dict[str, Any]], dict[str, Any]]) -> OutputFile:
    """result.json: documents -> pages, each page shaped by `shape`."""
    result = {
        "documents": [
            {
                "index": document["index"],
                "fileId": document.get("fileId"),
                "filename": document.get("filename"),
                "pageCount": document.get("pageCount"),
                "pages": [shape(page) for page in document["pages"]],
            }
            for document in documents
        ]
    }
    return OutputFile("result.json", "application/json", json.dumps(result, ensure_ascii=False).encode())


def _public_page(page: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in page.items() if key not in _INTERNAL_PAGE_FIELDS}


class SearchablePdf(_OcrJobType):
    name: ClassVar[str] = "searchable_pdf"
    description: ClassVar[str] = (
        "The input, unchanged to the eye, with an invisible OCR text layer: selectable, copyable, searchable."
    )
    settings_model: ClassVar[type[JobSettings]] = OcrSettings

    def assemble(self, documents: list[dict[str, Any]], settings: JobSettings, inputs: InputFiles) -> list[OutputFile]:
        assert isinstance(settings, OcrSettings)
        return [*self.searchable_pdfs(documents, settings, inputs), _result_json(documents, _page_summary)]


class OcrPdf(_OcrJobType):
    name: ClassVar[str] = "ocr_pdf"
    description: ClassVar[str] = (
        "OCR text of scanned or mixed documents and images: pages, lines and words with boxes and confidences."
    )
    settings_model: ClassVar[type[JobSettings]] = OcrPdfSettings

    def assemble(self, documents: list[dict[str, Any]], settings: JobSettings, inputs: InputFiles) -> list[OutputFile]:
        from pdfjobs.engines.text import to_plain_text
        from pdfjobs.ocr.hocr import to_hocr

        assert isinstance(settings, OcrPdfSettings)
        outputs = [_result_json(documents, _public_page)]
        all_pages = [page for document in documents for page in document["pages"]]
        if settings.output_format == "txt":
            outputs.append(OutputFile("result.txt", "text/plain; charset=utf-8", to_plain_text(all_pages).encode()))
        elif settings.output_format == "hocr":
            hocr = to_hocr(all_pages, languages=settings.languages)
            outputs.append(OutputFile("result.hocr", "text/vnd.hocr+html; charset=utf-8", hocr.encode()))
        elif settings.output_format == "pdf":
            outputs.extend(self.searchable_pdfs(documents, settings, inputs))
        return outputs
