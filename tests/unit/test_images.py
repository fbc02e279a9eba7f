"""Image inputs as PDF pages: resolution kept, frames become pages, giants refused before decoding."""

from __future__ import annotations

import resource
import struct
import zlib
from pathlib import Path

import pypdfium2
import pytest
from PIL import Image

from pdfjobs import errors
from pdfjobs.images import image_to_pdf, inspect_image
from tests.corpus import corpus_file

LIMITS = {"max_pixels": 50_000_000, "max_frames": 2000}


def _pages(pdf: Path) -> list[tuple[float, float]]:
    document = pypdfium2.PdfDocument(str(pdf))
    try:
        return [(round(page.get_width(), 1), round(page.get_height(), 1)) for page in document]
    finally:
        document.close()


def test_a_scan_keeps_its_stated_resolution(tmp_path: Path) -> None:
    source = corpus_file("scans/linn.png")
    info = inspect_image(source, **LIMITS)
    assert (info.format, info.frames, info.width, info.height) == ("PNG", 1, 2550, 3300)
    out = tmp_path / "linn.pdf"
    assert image_to_pdf(source, out, default_dpi=150, **LIMITS) == 1
    dpi = info.dpi or (150, 150)
    assert _pages(out) == [(round(2550 / dpi[0] * 72, 1), round(3300 / dpi[1] * 72, 1))]


def test_an_image_without_a_resolution_gets_the_default(tmp_path: Path) -> None:
    source = tmp_path / "plain.png"
    Image.new("L", (600, 300), 255).save(source)  # no pHYs chunk
    assert inspect_image(source, **LIMITS).dpi is None
    out = tmp_path / "plain.pdf"
    image_to_pdf(source, out, default_dpi=200, **LIMITS)
    assert _pages(out) == [(216.0, 108.0)]  # 600 px at 200 dpi = 3 in = 216 pt


def test_jpeg_is_embedded_without_reencoding(tmp_path: Path) -> None:
    source = tmp_path / "photo.jpg"
    Image.new("RGB", (400, 200), (200, 30, 30)).save(source, dpi=(100, 100), quality=80)
    out = tmp_path / "photo.pdf"
    image_to_pdf(source, out, default_dpi=300, **LIMITS)
    assert _pages(out) == [(288.0, 144.0)]
    assert source.read_bytes()[:200] in out.read_bytes()  # the JPEG stream itself is in the PDF


def test_every_tiff_frame_becomes_a_page_and_bmp_works(tmp_path: Path) -> None:
    tiff = tmp_path / "scan.tiff"
    frames = [Image.new("1", (850, 1100), 1) for _ in range(3)]
    frames[0].save(tiff, save_all=True, append_images=frames[1:], dpi=(100, 100), compression="group4")
    assert inspect_image(tiff, **LIMITS).frames == 3
    out = tmp_path / "scan.pdf"
    assert image_to_pdf(tiff, out, default_dpi=300, **LIMITS) == 3
    assert _pages(out) == [(612.0, 792.0)] * 3  # letter size
    bmp = tmp_path / "small.bmp"
    Image.new("RGB", (300, 150), (0, 0, 255)).save(bmp)
    image_to_pdf(bmp, tmp_path / "small.pdf", default_dpi=150, **LIMITS)
    assert len(_pages(tmp_path / "small.pdf")) == 1


def test_an_alpha_channel_is_kept_as_a_soft_mask_not_refused(tmp_path: Path) -> None:
    source = tmp_path / "alpha.png"
    Image.new("RGBA", (200, 100), (0, 0, 0, 128)).save(source, dpi=(72, 72))
    image_to_pdf(source, tmp_path / "alpha.pdf", default_dpi=150, **LIMITS)
    assert _pages(tmp_path / "alpha.pdf") == [(200.0, 100.0)]


def test_sixteen_bit_samples_are_scaled_not_clipped(tmp_path: Path) -> None:
    source = tmp_path / "archival.tiff"
    Image.new("I;16", (300, 300), 32768).save(source, dpi=(150, 150))  # mid-gray at 16 bits
    out = tmp_path / "archival.pdf"
    image_to_pdf(source, out, default_dpi=300, **LIMITS)
    assert _pages(out) == [(144.0, 144.0)]
    document = pypdfium2.PdfDocument(str(out))
    try:
        pixel = document[0].render(scale=1).to_pil().convert("L").getpixel((72, 72))
    finally:
        document.close()
    assert 110 <= pixel <= 145, pixel  # gray survives: neither clipped to white nor to black


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a size and holds no pixels (what a decompression bomb starts with)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_a_declared_giant_is_refused_by_the_pixel_limit_without_decoding(tmp_path: Path) -> None:
    giant = tmp_path / "giant.png"
    giant.write_bytes(_png_header_only(100_000, 100_000))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(errors.ImageTooLarge) as refused:
        image_to_pdf(giant, tmp_path / "giant.pdf", default_dpi=300, **LIMITS)
    assert refused.value.code == "image.too_many_pixels"
    assert "100000 x 100000" in refused.value.message
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 100 * 1024  # 10^10 pixels were never allocated
    assert not (tmp_path / "giant.pdf").exists()


@pytest.mark.parametrize(
    "content",
    [b"", b"II*\x00" + b"\xff" * 100, b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, b"BM" + b"\x00" * 60],
    ids=["zero-byte", "corrupt-tiff", "corrupt-png", "corrupt-bmp"],
)
def test_unreadable_images_are_clean_failures(tmp_path: Path, content: bytes) -> None:
    source = tmp_path / "bad.img"
    source.write_bytes(content)
    with pytest.raises(errors.ImageInvalid):
        image_to_pdf(source, tmp_path / "bad.pdf", default_dpi=300, **LIMITS)
    assert not (tmp_path / "bad.pdf").exists()


def test_too_many_frames_is_refused_as_too_many_pages(tmp_path: Path) -> None:
    tiff = tmp_path / "many.tiff"
    frames = [Image.new("1", (10, 10), 1) for _ in range(5)]
    frames[0].save(tiff, save_all=True, append_images=frames[1:])
    with pytest.raises(errors.PdfTooManyPages):
        inspect_image(tiff, max_pixels=1_000_000, max_frames=4)
