"""The form engine: AcroForm fields of the corpus forms and of generated ones, XFA, metadata, layout pairs, CSV.

The corpus forms' filled values were established outside the engine: with pypdf's get_fields()
and by looking at each page rendered with `pdftoppm -png -r 60` (LibreOffice's form shows
"Alice" and "Bob" typed in, the two pdfTeX copies "Bar" and "bar"; every box and circle is
empty). pypdf is asked again below, so the two readers must agree on every file.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pikepdf
import pypdf
import pypdfium2 as pdfium
import pytest
from pikepdf import Array, Dictionary, Name, String

from pdfjobs import errors, isolation
from pdfjobs.engines import forms
from pdfjobs.engines.forms import extract_form, fields_from_layout, to_csv
from pdfjobs.ocr.existing_text import page_lines

try:
    from .pdf_builder import PageSpec, build_pdf, text_ops
except ImportError:  # tests/ not run as a package
    from pdf_builder import PageSpec, build_pdf, text_ops  # type: ignore[no-redef]

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
FORMS = CORPUS / "forms"
needs_corpus = pytest.mark.skipif(not FORMS.is_dir(), reason="the shared corpus is not here")

# Every field of every corpus form: (name, fieldType, value, options, page). Unfilled text and
# choice fields are None, unchecked boxes False, radio groups with nothing selected None.
EXPECTED: dict[str, list[tuple[str, str, Any, list[str], int]]] = {
    "FormTestFromOo.pdf": [
        ("CheckBox1", "checkbox", False, ["Yes"], 1),
        ("Text1", "text", None, [], 1),
        ("Text2", "text", None, [], 1),
        ("RadioGroup1", "radio", None, ["1", "2", "3"], 1),
        ("RdoS1", "radio", None, [""], 1),  # its widget's on-state is the empty name "/"
        ("RdoS2", "radio", None, [""], 1),
        ("Combo1", "choice", None, ["combo Line 1", "combo Line 2", "combo Line 3"], 1),
        ("Liste1", "listbox", None, ["Liste1", "Liste2", "Liste3"], 1),
        ("Liste2", "listbox", None, ["Lst1", "Lst2", "Lst3", "Lst4"], 1),
        ("DropList1", "choice", None, ["DropList1", "DropList2", "DropList3"], 1),
        ("DropList2", "choice", None, ["DList1", "DList2", "DList3", "DList4", "DList5"], 1),
    ],
    "acroform.pdf": [("Check Box4", "checkbox", False, ["Yes"], 1)],  # no /V at all: its /AS is Off
    "form.pdf": [("foo", "text", None, [], 1)],
    "form_acrobatReader.pdf": [("foo", "text", "Bar", [], 1)],
    "form_evince.pdf": [("foo", "text", "bar", [], 1)],
    "libreoffice-form.pdf": [
        ("First Name", "text", "Alice", [], 1),
        ("Last Name", "text", None, [], 1),
        ("female", "radio", None, ["1", "2"], 1),
        ("Birthday", "text", None, [], 1),
        ("gdpr", "checkbox", False, ["Yes"], 1),
        ("other", "checkbox", False, ["Yes"], 1),
        ("First Name_2", "text", "Bob", [], 1),
        (
            "Nationality",
            "choice",
            None,
            ["Unknown", "German", "Indonesian", "US-American", "French", "Spanish", "Italian"],
            1,
        ),
    ],
    "pdflatex-forms.pdf": [
        ("Name", "text", None, [], 1),
        ("Check", "checkbox", False, ["Yes"], 1),
        ("Submit", "button", None, [], 1),
    ],
}
FILLED = {"form_acrobatReader.pdf": {"foo": "Bar"}, "form_evince.pdf": {"foo": "bar"}}
FILLED["libreoffice-form.pdf"] = {"First Name": "Alice", "First Name_2": "Bob"}


def _by_name(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in result["fields"]}


def _page_size(path: Path, number: int) -> tuple[float, float]:
    document = pdfium.PdfDocument(str(path))
    try:
        width, height = document[number - 1].get_size()
        return width, height
    finally:
        document.close()


# --- the corpus forms ----------------------------------------------------------------------------------


@needs_corpus
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_form_fields_types_values_and_pages(name: str) -> None:
    path = FORMS / name
    result = extract_form(str(path))
    assert result["acroform"] is True
    assert result["xfa"] is False
    assert result["xfaData"] is None
    got = [(item["name"], item["fieldType"], item["value"], item["options"], item["page"]) for item in result["fields"]]
    assert got == EXPECTED[name]
    width, height = _page_size(path, 1)
    for item in result["fields"]:
        assert item["type"] == "field"
        assert item["source"] == "acroform"
        assert item["section"] == ""  # every corpus field is top-level
        x0, y0, x1, y1 = item["bbox"]
        assert 0 <= x0 < x1 <= width
        assert 0 <= y0 < y1 <= height
    # The filled ones, as established by hand.
    filled = {item["name"]: item["value"] for item in result["fields"] if item["value"] not in (None, False)}
    assert filled == FILLED.get(name, {})


@needs_corpus
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_values_agree_with_pypdf(name: str) -> None:
    path = FORMS / name
    ours = _by_name(extract_form(str(path)))
    reader = pypdf.PdfReader(path)
    theirs = reader.get_fields() or {}
    assert set(ours) == set(theirs)
    for field_name, text in (reader.get_form_text_fields() or {}).items():
        assert ours[field_name]["value"] == (text or None), field_name
    for field_name, field in theirs.items():
        value = field.get("/V")
        if ours[field_name]["fieldType"] in ("checkbox", "radio") and value is not None:
            assert (value != "/Off") == (ours[field_name]["value"] not in (None, False)), field_name


@needs_corpus
def test_corpus_labels_tooltips_flags_and_boxes() -> None:
    oo = _by_name(extract_form(str(FORMS / "FormTestFromOo.pdf")))
    assert oo["CheckBox1"]["label"] == "help for CB"  # the tooltip (/TU) when there is one
    assert oo["RdoS1"]["label"] == "help RdoS1"  # ...even on the radio group's only widget
    assert oo["RadioGroup1"]["label"] == "RadioGroup1"  # ...else the partial name
    assert not any(item["required"] or item["readOnly"] for item in oo.values())
    lo = _by_name(extract_form(str(FORMS / "libreoffice-form.pdf")))
    # First Name's widget /Rect is [119.549 710.39 203.901 718.138] on a 841.89 pt high page.
    assert lo["First Name"]["bbox"] == pytest.approx([119.55, 123.75, 203.9, 131.5], abs=0.01)
    # The radio group's box is its first widget's (the "Female" circle, left of the "Male" one).
    assert lo["female"]["bbox"] == pytest.approx([57.8, 181.4, 68.85, 192.45], abs=0.01)


@needs_corpus
@pytest.mark.parametrize(
    ("name", "label", "field"), [("libreoffice-form.pdf", "Name", "First Name"), ("pdflatex-forms.pdf", "Name", "Name")]
)
def test_field_boxes_sit_beside_their_printed_labels(name: str, label: str, field: str) -> None:
    """Boxes and pdfium's text positions agree: the field starts just right of its label, on its line."""
    path = FORMS / name
    box = _by_name(extract_form(str(path)))[field]["bbox"]
    document = pdfium.PdfDocument(str(path))
    try:
        words = [word["bbox"] for line in page_lines(document[0]) for word in line["words"] if word["text"] == label]
    finally:
        document.close()
    beside = [
        (x0, y0, x1, y1)
        for x0, y0, x1, y1 in words
        if 0 < box[0] - x1 < 20 and min(y1, box[3]) - max(y0, box[1]) > 0.5 * (y1 - y0)
    ]
    assert len(beside) == 1


