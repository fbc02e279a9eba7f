"""Redaction rebuilds the redacted pages and cleans the document; the checker proves nothing survives."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pikepdf
import pypdfium2 as pdfium
import pytest
from pikepdf import Dictionary, Name

from pdfjobs.ocr.existing_text import page_lines
from pdfjobs.pdf.redaction import redact_pdf, surviving_targets
from tests.unit.pdf_builder import PageSpec, build_pdf, text_ops

SECRET_LINE = "Secret: John Q. Public 078-05-1120"
NAME = "John Q. Public"
SSN = "078-05-1120"
TARGETS = [NAME, SSN]
SECRET_WORDS = {"John", "Q.", "Public", "078-05-1120"}
CRAZYONES = Path("/work/shared/corpus/text/crazyones.pdf")


def _pages(rotate: int = 0) -> list[PageSpec]:
    top = 700 if rotate == 0 else 500
    first = (
        text_ops(72, top, "Quarterly report for the board", 14)
        + text_ops(72, top - 40, SECRET_LINE, 14)
        + text_ops(72, top - 80, "Revenue grew eleven percent this year", 14)
    )
    if rotate == 90:
        # Drawn turned a quarter counter-clockwise: the page turned clockwise reads normally.
        first = f"q 0 1 -1 0 612 0 cm\n{first}Q\n"
    second = text_ops(72, 700, "Second page stays untouched", 14)
    return [PageSpec(first, rotate=rotate), PageSpec(second)]


def _plain(path: Path, rotate: int = 0) -> Path:
    return build_pdf(path, _pages(rotate))


def _loaded(path: Path) -> Path:
    """The two-page PDF with the name in its metadata, an annotation, a form field, a bookmark and a file."""
    build_pdf(path, _pages())
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        with pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False) as meta:
            meta["dc:description"] = f"About {NAME}"
        pdf.docinfo["/Title"] = f"Report on {NAME}"
        pdf.docinfo["/Author"] = NAME
        pdf.docinfo["/Producer"] = "test builder"
        page2 = pdf.pages[1].obj
        note = pdf.make_indirect(
            Dictionary(Type=Name.Annot, Subtype=Name.Text, Rect=[100, 100, 120, 120], Contents=f"Call {NAME}")
        )
        harmless = pdf.make_indirect(
            Dictionary(Type=Name.Annot, Subtype=Name.Text, Rect=[200, 100, 220, 120], Contents="Looks fine")
        )
        appearance = pdf.make_stream(
            f"/Tx BMC BT /F1 10 Tf 2 5 Td ({NAME}) Tj ET EMC".encode(),
            Type=Name.XObject,
            Subtype=Name.Form,
            BBox=[0, 0, 200, 20],
            Resources=Dictionary(Font=Dictionary(F1=page2.Resources.Font.F1)),
        )
        field = pdf.make_indirect(
            Dictionary(
                Type=Name.Annot,
                Subtype=Name.Widget,
                FT=Name.Tx,
                T="customer",
                V=NAME,
                Rect=[72, 500, 272, 520],
                P=page2,
                AP=Dictionary(N=appearance),
            )
        )
        page2.Annots = pdf.make_indirect(pikepdf.Array([note, harmless, field]))
        pdf.Root.AcroForm = Dictionary(Fields=[field], DA="/Helv 0 Tf 0 g")
        with pdf.open_outline() as outline:
            outline.root.append(pikepdf.OutlineItem(f"Notes on {NAME}", 0))
            outline.root.append(pikepdf.OutlineItem("Revenue", 0))
        pdf.attachments["notes.txt"] = pikepdf.AttachedFileSpec(pdf, f"ssn {SSN}\n".encode(), filename="notes.txt")  # type: ignore[call-arg,arg-type]
        pdf.attachments["other.txt"] = pikepdf.AttachedFileSpec(pdf, b"nothing here\n", filename="other.txt")  # type: ignore[call-arg,arg-type]
        pdf.save(path)
    return path


def _redaction(path: Path, page_number: int, secret_words: set[str], password: str | None = None) -> dict[str, Any]:
    """The page entry for redact_pdf: its lines without the secret words, whose boxes are the boxes."""
    document = pdfium.PdfDocument(str(path), password=password)
    try:
        page = document[page_number - 1]
        width, height = page.get_size()
        lines = page_lines(page)
    finally:
        document.close()
    boxes = []
    kept = []
    for line in lines:
        words = []
        for word in line["words"]:
            if word["text"] in secret_words:
                boxes.append(word["bbox"])
            else:
                words.append(word)
        if words:
            kept.append({**line, "text": " ".join(w["text"] for w in words), "words": words})
    assert boxes, "the secret words were not found on the page"
    return {"page": page_number, "width": width, "height": height, "boxes": boxes, "lines": kept}


def _pdftotext(path: Path, page: int | None = None) -> str:
    command = ["pdftotext", "-q", "-enc", "UTF-8"]
    if page is not None:
        command += ["-f", str(page), "-l", str(page)]
    return subprocess.run([*command, str(path), "-"], capture_output=True, check=True).stdout.decode()


def _render(path: Path, index: int, scale: float = 1.0) -> Any:
    document = pdfium.PdfDocument(str(path))
    try:
        bitmap = document[index].render(scale=scale)
        return bitmap.to_pil().convert("L")
    finally:
        document.close()


def _dark_fraction(image: Any, box: list[float], scale: float) -> float:
    x0, y0, x1, y1 = (round(value * scale) for value in box)
    crop = image.crop((x0 + 1, y0 + 1, x1 - 1, y1 - 1))
    pixels = list(crop.get_flattened_data())
    return sum(1 for pixel in pixels if pixel < 40) / len(pixels)


def _box(array: Any) -> list[float]:
    return [float(array[i]) for i in range(4)]


def _content(path: Path, index: int) -> bytes:
    with pikepdf.open(path) as pdf:
        return pdf.pages[index].obj.Contents.read_bytes()


def test_checker_finds_the_targets_before_redaction(tmp_path: Path) -> None:
    source = _plain(tmp_path / "in.pdf")
    assert surviving_targets(str(source), TARGETS) == TARGETS
    assert surviving_targets(str(source), ["not in it"]) == []
    # Case and white space do not hide a target.
    assert surviving_targets(str(source), ["john  q.\npublic"]) == ["john  q.\npublic"]


def test_checker_finds_a_target_only_in_metadata(tmp_path: Path) -> None:
    source = _plain(tmp_path / "in.pdf")
    with pikepdf.open(source, allow_overwriting_input=True) as pdf:
        pdf.docinfo["/Keywords"] = "zebra crossing"
        pdf.save(source)
    assert surviving_targets(str(source), ["Zebra Crossing"]) == ["Zebra Crossing"]


def test_redaction_removes_everything_and_keeps_the_rest(tmp_path: Path) -> None:
    source = _loaded(tmp_path / "in.pdf")
    output = tmp_path / "out.pdf"
    assert surviving_targets(str(source), TARGETS) == TARGETS
    entry = _redaction(source, 1, SECRET_WORDS)

    report = redact_pdf(str(source), str(output), [entry], TARGETS)

    assert surviving_targets(str(output), TARGETS) == []
    assert sorted(report.pop("metadataCleaned")) == ["Author", "Title", "XMP"]
    assert report == {
        "pagesRasterised": [1],
        "annotationsRemoved": 1,
        "formFieldsCleared": 1,
        "bookmarksCleaned": 1,
        "embeddedFilesRemoved": 1,
    }
    with pikepdf.open(output) as pdf, pikepdf.open(source) as original:
        assert not pdf.is_encrypted
        assert len(pdf.pages) == 2
        for page, before in zip(pdf.pages, original.pages, strict=True):
            assert _box(page.mediabox) == _box(before.mediabox)
        assert str(pdf.docinfo["/Title"]) == "[REDACTED]"
        assert str(pdf.docinfo["/Producer"]) == "test builder"
        assert "/Metadata" not in pdf.Root
        assert list(pdf.attachments.keys()) == ["other.txt"]
        with pdf.open_outline() as outline:
            assert [item.title for item in outline.root] == ["[REDACTED]", "Revenue"]
        annots = pdf.pages[1].obj.Annots
        assert [str(annots[i].get("/Contents") or "") for i in range(len(annots))] == ["Looks fine", ""]
        widget = annots[1]
        assert "/V" not in widget and "/AP" not in widget
        assert len(pdf.Root.AcroForm.Fields) == 1
        # The rebuilt page is one image and a text layer, nothing else.
        page1 = pdf.pages[0].obj
        assert "/Annots" not in page1
        assert list(page1.Resources.XObject.keys()) == ["/Redacted"]
    assert _content(output, 1) == _content(source, 1)  # page 2 untouched

    text = " ".join(_pdftotext(output, 1).split())
    for words in ("Quarterly report for the board", "Secret:", "Revenue grew eleven percent this year"):
        assert words in text
    assert "Public" not in text and "John" not in text

    scale = 2.0
    image = _render(output, 0, scale)
    for box in entry["boxes"]:
        assert _dark_fraction(image, box, scale) > 0.95
    # Elsewhere the page is not black.
    assert _dark_fraction(image, [72, 200, 500, 300], scale) == 0
    original = _render(source, 0, scale)
    assert _dark_fraction(original, entry["boxes"][0], scale) < 0.5


def test_unredacted_pages_have_their_annotations_and_no_target_is_left_alone(tmp_path: Path) -> None:
    source = _plain(tmp_path / "in.pdf")
    output = tmp_path / "out.pdf"
    entry = _redaction(source, 1, SECRET_WORDS)
    report = redact_pdf(str(source), str(output), [entry], TARGETS)
    assert report["pagesRasterised"] == [1]
    assert report["metadataCleaned"] == [] and report["annotationsRemoved"] == 0
    assert surviving_targets(str(output), TARGETS) == []
    # A target the caller left on the page is found by the checker.
    assert surviving_targets(str(output), ["eleven percent"]) == ["eleven percent"]


def test_encrypted_input(tmp_path: Path) -> None:
    plain = _plain(tmp_path / "plain.pdf")
    source = tmp_path / "locked.pdf"
    with pikepdf.open(plain) as pdf:
        pdf.save(source, encryption=pikepdf.Encryption(user="s3cret", owner="owner", R=6))
    with pytest.raises(pikepdf.PasswordError):
        pikepdf.open(source)
    assert surviving_targets(str(source), TARGETS, password="s3cret") == TARGETS
    entry = _redaction(source, 1, SECRET_WORDS, password="s3cret")
    output = tmp_path / "out.pdf"

    redact_pdf(str(source), str(output), [entry], TARGETS, password="s3cret")

    with pikepdf.open(output) as pdf:
        assert not pdf.is_encrypted
    assert surviving_targets(str(output), TARGETS) == []
    assert "Revenue grew eleven percent" in " ".join(_pdftotext(output).split())


def test_wrong_or_missing_password(tmp_path: Path) -> None:
    from pdfjobs import errors

    plain = _plain(tmp_path / "plain.pdf")
    source = tmp_path / "locked.pdf"
    with pikepdf.open(plain) as pdf:
        pdf.save(source, encryption=pikepdf.Encryption(user="s3cret", owner="owner", R=6))
    entry = {"page": 1, "width": 612, "height": 792, "boxes": [[0, 0, 10, 10]], "lines": []}
    with pytest.raises(errors.PdfPasswordRequired):
        redact_pdf(str(source), str(tmp_path / "o.pdf"), [entry], TARGETS)
    with pytest.raises(errors.PdfPasswordIncorrect):
        redact_pdf(str(source), str(tmp_path / "o.pdf"), [entry], TARGETS, password="nope")


def test_rotated_page(tmp_path: Path) -> None:
    source = _plain(tmp_path / "in.pdf", rotate=90)
    output = tmp_path / "out.pdf"
    entry = _redaction(source, 1, SECRET_WORDS)
    assert (entry["width"], entry["height"]) == (792, 612)

    redact_pdf(str(source), str(output), [entry], TARGETS)

    assert surviving_targets(str(output), TARGETS) == []
    with pikepdf.open(output) as pdf:
        page = pdf.pages[0].obj
        assert _box(page.MediaBox) == [0, 0, 792, 612]
        assert int(page.Rotate) == 0
    scale = 2.0
    image = _render(output, 0, scale)
    assert image.size == (1584, 1224)
    for box in entry["boxes"]:
        assert _dark_fraction(image, box, scale) > 0.95
    # The kept words are where they were on the displayed page.
    document = pdfium.PdfDocument(str(output))
    try:
        kept = {word["text"]: word["bbox"] for line in page_lines(document[0]) for word in line["words"]}
    finally:
        document.close()
    for line in entry["lines"]:
        for word in line["words"]:
            x0, y0, x1, y1 = kept[word["text"]]
            # Left and right are the word's; top and bottom the line's (the text layer's geometry).
            assert (x0, x1) == pytest.approx((word["bbox"][0], word["bbox"][2]), abs=1.0)
            assert (y0, y1) == pytest.approx((line["bbox"][1], line["bbox"][3]), abs=1.0)


def test_pixels_are_bounded(tmp_path: Path) -> None:
    source = _plain(tmp_path / "in.pdf")
    output = tmp_path / "out.pdf"
    entry = _redaction(source, 1, SECRET_WORDS)
    redact_pdf(str(source), str(output), [entry], TARGETS, dpi=300, max_pixels=500_000)
    with pikepdf.open(output) as pdf:
        image = pdf.pages[0].obj.Resources.XObject["/Redacted"]
        assert int(image.Width) * int(image.Height) <= 500_000
        assert int(image.Width) > 500
    assert surviving_targets(str(output), TARGETS) == []


def test_bad_arguments(tmp_path: Path) -> None:
    from pdfjobs import errors

    source = _plain(tmp_path / "in.pdf")
    with pytest.raises(errors.PageOutOfRange):
        redact_pdf(str(source), str(tmp_path / "o.pdf"), [{"page": 3, "width": 1, "height": 1, "boxes": []}], [])
    with pytest.raises(ValueError):
        redact_pdf(str(source), str(tmp_path / "o.pdf"), [{"page": 1, "width": 0, "height": 1, "boxes": []}], [])


@pytest.mark.skipif(not CRAZYONES.exists(), reason="corpus file missing")
def test_real_document(tmp_path: Path) -> None:
    term = "crazy ones"
    assert surviving_targets(str(CRAZYONES), [term]) == [term]
    document = pdfium.PdfDocument(str(CRAZYONES))
    try:
        page = document[0]
        width, height = page.get_size()
        lines = page_lines(page)
    finally:
        document.close()
    boxes: list[list[float]] = []
    kept_lines = []
    for line in lines:
        words = line["words"]
        drop: set[int] = set()
        for i in range(len(words) - 1):
            first, second = words[i]["text"].lower(), words[i + 1]["text"].lower().strip(".,;:!?")
            if first.endswith("crazy") and second == "ones":
                drop |= {i, i + 1}
        boxes += [words[i]["bbox"] for i in sorted(drop)]
        kept = [word for i, word in enumerate(words) if i not in drop]
        if kept:
            kept_lines.append({**line, "words": kept})
    assert boxes
    entry = {"page": 1, "width": width, "height": height, "boxes": boxes, "lines": kept_lines}
    output = tmp_path / "out.pdf"

    redact_pdf(str(CRAZYONES), str(output), [entry], [term])

    assert surviving_targets(str(output), [term]) == []
    expected = [word["text"] for line in kept_lines for word in line["words"]]
    found = _pdftotext(output, 1).split()
    remaining = list(found)
    matched = 0
    for word in expected:
        if word in remaining:
            remaining.remove(word)
            matched += 1
    assert matched >= 0.95 * len(expected)


def test_javascript_and_open_action_carrying_a_target_are_removed(tmp_path: Path) -> None:
    source = _plain(tmp_path / "in.pdf")
    with pikepdf.open(source, allow_overwriting_input=True) as pdf:
        pdf.Root.OpenAction = pdf.make_indirect(
            Dictionary(S=Name.JavaScript, JS=pikepdf.String(f"app.alert('{NAME}')"))
        )
        script = pdf.make_indirect(Dictionary(S=Name.JavaScript, JS=pikepdf.String(f"x = '{SSN}'")))
        harmless = pdf.make_indirect(Dictionary(S=Name.JavaScript, JS=pikepdf.String("y = 1")))
        names = pikepdf.Array([pikepdf.String("a"), script, pikepdf.String("b"), harmless])
        pdf.Root.Names = Dictionary(JavaScript=Dictionary(Names=names))
        pdf.save(source)
    output = tmp_path / "out.pdf"

    redact_pdf(str(source), str(output), [_redaction(source, 1, SECRET_WORDS)], TARGETS)

    assert surviving_targets(str(output), TARGETS) == []
    with pikepdf.open(output) as pdf:
        assert "/OpenAction" not in pdf.Root
        assert list(pikepdf.NameTree(pdf.Root.Names.JavaScript).keys()) == ["b"]
