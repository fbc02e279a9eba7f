"""The Tesseract adapter with the real binary (installed by `make`) on corpus scans."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rapidfuzz.distance import Levenshtein

from pdfjobs import errors
from pdfjobs.engines import tesseract
from pdfjobs.pdf.document import open_pdf
from tests.corpus import corpus_file


def _normalised(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_status_reports_version_and_languages_but_not_osd() -> None:
    status = tesseract.status()
    assert status.available and status.reason is None
    assert status.version is not None and status.version.split(".")[0] >= "4"
    assert {"eng", "fra"} <= set(status.languages)
    assert "osd" not in status.languages


@pytest.mark.parametrize(
    ("languages", "expected"),
    [(["eng"], "eng"), (["eng", "fra"], "eng+fra")],
)
def test_installed_languages_combine(languages: list[str], expected: str) -> None:
    assert tesseract.check_languages(languages) == expected


@pytest.mark.parametrize("languages", [["klingon"], ["eng", "xx"], [], ["eng; rm -rf /"], ["osd"]])
def test_missing_languages_are_refused_listing_the_installed_ones(languages: list[str]) -> None:
    with pytest.raises(errors.LanguageUnavailable) as refused:
        tesseract.check_languages(languages)
    assert refused.value.status == 400
    assert "eng" in refused.value.details["installed"]  # type: ignore[index]
    assert "Installed: " in refused.value.message


def test_two_column_scan_reads_with_about_one_percent_errors() -> None:
    result = tesseract.recognize(str(corpus_file("scans/linn.png")), ["eng"], 300, timeout=120)
    assert (result["width"], result["height"]) == (2550, 3300)
    text = _normalised("\n".join(line["text"] for line in result["lines"]))
    truth = _normalised(corpus_file("scans/linn.txt").read_text())
    error_rate = Levenshtein.distance(text, truth) / len(truth)
    assert error_rate < 0.02, error_rate  # measured 1.03% (OCRmyPDF's is about 1% here)
    for line in result["lines"]:
        for word in line["words"]:
            x0, y0, x1, y1 = word["bbox"]
            assert 0 <= x0 < x1 <= 2550 and 0 <= y0 < y1 <= 3300
            assert 0 <= word["confidence"] <= 100
            assert line["bbox"][0] <= x0 and x1 <= line["bbox"][2]


def test_french_accents_with_the_french_model(tmp_path: Path) -> None:
    page_image = tmp_path / "francais.png"
    with open_pdf(corpus_file("scans/francais.pdf")) as document:
        document[0].render(scale=300 / 72).to_pil().save(page_image)
    result = tesseract.recognize(str(page_image), ["fra"], 300, timeout=120)
    text = " ".join(line["text"] for line in result["lines"])
    assert re.search(r"[éèàêç]", text), text[:200]


def test_an_unreadable_image_is_a_clean_ocr_failure(tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    with pytest.raises(errors.OcrFailed):
        tesseract.recognize(str(broken), ["eng"], 300, timeout=30)


def test_a_page_past_its_time_limit_is_a_timeout() -> None:
    with pytest.raises(errors.EngineTimeout):
        tesseract.recognize(str(corpus_file("scans/linn.png")), ["eng"], 300, timeout=0.05)


def test_inside_an_isolated_worker_memory_is_bounded() -> None:
    from pdfjobs.isolation import WorkerPool

    image = str(corpus_file("scans/typewriter.png"))
    # A fresh worker: the limit is its own address space plus memory_mb, and a worker grown by
    # earlier calls would leave Tesseract more room than this test means to give it.
    pool = WorkerPool(1)
    try:
        text = pool.run(tesseract.recognize, image, ["eng"], 300, 120, timeout=150, memory_mb=1024)
        assert text["lines"]
        # Starved of memory, tesseract fails cleanly instead of taking anything down.
        with pytest.raises((errors.OcrFailed, errors.EngineResourceLimit)):
            pool.run(tesseract.recognize, image, ["eng"], 300, 120, timeout=150, memory_mb=8)
    finally:
        pool.shutdown()