@needs_corpus
def test_livecycle_shell_is_xfa_without_fields() -> None:
    result = extract_form(str(CORPUS / "hostile" / "livecycle.pdf"))
    assert result == {"acroform": False, "xfa": True, "metadata": {}, "fields": [], "xfaData": None}


@needs_corpus
def test_hostile_files_give_a_result_or_a_domain_error() -> None:
    outcomes = {}
    for path in sorted((CORPUS / "hostile").iterdir()):
        try:
            outcomes[path.name] = extract_form(str(path))["fields"]
        except errors.PdfJobsError as error:
            outcomes[path.name] = type(error).__name__
    assert outcomes["invalid.pdf"] == "PdfInvalid"
    assert outcomes["livecycle.pdf"] == []
    assert all(value == [] or value == "PdfInvalid" for value in outcomes.values())


# --- generated forms: hierarchy, kinds of value, geometry -----------------------------------------------------------


def _widget(pdf: pikepdf.Pdf, page: int, rect: list[float], **entries: Any) -> Dictionary:
    widget = pdf.make_indirect(
        Dictionary(Type=Name.Annot, Subtype=Name.Widget, Rect=rect, P=pdf.pages[page].obj, **entries)
    )
    obj = pdf.pages[page].obj
    if "/Annots" not in obj:
        obj.Annots = pdf.make_indirect(Array())
    obj.Annots.append(widget)
    return widget


def _states(pdf: pikepdf.Pdf, *names: str) -> Dictionary:
    stream = pdf.make_stream(b"")
    return Dictionary(N=Dictionary({f"/{name}": stream for name in (*names, "Off")}))


def _field(pdf: pikepdf.Pdf, **entries: Any) -> Dictionary:
    return pdf.make_indirect(Dictionary(**entries))


