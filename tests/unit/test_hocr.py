"""hOCR output: valid XHTML that gives back every word's text, box and confidence."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from pdfjobs.ocr.hocr import to_hocr

XHTML = "{http://www.w3.org/1999/xhtml}"

PAGES: list[dict[str, Any]] = [
    {
        "page": 1,
        "width": 612.0,
        "height": 792.0,
        "rotation": 0,
        "lines": [
            {
                "text": "Hello world",
                "bbox": [72.4, 90.2, 200.6, 104.9],
                "confidence": 95.0,
                "words": [
                    {"text": "Hello", "bbox": [72.4, 90.2, 120.0, 104.9], "confidence": 97.4},
                    {"text": "world", "bbox": [125.0, 91.0, 200.6, 104.5], "confidence": 92.6},
                ],
            },
            {
                "text": "<a & \"b\" 'c'>",
                "bbox": [72, 120, 300, 134],
                "words": [
                    {"text": "<a", "bbox": [72, 120, 90, 134], "confidence": 50},
                    {"text": "&", "bbox": [95, 120, 100, 134], "confidence": 100.0},
                    {"text": '"b"', "bbox": [105, 120, 130, 134], "confidence": 0},
                    {"text": "'c'>", "bbox": [135, 120, 300, 134], "confidence": 61.5},
                ],
            },
        ],
    },
    {
        "page": 3,
        "width": 841.89,
        "height": 595.28,
        "lines": [
            {
                "text": "Été 漢字",
                "bbox": [10, 10, 80, 30],
                "words": [
                    {"text": "Été", "bbox": [10, 10, 40, 30], "confidence": 88.8},
                    {"text": "漢字", "bbox": [50, 10, 80, 30], "confidence": 77},
                ],
            },
            {"text": "", "bbox": [0, 0, 1, 1], "words": []},
        ],
    },
]


def _properties(title: str) -> dict[str, list[str]]:
    found = {}
    for part in title.split(";"):
        name, *values = part.split()
        found[name] = values
    return found


def _parse(document: str) -> ET.Element:
    return ET.fromstring(document.encode("utf-8"))  # noqa: S314 - our own output


def _by_class(root: ET.Element, name: str) -> list[ET.Element]:
    return [element for element in root.iter() if element.get("class") == name]


def test_round_trip_gives_back_every_word() -> None:
    root = _parse(to_hocr(PAGES))
    words = _by_class(root, "ocrx_word")
    expected = [word for page in PAGES for line in page["lines"] for word in line["words"]]
    assert len(words) == len(expected)
    for element, word in zip(words, expected, strict=True):
        assert element.text == word["text"]
        properties = _properties(element.get("title", ""))
        box = [int(value) for value in properties["bbox"]]
        # Integer points, rounded outwards: the box still holds the word.
        assert box[0] <= word["bbox"][0] < box[0] + 1 and box[1] <= word["bbox"][1] < box[1] + 1
        assert box[2] - 1 < word["bbox"][2] <= box[2] and box[3] - 1 < word["bbox"][3] <= box[3]
        assert properties["x_wconf"] == [str(round(word["confidence"]))]


def test_pages_state_their_size_in_points_and_their_number() -> None:
    root = _parse(to_hocr(PAGES))
    pages = _by_class(root, "ocr_page")
    assert [_properties(page.get("title", "")) for page in pages] == [
        {"bbox": ["0", "0", "612", "792"], "ppageno": ["0"], "scan_res": ["72", "72"]},
        {"bbox": ["0", "0", "842", "596"], "ppageno": ["2"], "scan_res": ["72", "72"]},
    ]
    assert [page.get("id") for page in pages] == ["page_1", "page_3"]
    # Lines hold their words; the line without words is left out.
    lines = _by_class(root, "ocr_line")
    assert [len(_by_class(line, "ocrx_word")) for line in lines] == [2, 4, 2]
    assert _properties(lines[0].get("title", ""))["bbox"] == ["72", "90", "201", "105"]
    ids = [element.get("id") for element in root.iter() if element.get("id")]
    assert len(ids) == len(set(ids))


def test_it_is_xhtml_with_the_hocr_metadata() -> None:
    document = to_hocr(PAGES, title="Scan <1> & co", languages=["eng", "fra"])
    assert document.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html')
    root = _parse(document)
    assert root.tag == f"{XHTML}html"
    assert root.findtext(f"{XHTML}head/{XHTML}title") == "Scan <1> & co"
    meta = {element.get("name"): element.get("content") for element in root.iter(f"{XHTML}meta")}
    assert meta["ocr-capabilities"] is not None
    assert {"ocr_page", "ocr_line", "ocrx_word", "ocrp_wconf"} <= set(meta["ocr-capabilities"].split())
    assert meta["ocr-number-of-pages"] == "2"
    assert meta["ocr-langs"] == "eng fra"
    # The words' text reads back line by line, with a space between words.
    lines = _by_class(root, "ocr_line")
    assert [" ".join("".join(line.itertext()).split()) for line in lines] == [
        "Hello world",
        "<a & \"b\" 'c'>",
        "Été 漢字",
    ]


def test_special_characters_are_escaped_and_unwritable_ones_dropped() -> None:
    page = {
        "page": 1,
        "width": 100,
        "height": 100,
        "lines": [
            {
                "words": [
                    {"text": "a<b>&c", "bbox": [1, 1, 5, 5], "confidence": 99},
                    {"text": "bell\x07\x0c", "bbox": [6, 1, 9, 5], "confidence": float("nan")},
                    {"text": "\x00", "bbox": [10, 1, 12, 5], "confidence": 50},
                ]
            }
        ],
    }
    document = to_hocr([page])
    assert "a&lt;b&gt;&amp;c" in document
    words = _by_class(_parse(document), "ocrx_word")
    assert [word.text for word in words] == ["a<b>&c", "bell"]
    assert "x_wconf" not in (words[1].get("title") or "")  # no usable confidence: none stated


def test_no_pages_is_still_a_document() -> None:
    root = _parse(to_hocr([]))
    assert _by_class(root, "ocr_page") == []
    assert re.search(r'name="ocr-number-of-pages" content="0"', to_hocr([]))
