"""Tesseract OCR through its command line: lines and words with pixel boxes and confidences.

The CLI's TSV output carries everything the result JSON needs, and a subprocess is bounded
the way engines must be: by a timeout here, and by the address-space limit it inherits when it
runs inside an isolated worker (`pdfjobs.isolation`), which is how the pipeline calls it.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pdfjobs.errors import EngineTimeout, LanguageUnavailable, OcrFailed

BINARY = "tesseract"
_PROBE_TIMEOUT_SECONDS = 10
_LANGUAGE_CODE = re.compile(r"^[A-Za-z0-9_]{2,40}$")
# Not languages, but trained data that the language list also shows.
_NOT_LANGUAGES = {"osd", "equ"}
_WORD_LEVEL = 5


@dataclass(frozen=True)
class EngineStatus:
    name: str
    available: bool
    reason: str | None
    version: str | None
    languages: tuple[str, ...]


@lru_cache(maxsize=1)
def status() -> EngineStatus:
    """Whether Tesseract can run here, its version and installed languages (probed once per process)."""
    if shutil.which(BINARY) is None:
        return EngineStatus(
            "tesseract", False, "The tesseract binary is not installed (Debian: tesseract-ocr).", None, ()
        )
    try:
        version = _run([BINARY, "--version"], _PROBE_TIMEOUT_SECONDS).splitlines()[0].split()[-1]
        listing = _run([BINARY, "--list-langs"], _PROBE_TIMEOUT_SECONDS).splitlines()[1:]
    except (OcrFailed, EngineTimeout) as error:
        return EngineStatus("tesseract", False, f"tesseract does not start: {error.message}", None, ())
    languages = tuple(sorted(line.strip() for line in listing if line.strip() not in _NOT_LANGUAGES))
    return EngineStatus("tesseract", True, None, version, languages)


def check_languages(languages: Sequence[str]) -> str:
    """The `-l` argument for `languages`, or LanguageUnavailable naming what is installed."""
    installed = status().languages
    missing = [code for code in languages if not _LANGUAGE_CODE.match(code) or code not in installed]
    if not languages or missing:
        raise LanguageUnavailable(
            f"Not installed: {', '.join(missing) or '(none given)'}. Installed: {', '.join(installed) or 'none'}.",
            details={"field": "settings.languages", "installed": list(installed)},
        )
    return "+".join(languages)


def recognize(
    image_path: str, languages: Sequence[str], dpi: int, timeout: float, *, text_layer: bool = False
) -> dict[str, Any]:
    """OCR one page image: `{"width", "height", "text", "lines": [{"text", "bbox", "words": [...]}]}`.

    Boxes are `[x0, y0, x1, y1]` in image pixels from the top-left; confidences are 0..100.
    With `text_layer`, the same run also renders Tesseract's invisible-text PDF of the page
    (`textonly_pdf`, what OCRmyPDF lays over pages), returned as bytes under "textLayerPdf".
    """
    with tempfile.TemporaryDirectory(prefix="pdfjobs-tesseract-") as workdir:
        base = os.path.join(workdir, "page")
        command = [
            BINARY,
            str(image_path),
            base,
            "-l",
            check_languages(languages),
            "--dpi",
            str(int(dpi)),
            "--psm",
            "3",
        ]
        if text_layer:
            command += ["-c", "textonly_pdf=1", "tsv", "pdf"]
        else:
            command += ["tsv"]
        _run(command, timeout)
        tsv = Path(base + ".tsv").read_text(encoding="utf-8", errors="replace")
        layer = Path(base + ".pdf").read_bytes() if text_layer else None
    rows = csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE)
    width = height = 0
    lines: dict[tuple[int, int, int, int], list[dict[str, Any]]] = {}
    for row in rows:
        left, top = int(row["left"]), int(row["top"])
        right, bottom = left + int(row["width"]), top + int(row["height"])
        if int(row["level"]) == 1:
            width, height = right, bottom
        text = (row.get("text") or "").strip()
        if int(row["level"]) != _WORD_LEVEL or not text:
            continue
        key = (int(row["page_num"]), int(row["block_num"]), int(row["par_num"]), int(row["line_num"]))
        confidence = round(max(0.0, float(row["conf"])), 2)
        lines.setdefault(key, []).append({"text": text, "bbox": [left, top, right, bottom], "confidence": confidence})
    ordered = sorted(lines.items())
    paragraphs: list[list[str]] = []
    previous: tuple[int, int, int] | None = None
    for (page, block, paragraph, _), words in ordered:
        if (page, block, paragraph) != previous:
            paragraphs.append([])
            previous = (page, block, paragraph)
        paragraphs[-1].append(" ".join(word["text"] for word in words))
    result: dict[str, Any] = {
        "width": width,
        "height": height,
        "text": "\n\n".join("\n".join(lines_of) for lines_of in paragraphs),
        "lines": [_line(words) for _, words in ordered],
    }
    if layer is not None:
        result["textLayerPdf"] = layer
    return result


@dataclass(frozen=True)
class Orientation:
    rotate: int  # degrees clockwise that turn the image upright: 0, 90, 180 or 270
    confidence: float


def detect_orientation(image_path: str, timeout: float) -> Orientation | None:
    """Tesseract's orientation detection (`--psm 0`); None when the page has too little text to tell."""
    try:
        report = _run([BINARY, str(image_path), "stdout", "--psm", "0", "-l", "osd"], timeout)
    except OcrFailed:
        return None  # "Too few characters": nothing to turn
    fields = dict(line.split(":", 1) for line in report.splitlines() if ":" in line)
    try:
        rotate = int(fields["Rotate"].strip()) % 360
        confidence = float(fields["Orientation confidence"].strip())
    except (KeyError, ValueError):
        return None
    return Orientation(rotate=rotate if rotate in (0, 90, 180, 270) else 0, confidence=confidence)


def _line(words: list[dict[str, Any]]) -> dict[str, Any]:
    boxes = [word["bbox"] for word in words]
    return {
        "text": " ".join(word["text"] for word in words),
        "bbox": [
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        ],
        "words": words,
    }


def _run(command: list[str], timeout: float) -> str:
    # One thread per process: the pipeline runs pages in parallel itself, as OCRmyPDF advises.
    environment = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    try:
        completed = subprocess.run(  # noqa: S603 - a fixed binary and arguments we built
            command, capture_output=True, timeout=timeout, env=environment, check=False
        )
    except subprocess.TimeoutExpired as error:
        raise EngineTimeout(f"OCR took longer than {timeout:.0f} s on one page.") from error
    except OSError as error:
        raise OcrFailed(f"tesseract could not start: {error.strerror}.") from error
    if completed.returncode != 0:
        detail = completed.stderr.decode(errors="replace").strip().splitlines()
        raise OcrFailed(f"tesseract could not read the image: {detail[-1] if detail else 'no detail'}.")
    return completed.stdout.decode("utf-8", errors="replace")