@pytest.fixture(scope="module")
def nested_form(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(612, 792))
    pdf.add_blank_page(page_size=(600, 400))
    pdf.pages[1].obj.Rotate = 90
    pdf.add_blank_page(page_size=(612, 792))
    pdf.pages[2].obj.CropBox = Array([100, 100, 512, 692])

    # Applicant (text type and Required flag inherited) > Name, DOB, Address > City.
    applicant = _field(pdf, T=String("Applicant"), FT=Name.Tx, Ff=2, Kids=Array())
    name = _widget(pdf, 0, [100, 700, 300, 720], T=String("Name"), V=String("Jane Doe"), Parent=applicant)
    dob = _widget(
        pdf,
        0,
        [100, 670, 300, 690],
        T=String("DOB"),
        TU=String("Date of birth"),
        V=String("1980-01-02"),
        Ff=1,
        Parent=applicant,
    )
    address = _field(pdf, T=String("Address"), Parent=applicant, Kids=Array())
    city = _widget(pdf, 0, [100, 640, 300, 660], T=String("City"), V=String("Springfield"), Parent=address)
    address.Kids.append(city)
    applicant.Kids.extend([name, dob, address])

    smoker = _widget(
        pdf,
        0,
        [100, 600, 112, 612],
        T=String("Smoker"),
        FT=Name.Btn,
        V=Name("/Yes"),
        AS=Name("/Yes"),
        AP=_states(pdf, "Yes"),
    )
    pets = _widget(
        pdf, 0, [120, 600, 132, 612], T=String("Pets"), FT=Name.Btn, V=Name.Off, AS=Name.Off, AP=_states(pdf, "Sure")
    )
    agree = _widget(pdf, 0, [140, 600, 152, 612], T=String("Agree"), FT=Name.Btn, AS=Name("/On"), AP=_states(pdf, "On"))

    plan = _field(pdf, T=String("Plan"), FT=Name.Btn, Ff=1 << 15, V=Name("/Plus"), Kids=Array())
    for index, state in enumerate(("Basic", "Plus", "Premium")):
        kid = _widget(
            pdf,
            0,
            [100 + 20 * index, 560, 112 + 20 * index, 572],
            Parent=plan,
            AS=Name(f"/{state}") if state == "Plus" else Name.Off,
            AP=_states(pdf, state),
        )
        plan.Kids.append(kid)
    tier = _field(
        pdf,
        T=String("Tier"),
        FT=Name.Btn,
        Ff=1 << 15,
        V=Name("/1"),
        Kids=Array(),
        Opt=Array([String("Bronze"), String("Silver")]),
    )
    for index in range(2):
        tier.Kids.append(
            _widget(pdf, 0, [200 + 20 * index, 560, 212 + 20 * index, 572], Parent=tier, AP=_states(pdf, str(index)))
        )

    coverage = _widget(
        pdf,
        0,
        [100, 520, 200, 536],
        T=String("Coverage"),
        FT=Name.Ch,
        Ff=1 << 17,
        V=String("B"),
        Opt=Array([Array([String("A"), String("Alpha")]), Array([String("B"), String("Beta")])]),
    )
    riders = _widget(
        pdf,
        0,
        [100, 460, 200, 510],
        T=String("Riders"),
        FT=Name.Ch,
        Ff=1 << 21,
        V=Array([String("X"), String("Z")]),
        Opt=Array([String("X"), String("Y"), String("Z")]),
    )
    pick = _widget(
        pdf,
        0,
        [220, 460, 320, 510],
        T=String("Pick"),
        FT=Name.Ch,
        I=Array([1]),
        Opt=Array([String("X"), String("Y"), String("Z")]),
    )
    sig = _widget(pdf, 0, [100, 400, 300, 440], T=String("Sig"), FT=Name.Sig)
    reset = _widget(pdf, 0, [320, 400, 380, 420], T=String("Reset"), FT=Name.Btn, Ff=1 << 16)

    rotated = _widget(pdf, 1, [100, 50, 200, 80], T=String("Rotated"), FT=Name.Tx, V=String("r"))
    cropped = _widget(pdf, 2, [150, 600, 250, 620], T=String("Cropped"), FT=Name.Tx, V=String("c"))

    # Shared value, inherited by two kids that are fields of their own.
    shared = _field(pdf, T=String("Shared"), FT=Name.Tx, V=String("common"), Kids=Array())
    for letter, y in (("a", 300), ("b", 270)):
        shared.Kids.append(_widget(pdf, 0, [100, y, 200, y + 20], T=String(letter), Parent=shared))

    # A cycle: Loop's kid lists Loop as its own kid.
    loop = _field(pdf, T=String("Loop"), FT=Name.Tx, Kids=Array())
    child = _widget(pdf, 0, [400, 300, 500, 320], T=String("Child"), V=String("x"), Parent=loop, Kids=Array([loop]))
    loop.Kids.append(child)

    # Deeper than the engine follows: D0 > D1 > ... > D39, only D39 a widget.
    deep = [_field(pdf, T=String(f"D{i}"), FT=Name.Tx, Kids=Array()) for i in range(40)]
    for parent, kid in itertools.pairwise(deep):
        parent.Kids.append(kid)
        kid.Parent = parent
    deep[-1].Subtype, deep[-1].Rect, deep[-1].V = Name.Widget, Array([0, 0, 10, 10]), String("too deep")
    del deep[-1]["/Kids"]

    # On the page, but left out of /Fields.
    _widget(pdf, 0, [400, 700, 500, 720], T=String("Orphan"), FT=Name.Tx, V=String("lost"))

    roots = [
        applicant,
        smoker,
        pets,
        agree,
        plan,
        tier,
        coverage,
        riders,
        pick,
        sig,
        reset,
        rotated,
        cropped,
        shared,
        loop,
        deep[0],
        applicant,
    ]
    pdf.Root.AcroForm = pdf.make_indirect(Dictionary(Fields=Array(roots)))
    pdf.docinfo["/Title"] = String("Application for Insurance")
    path = tmp_path_factory.mktemp("forms") / "nested.pdf"
    pdf.save(path)
    return path


