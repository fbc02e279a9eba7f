"""Domain errors. Each carries a dotted, stable code and the HTTP status it maps to.

The API maps them to the one error envelope in one place; the pipeline raises them by class
name so the failure handler can turn a Step Functions error back into the same code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar


class PdfJobsError(Exception):
    """Base of every error a client may see. Its message is written for the client."""

    code: ClassVar[str] = "internal"
    status: ClassVar[int] = 500
    default_message: ClassVar[str] = "An internal error occurred."

    def __init__(self, message: str | None = None, *, details: dict[str, Any] | None = None) -> None:
        self.message = message or self.default_message
        self.details = details
        super().__init__(self.message)


def _error(name: str, code: str, status: int, message: str) -> type[PdfJobsError]:
    cls = type(name, (PdfJobsError,), {"code": code, "status": status, "default_message": message})
    cls.__module__ = __name__
    return cls


# Request and auth
BadRequest = _error("BadRequest", "request.invalid", 400, "The request is invalid.")
MalformedJson = _error("MalformedJson", "request.malformed_json", 400, "The request body is not valid JSON.")
ValidationFailed = _error("ValidationFailed", "validation.error", 400, "The request failed validation.")
MissingApiKey = _error("MissingApiKey", "auth.missing_key", 401, "No API key was sent.")
InvalidApiKey = _error("InvalidApiKey", "auth.invalid_key", 401, "The API key is not recognised.")
RevokedApiKey = _error("RevokedApiKey", "auth.revoked_key", 403, "The API key has been revoked.")
Forbidden = _error("Forbidden", "auth.forbidden", 403, "The API key lacks the scope this action needs.")
NotFound = _error("NotFound", "resource.not_found", 404, "The resource was not found.")
RouteNotFound = _error("RouteNotFound", "route.not_found", 404, "No such route.")
MethodNotAllowed = _error("MethodNotAllowed", "route.method_not_allowed", 405, "Method not allowed.")

# Files and uploads
FileTooLarge = _error("FileTooLarge", "file.too_large", 413, "The file is larger than the limit.")
FileEmpty = _error("FileEmpty", "file.empty", 400, "The file is empty.")
UnsupportedFileType = _error(
    "UnsupportedFileType", "file.unsupported_type", 415, "The file's bytes are not a supported type."
)
UploadNotReceived = _error(
    "UploadNotReceived", "upload.not_received", 409, "No object has been uploaded for this upload yet."
)
UploadSizeMismatch = _error(
    "UploadSizeMismatch", "upload.size_mismatch", 400, "The uploaded size differs from the declared size."
)
UploadExpired = _error("UploadExpired", "upload.expired", 410, "The upload URL has expired.")
UploadAlreadyCompleted = _error(
    "UploadAlreadyCompleted", "upload.already_completed", 409, "This upload was already completed."
)
FileNotReady = _error("FileNotReady", "file.not_ready", 409, "The file is not ready.")
FileExpired = _error("FileExpired", "file.expired", 410, "The file is past its retention period.")

# Jobs and results
JobNotCancellable = _error(
    "JobNotCancellable", "job.not_cancellable", 409, "The job has finished and cannot be cancelled."
)
ResultNotReady = _error("ResultNotReady", "result.not_ready", 409, "The job has not finished yet.")
ResultFormatUnavailable = _error(
    "ResultFormatUnavailable", "result.format_unavailable", 400, "The job has no output in this format."
)
ReviewRequired = _error(
    "ReviewRequired", "review.required", 409, "The job awaits review: POST /v1/jobs/{id}/review approves or rejects it."
)
ReviewNotPending = _error("ReviewNotPending", "review.not_pending", 409, "The job is not awaiting review.")
ReviewRejected = _error("ReviewRejected", "review.rejected", 422, "A reviewer rejected the extraction.")
JobFailedResult = _error("JobFailedResult", "job.failed", 409, "The job failed; it has no result.")
JobCancelledResult = _error("JobCancelledResult", "job.cancelled", 409, "The job was cancelled; it has no result.")
ResultExpired = _error("ResultExpired", "result.expired", 410, "The result is past its retention period.")
JobStateConflict = _error("JobStateConflict", "job.state_conflict", 409, "The job changed state concurrently.")

# Idempotency
IdempotencyInProgress = _error(
    "IdempotencyInProgress",
    "idempotency.in_progress",
    409,
    "A request with this Idempotency-Key is still being processed.",
)
IdempotencyPayloadMismatch = _error(
    "IdempotencyPayloadMismatch",
    "idempotency.payload_mismatch",
    422,
    "This Idempotency-Key was used with a different request payload.",
)

# Images
ImageInvalid = _error("ImageInvalid", "image.invalid", 422, "The image could not be read.")
ImageTooLarge = _error(
    "ImageTooLarge", "image.too_many_pixels", 422, "The image has more pixels than the limit allows."
)

# OCR
LanguageUnavailable = _error(
    "LanguageUnavailable", "ocr.language_unavailable", 400, "An OCR language is not installed."
)
OcrFailed = _error("OcrFailed", "ocr.failed", 422, "The OCR engine could not read the page image.")
EngineUnavailable = _error(
    "EngineUnavailable", "engine.unavailable", 400, "The requested engine is not available on this deployment."
)
TextractFailed = _error("TextractFailed", "textract.failed", 502, "Amazon Textract could not process the document.")
PageTooLarge = _error(
    "PageTooLarge", "page.too_many_pixels", 422, "A page would render to more pixels than the limit allows."
)

# HTML to PDF
HtmlRenderFailed = _error("HtmlRenderFailed", "html.render_failed", 422, "The HTML could not be rendered to PDF.")
HtmlResourceRefused = _error(
    "HtmlResourceRefused",
    "html.resource_refused",
    422,
    "A resource the HTML references was refused, and settings.strictResources is true.",
)
UrlFetchFailed = _error("UrlFetchFailed", "url.fetch_failed", 422, "The URL could not be fetched.")

# Redaction
RedactionVerificationFailed = _error(
    "RedactionVerificationFailed",
    "redaction.verification_failed",
    422,
    "A redacted string could still be found in the output; the document was not released.",
)

# Structured extraction
TemplateExists = _error("TemplateExists", "template.exists", 409, "A template with this name exists.")
TemplateConflict = _error(
    "TemplateConflict", "template.conflict", 409, "The template changed while it was being written; try again."
)
FormXfaOnly = _error("FormXfaOnly", "form.xfa_only", 422, "The form is a dynamic XFA form without AcroForm fields.")

# Outbound URLs (HTML resources, webhook endpoints)
InvalidUrl = _error("InvalidUrl", "url.invalid", 400, "The URL is not a valid http(s) URL.")
BlockedUrl = _error("BlockedUrl", "url.blocked", 400, "The URL points at an address this service does not fetch from.")

# Pipeline failures: recorded on the failed job as error.code (status is for completeness).
PdfInvalid = _error("PdfInvalid", "pdf.invalid", 422, "The document could not be read as a PDF.")
PdfPasswordRequired = _error(
    "PdfPasswordRequired", "pdf.password_required", 422, "The PDF is encrypted; set settings.password."
)
PdfPasswordIncorrect = _error(
    "PdfPasswordIncorrect", "pdf.password_incorrect", 422, "The password does not open the PDF."
)
PdfTooManyPages = _error("PdfTooManyPages", "pdf.too_many_pages", 422, "The PDF has more pages than the limit.")
PageOutOfRange = _error("PageOutOfRange", "pdf.page_out_of_range", 422, "A requested page is not in the document.")
EngineTimeout = _error("EngineTimeout", "job.timeout", 504, "Processing took longer than the time limit.")
EngineResourceLimit = _error(
    "EngineResourceLimit", "pdf.resource_limit", 422, "The document needs more memory than the limit allows."
)
OutputInvalid = _error("OutputInvalid", "output.invalid", 500, "An output failed its quality checks.")
Internal = _error("Internal", "internal", 500, "An internal error occurred.")


def validation_failed(problems: Sequence[Mapping[str, Any]], prefix: str = "") -> PdfJobsError:
    """One 400 for pydantic's error list: every problem as {field, message}, the first one named.

    The `body` location step is dropped: clients name fields as they wrote them.
    """
    fields = []
    for problem in problems:
        location = [prefix] if prefix else []
        location += [str(part) for part in problem.get("loc", ()) if part != "body"]
        fields.append({"field": ".".join(location) or "body", "message": str(problem.get("msg", "invalid"))})
    first = fields[0] if fields else {"field": prefix or "body", "message": "invalid"}
    return ValidationFailed(f"{first['field']}: {first['message']}", details={**first, "errors": fields})


def error_class_by_name(name: str) -> type[PdfJobsError] | None:
    """The PdfJobsError subclass called `name` (how a Step Functions error type is mapped back)."""
    found = globals().get(name)
    if isinstance(found, type) and issubclass(found, PdfJobsError):
        return found
    return None


def all_error_classes() -> list[type[PdfJobsError]]:
    return [c for c in globals().values() if isinstance(c, type) and issubclass(c, PdfJobsError)]
