"""Invoice extraction: the local rules engine, user templates and the Textract AnalyzeExpense mapping.

The rules are measured on the shared corpus (invoice2data's invoices and goldens, scored by
scripts/invoice_scores.py) and pinned field by field on synthetic pages built here, so each rule
is seen to work on text it was not tuned on. Textract is driven through botocore's Stubber on a
real client with the synthesised responses in tests/fixtures/expense (see the README there).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import shutil
import time
from collections.abc import Iterator
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from pdfjobs import errors
from pdfjobs.engines import expense, invoices
from pdfjobs.engines.invoices import (
    extract_invoice,
    pages_from_pdf,
    pages_from_text,
    parse_amount,
    parse_date,
    validate_pattern,
)
from tests.corpus import REPO_ROOT, corpus_file
from tests.unit.textract_doubles import MustNotBeCalled, blank_png, stubbed_textract

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "expense"
TESSERACT = shutil.which("tesseract") is not None
CHAR, HEIGHT = 5.0, 9.0  # synthetic pages: every character 5 pt wide, every line 9 pt tall


# --- synthetic pages ----------------------------------------------------------------------------------


def _line(text: str, x: float, y: float, *, confidence: float = 100.0) -> dict[str, Any]:
    """One line of words at (x, y): a run of two or more spaces is a wide gap (a new column)."""
    words: list[dict[str, Any]] = []
    for match in re.finditer(r"\S+", text):
        x0 = x + match.start() * CHAR
        words.append(
            {
                "text": match.group(),
                "bbox": [x0, y, x0 + len(match.group()) * CHAR, y + HEIGHT],
                "confidence": confidence,
            }
        )
    return {
        "text": " ".join(w["text"] for w in words),
        "bbox": [words[0]["bbox"][0], y, words[-1]["bbox"][2], y + HEIGHT],
        "confidence": confidence,
        "words": words,
    }


def _page(*cells: tuple[str, float, float], number: int = 1, confidence: float = 100.0) -> dict[str, Any]:
    return {
        "page": number,
        "width": 600.0,
        "height": 800.0,
        "rotation": 0,
        "lines": [_line(text, x, y, confidence=confidence) for text, x, y in cells],
    }


def _value(result: dict[str, Any], name: str) -> Any:
    return result["fields"][name]["value"]


# --- the corpus ---------------------------------------------------------------------------------------


@cache
def _scores() -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location("invoice_scores", REPO_ROOT / "scripts" / "invoice_scores.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {"scores": module.score_corpus(), "matches": module.field_matches}


def test_the_corpus_score_is_at_least_what_the_rules_reach() -> None:
    scores = _scores()["scores"]
    assert scores["total"] == 47  # 12 invoices x 4 fields, one golden without an amount
    misses = {(stem, name) for stem, fields in scores["files"].items() for name, o in fields.items() if not o["right"]}
    # The two known misses are the goldens' own quirks: invoice2data's Orlen template keeps only
    # the "F" of "F 1234K20/1234/12", and names the issuer "spółka akcyjna" where the text says "S.A.".
    known = {("Orlen", "invoice_number"), ("Orlen", "issuer")}
    if TESSERACT:
        assert misses <= known
        assert scores["score"] >= 0.95
    else:  # saeco's issuer is only in a picture: without Tesseract it cannot be read
        assert misses <= known | {("saeco", "issuer")}
        assert scores["score"] >= 0.93
    assert scores["fields"]["date"] == {"right": 12, "total": 12}
    assert scores["fields"]["amount"] == {"right": 11, "total": 11}
    assert scores["fields"]["invoice_number"]["right"] >= 11


@pytest.mark.parametrize(
    ("name", "golden", "ours", "right"),
    [
        ("issuer", "Amazon Web Services", "Amazon Web Services, Inc.", True),
        ("issuer", "Sammy Maystone - For Lines testing", "Sammy Maystone", True),
        ("issuer", "Coolblue B.V.", "Tabletcenter", False),
        ("issuer", "Coolblue", None, False),
        ("amount", 1939.0, "1939.00", True),
        ("amount", 4.11, "4.12", False),
        ("date", "2014-08-03", "2014-08-03", True),
        ("date", "2014-08-03", "2014-03-08", False),
        ("invoice_number", "#BLR_WFLD2015", "blr_wfld2015", True),
        ("invoice_number", "F", "F 1234K20/1234/12", False),
    ],
)
def test_the_corpus_matching_rules(name: str, golden: Any, ours: str | None, right: bool) -> None:
    assert _scores()["matches"](name, golden, ours) is right


def test_the_corpus_fields_carry_their_place_on_the_page() -> None:
    result = extract_invoice(pages_from_pdf(str(corpus_file("invoices/AzureInterior.pdf"))))
    total = result["fields"]["total"]
    assert total == {**total, "value": "279.84", "page": 1, "source": "rules"}
    x0, y0, x1, y1 = total["bbox"]
    assert 500 < x0 < x1 <= 595 and 570 < y0 < y1 < 600  # the "$ 279.84" after "Total"
    assert result["fields"]["dueDate"]["value"] == "2023-04-04"
    assert [item["amount"]["value"] for item in result["lineItems"]] == ["42.00", "70.00", "0.90", "150.00"]
    assert [item["quantity"]["value"] for item in result["lineItems"]] == ["1", "1", "1", "15"]


def test_pages_from_text_keeps_columns_apart() -> None:
    pages = pages_from_text("Invoice No: A-17          Date: 2021-01-01\n\nTotal:  99,50 PLN\n")
    assert len(pages) == 1 and pages[0]["page"] == 1
    assert [line["text"] for line in pages[0]["lines"]] == ["Invoice No: A-17 Date: 2021-01-01", "Total: 99,50 PLN"]
    result = extract_invoice(pages)
    assert (_value(result, "invoiceNumber"), _value(result, "issueDate")) == ("A-17", "2021-01-01")
    assert (_value(result, "total"), _value(result, "currency")) == ("99.50", "PLN")
    assert result["fields"]["total"]["bbox"] == [48.0, 25.0, 78.0, 35.0]  # characters 8..13 of line 3


@pytest.mark.skipif(not TESSERACT, reason="needs the tesseract binary")
def test_pages_from_pdf_can_read_the_pictures_too() -> None:
    path = str(corpus_file("invoices/saeco.pdf"))
    plain = pages_from_pdf(path)
    with_pictures = pages_from_pdf(path, ocr_images=True)
    assert "e-Luscious" not in json.dumps(plain)
    added = [line for line in with_pictures[0]["lines"] if line not in plain[0]["lines"]]
    issuer = next(line for line in added if line["text"].startswith("e-Luscious Nederland B.V."))
    x0, y0, x1, y1 = issuer["bbox"]
    assert 39 <= x0 < x1 <= 484 and 722 <= y0 < y1 <= 810  # inside the picture, in page points
    assert _value(extract_invoice(plain), "vendor") is None
    assert _value(extract_invoice(with_pictures), "vendor") == "e-Luscious Nederland B.V."


def test_pages_from_pdf_needs_the_password_of_an_encrypted_file() -> None:
    path = str(corpus_file("encrypted/r6-user-password.pdf"))
    with pytest.raises(errors.PdfPasswordRequired):
        pages_from_pdf(path)
    pages = pages_from_pdf(path, password="asdfzxcv")
    assert pages and pages[0]["lines"]


# --- numbers, dates, currencies -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1.234,56", "1234.56"),
        ("1,234.56", "1234.56"),
        ("1 234,56 zł", "1234.56"),
        ("1\u00a0234,56 €", "1234.56"),
        ("€ 4.904,94", "4904.94"),
        ("$4.11", "4.11"),
        ("Rs 1939", "1939.00"),
        ("-9,32", "-9.32"),
        ("1,234,567.89 USD", "1234567.89"),
        ("3.441.812", "3441812.00"),
        ("0,750", "0.750"),
        ("15.00%", None),
        ("03/08/2014", None),
    ],
)
def test_amount_formats(text: str, value: str | None) -> None:
    assert parse_amount(text) == value


def test_a_three_digit_fraction_follows_the_documents_decimal_mark() -> None:
    assert parse_amount("54,910") == "54910.00"  # alone: a thousands separator
    assert parse_amount("54,910", decimal_hint=",") == "54.910"  # in a document written 5,79 / 257,59


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("3 August 2014", "2014-08-03"),
        ("2014-08-03", "2014-08-03"),
        ("03.08.2014", "2014-08-03"),
        ("August 3, 2014", "2014-08-03"),
        ("August 3 , 2014", "2014-08-03"),
        ("Aug 3rd, 2014", "2014-08-03"),
        ("3 août 2014", "2014-08-03"),
        ("le 1er juillet 2015", "2015-07-01"),
        ("3. März 2014", "2014-03-03"),
        ("3 Dezember 2014", "2014-12-03"),
        ("19 april 2014", "2014-04-19"),
        ("29 maart 2014", "2014-03-29"),
        ("2 stycznia 2021", "2021-01-02"),
        ("8-9-2022", "2022-09-08"),
        ("21.05.14", "2014-05-21"),
        ("5-Dec-2020", "2020-12-05"),
        ("31/02/2020", None),
        ("no date here", None),
    ],
)
def test_date_formats(text: str, iso: str | None) -> None:
    assert parse_date(text) == iso


def test_an_ambiguous_slash_date_is_read_one_way_consistently() -> None:
    assert parse_date("03/08/2014") == "2014-08-03"
    assert parse_date("03/08/2014", day_first=False) == "2014-03-08"
    assert parse_date("03/20/2023") == parse_date("03/20/2023", day_first=True) == "2023-03-20"  # only one way

    def issue_date(*extra: tuple[str, float, float]) -> str:
        page = _page(("Invoice Date: 03/08/2014", 40, 100), *extra)
        return str(_value(extract_invoice([page]), "issueDate"))

    assert issue_date(("Total: 10.00 EUR", 40, 300)) == "2014-08-03"  # no evidence: day first
    assert issue_date(("Total: $10.00", 40, 300)) == "2014-03-08"  # US dollars: month first
    assert issue_date(("Total: $10.00", 40, 300), ("Delivered: 25/08/2014", 40, 120)) == "2014-08-03"
    assert issue_date(("Total: 10.00 EUR", 40, 300), ("Delivered: 08/25/2014", 40, 120)) == "2014-03-08"


@pytest.mark.parametrize(
    ("total", "code"),
    [
        ("Total: € 12,00", "EUR"),
        ("Total: 12.00 EUR", "EUR"),
        ("Total: $12.00", "USD"),
        ("Total: £12.00", "GBP"),
        ("Total: ₹ 1,200.00", "INR"),
        ("Total: Rs. 1200", "INR"),
        ("Razem: 12,00 zł", "PLN"),
        ("Total: CHF 12.00", "CHF"),
    ],
)
def test_currency_detection(total: str, code: str) -> None:
    result = extract_invoice([_page(("Invoice No: 1001", 40, 40), (total, 300, 400))])
    assert _value(result, "currency") == code
    assert result["fields"]["currency"]["confidence"] > 0.5


def test_no_currency_is_null_with_confidence_zero() -> None:
    result = extract_invoice([_page(("Invoice No: 1001", 40, 40), ("Total: 12.00", 300, 400))])
    assert result["fields"]["currency"] == {
        "value": None,
        "confidence": 0.0,
        "page": None,
        "bbox": None,
        "source": "rules",
    }


# --- labels and layout --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "number", "issued"),
    [
        (["Invoice No: INV-2024-001", "Invoice Date: 12 March 2024"], "INV-2024-001", "2024-03-12"),
        (["Invoice # 5521", "Date: March 12, 2024"], "5521", "2024-03-12"),
        (["Facture n° F-889 du 12 mars 2024"], "F-889", "2024-03-12"),
        (["Rechnungsnummer: RE-77", "Rechnungsdatum: 12. März 2024"], "RE-77", "2024-03-12"),
        (["Rechnungsnr. 30064443", "Datum: 12.03.2024"], "30064443", "2024-03-12"),
        (["Numer faktury: FV/12/2024", "Data wystawienia: 2024-03-12"], "FV/12/2024", "2024-03-12"),
        (["Factuurnummer: 993548900", "Factuurdatum: 12 maart 2024"], "993548900", "2024-03-12"),
        (["Faktura nr: 17/03/2024", "Data: 12.03.2024"], "17/03/2024", "2024-03-12"),
    ],
)
def test_invoice_number_and_date_labels_in_several_languages(lines: list[str], number: str, issued: str) -> None:
    page = _page(*((text, 40.0, 60.0 + 14 * index) for index, text in enumerate(lines)))
    result = extract_invoice([page])
    assert (_value(result, "invoiceNumber"), _value(result, "issueDate")) == (number, issued)
    assert result["fields"]["invoiceNumber"]["source"] == "rules"
    assert result["fields"]["invoiceNumber"]["confidence"] >= 0.8


def test_values_right_of_or_below_their_labels() -> None:
    page = _page(
        ("Invoice Number:                         A-991", 300, 60),  # one line, a wide gap
        ("Invoice Date:", 40, 120),
        ("Due Date:", 160, 120),
        ("04/10/2024", 40, 131),
        ("05/10/2024", 160, 131),
        ("Amount due", 300, 400),
        ("€ 1.250,00", 300, 411),
    )
    result = extract_invoice([page])
    assert _value(result, "invoiceNumber") == "A-991"
    assert _value(result, "issueDate") == "2024-10-04"  # not the due date beside it
    assert _value(result, "dueDate") == "2024-10-05"
    assert _value(result, "total") == "1250.00"
    start = 300 + "Invoice Number:                         A-991".index("A-991") * CHAR
    assert result["fields"]["invoiceNumber"]["bbox"] == [start, 60.0, start + 5 * CHAR, 69.0]


def test_unknown_fields_are_null_with_confidence_zero() -> None:
    result = extract_invoice([_page(("lorem ipsum dolor sit amet", 40, 40))])
    for name in invoices.FIELD_NAMES:
        assert result["fields"][name] == {
            "value": None,
            "confidence": 0.0,
            "page": None,
            "bbox": None,
            "source": "rules",
        }
    assert result["lineItems"] == []
    assert extract_invoice([])["fields"]["total"]["value"] is None


def test_the_largest_amount_next_to_the_strongest_total_label_wins() -> None:
    page = _page(
        ("Subtotal", 300, 500),
        ("90.00", 450, 500),
        ("Total  10.00  90.00  100.00", 300, 520),  # a totals row: the rightmost is the total
        ("Grand Total", 300, 540),
        ("100.00", 450, 540),
    )
    assert _value(extract_invoice([page]), "total") == "100.00"
    page = _page(("Total: 5.00", 300, 500), ("Amount due: 7.50", 300, 520))
    assert _value(extract_invoice([page]), "total") == "7.50"


def test_subtotal_plus_tax_equal_to_the_total_raises_confidence() -> None:
    def fields(total: str) -> dict[str, Any]:
        page = _page(
            ("Subtotal excl. VAT", 300, 500),
            ("100.00 EUR", 450, 500),
            ("VAT 21%", 300, 514),
            ("21.00 EUR", 450, 514),
            ("Total", 300, 528),
            (total, 450, 528),
        )
        return extract_invoice([page])["fields"]

    consistent, inconsistent = fields("121.00 EUR"), fields("125.00 EUR")
    assert (consistent["subtotal"]["value"], consistent["tax"]["value"], consistent["total"]["value"]) == (
        "100.00",
        "21.00",
        "121.00",
    )
    assert inconsistent["total"]["value"] == "125.00"
    for name in ("subtotal", "tax", "total"):
        assert consistent[name]["confidence"] > inconsistent[name]["confidence"]


def test_the_subtotal_that_adds_up_is_chosen() -> None:
    page = _page(
        ("Exclusief BTW  € 593,36", 60, 580),
        ("Subtotaal  € 717,97", 380, 580),
        ("BTW 21%  € 124,61", 60, 594),
        ("Totaal  € 717,97", 380, 608),
    )
    fields = extract_invoice([page])["fields"]
    assert (fields["subtotal"]["value"], fields["tax"]["value"], fields["total"]["value"]) == (
        "593.36",
        "124.61",
        "717.97",
    )


def test_the_vendor_is_the_issuer_not_the_customer() -> None:
    page = _page(
        ("Northwind Traders Ltd", 40, 30),
        ("12 Harbour Road", 40, 41),
        ("Bristol BS1 4DJ", 40, 52),
        ("INVOICE", 450, 30),
        ("Bill to:", 40, 120),
        ("Contoso Pharmaceuticals Ltd", 40, 131),
        ("1 Main Street", 40, 142),
        ("Invoice No: NW-1", 300, 120),
        ("Company No 01234567 - VAT Reg GB123456789", 40, 760),
    )
    result = extract_invoice([page])
    assert _value(result, "vendor") == "Northwind Traders Ltd"
    assert _value(result, "customer") == "Contoso Pharmaceuticals Ltd"
    assert result["fields"]["vendor"]["bbox"] == [40.0, 30.0, 145.0, 39.0]


def test_a_seller_label_names_the_vendor() -> None:
    page = _page(
        ("Sprzedawca: Firma Handlowa Kowalski Sp. z o.o.", 40, 40),
        ("Nabywca: Jan Nowak", 40, 60),
        ("Faktura nr FV/1/2024", 300, 20),
    )
    result = extract_invoice([page])
    assert _value(result, "vendor") == "Firma Handlowa Kowalski Sp. z o.o."
    assert _value(result, "customer") == "Jan Nowak"


def test_a_brand_from_the_web_domain_beats_the_legal_seller() -> None:
    page = _page(
        ("Sold By: Cloudtail Retail Private Limited", 40, 40),
        ("Invoice No: X-1", 400, 40),
        ("Thank you for shopping at Shopsy. Visit www.shopsy.in/help", 40, 700),
        ("Shopsy Customer Care: care@shopsy.in", 40, 712),
    )
    assert _value(extract_invoice([page]), "vendor") == "Shopsy"


def test_a_payment_service_named_on_the_invoice_is_not_its_vendor() -> None:
    page = _page(
        ("Sold By: Cloudtail Retail Private Limited", 40, 40),
        ("Invoice No: X-1", 400, 40),
        ("Pay with PayPal at www.paypal.com or PayPal.me/cloudtail - PayPal accepted", 40, 700),
    )
    assert _value(extract_invoice([page]), "vendor") == "Cloudtail Retail Private Limited"


def test_line_items_from_a_table() -> None:
    page = _page(
        ("Description                Qty    Unit Price    Amount", 40, 200),
        ("Widget A, blue                2         10.00     20.00", 40, 214),
        ("  with a spare part", 40, 225),
        ("Gadget B                      1          5.50      5.50", 40, 241),
        ("Subtotal                                         25.50", 40, 270),
        ("Total                                            25.50", 40, 284),
    )
    items = extract_invoice([page])["lineItems"]
    assert [{name: field["value"] for name, field in item.items()} for item in items] == [
        {"description": "Widget A, blue with a spare part", "quantity": "2", "unitPrice": "10.00", "amount": "20.00"},
        {"description": "Gadget B", "quantity": "1", "unitPrice": "5.50", "amount": "5.50"},
    ]
    amount = items[0]["amount"]
    assert amount["source"] == "rules" and amount["page"] == 1
    start = 40.0 + "Widget A, blue                2         10.00     20.00".index("20.00") * CHAR
    assert amount["bbox"] == [start, 214.0, start + 5 * CHAR, 214.0 + HEIGHT]
    assert amount["confidence"] > items[0]["description"]["confidence"]  # 2 x 10.00 = 20.00 checks out


def test_ocr_confidence_lowers_field_confidence() -> None:
    lines = (("Invoice No: 4711", 40, 40), ("Total: 99.00 EUR", 300, 300))
    sure = extract_invoice([_page(*lines)])["fields"]
    unsure = extract_invoice([_page(*lines, confidence=50.0)])["fields"]
    assert sure["invoiceNumber"]["value"] == unsure["invoiceNumber"]["value"] == "4711"
    assert unsure["invoiceNumber"]["confidence"] == pytest.approx(sure["invoiceNumber"]["confidence"] / 2, abs=0.01)


GERMAN_INVOICE = """\
Muster Software GmbH · Hauptstraße 12 · 10115 Berlin

