"""Lossless Flate recompression: smaller files, identical decoded bytes, bounded work."""

from __future__ import annotations

import zlib
from pathlib import Path

import pikepdf

from pdfjobs.pdf.optimize import recompress_flate_streams
from tests.corpus import corpus_file


def _loosely_compressed_pdf(path: Path, payload: bytes, parms: pikepdf.Dictionary | None = None) -> Path:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    stream = pikepdf.Stream(pdf, zlib.compress(payload, 1))
    stream.Filter = pikepdf.Name.FlateDecode
    if parms is not None:
        stream.DecodeParms = parms
    pdf.Root.Payload = stream
    pdf.save(path, stream_decode_level=pikepdf.StreamDecodeLevel.none, compress_streams=False)
    return path


def test_streams_shrink_and_decode_to_the_same_bytes(tmp_path: Path) -> None:
    payload = b"".join(bytes([i % 7, i % 13, 255 - i % 5]) for i in range(200_000))
    source = _loosely_compressed_pdf(tmp_path / "loose.pdf", payload)
    with pikepdf.open(source) as pdf:
        before = len(pdf.Root.Payload.read_raw_bytes())
        saved = recompress_flate_streams(pdf, max_stream_bytes=10**8, budget_seconds=10)
        after = len(pdf.Root.Payload.read_raw_bytes())
        assert saved == before - after > 0
        assert pdf.Root.Payload.read_bytes() == payload


def test_predictor_parameters_are_kept(tmp_path: Path) -> None:
    # PNG "None" filter rows: a zero byte before each 4-byte row.
    rows = b"".join(b"\x00" + bytes([i % 256, 0, 0, 0]) for i in range(50_000))
    parms = pikepdf.Dictionary(Predictor=12, Columns=4, Colors=1, BitsPerComponent=8)
    source = _loosely_compressed_pdf(tmp_path / "predicted.pdf", rows, parms)
    with pikepdf.open(source) as pdf:
        decoded_before = pdf.Root.Payload.read_bytes()
        recompress_flate_streams(pdf, max_stream_bytes=10**8, budget_seconds=10)
        assert pdf.Root.Payload.DecodeParms.Predictor == 12
        assert pdf.Root.Payload.read_bytes() == decoded_before


def test_bounds_leave_streams_alone(tmp_path: Path) -> None:
    payload = bytes(1_000_000)
    source = _loosely_compressed_pdf(tmp_path / "big.pdf", payload)
    with pikepdf.open(source) as pdf:
        raw = pdf.Root.Payload.read_raw_bytes()
        assert recompress_flate_streams(pdf, max_stream_bytes=1000, budget_seconds=10) == 0
        assert recompress_flate_streams(pdf, max_stream_bytes=10**8, budget_seconds=0) == 0
        assert pdf.Root.Payload.read_raw_bytes() == raw


def test_a_damaged_stream_is_kept_as_it_was(tmp_path: Path) -> None:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    stream = pikepdf.Stream(pdf, b"not deflate at all")
    stream.Filter = pikepdf.Name.FlateDecode
    pdf.Root.Payload = stream
    assert recompress_flate_streams(pdf, max_stream_bytes=10**8, budget_seconds=10) == 0
    assert pdf.Root.Payload.read_raw_bytes() == b"not deflate at all"


def test_a_real_scan_shrinks_without_a_pixel_changing(tmp_path: Path) -> None:
    import pypdfium2 as pdfium
    from PIL import ImageChops

    source = corpus_file("scans/multipage.pdf")
    with pikepdf.open(source) as pdf:
        assert recompress_flate_streams(pdf, max_stream_bytes=10**9, budget_seconds=60) > 50_000
        pdf.save(tmp_path / "smaller.pdf")
    before, after = pdfium.PdfDocument(source), pdfium.PdfDocument(tmp_path / "smaller.pdf")
    for index in (1, 2, 5):  # the Flate-compressed images
        old = before[index].render(scale=0.25).to_pil()
        new = after[index].render(scale=0.25).to_pil()
        assert ImageChops.difference(old, new).getbbox() is None
