"""PII entities from Amazon Comprehend's DetectPiiEntities, mapped back to words and boxes.

A page's text is built as the local detectors build it (`detectors.PageText`), cut into chunks on
line boundaries that stay under the API's per-request size limit, and each entity's offsets are
shifted by its chunk's start and mapped to the same match shape as the local detectors, with the
entity's `score`. Only PDFJOBS_COMPREHEND_ENABLED=true deployments offer the engine.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

from pdfjobs.errors import EngineUnavailable, Internal
from pdfjobs.pii.detectors import PageText

# DetectPiiEntities takes at most 100 KB of UTF-8 text; stay a little under.
MAX_CHUNK_BYTES = 99_000

ENTITY_CATEGORIES = {
    "NAME": "Person",
    "ADDRESS": "Address",
    "EMAIL": "Email",
    "PHONE": "PhoneNumber",
    "SSN": "SSN",
    "CREDIT_DEBIT_NUMBER": "CreditCard",
    "INTERNATIONAL_BANK_ACCOUNT_NUMBER": "IBAN",
    "BANK_ACCOUNT_NUMBER": "IBAN",
    "IP_ADDRESS": "IPAddress",
    "URL": "URL",
    "DATE_TIME": "Date",
}

_ACCESS_DENIED = ("AccessDenied", "AccessDeniedException", "UnrecognizedClientException")


def available() -> tuple[bool, str | None]:
    """Whether the comprehend engine may be used, and why not when it may not."""
    if os.environ.get("PDFJOBS_COMPREHEND_ENABLED", "").strip().lower() == "true":
        return True, None
    return False, "Amazon Comprehend is not enabled on this deployment (PDFJOBS_COMPREHEND_ENABLED is not true)."


def chunks(text: str, max_bytes: int = MAX_CHUNK_BYTES) -> Iterator[tuple[int, str]]:
    """(offset, chunk) pieces of text, each at most max_bytes of UTF-8, cut after a line where
    possible, else after a space, else between characters."""
    start = 0
    while start < len(text):
        rest = text[start:]
        if len(rest.encode("utf-8")) <= max_bytes:
            yield start, rest
            return
        # The longest prefix that fits: max_bytes characters at most, trimmed until it encodes small enough.
        end = start + max_bytes
        while len(text[start:end].encode("utf-8")) > max_bytes:
            end -= max(1, (len(text[start:end].encode("utf-8")) - max_bytes) // 4)
        cut = text.rfind("\n", start, end + 1)
        if cut <= start:
            cut = text.rfind(" ", start, end + 1)
        if cut <= start:
            cut = end
        yield start, text[start:cut]
        start = cut + 1 if cut < len(text) and text[cut] in "\n " else cut


def find_entities(
    pages: list[dict[str, Any]],
    categories: Sequence[str],
    *,
    client: Any = None,
    min_score: float = 0.5,
    language: str = "en",
) -> list[dict[str, Any]]:
    """Comprehend's PII entities of the requested categories scoring at least min_score."""
    wanted = set(categories)
    if not wanted & set(ENTITY_CATEGORIES.values()):
        return []
    if client is None:
        from pdfjobs import aws_clients

        client = aws_clients.client("comprehend")
    matches: list[dict[str, Any]] = []
    for page in pages:
        text = PageText(page)
        found: list[tuple[int, int, str, float]] = []
        for offset, chunk in chunks(text.text):
            if not chunk.strip():
                continue
            for entity in _detect(client, chunk, language):
                category = ENTITY_CATEGORIES.get(str(entity.get("Type")))
                score = float(entity.get("Score") or 0.0)
                if category not in wanted or score < min_score:
                    continue
                begin, end = int(entity.get("BeginOffset", -1)), int(entity.get("EndOffset", -1))
                if not 0 <= begin < end <= len(chunk):
                    continue
                found.append((offset + begin, offset + end, category, score))
        for start, end, category, score in sorted(found):
            match = text.match(start, end, category)
            if match is not None:
                match["score"] = round(score, 4)
                matches.append(match)
    return matches


def _detect(client: Any, chunk: str, language: str) -> list[dict[str, Any]]:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        response = client.detect_pii_entities(Text=chunk, LanguageCode=language)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code") or "Unknown")
        if code in _ACCESS_DENIED:
            raise EngineUnavailable(
                "Amazon Comprehend is not available to this deployment: access was denied.",
                details={"code": code},
            ) from None
        raise Internal("Amazon Comprehend could not process the text.", details={"code": code}) from None
    except NoCredentialsError:
        raise EngineUnavailable(
            "Amazon Comprehend is not available to this deployment: no AWS credentials.",
            details={"code": "NoCredentials"},
        ) from None
    except BotoCoreError as error:
        raise Internal("Amazon Comprehend could not be reached.", details={"code": type(error).__name__}) from None
    return list(response.get("Entities") or [])