Beispiel AG
Frau Erika Mustermann
Industriestraße 5
80331 München
                                                      Rechnungsnummer:  RE-2024-0042
                                                      Rechnungsdatum:   15. Januar 2024
                                                      Kundennummer:     10023
Rechnung

Pos.  Bezeichnung                         Menge   Einzelpreis     Gesamtpreis
1     Softwarewartung Dezember              1      1.200,00 €      1.200,00 €
2     Support-Stunden                      4,5       90,00 €        405,00 €

                                            Nettobetrag            1.605,00 €
                                            zzgl. 19 % USt.          304,95 €
                                            Rechnungsbetrag        1.909,95 €

Zahlbar bis 14.02.2024 ohne Abzug.
Muster Software GmbH · Geschäftsführer: Max Muster · Amtsgericht Berlin HRB 123456
"""

DUTCH_INVOICE = """\
Bakkerij de Vries B.V.
Kerkstraat 1
1234 AB Utrecht
KvK 12345678  BTW NL123456789B01

Aan:
Jansen Catering
Dorpsweg 3

Factuurnummer     2024-0311
Factuurdatum      11 maart 2024
Vervaldatum       25 maart 2024

Omschrijving                  Aantal   Prijs     Bedrag
Broodjes assorti                 120    0,85      102,00
Taart appel                        3   14,50       43,50

