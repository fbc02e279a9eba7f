"""Lossless size savings on a PDF being written: Flate streams deflated again at the highest
level. Images compressed quickly by scanners or libraries often shrink by a third, and nothing
about their pixels changes (predictors and parameters are kept; only the deflate is redone).

Bounded: a stream that would inflate beyond `max_stream_bytes` is left alone, and the pass
stops at its time budget, so a hostile or huge file costs at most that much.
"""

from __future__ import annotations

import time
import zlib
from typing import Any

import pikepdf

_LEVEL = 9
# Keep a recompressed stream only when it saves at least this share: rewriting costs time.
_MIN_SAVING = 0.03


def recompress_flate_streams(pdf: pikepdf.Pdf, *, max_stream_bytes: int, budget_seconds: float) -> int:
    """Deflates every FlateDecode-only stream again at level 9 where that is smaller; returns bytes saved."""
    deadline = time.monotonic() + budget_seconds
    saved = 0
    for obj in pdf.objects:
        if time.monotonic() > deadline:
            break
        if not isinstance(obj, pikepdf.Stream) or not _only_flate(obj.get("/Filter")):
            continue
        raw = obj.read_raw_bytes()
        inflater = zlib.decompressobj()
        try:
            data = inflater.decompress(raw, max_stream_bytes)
        except zlib.error:
            continue  # a damaged stream is kept exactly as it was
        if inflater.unconsumed_tail:
            continue  # larger than the bound
        smaller = zlib.compress(data, _LEVEL)
        if len(smaller) <= len(raw) * (1 - _MIN_SAVING):
            parameters: Any = obj.get("/DecodeParms")
            obj.write(smaller, filter=pikepdf.Name.FlateDecode, decode_parms=parameters)
            saved += len(raw) - len(smaller)
    return saved


def _only_flate(filters: object) -> bool:
    if isinstance(filters, pikepdf.Array):
        return len(filters) == 1 and filters[0] == pikepdf.Name.FlateDecode
    return filters == pikepdf.Name.FlateDecode
