import pytest

from pdfjobs import filetypes


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"%PDF-1.7\n%\xe2\xe3", filetypes.PDF),
        (b"\x00\x00garbage before the header %PDF-1.4\n", filetypes.PDF),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", filetypes.PNG),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", filetypes.JPEG),
        (b"II*\x00\x08\x00\x00\x00", filetypes.TIFF),
        (b"MM\x00*\x00\x00\x00\x08", filetypes.TIFF),
        (b"BM" + b"\x00" * 40, filetypes.BMP),
        (b"\xef\xbb\xbf  <!DOCTYPE html><html><body>hi", filetypes.HTML),
        (b"<html lang='en'>", filetypes.HTML),
        (b"<!-- comment --><html>", filetypes.HTML),
        (b"<h1>A fragment</h1>", filetypes.HTML),  # WHATWG sniffing: tag then space or ">"
        (b"\n  <P class=x>text", filetypes.HTML),
        (b"<table>", filetypes.HTML),
    ],
)
def test_sniff_detects_supported_types_from_bytes(head: bytes, expected: str) -> None:
    assert filetypes.sniff(head) == expected


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"PK\x03\x04 a zip named invoice.pdf",
        b"GIF89a",
        b"BM",  # too short to be a bitmap header
        b"<!-- just a comment -->",
        b"<h1x>not a tag we sniff",
        b"<?xml version='1.0'?><svg/>",
        b"plain text that mentions html",
        b"%PD",  # truncated header
    ],
)
def test_sniff_rejects_everything_else(head: bytes) -> None:
    assert filetypes.sniff(head) is None


def test_pdf_header_beyond_first_kilobyte_is_not_a_pdf() -> None:
    assert filetypes.sniff(b"\x00" * 1024 + b"%PDF-1.4") is None