Totaal excl. BTW                                  145,50
BTW 9%                                             13,10
Totaal incl. BTW                                  158,60
"""


@pytest.mark.parametrize(
    ("text", "expected", "items"),
    [
        (
            GERMAN_INVOICE,
            {
                "vendor": "Muster Software GmbH",
                "customer": "Beispiel AG",
                "invoiceNumber": "RE-2024-0042",
                "issueDate": "2024-01-15",
                "dueDate": "2024-02-14",
                "currency": "EUR",
                "subtotal": "1605.00",
                "tax": "304.95",
                "total": "1909.95",
            },
            [("Softwarewartung Dezember", "1", "1200.00", "1200.00"), ("Support-Stunden", "4.5", "90.00", "405.00")],
        ),
        (
            DUTCH_INVOICE,
            {
                "vendor": "Bakkerij de Vries B.V.",
                "customer": "Jansen Catering",
                "invoiceNumber": "2024-0311",
                "issueDate": "2024-03-11",
                "dueDate": "2024-03-25",
                "currency": None,  # no currency is written anywhere
                "subtotal": "145.50",
                "tax": "13.10",
                "total": "158.60",
            },
            [("Broodjes assorti", "120", "0.85", "102.00"), ("Taart appel", "3", "14.50", "43.50")],
        ),
    ],
)
def test_whole_invoices_the_rules_were_not_tuned_on(
    text: str, expected: dict[str, str | None], items: list[tuple[str, ...]]
) -> None:
    result = extract_invoice(pages_from_text(text))
    assert {name: field["value"] for name, field in result["fields"].items()} == expected
    found = [tuple(item[name]["value"] for name in invoices.LINE_ITEM_FIELDS) for item in result["lineItems"]]
    assert found == items


@pytest.mark.parametrize("text", ["x" * 100_000, "a@" * 50_000, "Acme AG SA " * 5_000, "12 " * 30_000])
def test_pathological_text_is_read_in_bounded_time(text: str) -> None:
    started = time.perf_counter()
    result = extract_invoice(pages_from_text(text))
    assert time.perf_counter() - started < 10  # quadratic regexes would take minutes here
    assert set(result["fields"]) == set(invoices.FIELD_NAMES)


# --- templates ----------------------------------------------------------------------------------------


def _template_page() -> list[dict[str, Any]]:
    return [
        _page(
            ("Invoice No: 1001", 40, 40),
            ("PO reference PO-55120 (internal)", 40, 60),
            ("Contract:", 40, 80),
            ("CN-7788", 200, 80),
            ("Payment method: Bank Transfer", 40, 100),
            ("Total: 10.00 EUR", 300, 300),
        ),
        _page(("Delivery slot: 2024-05-02", 40, 40), number=2),
    ]


def test_a_template_adds_custom_fields_by_regex_and_by_keyword() -> None:
    template = {
        "name": "acme",
        "fields": [
            {"name": "purchaseOrder", "type": "string", "regex": r"PO-(\d{5})"},
            {"name": "contract", "type": "string", "keywords": ["Contract"]},
            {
                "name": "paymentMethod",
                "type": "enum",
                "keywords": ["Payment method"],
                "options": ["Card", "Bank Transfer"],
            },
            {"name": "deliveryDate", "type": "date", "keywords": ["Delivery slot"], "pageHints": [2]},
        ],
    }
    fields = extract_invoice(_template_page(), template=template)["fields"]
    assert fields["purchaseOrder"]["value"] == "55120"
    assert fields["purchaseOrder"]["source"] == "template"
    start = 40.0 + "PO reference PO-55120 (internal)".index("PO-55120") * CHAR  # boxes are whole words
    assert fields["purchaseOrder"]["bbox"] == [start, 60.0, start + 8 * CHAR, 60.0 + HEIGHT]
    assert fields["contract"]["value"] == "CN-7788"
    assert fields["paymentMethod"]["value"] == "Bank Transfer"
    assert (fields["deliveryDate"]["value"], fields["deliveryDate"]["page"]) == ("2024-05-02", 2)
    assert fields["total"] == {**fields["total"], "value": "10.00", "source": "rules"}  # untouched


def test_a_template_pattern_reads_a_whole_row_and_keywords_find_values_below() -> None:
    template = {
        "name": "aws",
        "fields": [
            {"name": "invoiceNumber", "regex": r"Invoice Number:\s*(\d+)"},  # label and value: two cells
            {"name": "accountNumber", "keywords": ["Account number"]},  # the value is on the next line
            {"name": "billingPeriod", "regex": r"billing period (?P<value>\w+ \d+ - \w+ \d+)"},
        ],
    }
    pages = pages_from_pdf(str(corpus_file("invoices/AmazonWebServices.pdf")))
    fields = extract_invoice(pages, template=template)["fields"]
    assert [fields[name]["value"] for name in ("invoiceNumber", "accountNumber", "billingPeriod")] == [
        "42183017",
        "296664039561",
        "July 1 - July 31",
    ]
    assert all(fields[name]["source"] == "template" for name in ("invoiceNumber", "accountNumber", "billingPeriod"))
    x0, y0, x1, y1 = fields["invoiceNumber"]["bbox"]
    assert 500 < x0 < x1 < 575 and 115 < y0 < y1 < 126  # the number's own word, right-aligned
    assert fields["total"]["source"] == "rules"


def test_a_template_field_overrides_the_rules() -> None:
    template = {"name": "t", "fields": [{"name": "invoiceNumber", "regex": r"PO-\d+", "type": "string"}]}
    field = extract_invoice(_template_page(), template=template)["fields"]["invoiceNumber"]
    assert (field["value"], field["source"]) == ("PO-55120", "template")
    assert field["confidence"] > 0.9


def test_a_template_pattern_that_matches_nothing_gives_null() -> None:
    template = {
        "name": "t",
        "fields": [
            {"name": "invoiceNumber", "regex": r"ZZ-(\d+)"},
            {"name": "mandate", "keywords": ["Mandate reference"]},
            {"name": "region", "type": "enum", "keywords": ["Payment method"], "options": ["North", "South"]},
            {"name": "deliveryDate", "type": "date", "keywords": ["Delivery slot"], "pageHints": [1]},
        ],
    }
    fields = extract_invoice(_template_page(), template=template)["fields"]
    for name in ("invoiceNumber", "mandate", "region", "deliveryDate"):
        assert fields[name] == {"value": None, "confidence": 0.0, "page": None, "bbox": None, "source": "template"}


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(.*)*x", r"(\w+\s?)+$", r"(a|aa)+$"])
def test_validate_pattern_refuses_catastrophic_patterns(pattern: str) -> None:
    with pytest.raises(errors.ValidationFailed) as refused:
        validate_pattern(pattern)
    assert pattern in refused.value.message
    assert refused.value.details == {"pattern": pattern}
    assert refused.value.code == "validation.error"


def test_validate_pattern_refuses_a_pattern_that_does_not_compile() -> None:
    with pytest.raises(errors.ValidationFailed) as refused:
        validate_pattern("Total: (\\d+")
    assert "'Total: (\\d+'" in refused.value.message
    assert "does not compile" in refused.value.message


@pytest.mark.parametrize("pattern", [r"Total\s*:?\s*(\d+[.,]\d\d)", r"(?:\d+,)+\d+", r"(\w+\s)+end", r".*Total.*"])
def test_validate_pattern_accepts_ordinary_patterns(pattern: str) -> None:
    validate_pattern(pattern)


def test_an_unsafe_template_is_refused_before_anything_runs() -> None:
    template = {"name": "t", "fields": [{"name": "x", "regex": r"(\d+)+$"}]}
    with pytest.raises(errors.ValidationFailed) as refused:
        extract_invoice(_template_page(), template=template)
    assert refused.value.details is not None and refused.value.details["field"] == "template.fields.0.regex"
    assert r"(\d+)+$" in refused.value.message


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ([{"name": "x", "type": "number"}], "template.fields.0.type"),
        ([{"name": "x", "type": "enum", "keywords": ["Mode"]}], "template.fields.0.options"),
        ([{"name": "", "regex": "a"}], "template.fields.0.name"),
        ([{"name": "x", "pageHints": [0]}], "template.fields.0.pageHints"),
        ([{"name": "x"}, {"name": "x"}], "template.fields.1.name"),
        ([], "template.fields"),
    ],
)
def test_malformed_templates_are_refused(fields: list[dict[str, Any]], where: str) -> None:
    with pytest.raises(errors.ValidationFailed) as refused:
        extract_invoice(_template_page(), template={"name": "t", "fields": fields})
    assert refused.value.details is not None and refused.value.details["field"] == where


def test_template_regexes_see_at_most_the_input_cap() -> None:
    far = "ab " * (invoices.MAX_REGEX_INPUT // 3 + 10) + "REF-42"  # one row, past the cap
    template = {"name": "t", "fields": [{"name": "ref", "regex": r"REF-(\d+)"}]}
    assert extract_invoice([_page((far, 0, 40))], template=template)["fields"]["ref"]["value"] is None
    near = "x" * 10 + " REF-42"
    assert extract_invoice([_page((near, 0, 40))], template=template)["fields"]["ref"]["value"] == "42"


# --- Textract AnalyzeExpense --------------------------------------------------------------------------

AZURE_SIZE = {1: (595.0, 842.0)}
COOLBLUE_SIZE = {1: (594.99, 841.89)}
BUCKET, KEY = "pdfjobs-files", "t-1/job_1/input.pdf"


@cache
def _fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _golden(stem: str) -> dict[str, Any]:
    return json.loads(corpus_file(f"invoices/{stem}.json").read_text(encoding="utf-8"))[0]


@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Stubber]]:
    with stubbed_textract() as pair:
        yield pair


def _summary(response: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(
        field
        for document in response["ExpenseDocuments"]
        for field in document["SummaryFields"]
        if field["Type"]["Text"] == kind
    )


def test_analyze_expense_maps_the_synchronous_response(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    image = blank_png(850, 1100, "L")
    stubber.add_response(
        "analyze_expense", _fixture("azure-interior-analyze-expense.json"), {"Document": {"Bytes": image}}
    )
    response = expense.analyze_expense(image, client=client)
    result = expense.fields_from_expense(response, AZURE_SIZE)

    golden = _golden("AzureInterior")
    fields = result["fields"]
    assert {name: fields[name]["value"] for name in invoices.FIELD_NAMES} == {
        "vendor": golden["issuer"],
        "customer": "YourCompany, Mitchell Admin",
        "invoiceNumber": golden["invoice_number"],
        "issueDate": golden["date"],
        "dueDate": golden["date_due"],
        "currency": golden["currency"],
        "subtotal": "262.90",
        "tax": "16.94",
        "total": "279.84",
    }
    assert Decimal(fields["total"]["value"]) == Decimal(str(golden["amount"]))
    assert all(field["source"] == "textract" and field["page"] == 1 for field in fields.values())
    # Confidence: Textract's ValueDetection confidence / 100; box: its ratios times the page size.
    total = _summary(response, "TOTAL")["ValueDetection"]
    assert fields["total"]["confidence"] == pytest.approx(total["Confidence"] / 100, abs=1e-4)
    box = total["Geometry"]["BoundingBox"]
    assert fields["total"]["bbox"] == [
        round(box["Left"] * 595, 2),
        round(box["Top"] * 842, 2),
        round((box["Left"] + box["Width"]) * 595, 2),
        round((box["Top"] + box["Height"]) * 842, 2),
    ]
    # The same words the rules engine reads from the text layer.
    rules = extract_invoice(pages_from_pdf(str(corpus_file("invoices/AzureInterior.pdf"))))["fields"]["total"]
    x0, y0, x1, y1 = fields["total"]["bbox"]  # "$ 279.84": the rules box the figure, "279.84"
    assert x0 - 0.5 <= rules["bbox"][0] < rules["bbox"][2] <= x1 + 0.5
    assert rules["bbox"][1] == pytest.approx(y0, abs=1.5) and rules["bbox"][3] == pytest.approx(y1, abs=1.5)

    items = result["lineItems"]
    expected = [line for line in golden["lines"] if "name" in line]
    assert len(items) == len(expected) == 4
    for item, line in zip(items, expected, strict=True):
        assert line["name"].split("\n")[0] in item["description"]["value"]
        assert Decimal(item["quantity"]["value"]) == Decimal(str(line["qty"]))
        assert Decimal(item["unitPrice"]["value"]) == Decimal(str(line["price_unit"]))
        assert Decimal(item["amount"]["value"]) == Decimal(str(line["price_subtotal"]))
        assert item["amount"]["source"] == "textract" and item["amount"]["bbox"] is not None


def test_analyze_document_polls_then_reads_every_page_of_results(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    started = _fixture("coolblue1-start-expense-analysis.json")
    first, second = _fixture("coolblue1-get-expense-analysis-1.json"), _fixture("coolblue1-get-expense-analysis-2.json")
    job = {"JobId": started["JobId"]}
    stubber.add_response(
        "start_expense_analysis", started, {"DocumentLocation": {"S3Object": {"Bucket": BUCKET, "Name": KEY}}}
    )
    stubber.add_response("get_expense_analysis", {"JobStatus": "IN_PROGRESS"}, job)
    stubber.add_response("get_expense_analysis", first, job)
    stubber.add_response("get_expense_analysis", second, {**job, "NextToken": first["NextToken"]})
    sleeps: list[float] = []

    response = expense.analyze_document(BUCKET, KEY, client=client, poll_seconds=3, sleep=sleeps.append)

    assert sleeps == [3, 3]
    assert response["JobStatus"] == "SUCCEEDED"
    assert len(response["ExpenseDocuments"]) == 2  # one document, cut across two pages of results
    result = expense.fields_from_expense(response, COOLBLUE_SIZE)
    golden = _golden("coolblue1")
    fields = result["fields"]
    assert (fields["vendor"]["value"], fields["invoiceNumber"]["value"]) == (golden["issuer"], golden["invoice_number"])
    assert fields["issueDate"]["value"] == golden["date"]  # INVOICE_RECEIPT_DATE, not ORDER_DATE
    assert (fields["currency"]["value"], fields["total"]["value"]) == ("EUR", "717.97")
    assert Decimal(fields["subtotal"]["value"]) == Decimal(str(golden["amount_untaxed"]))
    assert fields["dueDate"] == {"value": None, "confidence": 0.0, "page": None, "bbox": None, "source": "textract"}
    expected = [line for line in golden["lines"] if "name" in line]
    assert [item["description"]["value"] for item in result["lineItems"]] == [line["name"] for line in expected]
    assert [Decimal(item["amount"]["value"]) for item in result["lineItems"]] == [
        Decimal(str(line["price_subtotal"])) for line in expected
    ]
    assert result["lineItems"][-1]["unitPrice"]["value"] is None  # the levy line prints no unit price


def test_analyze_document_fails_when_the_job_fails(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    started = _fixture("coolblue1-start-expense-analysis.json")
    stubber.add_response("start_expense_analysis", started)
    stubber.add_response(
        "get_expense_analysis", {"JobStatus": "FAILED", "StatusMessage": "Unsupported document format."}
    )
    with pytest.raises(errors.TextractFailed) as failed:
        expense.analyze_document(BUCKET, KEY, client=client, sleep=lambda _: None)
    assert failed.value.message == "Amazon Textract could not analyse the document: Unsupported document format."
    assert failed.value.details == {"textractJobId": started["JobId"], "textractStatus": "FAILED"}


def test_analyze_document_times_out(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_response("start_expense_analysis", _fixture("coolblue1-start-expense-analysis.json"))
    for _ in range(5):
        stubber.add_response("get_expense_analysis", {"JobStatus": "IN_PROGRESS"})
    sleeps: list[float] = []
    with pytest.raises(errors.EngineTimeout) as timed_out:
        expense.analyze_document(BUCKET, KEY, client=client, poll_seconds=2, timeout_seconds=10, sleep=sleeps.append)
    assert sleeps == [2, 2, 2, 2, 2]
    assert "10 s" in timed_out.value.message
    assert timed_out.value.code == "job.timeout"


@pytest.mark.parametrize(("code", "retryable"), [("ThrottlingException", True), ("AccessDeniedException", False)])
def test_textract_errors_become_textract_failed(stubbed: tuple[Any, Stubber], code: str, retryable: bool) -> None:
    client, stubber = stubbed
    stubber.add_client_error("start_expense_analysis", service_error_code=code, service_message="arn:aws:secret")
    with pytest.raises(errors.TextractFailed) as failed:
        expense.analyze_document(BUCKET, KEY, client=client, sleep=lambda _: None)
    assert failed.value.details == {"textractError": code, "retryable": retryable}
    assert "arn:aws" not in failed.value.message


@pytest.mark.parametrize(("image", "words"), [(b"", "empty"), (b"GIF89a" + b"\0" * 64, "neither PNG nor JPEG")])
def test_images_textract_cannot_take_are_refused_before_calling(image: bytes, words: str) -> None:
    with pytest.raises(errors.TextractFailed) as refused:
        expense.analyze_expense(image, client=MustNotBeCalled())
    assert words in refused.value.message


def test_expense_values_that_do_not_normalise_are_null() -> None:
    response = copy.deepcopy(_fixture("azure-interior-analyze-expense.json"))
    _summary(response, "DUE_DATE")["ValueDetection"]["Text"] = "upon receipt"
    _summary(response, "TOTAL")["ValueDetection"]["Text"] = "see attached"
    fields = expense.fields_from_expense(response, AZURE_SIZE)["fields"]
    assert fields["dueDate"] == {"value": None, "confidence": 0.0, "page": None, "bbox": None, "source": "textract"}
    assert fields["total"]["value"] is None


def test_expense_on_a_page_the_document_lacks_is_refused() -> None:
    response = copy.deepcopy(_fixture("azure-interior-analyze-expense.json"))
    _summary(response, "TOTAL")["PageNumber"] = 3
    with pytest.raises(errors.TextractFailed) as refused:
        expense.fields_from_expense(response, AZURE_SIZE)
    assert refused.value.details == {"page": 3}
