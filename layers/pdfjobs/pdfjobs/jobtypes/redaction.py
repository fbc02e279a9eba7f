"""redact_pdf: PII and chosen terms removed from the file, not covered (seed 002).

Page batches read every page (its text, or OCR for scans) and find what to redact; Assemble
rebuilds each page that has a match as an image with the matches painted out plus an invisible
text layer of its other words, cleans metadata, annotations, form fields, bookmarks and embedded
files, writes a fresh file, and checks it with independent extractors: a document in which any
target survives fails with `redaction.verification_failed` and is not released.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from pdfjobs import errors, filetypes
from pdfjobs.jobtypes.base import InputDocument, InputFiles, JobSettings, JobType, OutputFile
from pdfjobs.jobtypes.page_reading import ReadingSettings, check_languages, read_pages
from pdfjobs.records import QualityCheck
from pdfjobs.settings import get_settings

if TYPE_CHECKING:
    from pdfjobs.records import FileRecord

_PAGES_PER_BATCH = 8


class RedactSettings(ReadingSettings):
    pii_categories: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Email, PhoneNumber, SSN, CreditCard (Luhn-checked), IBAN (checksum-checked), IPAddress, URL, "
        "Date; Person and Address with engine comprehend.",
    )
    terms: list[str] = Field(
        default_factory=list, max_length=200, description="Exact strings (case-insensitive, across line breaks)."
    )
    patterns: list[str] = Field(
        default_factory=list, max_length=20, description="Regular expressions (validated; matching is bounded)."
    )
    engine: Literal["local", "comprehend"] = Field(
        default="local", description="`comprehend` (AWS only) adds Person and Address through DetectPiiEntities."
    )
    include_matches: bool = Field(
        default=False, description="List the matched strings in the result (by default only counts and places)."
    )
    dpi: int = Field(default=200, ge=72, le=600, description="Resolution of pages rebuilt as images.")


class RedactPdf(JobType):
    name: ClassVar[str] = "redact_pdf"
    description: ClassVar[str] = (
        "PII and chosen terms removed from the file (not covered), checked with independent extractors."
    )
    settings_model: ClassVar[type[JobSettings]] = RedactSettings
    accepted_content_types: ClassVar[tuple[str, ...]] = (filetypes.PDF,)
    checks_result: ClassVar[bool] = True

    def check_submission(self, settings: JobSettings, inputs: Sequence[FileRecord]) -> None:
        from pdfjobs.pii.detectors import validate_request

        super().check_submission(settings, inputs)
        assert isinstance(settings, RedactSettings)
        if not (settings.pii_categories or settings.terms or settings.patterns):
            raise errors.ValidationFailed(
                "Nothing to redact: give settings.piiCategories, settings.terms or settings.patterns.",
                details={"field": "settings.piiCategories"},
            )
        validate_request(settings.pii_categories, settings.terms, settings.patterns, settings.engine)
        if settings.engine == "comprehend":
            from pdfjobs.pii.comprehend import available as comprehend_available

            available, reason = comprehend_available()
            if not available:
                raise errors.EngineUnavailable(
                    f"The comprehend engine is not available here: {reason}", details={"field": "settings.engine"}
                )
        check_languages(settings)

    def batch_size(self, settings: JobSettings, pages: int) -> int:
        return _PAGES_PER_BATCH

    def process_batch(self, source: InputDocument, pages: list[int], settings: JobSettings) -> Any:
        from pdfjobs.pii.detectors import find_matches

        assert isinstance(settings, RedactSettings)
        read = read_pages(source, pages, settings)
        local = [c for c in settings.pii_categories if c not in ("Person", "Address")]
        matches = find_matches(read, categories=local, terms=settings.terms, patterns=settings.patterns)
        if settings.engine == "comprehend":
            from pdfjobs.pii.comprehend import find_entities

            wanted = [c for c in settings.pii_categories if c in ("Person", "Address")]
            if wanted:
                matches += find_entities(read, wanted)
        by_page: dict[int, list[dict[str, Any]]] = {}
        for match in _without_shadows(matches):
            by_page.setdefault(match["page"], []).append(match)
        return [{**page, "matches": by_page.get(page["page"], [])} for page in read]

    def assemble(self, documents: list[dict[str, Any]], settings: JobSettings, inputs: InputFiles) -> list[OutputFile]:
        assert isinstance(settings, RedactSettings)
        outputs, summaries = [], []
        for document in documents:
            pdf, summary = self._redact(document, settings, inputs)
            stem = Path(document.get("filename") or "document").stem or "document"
            name = "result.pdf" if len(documents) == 1 else f"{document['index'] + 1}-{stem}-redacted.pdf"
            outputs.append(OutputFile(name, filetypes.PDF, pdf))
            summaries.append({**summary, "output": name})
        result = {"documents": summaries}
        outputs.append(OutputFile("result.json", "application/json", json.dumps(result, ensure_ascii=False).encode()))
        return outputs

    def _redact(
        self, document: dict[str, Any], settings: RedactSettings, inputs: InputFiles
    ) -> tuple[bytes, dict[str, Any]]:
        from pdfjobs.isolation import run_isolated
        from pdfjobs.pdf.redaction import redact_pdf, surviving_targets

        config = get_settings()
        pages: list[dict[str, Any]] = []
        targets: set[str] = set()
        counts: dict[str, int] = {}
        for page in document["pages"]:
            if not page["matches"]:
                continue
            covered = {(w[0], w[1]) for match in page["matches"] for w in match["words"]}
            lines = []
            for line_index, line in enumerate(page["lines"]):
                words = [w for i, w in enumerate(line["words"]) if (line_index, i) not in covered]
                if words:
                    lines.append({**line, "text": " ".join(w["text"] for w in words), "words": words})
            pages.append(
                {
                    "page": page["page"],
                    "width": page["width"],
                    "height": page["height"],
                    "boxes": [box for match in page["matches"] for box in match["boxes"]],
                    "lines": lines,
                }
            )
            for match in page["matches"]:
                targets.add(match["text"])
                counts[match["category"]] = counts.get(match["category"], 0) + 1
        with inputs.open(document["index"]) as source, tempfile.TemporaryDirectory() as workdir:
            destination = str(Path(workdir) / "redacted.pdf")
            report = run_isolated(
                redact_pdf,
                str(source.path),
                destination,
                pages,
                sorted(targets),
                password=settings.password,
                dpi=settings.dpi,
                max_pixels=config.ocr_max_page_pixels,
                timeout=config.engine_timeout_seconds,
                memory_mb=config.engine_memory_mb,
            )
            survivors = run_isolated(
                surviving_targets,
                destination,
                sorted(targets),
                timeout=config.engine_timeout_seconds,
                memory_mb=config.engine_memory_mb,
            )
            if survivors:
                raise errors.RedactionVerificationFailed(
                    f"{len(survivors)} redacted string(s) could still be found in "
                    f"{document.get('filename') or 'the document'}; it was not released."
                )
            pdf = Path(destination).read_bytes()
        summary: dict[str, Any] = {
            "index": document["index"],
            "fileId": document.get("fileId"),
            "filename": document.get("filename"),
            "pageCount": document.get("pageCount"),
            "matchCount": sum(counts.values()),
            "matchesByCategory": counts,
            "pagesRedacted": [page["page"] for page in pages],
            "verification": {"extractors": ["pdfium", "poppler", "pypdf", "decompressed bytes"], "survivors": 0},
            "cleaned": report,
            "matches": [
                {"page": page["page"], "category": match["category"], "boxes": match["boxes"]}
                | ({"text": match["text"]} if settings.include_matches else {})
                for page in document["pages"]
                for match in page["matches"]
            ],
        }
        return pdf, summary

    def quality_checks(self, result: dict[str, Any]) -> list[QualityCheck]:
        verified = [document.get("verification", {}).get("survivors") == 0 for document in result["documents"]]
        return [
            QualityCheck(
                name="redaction_verified",
                passed=all(verified),
                detail="no redacted string found by pdfium, poppler, pypdf or in the decompressed file",
            )
        ]


# A phone-like or date-like run inside a checksum-validated number is that number, not a second find.
_VALIDATED = ("CreditCard", "IBAN", "SSN", "IPAddress")
_LOOSE = ("PhoneNumber", "Date")


def _without_shadows(matches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def words(match: dict[str, Any]) -> set[tuple[int, int]]:
        return {(word[0], word[1]) for word in match["words"]}

    validated = [(match["page"], words(match)) for match in matches if match["category"] in _VALIDATED]
    return [
        match
        for match in matches
        if match["category"] not in _LOOSE
        or not any(page == match["page"] and words(match) <= covered for page, covered in validated)
    ]
