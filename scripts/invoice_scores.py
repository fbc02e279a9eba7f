"""How many of the invoice corpus's golden fields the rules engine gets right.

The corpus (`../shared/corpus/invoices/`, from invoice2data's `tests/compare/`) holds real
invoices with invoice2data's expected output as JSON. Four fields are scored where a golden has
them: the date, the amount (total), the invoice number and the issuer. No per-file template or
setting is used: every file goes through `extract_invoice` as it is. The PDFs are read with
`pages_from_pdf(..., ocr_images=True)` (their text layer, plus Tesseract on their pictures:
saeco.pdf prints its issuer only in an image; without Tesseract that one field is missed),
`Orlen` with `pages_from_text` (it is text only).

A field counts as right when, after normalisation:

- date: our `issueDate` equals the golden `date` as an ISO date;
- amount: our `total` equals the golden `amount` as a Decimal;
- invoice number: ours equals the golden `invoice_number` ignoring case, spaces and a leading
  `#` (invoice2data keeps the `#` of `# BLR_...` in one golden and drops it in another);
- issuer: our `vendor` contains the golden `issuer` or the other way round, ignoring case,
  accents and everything but letters and digits ("Amazon Web Services, Inc." matches "Amazon
  Web Services").

Run from the repository root: `.venv/bin/python scripts/invoice_scores.py`.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "invoices"
SCORED = ("date", "amount", "invoice_number", "issuer")

sys.path.insert(0, str(REPO / "layers" / "pdfjobs"))

from pdfjobs.engines.invoices import extract_invoice, pages_from_pdf, pages_from_text  # noqa: E402


def _squash(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return re.sub(r"[\W_]+", "", plain.replace("ł", "l"))


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _number(value: str) -> str:
    return re.sub(r"\s+", "", value).casefold().lstrip("#")


def field_matches(name: str, golden: Any, ours: str | None) -> bool:
    """Whether our value for the golden field `name` is right (see the module docstring)."""
    if ours is None:
        return False
    if name == "date":
        return str(golden)[:10] == ours
    if name == "amount":
        amount, ours_amount = _decimal(golden), _decimal(ours)
        return amount is not None and ours_amount is not None and amount == ours_amount
    if name == "invoice_number":
        return _number(str(golden)) == _number(ours)
    if name == "issuer":
        expected, got = _squash(str(golden)), _squash(ours)
        return bool(expected and got) and (expected in got or got in expected)
    raise ValueError(name)


_OURS = {"date": "issueDate", "amount": "total", "invoice_number": "invoiceNumber", "issuer": "vendor"}


def corpus_files() -> list[tuple[str, Path, dict[str, Any]]]:
    found = []
    for golden_path in sorted(CORPUS.glob("*.json")):
        golden = json.loads(golden_path.read_text(encoding="utf-8"))
        golden = golden[0] if isinstance(golden, list) else golden
        pdf = golden_path.with_suffix(".pdf")
        text = golden_path.with_suffix(".txt")
        source = pdf if pdf.is_file() else text
        found.append((golden_path.stem, source, golden))
    return found


def read_pages(source: Path) -> list[dict[str, Any]]:
    if source.suffix == ".pdf":
        return pages_from_pdf(str(source), ocr_images=True)
    return pages_from_text(source.read_text(encoding="utf-8"))


def score_corpus() -> dict[str, Any]:
    """Per file and per field: our value, the golden one, and whether they match; and the totals."""
    files: dict[str, Any] = {}
    per_field = {name: {"right": 0, "total": 0} for name in SCORED}
    for stem, source, golden in corpus_files():
        result = extract_invoice(read_pages(source))
        scored = {}
        for name in SCORED:
            if name not in golden:
                continue
            ours = result["fields"][_OURS[name]]["value"]
            right = field_matches(name, golden[name], ours)
            scored[name] = {"golden": golden[name], "ours": ours, "right": right}
            per_field[name]["total"] += 1
            per_field[name]["right"] += int(right)
        files[stem] = scored
    right_count = sum(counts["right"] for counts in per_field.values())
    total_count = sum(counts["total"] for counts in per_field.values())
    return {
        "files": files,
        "fields": per_field,
        "right": right_count,
        "total": total_count,
        "score": right_count / total_count if total_count else 0.0,
    }


def main() -> None:
    scores = score_corpus()
    for stem, scored in scores["files"].items():
        print(stem)
        for name, outcome in scored.items():
            mark = "ok " if outcome["right"] else "MISS"
            print(f"  {mark} {name:15} ours={outcome['ours']!r} golden={outcome['golden']!r}")
    print()
    for name, counts in scores["fields"].items():
        print(f"{name:15} {counts['right']}/{counts['total']}")
    print(f"overall         {scores['right']}/{scores['total']} = {100 * scores['score']:.1f}%")


if __name__ == "__main__":
    main()
