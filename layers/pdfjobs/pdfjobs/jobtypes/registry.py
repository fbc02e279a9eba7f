"""Every job type the API accepts, by name."""

from __future__ import annotations

from functools import lru_cache

from pdfjobs.jobtypes.base import JobType


@lru_cache(maxsize=1)
def job_types() -> dict[str, JobType]:
    from pdfjobs.jobtypes.extract_text import ExtractText
    from pdfjobs.jobtypes.forms import ExtractForm
    from pdfjobs.jobtypes.html_to_pdf import HtmlToPdf
    from pdfjobs.jobtypes.invoices import ExtractDocument, ExtractInvoice
    from pdfjobs.jobtypes.ocr import OcrPdf, SearchablePdf
    from pdfjobs.jobtypes.redaction import RedactPdf
    from pdfjobs.jobtypes.tables import ExtractTable

    return {
        job_type.name: job_type
        for job_type in (
            ExtractText(),
            OcrPdf(),
            SearchablePdf(),
            HtmlToPdf(),
            ExtractTable(),
            ExtractForm(),
            ExtractInvoice(),
            ExtractDocument(),
            RedactPdf(),
        )
    }


def job_type_names() -> list[str]:
    return sorted(job_types())


def get_job_type(name: str) -> JobType | None:
    return job_types().get(name)