def test_hierarchy_names_sections_and_inherited_attributes(nested_form: Path) -> None:
    fields = _by_name(extract_form(str(nested_form)))
    assert fields["Applicant.Name"]["value"] == "Jane Doe"
    assert fields["Applicant.Name"]["fieldType"] == "text"  # /FT from the parent
    assert fields["Applicant.Name"]["section"] == "Applicant"
    assert fields["Applicant.Name"]["label"] == "Name"
    assert fields["Applicant.Name"]["required"] is True  # /Ff 2 inherited
    assert fields["Applicant.DOB"]["label"] == "Date of birth"
    assert (fields["Applicant.DOB"]["required"], fields["Applicant.DOB"]["readOnly"]) == (False, True)  # own /Ff
    assert fields["Applicant.Address.City"]["section"] == "Applicant.Address"
    assert fields["Applicant.Address.City"]["value"] == "Springfield"
    assert fields["Shared.a"]["value"] == fields["Shared.b"]["value"] == "common"
    assert fields["Loop.Child"]["value"] == "x"
    assert fields["Orphan"]["value"] == "lost"
    assert not any(name.startswith("D0") for name in fields)  # past the depth limit: not reached
    assert "Applicant" not in fields and "Applicant.Address" not in fields  # not terminal
    # Each terminal field once, although /Fields lists Applicant twice.
    names = [item["name"] for item in extract_form(str(nested_form))["fields"]]
    assert len(names) == len(set(names)) == 19
    assert all(item["source"] == "acroform" for item in fields.values())


def test_names_and_text_values_agree_with_pypdf(nested_form: Path) -> None:
    fields = _by_name(extract_form(str(nested_form)))
    # (pypdf's get_form_text_fields misses text fields whose /FT is inherited; get_fields has them all.)
    theirs = pypdf.PdfReader(nested_form).get_fields() or {}
    for name in ("Applicant.Name", "Applicant.DOB", "Applicant.Address.City", "Rotated", "Cropped", "Loop.Child"):
        assert fields[name]["value"] == theirs[name]["/V"]
    # Terminal: no kids, or kids that are only widgets (the radio groups; Loop.Child's kid is its own parent).
    terminal = {
        name for name, field in theirs.items() if "/Kids" not in field or name in ("Plan", "Tier", "Loop.Child")
    }
    assert set(fields) == terminal - {"D0." + ".".join(f"D{i}" for i in range(1, 40))} | {"Orphan"}


def test_checkbox_radio_choice_signature_and_button_values(nested_form: Path) -> None:
    fields = _by_name(extract_form(str(nested_form)))
    summary = {name: (fields[name]["fieldType"], fields[name]["value"], fields[name]["options"]) for name in fields}
    assert summary["Smoker"] == ("checkbox", True, ["Yes"])
    assert summary["Pets"] == ("checkbox", False, ["Sure"])
    assert summary["Agree"] == ("checkbox", True, ["On"])  # no /V: the appearance state is on
    assert summary["Plan"] == ("radio", "Plus", ["Basic", "Plus", "Premium"])
    assert summary["Tier"] == ("radio", "Silver", ["Bronze", "Silver"])  # state names index /Opt
    assert summary["Coverage"] == ("choice", "B", ["A", "B"])  # export values of [export, display] pairs
    assert summary["Riders"] == ("listbox", ["X", "Z"], ["X", "Y", "Z"])
    assert summary["Pick"] == ("listbox", "Y", ["X", "Y", "Z"])  # from /I
    assert summary["Sig"] == ("signature", False, [])
    assert summary["Reset"] == ("button", None, [])
    assert fields["Plan"]["bbox"] == [100.0, 220.0, 112.0, 232.0]  # its first widget's


