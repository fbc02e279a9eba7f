"""Where the shared test corpus lives: ../shared/corpus beside the repository (see its README for licences)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CORPUS = REPO_ROOT.parent / "shared" / "corpus"


def corpus_file(relative: str) -> Path:
    path = CORPUS / relative
    if not path.is_file():
        raise FileNotFoundError(f"corpus file missing: {path} (the tests expect ../shared/corpus beside the repo)")
    return path
