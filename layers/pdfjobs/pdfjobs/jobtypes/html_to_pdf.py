"""html_to_pdf: an uploaded HTML file, inline `settings.html`, or a page at `settings.url`, printed
to PDF by WeasyPrint. Every resource the page references goes through the outbound guard; what
was refused is listed in result.json (or fails the job with `strictResources`).

HTML is not paged until it is rendered, so Prepare plans no page batches and Assemble renders.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, model_validator

from pdfjobs import errors, filetypes
from pdfjobs.jobtypes.base import InputDocument, InputFiles, JobSettings, JobType, OutputFile
from pdfjobs.settings import get_settings

if TYPE_CHECKING:
    from pdfjobs.engines.html import HtmlOptions
    from pdfjobs.records import FileRecord

_MAX_INLINE_HTML_CHARACTERS = 5 * 1024 * 1024


class HtmlToPdfSettings(JobSettings):
    html: str | None = Field(
        default=None,
        max_length=_MAX_INLINE_HTML_CHARACTERS,
        description="The HTML itself (instead of an uploaded file or a url).",
    )
    url: str | None = Field(
        default=None,
        max_length=2048,
        description="A public http(s) page to print. Private, loopback and metadata addresses are refused.",
    )
    base_url: str | None = Field(
        default=None, max_length=2048, description="Where relative links of inline or uploaded HTML point."
    )
    page_size: str = Field(default="A4", description='A4, Letter, Legal, A3, A5, Tabloid, or "210mm 297mm".')
    orientation: Literal["portrait", "landscape"] = "portrait"
    margin: str | None = Field(default=None, description="All four margins (e.g. 10mm); the margin* fields win.")
    margin_top: str | None = None
    margin_right: str | None = None
    margin_bottom: str | None = None
    margin_left: str | None = None
    print_background: bool = Field(default=False, description="Paint CSS backgrounds (as Chrome's printBackground).")
    header: str | None = Field(
        default=None, max_length=500, description="Text at the top of every page; {page} and {pages} are replaced."
    )
    footer: str | None = Field(
        default=None, max_length=500, description='Text at the bottom of every page, e.g. "Page {page} of {pages}".'
    )
    media: Literal["print", "screen"] = Field(default="print", description="Which CSS @media rules apply.")
    strict_resources: bool = Field(
        default=False,
        description="Fail the job (html.resource_refused) when any resource is refused or fails, "
        "instead of skipping it and listing it in the result.",
    )

    @model_validator(mode="after")
    def _options_are_valid(self) -> HtmlToPdfSettings:
        if self.html is not None and self.url is not None:
            raise ValueError("give either html or url, not both")
        try:
            self.options()
        except errors.PdfJobsError as error:
            raise ValueError(error.message) from error
        return self

    def options(self) -> HtmlOptions:
        from pdfjobs.engines.html import HtmlOptions

        each = self.margin or "10mm"
        return HtmlOptions(
            page_size=self.page_size,
            orientation=self.orientation,
            margin_top=self.margin_top or each,
            margin_right=self.margin_right or each,
            margin_bottom=self.margin_bottom or each,
            margin_left=self.margin_left or each,
            print_background=self.print_background,
            header=self.header,
            footer=self.footer,
            media=self.media,
        )


class HtmlToPdf(JobType):
    name: ClassVar[str] = "html_to_pdf"
    description: ClassVar[str] = "HTML (uploaded, inline, or a public URL) printed to PDF, resources fetched safely."
    settings_model: ClassVar[type[JobSettings]] = HtmlToPdfSettings
    accepted_content_types: ClassVar[tuple[str, ...]] = (filetypes.HTML,)
    paged_input: ClassVar[bool] = False

    def check_submission(self, settings: JobSettings, inputs: Sequence[FileRecord]) -> None:
        from pdfjobs import outbound

        assert isinstance(settings, HtmlToPdfSettings)
        sources = len(inputs) + (settings.html is not None) + (settings.url is not None)
        if sources != 1:
            raise errors.ValidationFailed(
                "html_to_pdf takes exactly one source: one HTML file in inputFileIds, settings.html or settings.url.",
                details={"field": "inputFileIds"},
            )
        if settings.url is not None:
            # Checked again when the page is fetched: a name can resolve differently by then.
            allowed = outbound.parse_networks(get_settings().outbound_allowed_networks)
            outbound.check_url(settings.url, allowed_networks=allowed)

    def inline_input_name(self, settings: JobSettings) -> str:
        assert isinstance(settings, HtmlToPdfSettings)
        return settings.url or "inline.html"

    def process_batch(self, source: InputDocument, pages: list[int], settings: JobSettings) -> Any:
        raise errors.Internal("html_to_pdf has no page batches.")

    def assemble(self, documents: list[dict[str, Any]], settings: JobSettings, inputs: InputFiles) -> list[OutputFile]:
        assert isinstance(settings, HtmlToPdfSettings)
        html = settings.html
        if html is None and settings.url is None:
            with inputs.open(documents[0]["index"]) as source:
                html = _decoded(source.path.read_bytes())
        with tempfile.TemporaryDirectory(prefix="pdfjobs-html-") as workdir:
            destination = Path(workdir) / "result.pdf"
            rendered = _render(str(destination), html, settings)
            pdf = destination.read_bytes()
        result = {
            "documents": [
                {
                    "index": 0,
                    "source": settings.url or documents[0].get("filename"),
                    "pageCount": rendered.page_count,
                    "resources": rendered.resources,
                    "warnings": rendered.warnings,
                }
            ]
        }
        return [
            OutputFile("result.pdf", filetypes.PDF, pdf),
            OutputFile("result.json", "application/json", json.dumps(result, ensure_ascii=False).encode()),
        ]


def _render(destination: str, html: str | None, settings: HtmlToPdfSettings) -> Any:
    from pdfjobs.engines.html import FetchLimits, render_html
    from pdfjobs.isolation import run_isolated

    config = get_settings()
    limits = FetchLimits(
        resource_max_bytes=config.html_resource_max_bytes,
        resources_total_bytes=config.html_resources_total_bytes,
        resource_max_count=config.html_resource_max_count,
        resource_timeout_seconds=config.html_resource_timeout_seconds,
        html_max_bytes=config.html_max_bytes,
    )
    return run_isolated(
        render_html,
        destination,
        html=html,
        url=settings.url,
        base_url=settings.base_url,
        options=settings.options(),
        limits=limits,
        allowed_networks=config.outbound_allowed_networks,
        strict=settings.strict_resources,
        timeout=config.html_render_timeout_seconds,
        memory_mb=config.engine_memory_mb,
    )


def _decoded(data: bytes) -> str:
    """An uploaded page's text: UTF-8 (with or without BOM), else Windows-1252 as browsers fall back to."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")
