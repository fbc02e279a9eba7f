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
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
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


def recognize(image_path: str, languages: Sequence[str], dpi: int, timeout: float) -> dict[str, Any]:
    """OCR one page image: `{"width", "height", "lines": [{"text", "bbox", "words": [...]}]}`.

    Boxes are `[x0, y0, x1, y1]` in image pixels from the top-left; confidences are 0..100.
    """
    command = [
        BINARY,
        str(image_path),
        "stdout",
        "-l",
        check_languages(languages),
        "--dpi",
        str(int(dpi)),
        "--psm",
        "3",
    ]
    rows = csv.DictReader(io.StringIO(_run([*command, "tsv"], timeout)), delimiter="\t", quoting=csv.QUOTE_NONE)
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
    return {"width": width, "height": height, "lines": [_line(words) for _, words in sorted(lines.items())]}


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
