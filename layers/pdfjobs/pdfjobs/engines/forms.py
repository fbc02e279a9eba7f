"""Form fields: AcroForm fields with their values, XFA data, and key-value pairs read off the page.

`extract_form` reads a PDF's interactive form (AcroForm) with pikepdf: every terminal field once,
with its fully qualified name, type, value, options, flags and the page and box of its first
widget. Dynamic XFA forms have no usable AcroForm fields; for them it reports `xfa: true` and the
XFA `datasets` packet, and the job layer decides what to do.

`fields_from_layout` finds fields in forms that have no AcroForm (flattened PDFs, scans after
OCR) from the lines and words of their pages, by the usual conventions of printed forms:
"Label: value", a label with its value to the right after a wide gap, a label with its value on
the line below, and checkbox glyphs ("☐ Yes", "[x] No").

Boxes are PDF points with the origin at the top left of the page as displayed (after /Rotate),
like every bbox in this API. Everything taken and returned is plain data: this runs in an
isolated worker process (`pdfjobs.isolation.run_isolated`).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import median
from typing import Any

import pikepdf

from pdfjobs import errors
from pdfjobs.engines.text import display_transform
from pdfjobs.pdf.document import open_pdf

MAX_FIELDS = 10_000  # terminal fields reported, at most
MAX_DEPTH = 32  # levels of the field hierarchy followed
MAX_NODES = 100_000  # field-tree nodes (fields and widgets) looked at, at most
MAX_OPTIONS = 5_000  # choice options (or radio export values) per field
MAX_VALUE_CHARS = 100_000  # a text value longer than this is cut
MAX_XFA_BYTES = 1_000_000  # the XFA datasets packet returned, at most
MAX_METADATA_CHARS = 500  # a document-info entry longer than this is cut
_FIRST_PAGE_CHARS = 100_000  # characters of the first page searched for the form's number and version
_MAX_ANNOTATIONS = 200_000  # page annotations mapped to their pages, at most

# Field flags (PDF 32000-1, tables 221, 226, 228, 230): bit n is 1 << (n - 1).
_READ_ONLY = 1 << 0
_REQUIRED = 1 << 1
_RADIO = 1 << 15
_PUSHBUTTON = 1 << 16
_COMBO = 1 << 17
_MULTI_SELECT = 1 << 21

# Attributes a field inherits from its ancestors (PDF 32000-1, 12.7.3.1 and 12.7.4.4). /Opt and /I are not
# formally inheritable, but producers put them on the parent of kids that are all one list.
_INHERITABLE = ("/FT", "/Ff", "/V", "/DV", "/DA", "/Q", "/MaxLen", "/Opt", "/I")


# --- opening ---------------------------------------------------------------------------------------------


def extract_form(path: str, password: str | None = None) -> dict[str, Any]:
    """The document's form: `{"acroform", "xfa", "metadata", "fields", "xfaData"}`.

    - `fields`: one dict per terminal AcroForm field (see `_Walker.field`), in the field tree's order;
    - `acroform`: whether there is at least one such field;
    - `xfa`: whether the document carries an XFA form (an /XFA entry, or /NeedsRendering); when
      none of its AcroForm fields has a widget on a page (a dynamic XFA shell), `fields` is empty;
    - `xfaData`: the XFA `datasets` packet as text (cut at 1 MB), or None;
    - `metadata`: what the document states about itself (see `_metadata`), only entries found.

    Raises PdfPasswordRequired, PdfPasswordIncorrect or PdfInvalid for input it cannot read. A file
    that pdfium reads but pikepdf cannot parse has no form here (pdfium's layout still has the text).
    """
    first_page_text = _first_page_text(path, password)  # also the domain errors, as other engines raise them
    pdf = _open(path, password)
    if pdf is None:
        return {
            "acroform": False,
            "xfa": False,
            "metadata": _metadata(None, first_page_text),
            "fields": [],
            "xfaData": None,
        }
    try:
        return _extract(pdf, first_page_text)
    except pikepdf.PasswordError as error:
        raise errors.PdfPasswordIncorrect() from error
    except pikepdf.PdfError as error:
        raise errors.PdfInvalid("The document's form could not be read: its objects are damaged.") from error
    finally:
        pdf.close()


def _first_page_text(path: str, password: str | None) -> str:
    with open_pdf(path, password) as document:
        page = document[0]
        try:
            textpage = page.get_textpage()
            try:
                count = min(textpage.count_chars(), _FIRST_PAGE_CHARS)
                return textpage.get_text_range(0, count) if count > 0 else ""
            finally:
                textpage.close()
        finally:
            page.close()


def _open(path: str, password: str | None) -> pikepdf.Pdf | None:
    """The document opened with pikepdf, or None when its structure is beyond pikepdf's repair."""
    try:
        try:
            return pikepdf.open(path, password=password or "")
        except pikepdf.PasswordError:
            if not password:
                raise errors.PdfPasswordRequired() from None
        # pdfium accepted the file with this password or without one (a wrong password on a file
        # that needs none is harmless, as in pdfjobs.pdf.document): open it without.
        try:
            return pikepdf.open(path)
        except pikepdf.PasswordError:
            raise errors.PdfPasswordIncorrect() from None
    except pikepdf.PdfError:
        return None


def _extract(pdf: pikepdf.Pdf, first_page_text: str) -> dict[str, Any]:
    pages = _Pages(pdf)
    root = pdf.Root
    form = root.get("/AcroForm")
    form = form if isinstance(form, pikepdf.Dictionary) else None
    walker = _Walker(pages)
    if form is not None:
        for node in _array(form.get("/Fields")):
            walker.walk(node, "", {}, 0)
    walker.walk_orphans()
    fields = walker.fields

    xfa_entry = form.get("/XFA") if form is not None else None
    needs_rendering = root.get("/NeedsRendering")
    xfa = xfa_entry is not None or (isinstance(needs_rendering, bool) and needs_rendering)
    if xfa and not any(item["page"] is not None for item in fields):
        fields = []  # placeholders of a dynamic XFA form, not fields anyone fills in
    return {
        "acroform": bool(fields),
        "xfa": xfa,
        "metadata": _metadata(pdf, first_page_text),
        "fields": fields,
        "xfaData": _xfa_datasets(xfa_entry) if xfa_entry is not None else None,
    }


# --- pages -------------------------------------------------------------------------------------------------


@dataclass
class _PageGeometry:
    number: int
    width: float  # as displayed
    height: float
    to_display: Callable[[tuple[float, float, float, float]], tuple[float, float, float, float]]

    def bbox(self, rect: Any) -> list[float] | None:
        """A /Rect as a display box inside the page, or None when it is not four numbers."""
        try:
            x0, y0, x1, y1 = (float(value) for value in rect)
        except (TypeError, ValueError):
            return None
        box = self.to_display((min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
        left, right = sorted((_clip(box[0], self.width), _clip(box[2], self.width)))
        top, bottom = sorted((_clip(box[1], self.height), _clip(box[3], self.height)))
        return [round(left, 2), round(top, 2), round(right, 2), round(bottom, 2)]


def _clip(value: float, limit: float) -> float:
    return min(max(value, 0.0), limit)


class _Pages:
    """Each page's geometry, and which page each annotation is on."""

    def __init__(self, pdf: pikepdf.Pdf) -> None:
        self.by_page: dict[tuple[int, int], _PageGeometry] = {}
        self.by_annotation: dict[tuple[int, int], _PageGeometry] = {}
        self.widgets: list[pikepdf.Dictionary] = []  # every widget annotation, in page order
        annotations = 0
        for index, page in enumerate(pdf.pages):
            obj = page.obj
            geometry = _geometry(obj, index + 1)
            self.by_page[obj.objgen] = geometry
            annots = obj.get("/Annots")
            if annotations >= _MAX_ANNOTATIONS:
                continue
            for annotation in _array(annots):
                annotations += 1
                if annotations > _MAX_ANNOTATIONS:
                    break
                if isinstance(annotation, pikepdf.Dictionary) and annotation.is_indirect:
                    self.by_annotation[annotation.objgen] = geometry
                    if annotation.get("/Subtype") == "/Widget":
                        self.widgets.append(annotation)

    def of_widget(self, widget: pikepdf.Dictionary) -> _PageGeometry | None:
        if widget.is_indirect and widget.objgen in self.by_annotation:
            return self.by_annotation[widget.objgen]
        page = widget.get("/P")
        if isinstance(page, pikepdf.Dictionary) and page.is_indirect:
            return self.by_page.get(page.objgen)
        return None


def _geometry(page: pikepdf.Dictionary, number: int) -> _PageGeometry:
    media = _box(_inherited(page, "/MediaBox")) or (0.0, 0.0, 612.0, 792.0)
    crop = _box(_inherited(page, "/CropBox")) or media
    # The visible box, as pdfium takes it: the crop box clipped by the media box.
    left, bottom = max(media[0], crop[0]), max(media[1], crop[1])
    right, top = min(media[2], crop[2]), min(media[3], crop[3])
    if right <= left or top <= bottom:
        left, bottom, right, top = media
    try:
        rotation = int(_inherited(page, "/Rotate") or 0) % 360
    except (TypeError, ValueError):
        rotation = 0
    if rotation % 90:
        rotation = 0
    width, height = right - left, top - bottom
    if rotation in (90, 270):
        width, height = height, width
    return _PageGeometry(number, width, height, display_transform((left, bottom, right, top), rotation))


def _inherited(node: pikepdf.Dictionary, key: str) -> Any:
    seen: set[tuple[int, int]] = set()
    for _ in range(MAX_DEPTH):
        if key in node:
            return node[key]
        parent = node.get("/Parent")
        if not isinstance(parent, pikepdf.Dictionary) or parent.objgen in seen:
            return None
        seen.add(parent.objgen)
        node = parent
    return None


def _box(value: Any) -> tuple[float, float, float, float] | None:
    try:
        x0, y0, x1, y1 = (float(item) for item in value)
    except (TypeError, ValueError):
        return None
    box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    return box if box[2] > box[0] and box[3] > box[1] else None


# --- the field tree ----------------------------------------------------------------------------------------


@dataclass
class _Walker:
    pages: _Pages
    fields: list[dict[str, Any]] = field(default_factory=list)
    visited: set[tuple[int, int]] = field(default_factory=set)
    nodes: int = 0

    def full(self) -> bool:
        return len(self.fields) >= MAX_FIELDS or self.nodes >= MAX_NODES

    def walk(self, node: Any, parent_name: str, inherited: dict[str, Any], depth: int) -> None:
        """Report `node`'s terminal fields: itself when it has widgets (or nothing below it), and its kids'."""
        if depth > MAX_DEPTH or self.full() or not isinstance(node, pikepdf.Dictionary):
            return
        if node.is_indirect:
            if node.objgen in self.visited:
                return
            self.visited.add(node.objgen)
        self.nodes += 1
        try:
            partial = _text(node["/T"]) if "/T" in node else None
            name = f"{parent_name}.{partial}" if parent_name and partial else (partial or parent_name)
            attributes = {**inherited, **{key: node[key] for key in _INHERITABLE if key in node}}
            widgets, kids = self._kids(node)
            if widgets or not kids:
                item = self.field(node, name, partial, attributes, widgets)
                if item is not None:
                    self.fields.append(item)
        except (pikepdf.PdfError, ValueError, TypeError, KeyError, AttributeError, IndexError):
            return  # one damaged field does not cost the others
        for kid in kids:
            self.walk(kid, name, attributes, depth + 1)

    def _kids(self, node: pikepdf.Dictionary) -> tuple[list[pikepdf.Dictionary], list[pikepdf.Dictionary]]:
        """(the widgets of `node` itself, its kids that are fields)."""
        widgets = [node] if _is_widget(node) else []
        fields: list[pikepdf.Dictionary] = []
        kids = node.get("/Kids")
        for kid in _array(kids):
            self.nodes += 1
            if self.nodes >= MAX_NODES:
                break
            if not isinstance(kid, pikepdf.Dictionary) or (kid.is_indirect and kid.objgen in self.visited):
                continue
            if "/T" not in kid and _is_widget(kid):
                if kid.is_indirect:
                    self.visited.add(kid.objgen)
                widgets.append(kid)
            else:
                fields.append(kid)
        return widgets, fields

    def walk_orphans(self) -> None:
        """Fields whose widgets are on pages but which /Fields leaves out (forms written carelessly)."""
        for widget in self.pages.widgets:
            if self.full():
                return
            if widget.objgen in self.visited:
                continue
            top = widget
            seen = {widget.objgen}
            for _ in range(MAX_DEPTH):
                parent = top.get("/Parent")
                if not isinstance(parent, pikepdf.Dictionary) or not parent.is_indirect or parent.objgen in seen:
                    break
                seen.add(parent.objgen)
                top = parent
            if top.objgen not in self.visited and _inherited(widget, "/FT") is not None:
                self.walk(top, "", {}, 0)

    def field(
        self,
        node: pikepdf.Dictionary,
        name: str,
        partial: str | None,
        attributes: dict[str, Any],
        widgets: list[pikepdf.Dictionary],
    ) -> dict[str, Any] | None:
        """The output dict of one terminal field, or None when it has no field type."""
        field_type = _name(attributes.get("/FT"))
        flags = _int(attributes.get("/Ff"))
        kind = _kind(field_type, flags)
        if kind is None:
            return None
        value, options = _value(kind, attributes, widgets, flags)
        geometry = None
        bbox = None
        for widget in widgets:
            geometry = self.pages.of_widget(widget)
            if geometry is not None:
                bbox = geometry.bbox(widget.get("/Rect"))
                break
        tooltip = _text(node["/TU"]) if "/TU" in node else ""
        if not tooltip:
            tooltip = next((_text(w["/TU"]) for w in widgets if "/TU" in w and _text(w["/TU"])), "")
        return {
            "type": "field",
            "name": name,
            "label": tooltip or partial or name,
            "fieldType": kind,
            "value": value,
            "options": options,
            "page": geometry.number if geometry is not None else None,
            "bbox": bbox,
            "section": name.rpartition(".")[0],
            "required": bool(flags & _REQUIRED),
            "readOnly": bool(flags & _READ_ONLY),
            "source": "acroform",
        }


def _is_widget(node: pikepdf.Dictionary) -> bool:
    subtype = node.get("/Subtype")
    return subtype == "/Widget" or (subtype is None and "/Rect" in node)


def _kind(field_type: str | None, flags: int) -> str | None:
    if field_type == "Tx":
        return "text"
    if field_type == "Btn":
        if flags & _PUSHBUTTON:
            return "button"
        return "radio" if flags & _RADIO else "checkbox"
    if field_type == "Ch":
        return "choice" if flags & _COMBO else "listbox"
    if field_type == "Sig":
        return "signature"
    return None


# --- values --------------------------------------------------------------------------------------------------


def _value(
    kind: str, attributes: dict[str, Any], widgets: list[pikepdf.Dictionary], flags: int
) -> tuple[Any, list[str]]:
    """(value, options) of a field of `kind`; an unfilled field's value is None (False for a checkbox)."""
    value = attributes.get("/V")
    if kind == "text":
        if isinstance(value, pikepdf.Stream):  # a text stream: allowed for long values
            text = value.read_bytes()[: MAX_VALUE_CHARS * 4].decode("utf-8", errors="replace")
        else:
            text = _text(value) if value is not None else ""
        text = text.replace("\r\n", "\n").replace("\r", "\n")  # PDF writers end lines in multiline fields with CR
        return (text[:MAX_VALUE_CHARS] or None), []
    if kind in ("checkbox", "radio"):
        return _button_value(kind, attributes, widgets)
    if kind in ("choice", "listbox"):
        return _choice_value(kind, attributes, flags)
    if kind == "signature":
        return isinstance(value, pikepdf.Dictionary), []
    return None, []  # a pushbutton holds no value


def _button_value(kind: str, attributes: dict[str, Any], widgets: list[pikepdf.Dictionary]) -> tuple[Any, list[str]]:
    # With /Opt (PDF 1.5), a button's state names are indexes into it and its entries are the export values.
    export = [_text(item) for item in _array(attributes.get("/Opt"))[:MAX_OPTIONS]]

    def exported(state: str) -> str:
        return export[int(state)] if state.isdigit() and int(state) < len(export) else state

    states: list[str] = []
    for widget in widgets:
        for state in _on_states(widget):
            if state not in states and len(states) < MAX_OPTIONS:
                states.append(state)
    options = [exported(state) for state in states]
    value = attributes.get("/V")
    selected = _name(value) if isinstance(value, pikepdf.Name) else None
    if selected is None:  # no /V: the widgets' appearance states tell
        selected = next((s for w in widgets if (s := _name(w.get("/AS"))) not in (None, "Off")), None)
    if kind == "checkbox":
        return selected not in (None, "Off"), options
    return (exported(selected) if selected not in (None, "Off") else None), options


def _on_states(widget: pikepdf.Dictionary) -> list[str]:
    """The names of a button widget's appearance states other than Off."""
    appearances = widget.get("/AP")
    if not isinstance(appearances, pikepdf.Dictionary):
        return []
    states: list[str] = []
    for key in ("/N", "/D"):
        entry = appearances.get(key)
        if isinstance(entry, pikepdf.Dictionary):  # a stream is one appearance, without states
            for key_name in _array_keys(entry):
                if (name := _decode_name(key_name)) != "Off" and name not in states:
                    states.append(name)
    return states


def _choice_value(kind: str, attributes: dict[str, Any], flags: int) -> tuple[Any, list[str]]:
    options: list[str] = []
    for item in _array(attributes.get("/Opt"))[:MAX_OPTIONS]:
        if isinstance(item, pikepdf.Array):  # [export value, display text]: the value is the export one
            options.append(_text(item[0]) if len(item) else "")
        else:
            options.append(_text(item))
    value = attributes.get("/V")
    if isinstance(value, pikepdf.Array):
        selected = [_text(item) for item in _array(value)[:MAX_OPTIONS]]
    elif value is not None:
        selected = [_text(value)]
    else:  # no /V: the selected option indexes (/I), when given
        indexes = [_int(index) for index in _array(attributes.get("/I"))[:MAX_OPTIONS]]
        selected = [options[i] for i in indexes if 0 <= i < len(options)]
    selected = [item for item in selected if item]
    if kind == "listbox" and flags & _MULTI_SELECT:
        return (selected or None), options
    if len(selected) > 1:
        return selected, options
    return (selected[0] if selected else None), options


# --- PDF objects to plain values ---------------------------------------------------------------------------------


def _text(value: Any) -> str:
    """A PDF text string (PDFDocEncoding, UTF-16 or UTF-8 with their byte-order marks), or a name, as str."""
    if isinstance(value, pikepdf.String):
        raw = bytes(value)
        if raw.startswith(b"\xef\xbb\xbf"):  # PDF 2.0's UTF-8
            return raw[3:].decode("utf-8", errors="replace").replace("\x00", "")
        return str(value).replace("\x00", "")
    if isinstance(value, pikepdf.Name):
        return _name(value) or ""
    if isinstance(value, str | int | float):
        return str(value)
    return ""


def _name(value: Any) -> str | None:
    """A PDF name without its slash, #xx escapes decoded; None when `value` is not a name."""
    return _decode_name(str(value)) if isinstance(value, pikepdf.Name) else None


def _decode_name(name: str) -> str:
    raw = name[1:] if name.startswith("/") else name
    if "#" in raw:
        try:
            decoded = re.sub(rb"#([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), raw.encode("latin-1"))
        except UnicodeEncodeError:
            return raw
        try:
            return decoded.decode("utf-8")
        except UnicodeDecodeError:
            return decoded.decode("latin-1")
    return raw


def _int(value: Any) -> int:
    try:
        return int(value) if value is not None else 0
    except (TypeError, ValueError):
        return 0


def _array(value: Any) -> list[Any]:
    """The items of a PDF array (anything else has none)."""
    if not isinstance(value, pikepdf.Array):
        return []
    items: Any = value
    return list(items)


def _array_keys(value: pikepdf.Dictionary) -> list[str]:
    keys: Any = value.keys()
    return [str(key) for key in keys]


# --- XFA ----------------------------------------------------------------------------------------------------


def _xfa_datasets(entry: Any) -> str | None:
    """The `datasets` packet of an /XFA entry (an array of name, stream pairs, or one XDP stream)."""
    try:
        if isinstance(entry, pikepdf.Array):
            items = _array(entry)
            for name, packet in zip(items[::2], items[1::2], strict=False):
                if _text(name) == "datasets" and isinstance(packet, pikepdf.Stream):
                    return _capped(packet.read_bytes())
            return None
        if isinstance(entry, pikepdf.Stream):
            data = entry.read_bytes()
            match = re.search(rb"<(?:[\w.-]+:)?datasets\b", data)
            if match is None:
                return None
            end = re.search(rb"</(?:[\w.-]+:)?datasets\s*>", data[match.start() :])
            return _capped(data[match.start() : match.start() + end.end()] if end else data[match.start() :])
    except pikepdf.PdfError:
        return None  # an undecodable XFA stream: the job layer sees xfa without data
    return None


def _capped(data: bytes) -> str:
    return data[:MAX_XFA_BYTES].decode("utf-8", errors="ignore" if len(data) > MAX_XFA_BYTES else "replace")


# --- metadata -------------------------------------------------------------------------------------------------

_MONTHS = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_ACORD = re.compile(r"\bACORD\s+(\d{1,4}[A-Z]?)(?:\s+[A-Z]{2})?\s*\((\d{4}/\d{2})\)")
_ACORD_ISSUER = re.compile(r"\bACORD\s+CORPORATION\b|\bACORD\s+\d{1,4}[A-Z]?\b")
_FORM_NUMBER = re.compile(r"\b(?:Form|FORM)\s+((?:[A-Z]{1,4}-)?\d{1,5}(?:-[A-Z0-9]{1,8})?[A-Z]{0,3})\b")
_REVISION = re.compile(
    r"\bRev(?:\.|ision|ised)?\s*(?:[Dd]ate)?\s*:?\s*("
    rf"{_MONTHS}\s+\d{{4}}|\d{{1,2}}[/.-]\d{{1,2}}[/.-]\d{{2,4}}|\d{{1,2}}[/.-]\d{{2,4}}|\d{{4}}(?:[/-]\d{{2}}){{0,2}}"
    r")"
)
_VERSION = re.compile(r"\b(?:Version|VERSION|Ver\.)\s*:?\s*(\d+(?:\.\d+){0,3}[a-z]?)\b")
_OMB = re.compile(r"\bOMB\s+(?:Control\s+)?(?:No\.?|Number)\s*:?\s*(\d{4}-\d{4})\b")
_AGENCIES = (
    "Internal Revenue Service",
    "Social Security Administration",
    "Centers for Medicare & Medicaid Services",
    "U.S. Citizenship and Immigration Services",
)
_DEPARTMENT = re.compile(r"^\s*((?:U\.S\.\s+)?Department of (?:the )?[A-Z][A-Za-z,&' ]{2,60}?)\s*$", re.MULTILINE)
_DOCUMENT_INFO = (("title", "/Title"), ("subject", "/Subject"), ("author", "/Author"), ("creator", "/Creator"))


def _metadata(pdf: pikepdf.Pdf | None, first_page_text: str) -> dict[str, str]:
    """What the document states about itself: from its first page's text, its info dictionary and XMP.

    Keys, each only when found: formType ("Form W-9", "ACORD 25"), issuer, formVersion ("2016/03",
    "March 2024", "2.1"), ombNumber, title, subject, author, creator, producer.
    """
    info: dict[str, str] = {}
    docinfo = _docinfo(pdf) if pdf is not None else {}
    for key, entry in (*_DOCUMENT_INFO, ("producer", "/Producer")):
        if entry in docinfo:
            info[key] = docinfo[entry]
    if pdf is not None and ("title" not in info or "producer" not in info or "creator" not in info):
        info = {**_xmp(pdf), **info}

    found: dict[str, str] = {}
    for text in (first_page_text, info.get("title", ""), info.get("subject", "")):
        for key, value in _from_text(text).items():
            found.setdefault(key, value)
    ordered = ("formType", "issuer", "formVersion", "ombNumber", "title", "subject", "author", "creator", "producer")
    merged = {**found, **info}
    return {key: merged[key] for key in ordered if merged.get(key)}


def _docinfo(pdf: pikepdf.Pdf) -> dict[str, str]:
    try:
        info = pdf.trailer.get("/Info")
        if not isinstance(info, pikepdf.Dictionary):
            return {}
        return {
            entry: text
            for _, entry in (*_DOCUMENT_INFO, ("producer", "/Producer"))
            if entry in info and (text := _clean(_text(info[entry])))
        }
    except pikepdf.PdfError:
        return {}


def _xmp(pdf: pikepdf.Pdf) -> dict[str, str]:
    try:
        if "/Metadata" not in pdf.Root:
            return {}
        meta = pdf.open_metadata()
        values = {
            "title": meta.get("dc:title"),
            "producer": meta.get("pdf:Producer"),
            "creator": meta.get("xmp:CreatorTool"),
        }
    except Exception:  # a damaged XMP packet only costs its entries
        return {}
    return {key: text for key, value in values.items() if isinstance(value, str) and (text := _clean(value))}


def _clean(text: str) -> str:
    return " ".join(text.split())[:MAX_METADATA_CHARS]


def _from_text(text: str) -> dict[str, str]:
    if not text:
        return {}
    found: dict[str, str] = {}
    if match := _ACORD.search(text):
        found["formType"] = f"ACORD {match.group(1)}"
        found["formVersion"] = match.group(2)
    elif match := _FORM_NUMBER.search(text):
        found["formType"] = f"Form {match.group(1)}"
    if _ACORD_ISSUER.search(text):
        found["issuer"] = "ACORD"
    elif agency := next((name for name in _AGENCIES if name in text), None):
        found["issuer"] = agency
    elif match := _DEPARTMENT.search(text):
        found["issuer"] = _clean(match.group(1))
    if "formVersion" not in found:
        if match := _REVISION.search(text):
            found["formVersion"] = _clean(match.group(1))
        elif match := _VERSION.search(text):
            found["formVersion"] = match.group(1)
    if match := _OMB.search(text):
        found["ombNumber"] = match.group(1)
    return found


# --- CSV ------------------------------------------------------------------------------------------------------


def to_csv(result: Mapping[str, Any], pages_meta: Mapping[str, Any] | None = None) -> str:
    """The form as CSV: a Metadata section (Key,Value rows), a blank line, then one row per field.

    `pages_meta` adds rows to the Metadata section (e.g. {"pages": 3}). Field rows are
    `Section,Field Name,Value,Page`: the field's name without its section, checkbox values as
    Yes/No, lists joined with "; ", no value as an empty cell. Quoting is RFC 4180's (csv module).
    """
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Metadata"])
    writer.writerow(["Key", "Value"])
    for key, value in {**(result.get("metadata") or {}), **(pages_meta or {})}.items():
        writer.writerow([key, _cell(value)])
    writer.writerow([])
    writer.writerow(["Section", "Field Name", "Value", "Page"])
    for item in result.get("fields") or []:
        section = item.get("section") or ""
        name = item.get("name") or item.get("label") or ""
        if section and name.startswith(section + "."):
            name = name[len(section) + 1 :]
        page = item.get("page")
        writer.writerow([section, name, _cell(item.get("value")), "" if page is None else page])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list | tuple):
        return "; ".join(_cell(item) for item in value)
    return str(value)


# --- fields from the layout of text -------------------------------------------------------------------------------

# A checkbox as a word: glyphs, or what OCR makes of a drawn box ("[ ]", "(_]", "[x]").
_CHECKED_GLYPHS = "☑☒⊠🗹🗷"
_UNCHECKED_GLYPHS = "☐□❏❐❑❒🗆"
_CHECKED_BOX = re.compile(r"^[\[(]\s*[xX✓✔✗✘]\s*[\])]$")
_UNCHECKED_BOX = re.compile(r"^[\[(][ _]?[\])]$")
# A word that is only a drawn line or box edge as OCR reads it, or a fill-in leader.
_NOISE = re.compile("^[|\\[\\](){}_=~\u2014\u2013\\-.,:;'\"`\u2026]+$")
_LEADER = re.compile(r"[_…]{2,}|\.{3,}")
_EDGE_NOISE = re.compile(r"^[|\[\](){}_]+|[|\[\](){}_]+$")
# Words that name a form field (a label without a colon must contain one).
_LABEL_WORDS = re.compile(
    r"\b(?:names?|date|dated|birth|dob|address|street|city|town|state|province|county|zip|postal|postcode|"
    r"country|phone|tel|telephone|mobile|cell|fax|e-?mail|number|no\.|id|ssn|tin|ein|account|policy|amount|"
    r"total|sum|signature|signed|title|company|employer|occupation|gender|sex|age|nationality|citizenship|"
    r"insured|applicant|agent|producer|carrier|insurer|premium|effective|expiration|expiry|code|reference|"
    r"ref|invoice|member|patient|contact|position|department|birthday|height|weight|salary|income|"
    r"vin|make|model|year|license|licence|passport|place|relationship|beneficiary|spouse)\b|#",
    re.IGNORECASE,
)
# Words of running prose that a label does not contain.
_PROSE = (
    "is are was were be been being he she they we i you it its said says this that these those here there "
    "which who will would can could should shall may might must have has had do does did not"
)
_PROSE_WORDS = frozenset(_PROSE.split())
_HEADING_PREFIX = re.compile(r"^(?:part|section|schedule|step)\s+(?:[ivxlc]+|\d+[a-z]?|[a-z])\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?;,]$")
_GAP = 1.0  # a gap this many word heights wide separates a label from its value on one line
_BELOW_GAP = 1.6  # a value this many label heights below its label, at most
_MIN_VALUE_CONFIDENCE = 60.0  # OCR words read with less confidence than this are no value
_MAX_LABEL_WORDS = 6
_MAX_VALUE_WORDS = 15
_PROSE_ROW_WORDS = 10  # a one-piece line this long is running text


@dataclass
class _Word:
    text: str
    x0: float
    y0: float
    x1: float
    y1: float
    confidence: float  # 0..100

    @property
    def height(self) -> float:
        return max(self.y1 - self.y0, 0.1)


@dataclass
class _Segment:
    """Words of one row with no wide gap between them."""

    words: list[_Word]
    used: bool = False

    @property
    def text(self) -> str:
        return " ".join(word.text for word in self.words)

    @property
    def x0(self) -> float:
        return min(word.x0 for word in self.words)

    @property
    def x1(self) -> float:
        return max(word.x1 for word in self.words)


@dataclass
class _Row:
    words: list[_Word]
    segments: list[_Segment] = field(default_factory=list)

    @property
    def y0(self) -> float:
        return min(word.y0 for word in self.words)

    @property
    def y1(self) -> float:
        return max(word.y1 for word in self.words)

    @property
    def height(self) -> float:
        return median(word.height for word in self.words)


def fields_from_layout(pages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Key-value fields of pages in the OCR result's shape (`pdfjobs.ocr`), for forms without AcroForm.

    Each field is shaped like an AcroForm one ("text" or "checkbox"), with `source: "layout"`, a
    `confidence` (0..1), the page and box of its value, and the section of the nearest heading
    above it. Lines of running text give no fields.
    """
    fields: list[dict[str, Any]] = []
    section = ""
    for page in pages:
        rows = _rows(page.get("lines") or [])
        if not rows:
            continue
        number = int(page.get("page") or 0) or None
        section = _Page(rows, number, section, is_first=not fields and page is pages[0]).read(fields)
        if len(fields) >= MAX_FIELDS:
            return fields[:MAX_FIELDS]
    return fields


def _rows(lines: Iterable[Mapping[str, Any]]) -> list[_Row]:
    """The page's words in rows (lines sharing a baseline band), top to bottom, each left to right."""
    words: list[list[_Word]] = []
    for line in lines:
        line_words = [word for item in line.get("words") or [] if (word := _word(item)) is not None]
        if not line_words and line.get("text") and line.get("bbox"):
            line_words = _split_line(line)
        if line_words:
            words.append(line_words)
    words.sort(key=lambda items: min(w.y0 for w in items))
    rows: list[_Row] = []
    for line_words in words:
        top, bottom = min(w.y0 for w in line_words), max(w.y1 for w in line_words)
        for row in rows[-3:]:
            overlap = min(bottom, row.y1) - max(top, row.y0)
            if overlap >= 0.5 * min(bottom - top, row.y1 - row.y0):
                row.words.extend(line_words)
                break
        else:
            rows.append(_Row(list(line_words)))
    for row in rows:
        row.words.sort(key=lambda w: w.x0)
        row.words = _merge_boxes(row.words)
        row.segments = _segments(row)
    rows = [row for row in rows if row.segments]
    rows.sort(key=lambda row: row.y0)
    return rows


def _word(item: Mapping[str, Any]) -> _Word | None:
    text = str(item.get("text") or "").strip()
    try:
        x0, y0, x1, y1 = (float(value) for value in item["bbox"])
        confidence = float(item.get("confidence", 100.0))
    except (KeyError, TypeError, ValueError):
        return None
    return _Word(text, x0, y0, x1, y1, confidence) if text else None


def _split_line(line: Mapping[str, Any]) -> list[_Word]:
    """Words of a line given without them: its text cut at spaces, its box shared by character count."""
    try:
        x0, y0, x1, y1 = (float(value) for value in line["bbox"])
        confidence = float(line.get("confidence", 100.0))
    except (KeyError, TypeError, ValueError):
        return []
    text = str(line["text"])
    per_char = (x1 - x0) / max(len(text), 1)
    return [
        _Word(match.group(), x0 + match.start() * per_char, y0, x0 + match.end() * per_char, y1, confidence)
        for match in re.finditer(r"\S+", text)
    ]


def _merge_boxes(words: list[_Word]) -> list[_Word]:
    """OCR reads a drawn box as separate words ("[", "x", "]"): join those back into one."""
    merged: list[_Word] = []
    index = 0
    while index < len(words):
        for span in (3, 2):
            group = words[index : index + span]
            if len(group) == span and group[0].text in "[(" and group[-1].text in "])":
                text = "".join(word.text for word in group)
                if (_CHECKED_BOX.match(text) or _UNCHECKED_BOX.match(text)) and group[-1].x0 - group[0].x1 < 3 * group[
                    0
                ].height:
                    merged.append(
                        _Word(
                            text,
                            group[0].x0,
                            min(w.y0 for w in group),
                            group[-1].x1,
                            max(w.y1 for w in group),
                            min(w.confidence for w in group),
                        )
                    )
                    index += span
                    break
        else:
            merged.append(words[index])
            index += 1
    return merged


def _segments(row: _Row) -> list[_Segment]:
    """The row cut at wide gaps and at box edges OCR read as characters ("|")."""
    gap = _GAP * row.height
    segments: list[_Segment] = []
    current: list[_Word] = []
    previous: _Word | None = None
    for word in row.words:
        if _checkbox_state(word.text) is None and _NOISE.match(word.text):
            if current:
                segments.append(_Segment(current))
            current, previous = [], None
            continue
        text = _EDGE_NOISE.sub("", word.text) if _checkbox_state(word.text) is None else word.text
        if not text:
            continue
        if text != word.text:
            word = _Word(text, word.x0, word.y0, word.x1, word.y1, word.confidence)
        if previous is not None and word.x0 - previous.x1 > gap and current:
            segments.append(_Segment(current))
            current = []
        current.append(word)
        previous = word
    if current:
        segments.append(_Segment(current))
    return segments


def _checkbox_state(text: str) -> bool | None:
    """True for a checked box, False for an empty one, None for a word that is no box."""
    if text in _CHECKED_GLYPHS or _CHECKED_BOX.match(text):
        return True
    if text in _UNCHECKED_GLYPHS or _UNCHECKED_BOX.match(text):
        return False
    return None


def _split_glyph(words: list[_Word]) -> list[_Word]:
    """A box glyph glued to its label ("☐Yes", "[x]No") as two words."""
    out: list[_Word] = []
    for word in words:
        match = re.match(r"^([☐☑☒⊠□]|\[[ xX✓✔_]?\])(\S+)$", word.text)
        if match is None:
            out.append(word)
            continue
        split = word.x0 + (word.x1 - word.x0) * len(match.group(1)) / len(word.text)
        out.append(_Word(match.group(1), word.x0, word.y0, split, word.y1, word.confidence))
        out.append(_Word(match.group(2), split, word.y0, word.x1, word.y1, word.confidence))
    return out


@dataclass
class _Page:
    rows: list[_Row]
    number: int | None
    section: str
    is_first: bool
    found: list[tuple[int, float, dict[str, Any]]] = field(default_factory=list)
    row_index: int = 0  # the row whose fields are being read

    def read(self, out: list[dict[str, Any]]) -> str:
        """Append the page's fields to `out`, in reading order; return the section in force at its end."""
        page_height = median(row.height for row in self.rows)
        pending: dict[int, str] = {}  # rows of labels still waiting for their values, with their section
        for index, row in enumerate(self.rows):
            self.row_index = index
            if self._heading(row, index, page_height):
                self.section = _label_text(row.segments[0].text)
                row.segments[0].used = True
                continue
            if any(_checkbox_state(word.text) is not None for word in _split_glyph(row.words)):
                self._checkboxes(row)
                continue
            self._same_line(row)
            if any(not segment.used for segment in row.segments) and all(
                segment.used or _is_label(segment, colon_only=False) for segment in row.segments
            ):
                pending[index] = self.section
        for index, section in pending.items():
            if index + 1 < len(self.rows):
                self.row_index = index
                self._below(self.rows[index], self.rows[index + 1], section)
        self.found.sort(key=lambda entry: (entry[0], entry[1]))
        out.extend(item for _, _, item in self.found)
        return self.section

    def _heading(self, row: _Row, index: int, page_height: float) -> bool:
        if len(row.segments) != 1:
            return False
        text = row.segments[0].text
        words = text.split()
        letters = [char for char in text if char.isalpha()]
        if not words or len(words) > 8 or len(text) > 60 or len(letters) < 3 or text.endswith(":"):
            return False
        if len(letters) < 0.6 * len(text.replace(" ", "")):
            return False  # a date or a number, not a heading
        if _HEADING_PREFIX.match(text):
            return True
        if _SENTENCE_END.search(text) or _colon_split(row.segments[0].words):
            return False
        if all(char.isupper() for char in letters) and len(letters) >= 4:
            return True
        if row.height >= 1.25 * page_height:
            # The first, large line of a document is its title rather than a section of it.
            return not (self.is_first and index == 0)
        return False

    def _emit(
        self,
        label: str,
        value_words: list[_Word],
        label_words: list[_Word],
        base: float,
        section: str | None = None,
        *,
        kind: str = "text",
        value: Any = None,
        group: str = "",
    ) -> None:
        section = self.section if section is None else section
        words = label_words + value_words
        confidence = base * (sum(w.confidence for w in words) / len(words) / 100.0 if words else 1.0)
        name = ".".join(part for part in (section, group, label) if part)
        item: dict[str, Any] = {
            "type": "field",
            "name": name,
            "label": label,
            "fieldType": kind,
            "value": _value_text(value_words) if kind == "text" else value,
            "options": [],
            "page": self.number,
            "bbox": _hull(value_words),
            "section": section,
            "required": False,
            "readOnly": False,
            "source": "layout",
            "confidence": round(max(0.0, min(confidence, 1.0)), 2),
        }
        self.found.append((self.row_index, value_words[0].x0 if value_words else 0.0, item))

    def _checkboxes(self, row: _Row) -> None:
        """A row of boxes: each with the text after it ("☐ Yes ☒ No"), or before it when boxes end the row."""
        words = _split_glyph(row.words)
        marks = [i for i, word in enumerate(words) if _checkbox_state(word.text) is not None]
        boxes_first = marks[0] == 0 or marks[-1] != len(words) - 1
        group = ""
        if boxes_first and marks[0] > 0:
            group = _label_text(" ".join(word.text for word in words[: marks[0]]))
        bounds = [*marks, len(words)] if boxes_first else [-1, *marks]
        for n, mark in enumerate(marks):
            if boxes_first:
                label_words = [w for w in words[mark + 1 : bounds[n + 1]] if not _NOISE.match(w.text)]
            else:
                label_words = [w for w in words[bounds[n] + 1 : mark] if not _NOISE.match(w.text)]
            label = _label_text(" ".join(word.text for word in label_words))
            if not label:
                continue
            box = words[mark]
            if box.text in _CHECKED_GLYPHS or box.text in _UNCHECKED_GLYPHS:
                base = 0.85
            elif box.text.lower() in ("[x]", "[ ]", "[]"):
                base = 0.75
            else:
                base = 0.6  # what OCR makes of a drawn box: "(]", "(_]"
            self._emit(
                label,
                [box],
                label_words,
                base,
                kind="checkbox",
                value=_checkbox_state(box.text),
                group=group,
            )
        for segment in row.segments:
            segment.used = True

    def _same_line(self, row: _Row) -> None:
        """Label-colon-value pairs in one piece, and a label with its value right of it after a wide gap."""
        segments = row.segments
        prose = len(segments) == 1 and len(row.words) >= _PROSE_ROW_WORDS
        for n, segment in enumerate(segments):
            if segment.used:
                continue
            pairs = _colon_split(segment.words)
            if pairs and not (prose and len(pairs[0][0]) > 3):
                emitted = [self._value_pair(label, value, 0.9) for label, value in pairs if value]
                last_label, last_value = pairs[-1]
                if last_value:
                    segment.used = True
                    continue
                # The segment ends with a label: its value is the next segment, if that is one (else
                # perhaps the line below, when nothing else on this line was a field).
                following = segments[n + 1] if n + 1 < len(segments) else None
                if (
                    following is not None
                    and _is_value(following)
                    and self._value_pair(last_label, following.words, 0.85)
                ):
                    segment.used = following.used = True
                elif emitted:
                    segment.used = True
                continue
            if _is_label(segment, colon_only=False) and n + 1 < len(segments):
                following = segments[n + 1]
                if (
                    _is_value(following)
                    and not _is_label(following, colon_only=False)
                    and self._value_pair(segment.words, following.words, 0.6)
                ):
                    segment.used = following.used = True

    def _value_pair(
        self, label_words: list[_Word], value_words: list[_Word], base: float, section: str | None = None
    ) -> bool:
        value_words = [w for w in value_words if not _NOISE.match(w.text)]
        value = _value_text(value_words)
        label = _label_text(" ".join(word.text for word in label_words))
        if not value or not label or len(value_words) > _MAX_VALUE_WORDS:
            return False
        if sum(w.confidence for w in value_words) / len(value_words) < _MIN_VALUE_CONFIDENCE:
            return False
        self._emit(label, value_words, label_words, base, section)
        return True

    def _below(self, row: _Row, below: _Row, section: str) -> None:
        """Labels whose values are on the next line, under them (one label, or one per column)."""
        labels = [segment for segment in row.segments if not segment.used]
        values = [segment for segment in below.segments if not segment.used]
        if not labels or len(values) != len(below.segments) or len(values) != len(labels):
            return
        if below.y0 - row.y1 > _BELOW_GAP * row.height or below.y0 < row.y1 - 0.25 * row.height:
            return
        if row.height > 1.15 * below.height:  # a label is not larger than its value
            return
        if len(below.words) >= _PROSE_ROW_WORDS and len(values) == 1:
            return
        for label, value in zip(labels, values, strict=True):
            overlap = min(label.x1, value.x1) - max(label.x0, value.x0)
            if overlap <= 0 and abs(label.x0 - value.x0) > 2 * row.height:
                return
            if not _is_value(value) or _is_label(value, colon_only=True):
                return
        for label, value in zip(labels, values, strict=True):
            colon = label.text.endswith(":")
            if not colon and _height(label) > 0.9 * _height(value):
                continue  # without a colon, only a caption smaller than the value under it is its label
            if self._value_pair(label.words, value.words, 0.75 if colon else 0.55, section):
                label.used = value.used = True


def _colon_split(words: list[_Word]) -> list[tuple[list[_Word], list[_Word]]]:
    """A segment's "Label: value" pairs ("Name: Jane Doe Date: 2020-01-02" gives two), or []."""
    ends = [i for i, word in enumerate(words) if word.text.endswith(":") and (len(word.text) > 1 or i > 0)]
    if not ends or ends[0] + 1 > _MAX_LABEL_WORDS or not _label_words_ok(words[: ends[0] + 1]):
        return []
    pairs: list[tuple[list[_Word], list[_Word]]] = []
    start = 0
    for k, end in enumerate(ends):
        label = words[start : end + 1]
        value_end = len(words)
        next_start = len(words)
        if k + 1 < len(ends):
            following = ends[k + 1]
            # The next label: the shortest capitalised run ending at the next colon, leaving a value.
            next_start = following + 1
            for candidate in range(following, max(end, following - _MAX_LABEL_WORDS), -1):
                if candidate > end + 1 and words[candidate].text[:1].isupper():
                    next_start = candidate
                    break
            if next_start > following or not _label_words_ok(words[next_start : following + 1]):
                # No label there: the colon is part of the value ("Time: 10:30 am").
                ends = ends[: k + 1]
                next_start = len(words)
            value_end = next_start
        pairs.append((label, words[end + 1 : value_end]))
        start = next_start
        if start >= len(words):
            break
    return pairs


def _label_words_ok(words: list[_Word]) -> bool:
    text = _label_text(" ".join(word.text for word in words))
    if not text or len(words) > _MAX_LABEL_WORDS or len(text) > 60 or not any(c.isalpha() for c in text):
        return False
    if re.search(r"https?$|\d$", text) and not _LABEL_WORDS.search(text):
        return False  # "http://", "10:30"
    return not any(word.lower().strip(",;") in _PROSE_WORDS for word in text.split())


def _is_label(segment: _Segment, *, colon_only: bool) -> bool:
    text = segment.text
    if text.endswith(":"):
        return _label_words_ok(segment.words)
    if colon_only or len(segment.words) > 4 or not text[:1].isupper() or re.search(r"[,;!?]|\.$", text):
        return False
    return bool(_LABEL_WORDS.search(text)) and _label_words_ok(segment.words)


def _is_value(segment: _Segment) -> bool:
    return (
        not segment.used
        and not segment.text.endswith(":")
        and not _colon_split(segment.words)
        and len(segment.words) <= _MAX_VALUE_WORDS
    )


def _height(segment: _Segment) -> float:
    return median(word.height for word in segment.words)


def _label_text(text: str) -> str:
    text = _LEADER.sub(" ", text)
    return " ".join(text.split()).rstrip(":").strip()


def _value_text(words: list[_Word]) -> str:
    return " ".join(_LEADER.sub(" ", " ".join(word.text for word in words)).split())


def _hull(words: list[_Word]) -> list[float]:
    return [
        round(min(w.x0 for w in words), 2),
        round(min(w.y0 for w in words), 2),
        round(max(w.x1 for w in words), 2),
        round(max(w.y1 for w in words), 2),
    ]