def test_boxes_follow_rotation_and_crop_box(nested_form: Path) -> None:
    fields = _by_name(extract_form(str(nested_form)))
    assert fields["Applicant.Name"]["page"] == 1
    assert fields["Applicant.Name"]["bbox"] == [100.0, 72.0, 300.0, 92.0]  # 792 - 720, 792 - 700
    # Page 2 is 600 x 400 turned 90 degrees clockwise: PDF y runs left to right, PDF x top to bottom.
    assert fields["Rotated"]["page"] == 2
    assert fields["Rotated"]["bbox"] == [50.0, 100.0, 80.0, 200.0]
    # Page 3 shows only its crop box [100 100 512 692].
    assert fields["Cropped"]["page"] == 3
    assert fields["Cropped"]["bbox"] == [50.0, 72.0, 150.0, 92.0]


def test_field_cap(nested_form: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forms, "MAX_FIELDS", 3)
    fields = extract_form(str(nested_form))["fields"]
    assert [item["name"] for item in fields] == ["Applicant.Name", "Applicant.DOB", "Applicant.Address.City"]


def test_csv_of_a_generated_form(nested_form: Path) -> None:
    text = to_csv(extract_form(str(nested_form)), {"pages": 3})
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[:4] == [["Metadata"], ["Key", "Value"], ["title", "Application for Insurance"], ["pages", "3"]]
    start = rows.index(["Section", "Field Name", "Value", "Page"])
    assert rows[start - 1] == []
    body = {row[1]: row for row in rows[start + 1 :]}
    assert body["Name"] == ["Applicant", "Name", "Jane Doe", "1"]
    assert body["City"] == ["Applicant.Address", "City", "Springfield", "1"]
    assert body["Smoker"][2] == "Yes" and body["Pets"][2] == "No"
    assert body["Riders"][2] == "X; Z"
    assert body["Reset"][2] == ""


# --- encryption ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def encrypted_forms(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("encrypted")
    with pikepdf.open(FORMS / "libreoffice-form.pdf") as pdf:
        pdf.save(folder / "user.pdf", encryption=pikepdf.Encryption(user="u", owner="o"))
        pdf.save(folder / "owner-only.pdf", encryption=pikepdf.Encryption(user="", owner="o"))
    return folder / "user.pdf", folder / "owner-only.pdf"


@needs_corpus
def test_encrypted_form_opens_with_its_passwords(encrypted_forms: tuple[Path, Path]) -> None:
    user, owner_only = encrypted_forms
    for password in ("u", "o"):
        assert _by_name(extract_form(str(user), password))["First Name"]["value"] == "Alice"
    with pytest.raises(errors.PdfPasswordRequired):
        extract_form(str(user))
    with pytest.raises(errors.PdfPasswordIncorrect):
        extract_form(str(user), "wrong")
    # A password on a file that needs none to open is no error.
    assert _by_name(extract_form(str(owner_only), "wrong"))["First Name_2"]["value"] == "Bob"


@needs_corpus
def test_isolated_worker_returns_plain_data(encrypted_forms: tuple[Path, Path]) -> None:
    pool = isolation.WorkerPool(1)
    try:
        result = pool.run(extract_form, str(encrypted_forms[0]), "u", timeout=30, memory_mb=512)
        assert _by_name(result)["First Name"]["value"] == "Alice"
        with pytest.raises(errors.PdfPasswordIncorrect):
            pool.run(extract_form, str(encrypted_forms[0]), "nope", timeout=30, memory_mb=512)
    finally:
        pool.shutdown()


# --- XFA ------------------------------------------------------------------------------------------------------

DATASETS = (
    b'<xfa:datasets xmlns:xfa="http://www.xfa.org/schema/xfa-data/1.0/"><xfa:data>'
    b"<form1><Name>Jane</Name><Plan>Gold</Plan></form1></xfa:data></xfa:datasets>"
)


def _xfa_pdf(path: Path, xfa: str, *, placeholder: bool = False, real_field: bool = False) -> Path:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    if xfa == "array":
        packets = [
            ("preamble", b'<xdp:xdp xmlns:xdp="http://ns.adobe.com/xdp/">'),
            ("datasets", DATASETS),
            ("postamble", b"</xdp:xdp>"),
        ]
        entry: Any = Array([item for name, data in packets for item in (String(name), pdf.make_stream(data))])
    else:
        entry = pdf.make_stream(
            b'<?xml version="1.0"?><xdp:xdp xmlns:xdp="http://ns.adobe.com/xdp/"><template/>' + DATASETS + b"</xdp:xdp>"
        )
    fields = Array()
    if placeholder:  # a field no page shows, as dynamic XFA shells carry
        fields.append(_field(pdf, T=String("form1[0]"), FT=Name.Tx, Kids=Array()))
    if real_field:
        fields.append(_widget(pdf, 0, [10, 10, 100, 30], T=String("Name"), FT=Name.Tx, V=String("Jane")))
    pdf.Root.AcroForm = Dictionary(Fields=fields, XFA=entry)
    pdf.save(path)
    return path


