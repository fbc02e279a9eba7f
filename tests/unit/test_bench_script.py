"""`make bench` is run by hand, so this keeps its engine-stage helpers in step with the code."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tests.corpus import corpus_file

BENCH = Path(__file__).resolve().parents[2] / "scripts" / "bench.py"


def test_the_bench_measures_the_extract_stage_and_a_process_tree() -> None:
    spec = importlib.util.spec_from_file_location("bench", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.extract_stage([(corpus_file("text/crazyones.pdf"), 1)]) > 0
    assert bench.raw_pdfium([(corpus_file("text/crazyones.pdf"), 1)]) > 0
    assert bench.tree_rss(1) >= 0 and bench.cer("abc", "abd") == 1 / 3
