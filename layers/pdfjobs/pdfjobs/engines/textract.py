"""Amazon Textract OCR: DetectDocumentText for one page image, the asynchronous text detection for
a whole document in S3, and the mapping of Textract's Blocks to the OCR page shape
(`pdfjobs.ocr`).

Textract answers with a flat list of Blocks: one PAGE per page, whose CHILD relationships name its
LINE blocks in reading order, whose own CHILD relationships name their WORD blocks. Geometry is in
ratios of the page (Left, Top, Width, Height from its top-left corner as displayed), so boxes become
points by the page size the caller knows. Confidences are already 0..100.

Nothing here runs in the local runtime: `available()` says so unless `textract_enabled` is set,
which only the AWS deployment does.
"""

from __future__ import annotations

import io
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from botocore.exceptions import (
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from pdfjobs.errors import EngineTimeout, TextractFailed
from pdfjobs.filetypes import JPEG, PNG, sniff
from pdfjobs.settings import get_settings

# Textract's set quotas (Developer Guide, "Set Quotas in Amazon Textract").
SYNC_MAX_BYTES = 10 * 1024 * 1024  # a synchronous request's document, in memory
MAX_IMAGE_SIDE_PIXELS = 10_000  # images: at most this many pixels on every side
ASYNC_MAX_PAGES = 3_000  # an asynchronous job's PDF
_SYNC_TYPES = {PNG: "PNG", JPEG: "JPEG"}

_DONE = ("SUCCEEDED", "PARTIAL_SUCCESS")

# Textract's error codes, each with a message a client may read (never the AWS message itself,
# which can name buckets, keys or roles).
_THROTTLED = {"ThrottlingException", "ProvisionedThroughputExceededException", "LimitExceededException"}
_CLIENT_MESSAGES = {
    "InvalidParameterException": "Amazon Textract refused the request's parameters.",
    "InvalidS3ObjectException": "Amazon Textract could not read the document from storage.",
    "InvalidKMSKeyException": "Amazon Textract could not use the storage encryption key.",
    "UnsupportedDocumentException": "Amazon Textract does not support this document's format.",
    "BadDocumentException": "Amazon Textract could not read the document; it may be damaged.",
    "DocumentTooLargeException": (
        "The document is too large for Amazon Textract "
        "(10 MB per synchronous request, 500 MB and 3000 pages per asynchronous job)."
    ),
    "AccessDeniedException": "This deployment is not allowed to call Amazon Textract.",
    "IdempotentParameterMismatchException": "Amazon Textract refused a repeated job request.",
    "InternalServerError": "Amazon Textract had an internal error; try again later.",
}
_THROTTLED_MESSAGE = "Amazon Textract is over its request rate for this account; try again later."
_RETRYABLE = {*_THROTTLED, "InternalServerError"}


def available() -> tuple[bool, str | None]:
    """Whether Textract may be called here, and if not, why (for the engine listing)."""
    if not get_settings().textract_enabled:
        return False, "Amazon Textract is not enabled on this deployment (PDFJOBS_TEXTRACT_ENABLED)."
    return True, None


def pages_from_blocks(
    blocks: Iterable[Mapping[str, Any]], page_sizes: Mapping[int, tuple[float, float]]
) -> list[dict[str, Any]]:
    """Textract Blocks (of one response or of all pages of results) as OCR pages, in page order.

    `page_sizes` maps page numbers (Textract's 1-based `Page`; a DetectDocumentText response has
    none, which is page 1) to (width, height) in points as displayed. A page Textract returned that
    `page_sizes` lacks is an error: the caller sent Textract another document than it described.
    """
    by_id = {block["Id"]: block for block in blocks if "Id" in block}
    pages: dict[int, Mapping[str, Any]] = {}
    for block in by_id.values():
        if block.get("BlockType") == "PAGE":
            pages.setdefault(int(block.get("Page", 1)), block)
    result = []
    for number in sorted(pages):
        if number not in page_sizes:
            raise TextractFailed(
                f"Amazon Textract returned page {number}, which the document does not have.",
                details={"page": number},
            )
        width, height = (float(side) for side in page_sizes[number])
        lines = []
        for line in _children(pages[number], by_id, "LINE"):
            words = _children(line, by_id, "WORD")
            text = line.get("Text")
            lines.append(
                {
                    "text": str(text) if text is not None else " ".join(str(word.get("Text", "")) for word in words),
                    "bbox": block_bbox(line, width, height),
                    "confidence": block_confidence(line),
                    "words": [
                        {
                            "text": str(word.get("Text", "")),
                            "bbox": block_bbox(word, width, height),
                            "confidence": block_confidence(word),
                        }
                        for word in words
                    ],
                }
            )
        # Textract reads the page as displayed; its /Rotate is the caller's to record.
        result.append({"page": number, "width": width, "height": height, "rotation": 0, "lines": lines})
    return result


def detect_page(image: bytes, width: float, height: float, *, page: int = 1, client: Any = None) -> dict[str, Any]:
    """OCR one rendered page image (PNG or JPEG) with DetectDocumentText; `width` x `height` points.

    The image is checked against Textract's synchronous limits first, so a request that could only
    fail is never sent.
    """
    check_sync_image(image)
    textract = client if client is not None else _client()
    response = call(textract.detect_document_text, Document={"Bytes": image})
    pages = pages_from_blocks(response.get("Blocks", []), {1: (width, height)})
    if not pages:
        raise TextractFailed("Amazon Textract returned no page for the image.")
    return {**pages[0], "page": page}


def detect_document(
    bucket: str,
    key: str,
    page_sizes: Mapping[int, tuple[float, float]],
    *,
    client: Any = None,
    poll_seconds: float = 2.0,
    timeout_seconds: float = 600.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[dict[str, Any]]:
    """OCR a document in S3 (PDF, TIFF, PNG or JPEG) with an asynchronous text detection job.

    The job is polled every `poll_seconds` until it finishes; all pages of results (NextToken) are
    read. Returns the pages Textract returned (with PARTIAL_SUCCESS, some may be missing).
    Raises TextractFailed when the job fails, EngineTimeout when it is not done in `timeout_seconds`.
    """
    if len(page_sizes) > ASYNC_MAX_PAGES:
        raise TextractFailed(
            f"The document has {len(page_sizes)} pages; Amazon Textract reads at most {ASYNC_MAX_PAGES}.",
            details={"pages": len(page_sizes), "limit": ASYNC_MAX_PAGES},
        )
    textract = client if client is not None else _client()
    started = call(
        textract.start_document_text_detection,
        DocumentLocation={"S3Object": {"Bucket": bucket, "Name": key}},
    )
    job_id = str(started["JobId"])
    responses = job_results(
        textract.get_document_text_detection,
        job_id,
        job_kind="text detection",
        poll_seconds=poll_seconds,
        timeout_seconds=timeout_seconds,
        sleep=sleep,
    )
    blocks = [block for response in responses for block in response.get("Blocks", [])]
    return pages_from_blocks(blocks, page_sizes)


def check_sync_image(image: bytes) -> None:
    """Refuses, before any call, an image Textract's synchronous operations could only reject."""
    if not image:
        raise TextractFailed("The page image is empty.")
    if len(image) > SYNC_MAX_BYTES:
        raise TextractFailed(
            f"The page image is {len(image)} bytes; Amazon Textract takes at most {SYNC_MAX_BYTES} "
            "bytes in one synchronous request.",
            details={"bytes": len(image), "limit": SYNC_MAX_BYTES},
        )
    kind = sniff(image[:1024])
    if kind not in _SYNC_TYPES:
        raise TextractFailed("The page image is neither PNG nor JPEG, which Amazon Textract needs here.")
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Pillow's decompression-bomb warning: the side limit below is the one that counts.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(image), formats=[_SYNC_TYPES[kind]]) as opened:  # reads the header only
                width, height = opened.size
    except Image.DecompressionBombError as error:
        raise TextractFailed(
            f"The page image declares far more pixels than Amazon Textract takes "
            f"({MAX_IMAGE_SIDE_PIXELS} on a side at most).",
            details={"limit": MAX_IMAGE_SIDE_PIXELS},
        ) from error
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise TextractFailed(f"The page image could not be read: {error}.") from error
    if max(width, height) > MAX_IMAGE_SIDE_PIXELS:
        raise TextractFailed(
            f"The page image is {width} x {height} pixels; Amazon Textract takes at most "
            f"{MAX_IMAGE_SIDE_PIXELS} pixels on a side.",
            details={"width": width, "height": height, "limit": MAX_IMAGE_SIDE_PIXELS},
        )


def _client() -> Any:
    from pdfjobs import aws_clients

    return aws_clients.client("textract")


def call(
    operation: Callable[..., dict[str, Any]], *, job_kind: str = "text detection", **parameters: Any
) -> dict[str, Any]:
    """One Textract call, its failures as TextractFailed with a message a client may read
    (`job_kind` names the asynchronous job an unknown job id belongs to)."""
    try:
        return operation(**parameters)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code") or "Unknown")
        if code == "InvalidJobIdException":
            message = f"Amazon Textract no longer knows the {job_kind} job."
        elif code in _THROTTLED:
            message = _THROTTLED_MESSAGE
        else:
            message = _CLIENT_MESSAGES.get(code, TextractFailed.default_message)
        raise TextractFailed(message, details={"textractError": code, "retryable": code in _RETRYABLE}) from error
    except (HTTPClientError, BotocoreConnectionError) as error:
        raise TextractFailed(
            "Amazon Textract could not be reached.",
            details={"textractError": type(error).__name__, "retryable": True},
        ) from error
    except (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError) as error:
        raise TextractFailed(
            "This deployment has no usable AWS credentials for Amazon Textract.",
            details={"textractError": type(error).__name__, "retryable": False},
        ) from error
    # Anything else botocore raises (a parameter it refuses, no region) is this module's bug.


def job_results(
    get_results: Callable[..., dict[str, Any]],
    job_id: str,
    *,
    job_kind: str,
    waiting_for: str = "the document",
    failed_to: str = "process",
    poll_seconds: float,
    timeout_seconds: float,
    sleep: Callable[[float], None],
) -> list[dict[str, Any]]:
    """Every page of an asynchronous job's results (its first response, then each NextToken page),
    once the job is done; TextractFailed when it failed, EngineTimeout when it is not done in time."""
    # Time waited is what the clock says, or what `sleep` was asked for when it does not really sleep.
    began, slept = time.monotonic(), 0.0
    while True:
        remaining = timeout_seconds - max(time.monotonic() - began, slept)
        if remaining <= 0:
            raise EngineTimeout(
                f"Amazon Textract did not finish {waiting_for} within {timeout_seconds:g} s.",
                details={"textractJobId": job_id},
            )
        # A job is never done at once: wait before each look (the Get operations have a low TPS quota).
        sleep(min(poll_seconds, remaining))
        slept += min(poll_seconds, remaining)
        response = call(get_results, job_kind=job_kind, JobId=job_id)
        status = response.get("JobStatus")
        if status != "IN_PROGRESS":
            break
    if status not in _DONE:
        reason = str(response.get("StatusMessage") or "no reason given").strip().rstrip(".")
        raise TextractFailed(
            f"Amazon Textract could not {failed_to} the document: {reason}.",
            details={"textractJobId": job_id, "textractStatus": status},
        )
    responses = [response]
    while response.get("NextToken"):
        response = call(get_results, job_kind=job_kind, JobId=job_id, NextToken=response["NextToken"])
        responses.append(response)
    return responses


def _children(
    block: Mapping[str, Any], by_id: Mapping[str, Mapping[str, Any]], block_type: str
) -> list[Mapping[str, Any]]:
    """The blocks of `block_type` that `block` names as CHILD, in Textract's order."""
    found = []
    for relationship in block.get("Relationships") or ():
        if relationship.get("Type") != "CHILD":
            continue
        for child_id in relationship.get("Ids") or ():
            child = by_id.get(child_id)
            if child is not None and child.get("BlockType") == block_type:
                found.append(child)
    return found


def block_bbox(block: Mapping[str, Any], width: float, height: float) -> list[float]:
    """The block's BoundingBox in points, clipped to the page."""
    box = (block.get("Geometry") or {}).get("BoundingBox") or {}
    left, top = float(box.get("Left", 0.0)), float(box.get("Top", 0.0))
    right, bottom = left + float(box.get("Width", 0.0)), top + float(box.get("Height", 0.0))
    return [
        round(min(max(left, 0.0), 1.0) * width, 2),
        round(min(max(top, 0.0), 1.0) * height, 2),
        round(min(max(right, 0.0), 1.0) * width, 2),
        round(min(max(bottom, 0.0), 1.0) * height, 2),
    ]


def block_confidence(block: Mapping[str, Any]) -> float:
    """Textract's confidence of a block, 0..100, rounded."""
    return round(min(max(float(block.get("Confidence", 0.0)), 0.0), 100.0), 2)
