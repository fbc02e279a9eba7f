"""Detects a file's type from its first bytes, never from its name or declared type.

Six signatures are all the API accepts; a table is clearer than a libmagic dependency that
the Lambda runtime does not ship.
"""

from __future__ import annotations

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
TIFF = "image/tiff"
BMP = "image/bmp"
HTML = "text/html"

SUPPORTED_TYPES = (PDF, PNG, JPEG, TIFF, BMP, HTML)
IMAGE_TYPES = (PNG, JPEG, TIFF, BMP)
SNIFF_BYTES = 1024

# The WHATWG MIME-sniffing patterns for HTML: each must be followed by a space or ">".
_HTML_TAGS = (
    b"<!doctype html", b"<html", b"<head", b"<script", b"<iframe", b"<h1", b"<div", b"<font", b"<table",
    b"<a", b"<style", b"<title", b"<b", b"<body", b"<br", b"<p",
)  # fmt: skip
_TAG_END = (b" ", b">", b"\t", b"\n", b"\r", b"\x0c")


def sniff(head: bytes) -> str | None:
    """The content type `head` (the first SNIFF_BYTES of a file) starts, or None."""
    # PDF readers accept the header anywhere in the first 1024 bytes (PDF 1.7, annex H).
    if b"%PDF-" in head[:SNIFF_BYTES]:
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return TIFF
    if head.startswith(b"BM") and len(head) >= 26:
        return BMP
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    if any(text.startswith(tag) and text[len(tag) : len(tag) + 1] in _TAG_END for tag in _HTML_TAGS):
        return HTML
    if text.startswith(b"<!--") and b"<html" in text:
        return HTML
    return None


EXTENSIONS = {PDF: ".pdf", PNG: ".png", JPEG: ".jpg", TIFF: ".tiff", BMP: ".bmp", HTML: ".html"}