@pytest.mark.parametrize("xfa", ["array", "stream"])
def test_xfa_only_form_gives_its_datasets(tmp_path: Path, xfa: str) -> None:
    result = extract_form(str(_xfa_pdf(tmp_path / "xfa.pdf", xfa, placeholder=True)))
    assert (result["xfa"], result["acroform"], result["fields"]) == (True, False, [])
    assert result["xfaData"] == DATASETS.decode()


def test_hybrid_xfa_form_keeps_its_acroform_fields(tmp_path: Path) -> None:
    result = extract_form(str(_xfa_pdf(tmp_path / "hybrid.pdf", "array", real_field=True)))
    assert (result["xfa"], result["acroform"]) == (True, True)
    assert [(item["name"], item["value"]) for item in result["fields"]] == [("Name", "Jane")]


def test_xfa_datasets_are_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forms, "MAX_XFA_BYTES", 40)
    result = extract_form(str(_xfa_pdf(tmp_path / "xfa.pdf", "array")))
    assert result["xfaData"] == DATASETS[:40].decode()


# --- metadata ---------------------------------------------------------------------------------------------------


def _text_pdf(path: Path, lines: list[str], size: float = 10, *, title: str | None = None) -> Path:
    content = "".join(text_ops(50, 740 - 16 * index, line, size) for index, line in enumerate(lines))
    build_pdf(path, [PageSpec(content)])
    if title is not None:
        with pikepdf.open(path, allow_overwriting_input=True) as pdf:
            pdf.docinfo["/Title"] = String(title)
            pdf.save(path)
    return path


def test_metadata_of_an_acord_form(tmp_path: Path) -> None:
    lines = [
        "CERTIFICATE OF LIABILITY INSURANCE",
        "PRODUCER: Example Agency",
        "ACORD 25 (2016/03)",
        "(c) 1988-2015 ACORD CORPORATION. All rights reserved.",
    ]
    metadata = extract_form(str(_text_pdf(tmp_path / "acord.pdf", lines, title="Certificate")))["metadata"]
    assert metadata == {"formType": "ACORD 25", "issuer": "ACORD", "formVersion": "2016/03", "title": "Certificate"}


def test_metadata_of_an_irs_form(tmp_path: Path) -> None:
    lines = [
        "Form W-9 (Rev. October 2018) Request for Taxpayer Identification Number",
        "Department of the Treasury",
        "Internal Revenue Service",
        "OMB No. 1545-0074",
    ]
    metadata = extract_form(str(_text_pdf(tmp_path / "w9.pdf", lines)))["metadata"]
    assert metadata == {
        "formType": "Form W-9",
        "issuer": "Internal Revenue Service",
        "formVersion": "October 2018",
        "ombNumber": "1545-0074",
    }


def test_metadata_version_and_department(tmp_path: Path) -> None:
    lines = ["Claim form", "U.S. Department of Labor", "Version 2.1"]
    metadata = extract_form(str(_text_pdf(tmp_path / "claim.pdf", lines)))["metadata"]
    assert metadata == {"issuer": "U.S. Department of Labor", "formVersion": "2.1"}


@needs_corpus
def test_metadata_states_nothing_a_document_does_not() -> None:
    metadata = extract_form(str(CORPUS / "text" / "crazyones.pdf"))["metadata"]
    assert metadata == {"creator": "XeTeX output 2015.06.04:1334", "producer": "xdvipdfmx (20140317)"}


# --- fields from the layout of text ------------------------------------------------------------------------------


def _line(text: str, x: float, y: float, size: float = 10.0, confidence: float = 96.0) -> dict[str, Any]:
    """A line in the OCR result's shape; three or more spaces in `text` are a wide gap."""
    words = []
    cursor = x
    for number, piece in enumerate(re.split(r"\s{3,}", text)):
        cursor += 6 * size if number else 0
        for index, word in enumerate(piece.split()):
            cursor += 0.28 * size if index else 0
            width = 0.5 * size * len(word)
            words.append({"text": word, "bbox": [cursor, y, cursor + width, y + size], "confidence": confidence})
            cursor += width
    box = [words[0]["bbox"][0], y, words[-1]["bbox"][2], y + size]
    return {"text": " ".join(word["text"] for word in words), "bbox": box, "confidence": confidence, "words": words}


def _page(lines: list[dict[str, Any]], number: int = 1) -> dict[str, Any]:
    return {"page": number, "width": 612.0, "height": 792.0, "rotation": 0, "lines": lines}


def _pairs(fields: list[dict[str, Any]]) -> list[tuple[str, str, Any]]:
    return [(item["section"], item["label"], item["value"]) for item in fields]


def test_layout_label_colon_value_lines() -> None:
    fields = fields_from_layout(
        [_page([_line("Name: John Smith", 50, 80), _line("Date of birth: 1980-01-02", 50, 100)])]
    )
    assert _pairs(fields) == [("", "Name", "John Smith"), ("", "Date of birth", "1980-01-02")]
    first = fields[0]
    assert (first["type"], first["fieldType"], first["source"], first["page"]) == ("field", "text", "layout", 1)
    assert first["name"] == "Name"
    assert first["bbox"] == pytest.approx([77.8, 80, 125.6, 90])  # the value's words
    assert 0.8 <= first["confidence"] <= 1


