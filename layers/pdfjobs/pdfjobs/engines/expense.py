"""Amazon Textract AnalyzeExpense: invoice fields from Textract, in the shape of the local rules
engine's result (`pdfjobs.engines.invoices`), with source "textract".

Textract answers with ExpenseDocuments, each holding SummaryFields (the invoice's own fields) and
LineItemGroups of LineItems, each item a list of LineItemExpenseFields. Every field has a `Type`
(Textract's normalised name: VENDOR_NAME, INVOICE_RECEIPT_ID, TOTAL ...), an optional
`LabelDetection` (the label as printed), a `ValueDetection` (the value as printed, with its
Geometry and Confidence), a `PageNumber` and, for money, a `Currency`. Geometry is in ratios of the
page from its top-left corner as displayed, so boxes become points by the page sizes the caller
knows; confidences are 0..100 and become 0..1.

Values are normalised as the rules engine does it: dates to ISO-8601 (slash dates read by the
response's own unambiguous dates, else month first only for US dollars), amounts to decimal
strings, currency to its ISO 4217 code. A value that does not normalise (a date Textract read as
"N/A") is null with confidence 0.

`analyze_expense` (one page image, synchronous) and `analyze_document` (a document in S3, an
asynchronous job polled to the end, every page of results read) return Textract's response;
`fields_from_expense` maps it. Failures are TextractFailed with a message a client may read, or
EngineTimeout, as in `pdfjobs.engines.textract`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pdfjobs.engines.invoices import (
    FIELD_NAMES,
    LINE_ITEM_FIELDS,
    detect_currency,
    document_day_first,
    document_decimal_mark,
    empty_field,
    parse_amount,
    parse_date,
    parse_number,
)
from pdfjobs.engines.textract import call, check_sync_image, job_results
from pdfjobs.errors import TextractFailed
from pdfjobs.filetypes import JPEG, PNG

SOURCE = "textract"
_SYNC_TYPES = {PNG: "PNG", JPEG: "JPEG"}
_DONE = ("SUCCEEDED", "PARTIAL_SUCCESS")

# Textract's summary field types, the field each fills, and how strongly (a TOTAL beats an
# AMOUNT_DUE, a VENDOR_NAME a NAME in the vendor's group).
_SUMMARY: dict[str, tuple[str, int]] = {
    "VENDOR_NAME": ("vendor", 3),
    "RECEIVER_NAME": ("customer", 3),
    "INVOICE_RECEIPT_ID": ("invoiceNumber", 3),
    "INVOICE_RECEIPT_DATE": ("issueDate", 3),
    "ORDER_DATE": ("issueDate", 1),
    "DUE_DATE": ("dueDate", 3),
    "SUBTOTAL": ("subtotal", 3),
    "TAX": ("tax", 3),
    "TOTAL": ("total", 3),
    "AMOUNT_DUE": ("total", 2),
    "AMOUNT_PAID": ("total", 1),
}
_VENDOR_GROUPS = {"VENDOR", "VENDOR_SUPPLIER", "VENDOR_REMIT_TO"}
_RECEIVER_GROUPS = {"RECEIVER", "RECEIVER_BILL_TO", "RECEIVER_SOLD_TO"}
_LINE_ITEM: dict[str, str] = {
    "ITEM": "description",
    "QUANTITY": "quantity",
    "UNIT_PRICE": "unitPrice",
    "PRICE": "amount",
}
_KINDS = {
    "vendor": "text",
    "customer": "text",
    "invoiceNumber": "identifier",
    "issueDate": "date",
    "dueDate": "date",
    "subtotal": "amount",
    "tax": "amount",
    "total": "amount",
    "description": "text",
    "quantity": "number",
    "unitPrice": "amount",
    "amount": "amount",
}


# --- mapping ------------------------------------------------------------------------------------------


def fields_from_expense(response: Mapping[str, Any], page_sizes: Mapping[int, tuple[float, float]]) -> dict[str, Any]:
    """An AnalyzeExpense or GetExpenseAnalysis response (or `analyze_document`'s merged one) as
    `{"fields": {...}, "lineItems": [...]}`, every field `{value, confidence, page, bbox, source}`.

    `page_sizes` maps Textract's 1-based page numbers to (width, height) in points as displayed.
    A field on a page `page_sizes` lacks is an error: the caller sent Textract another document
    than it described. When several ExpenseDocuments hold one field, the strongest type wins
    (TOTAL over AMOUNT_DUE), then the higher confidence.
    """
    documents = _merged_documents(response.get("ExpenseDocuments") or [])
    summary = [field for document in documents for field in document.get("SummaryFields") or []]
    items = [
        item
        for document in documents
        for group in document.get("LineItemGroups") or []
        for item in group.get("LineItems") or []
    ]
    texts = [_value_text(field) for field in summary] + [
        _value_text(field) for item in items for field in item.get("LineItemExpenseFields") or []
    ]
    currency = _currency(summary, texts)
    context = {
        "day_first": document_day_first(texts, currency[0] if currency else None),
        "decimal_mark": document_decimal_mark(texts),
    }
    best: dict[str, tuple[tuple[int, float], dict[str, Any]]] = {}
    for field in summary:
        target = _summary_target(field)
        if target is None:
            continue
        name, strength = target
        mapped = _map_field(field, name, page_sizes, context)
        rank = (strength if mapped["value"] is not None else -1, mapped["confidence"])
        if name not in best or rank > best[name][0]:
            best[name] = (rank, mapped)
    fields = {name: best[name][1] if name in best else empty_field(SOURCE) for name in FIELD_NAMES}
    if currency is not None:
        code, confidence, field = currency
        page, bbox = _place(field, page_sizes) if field is not None else (None, None)
        fields["currency"] = {
            "value": code,
            "confidence": round(confidence, 3),
            "page": page,
            "bbox": bbox,
            "source": SOURCE,
        }
    line_items = []
    for item in items:
        mapped_item = {name: empty_field(SOURCE) for name in LINE_ITEM_FIELDS}
        for field in item.get("LineItemExpenseFields") or []:
            kind = str((field.get("Type") or {}).get("Text") or "")
            role = _LINE_ITEM.get(kind)
            if role is not None and mapped_item[role]["value"] is None:
                mapped_item[role] = _map_field(field, role, page_sizes, context)
        if mapped_item["description"]["value"] is None:
            # No ITEM: the whole row's text (EXPENSE_ROW) describes it.
            for field in item.get("LineItemExpenseFields") or []:
                if (field.get("Type") or {}).get("Text") == "EXPENSE_ROW":
                    mapped_item["description"] = _map_field(field, "description", page_sizes, context)
                    break
        if any(value["value"] is not None for value in mapped_item.values()):
            line_items.append(mapped_item)
    return {"fields": fields, "lineItems": line_items}


def _merged_documents(documents: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """ExpenseDocuments by ExpenseIndex, the parts of one document from several result pages joined."""
    merged: dict[int, dict[str, Any]] = {}
    for position, document in enumerate(documents):
        index = int(document.get("ExpenseIndex", position + 1))
        target = merged.setdefault(index, {"ExpenseIndex": index, "SummaryFields": [], "LineItemGroups": []})
        target["SummaryFields"].extend(document.get("SummaryFields") or [])
        target["LineItemGroups"].extend(document.get("LineItemGroups") or [])
    return [merged[index] for index in sorted(merged)]


def _summary_target(field: Mapping[str, Any]) -> tuple[str, int] | None:
    kind = str((field.get("Type") or {}).get("Text") or "")
    if kind in _SUMMARY:
        return _SUMMARY[kind]
    if kind == "NAME":
        groups = {t for group in field.get("GroupProperties") or [] for t in group.get("Types") or []}
        if groups & _VENDOR_GROUPS:
            return "vendor", 1
        if groups & _RECEIVER_GROUPS:
            return "customer", 1
    return None


def _value_text(field: Mapping[str, Any]) -> str:
    return " ".join(str((field.get("ValueDetection") or {}).get("Text") or "").split())


def _map_field(
    field: Mapping[str, Any], name: str, page_sizes: Mapping[int, tuple[float, float]], context: Mapping[str, Any]
) -> dict[str, Any]:
    text = _value_text(field)
    value = _normalise(_KINDS[name], text, context)
    if value is None:
        return empty_field(SOURCE)
    detection = field.get("ValueDetection") or {}
    page, bbox = _place(field, page_sizes)
    return {
        "value": value,
        "confidence": round(min(max(float(detection.get("Confidence", 0.0)), 0.0), 100.0) / 100.0, 4),
        "page": page,
        "bbox": bbox,
        "source": SOURCE,
    }


def _normalise(kind: str, text: str, context: Mapping[str, Any]) -> str | None:
    if not text:
        return None
    if kind == "date":
        return parse_date(text, day_first=bool(context["day_first"]))
    if kind == "amount":
        return parse_amount(text, decimal_hint=context["decimal_mark"])
    if kind == "number":
        return parse_number(text, decimal_hint=context["decimal_mark"])
    if kind == "identifier":
        identifier = text.strip().lstrip("#").strip()
        for prefix in ("No.", "No", "N°", "Nr.", "Nr"):
            if identifier.startswith(prefix + " "):
                identifier = identifier[len(prefix) :].strip()
        return identifier or None
    return text.strip() or None


def _currency(summary: list[Mapping[str, Any]], texts: list[str]) -> tuple[str, float, Mapping[str, Any] | None] | None:
    """(code, confidence, the field it was read from): Textract's own Currency on the totals
    first, then on any field, then the symbols and codes in the values."""
    ranked = sorted(
        (field for field in summary if (field.get("Currency") or {}).get("Code")),
        key=lambda field: (
            _summary_target(field) is not None and _summary_target(field) == ("total", 3),
            float((field.get("Currency") or {}).get("Confidence", 0.0)),
        ),
        reverse=True,
    )
    if ranked:
        currency = ranked[0]["Currency"]
        confidence = min(max(float(currency.get("Confidence", 0.0)), 0.0), 100.0) / 100.0
        return str(currency["Code"]).upper(), confidence, ranked[0]
    code = detect_currency("\n".join(texts))
    return (code, 0.6, None) if code else None


def _place(
    field: Mapping[str, Any], page_sizes: Mapping[int, tuple[float, float]]
) -> tuple[int | None, list[float] | None]:
    page = int(field.get("PageNumber") or 1)
    if page not in page_sizes:
        raise TextractFailed(
            f"Amazon Textract returned page {page}, which the document does not have.", details={"page": page}
        )
    box = ((field.get("ValueDetection") or {}).get("Geometry") or {}).get("BoundingBox")
    if not box:
        return page, None
    width, height = (float(side) for side in page_sizes[page])
    left, top = float(box.get("Left", 0.0)), float(box.get("Top", 0.0))
    right, bottom = left + float(box.get("Width", 0.0)), top + float(box.get("Height", 0.0))
    return page, [
        round(min(max(left, 0.0), 1.0) * width, 2),
        round(min(max(top, 0.0), 1.0) * height, 2),
        round(min(max(right, 0.0), 1.0) * width, 2),
        round(min(max(bottom, 0.0), 1.0) * height, 2),
    ]


# --- calls --------------------------------------------------------------------------------------------


def analyze_expense(image: bytes, *, client: Any = None) -> dict[str, Any]:
    """AnalyzeExpense on one page image (PNG or JPEG): Textract's response, for `fields_from_expense`
    (its fields are on page 1). The image is checked against the synchronous limits first."""
    check_sync_image(image)
    textract = client if client is not None else _client()
    return call(textract.analyze_expense, job_kind="expense analysis", Document={"Bytes": image})


def analyze_document(
    bucket: str,
    key: str,
    *,
    client: Any = None,
    poll_seconds: float = 2.0,
    timeout_seconds: float = 600.0,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """An asynchronous expense analysis of a document in S3 (PDF, TIFF, PNG or JPEG).

    The job is polled every `poll_seconds` until it finishes, then every page of results is read
    (NextToken). Returns one response: `JobStatus`, `DocumentMetadata` and every page's
    `ExpenseDocuments` (and `Warnings`) in order, for `fields_from_expense`.
    Raises TextractFailed when the job fails, EngineTimeout when it is not done in `timeout_seconds`.
    """
    textract = client if client is not None else _client()
    started = call(
        textract.start_expense_analysis,
        job_kind="expense analysis",
        DocumentLocation={"S3Object": {"Bucket": bucket, "Name": key}},
    )
    responses = job_results(
        textract.get_expense_analysis,
        str(started["JobId"]),
        job_kind="expense analysis",
        waiting_for="the expense analysis",
        failed_to="analyse",
        poll_seconds=poll_seconds,
        timeout_seconds=timeout_seconds,
        sleep=sleep,
    )
    merged: dict[str, Any] = {
        "JobStatus": responses[0].get("JobStatus"),
        "DocumentMetadata": responses[0].get("DocumentMetadata") or {},
        "ExpenseDocuments": [doc for response in responses for doc in response.get("ExpenseDocuments") or []],
        "Warnings": [warning for response in responses for warning in response.get("Warnings") or []],
    }
    return merged


def _client() -> Any:
    from pdfjobs import aws_clients

    return aws_clients.client("textract")