def test_layout_gap_below_checkboxes_and_sections() -> None:
    lines = [
        _line("APPLICANT INFORMATION", 50, 50, 12),
        _line("Policy number     PN-12345", 50, 80),
        _line("Email:", 50, 100),
        _line("jane@example.com", 50, 114),
        _line("☒ Smoker   ☐ Non-smoker", 50, 140),
        _line("Plan: Gold     Start date: 2024-01-01", 50, 160),
    ]
    page_two = [
        _line("Coverage", 50, 50, 16),
        _line("Name: Jane Doe Date: 2020-05-06 Time: 10:30", 50, 80),
        _line("[x] Dental [ ] Vision", 50, 100),
        _line("Signature", 50, 120, 7),
        _line("J. Doe", 50, 129, 12),
    ]
    fields = fields_from_layout([_page(lines), _page(page_two, 2)])
    section = "APPLICANT INFORMATION"
    assert _pairs(fields) == [
        (section, "Policy number", "PN-12345"),
        (section, "Email", "jane@example.com"),
        (section, "Smoker", True),
        (section, "Non-smoker", False),
        (section, "Plan", "Gold"),
        (section, "Start date", "2024-01-01"),
        ("Coverage", "Name", "Jane Doe"),
        ("Coverage", "Date", "2020-05-06"),
        ("Coverage", "Time", "10:30"),
        ("Coverage", "Dental", True),
        ("Coverage", "Vision", False),
        ("Coverage", "Signature", "J. Doe"),  # a small caption above its value
    ]
    assert [item["page"] for item in fields] == [1] * 6 + [2] * 6
    assert fields[0]["name"] == "APPLICANT INFORMATION.Policy number"
    assert [item["fieldType"] for item in fields[2:4]] == ["checkbox", "checkbox"]
    assert fields[2]["bbox"] == pytest.approx([50, 140, 55, 150])  # the box glyph
    gap_pair, colon_pair = fields[0]["confidence"], fields[4]["confidence"]
    assert 0 < gap_pair < colon_pair <= 1


def test_layout_low_confidence_ocr_values_are_dropped() -> None:
    fields = fields_from_layout([_page([_line("Name: John", 50, 80, confidence=30.0)])])
    assert fields == []


def test_layout_first_large_line_is_a_title_and_a_large_date_no_section() -> None:
    lines = [
        _line("Example for a Form", 50, 40, 24),
        _line("Name: Ann", 50, 80),
        _line("October 14, 1998", 50, 100, 18),
        _line("Plan: Gold", 50, 120),
    ]
    assert _pairs(fields_from_layout([_page(lines)])) == [("", "Name", "Ann"), ("", "Plan", "Gold")]


def _pdfium_pages(path: Path) -> list[dict[str, Any]]:
    document = pdfium.PdfDocument(str(path))
    try:
        pages = []
        for index in range(len(document)):
            page = document[index]
            width, height = page.get_size()
            pages.append({"page": index + 1, "width": width, "height": height, "lines": page_lines(page)})
        return pages
    finally:
        document.close()


@needs_corpus
def test_layout_finds_no_fields_in_prose() -> None:
    assert fields_from_layout(_pdfium_pages(CORPUS / "text" / "crazyones.pdf")) == []
    merged = CORPUS / "text" / "Seige_of_Vicksburg_Sample_OCR-crazyones-merged.pdf"
    assert len(fields_from_layout(_pdfium_pages(merged))) <= 1


def test_layout_of_a_born_digital_flat_form(tmp_path: Path) -> None:
    lines = [
        text_ops(50, 740, "ENROLMENT FORM", 14),
        text_ops(50, 710, "Name: Jane Doe"),
        text_ops(50, 690, "Policy number"),
        text_ops(200, 690, "PN-778"),
        text_ops(50, 670, "[x] Dental    [ ] Vision"),
        text_ops(50, 650, "Email:"),
        text_ops(50, 636, "jane@example.com"),
    ]
    path = tmp_path / "flat.pdf"
    build_pdf(path, [PageSpec("".join(lines))])
    fields = fields_from_layout(_pdfium_pages(path))
    section = "ENROLMENT FORM"
    assert _pairs(fields) == [
        (section, "Name", "Jane Doe"),
        (section, "Policy number", "PN-778"),
        (section, "Dental", True),
        (section, "Vision", False),
        (section, "Email", "jane@example.com"),
    ]
    for item in fields:
        x0, y0, x1, y1 = item["bbox"]
        assert 0 <= x0 < x1 <= 612 and 0 <= y0 < y1 <= 792


def _flatten(source: Path, destination: Path) -> Path:
    """The form with its text values drawn into the page (Helvetica) and its fields removed."""
    values = [(item["bbox"], item["value"]) for item in extract_form(str(source))["fields"] if item["value"]]
    with pikepdf.open(source) as pdf:
        page = pdf.pages[0]
        height = float(page.mediabox[3])
        font = Dictionary(Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.Helvetica)
        page.obj.Resources.Font.FlatF = pdf.make_indirect(font)
        ops = "".join(
            f"BT /FlatF 9 Tf {x0 + 2:.2f} {height - y1 + 1:.2f} Td ({value}) Tj ET\n"
            for (x0, _, _, y1), value in values
        )
        page.contents_add(pdf.make_stream(ops.encode("latin-1")), prepend=False)
        del page.obj["/Annots"]
        del pdf.Root["/AcroForm"]
        pdf.save(destination)
    return destination


@needs_corpus
def test_layout_of_a_flattened_corpus_form(tmp_path: Path) -> None:
    flat = _flatten(FORMS / "libreoffice-form.pdf", tmp_path / "flat.pdf")
    assert extract_form(str(flat))["acroform"] is False
    fields = fields_from_layout(_pdfium_pages(flat))
    assert [(item["label"], item["value"]) for item in fields] == [("First Name", "Alice")]
    # "Bob" is drawn in a box without a printed label: no field is made up for it.
    assert fields[0]["bbox"][0] > 110  # the value, right of its label


@pytest.fixture(scope="module")
def ocr_pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[dict[str, Any]]]:
    """libreoffice-form.pdf as a scan: rendered by poppler (which draws the field values), then Tesseract."""
    from pdfjobs.engines import tesseract

    if not FORMS.is_dir() or shutil.which("pdftoppm") is None or not tesseract.status().available:
        pytest.skip("needs the corpus, pdftoppm and tesseract")
    folder = tmp_path_factory.mktemp("scan")
    dpi = 200
    subprocess.run(
        ["pdftoppm", "-png", "-r", str(dpi), "-singlefile", str(FORMS / "libreoffice-form.pdf"), str(folder / "page")],
        check=True,
        capture_output=True,
    )
    result = tesseract.recognize(str(folder / "page.png"), ["eng"], dpi, 60)
    scale = 72 / dpi

    def points(box: list[float]) -> list[float]:
        return [value * scale for value in box]

    lines = [
        {
            **line,
            "bbox": points(line["bbox"]),
            "words": [{**word, "bbox": points(word["bbox"])} for word in line["words"]],
        }
        for line in result["lines"]
    ]
    yield [{"page": 1, "width": result["width"] * scale, "height": result["height"] * scale, "lines": lines}]


def test_layout_of_an_ocred_form(ocr_pages: list[dict[str, Any]]) -> None:
    fields = {item["label"]: item for item in fields_from_layout(ocr_pages)}
    assert fields["First Name"]["value"] == "Alice"
    assert fields["First Name"]["fieldType"] == "text"
    x0, y0, x1, y1 = fields["First Name"]["bbox"]
    # Where the AcroForm says the field is: [119.55, 123.75, 203.9, 131.5].
    assert 119 <= x0 < x1 <= 204 and 120 <= y0 < y1 <= 134
    # The two empty boxes OCR read as "(]" and "(_]": unchecked.
    assert fields["Agree to privacy policy"]["value"] is False
    assert fields["Other"]["value"] is False


# --- CSV ---------------------------------------------------------------------------------------------------------


def test_csv_exact_for_a_small_result() -> None:
    result = {
        "metadata": {"formType": "ACORD 25", "formVersion": "2016/03"},
        "fields": [
            {"section": "Applicant", "name": "Applicant.Name", "value": 'Doe, "JD" Jane', "page": 1},
            {"section": "", "name": "Smoker", "value": True, "page": 2},
            {"section": "", "name": "Pets", "value": False, "page": None},
            {"section": "Cover", "name": "Cover.Riders", "value": ["X", "Z"], "page": 2},
            {"section": "", "name": "Notes", "value": "line 1\nline 2", "page": 3},
            {"section": "", "name": "Blank", "value": None, "page": 3},
        ],
    }
    assert to_csv(result) == (
        "Metadata\r\n"
        "Key,Value\r\n"
        "formType,ACORD 25\r\n"
        "formVersion,2016/03\r\n"
        "\r\n"
        "Section,Field Name,Value,Page\r\n"
        'Applicant,Name,"Doe, ""JD"" Jane",1\r\n'
        ",Smoker,Yes,2\r\n"
        ",Pets,No,\r\n"
        "Cover,Riders,X; Z,2\r\n"
        ',Notes,"line 1\nline 2",3\r\n'
        ",Blank,,3\r\n"
    )


def test_csv_without_metadata_or_fields() -> None:
    assert to_csv({"metadata": {}, "fields": []}) == "Metadata\r\nKey,Value\r\n\r\nSection,Field Name,Value,Page\r\n"
