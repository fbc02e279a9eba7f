"""Table extraction accuracy against the corpus's true cells (`make bench` calls `main`).

Two figures per file of `../shared/corpus/tables/expected.json`:

- Cell accuracy: our grid (`table_grid`: a merged cell's text at its first position, "" at the
  positions it covers) against the expected grid, cell by cell, after whitespace normalisation
  (runs of whitespace, newlines included, become one space; ends stripped). When the shapes
  differ, the expected grid is laid over ours at the row and column offset that gets the most
  cells right; an expected cell with no counterpart in our grid counts as wrong. The figure is
  cells right / expected cells (empty expected cells included: an empty cell we fill is wrong).
- Cell adjacency F1, after the ICDAR 2013 table competition's structure measure: every
  non-empty cell is related to its nearest non-empty neighbour to the right in its row and
  below in its column (empty cells skipped); a relation is (text, neighbour's text, direction).
  Precision = our relations found among the expected ones / ours, recall = expected ones we
  found / expected (as multisets), F1 their harmonic mean.

A file's tables are paired in order (page, then top to bottom); with a different number of
tables, one to one by most cells right: an expected table left without a partner scores zero,
and a table of ours left without one is not scored. For reference, camelot reports an F1 of
0.78 on the ICDAR 2013 data set.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
sys.path.insert(0, str(REPO / "layers" / "pdfjobs"))

Grid = Sequence[Sequence[str]]


def normalise(text: str) -> str:
    return " ".join(str(text).split())


def cell_accuracy(ours_grid: Grid, expected_grid: Grid) -> tuple[int, int]:
    """(cells right, expected cells): see the module docstring for how grids of different shapes align."""
    expected = [[normalise(t) for t in row] for row in expected_grid]
    ours = [[normalise(t) for t in row] for row in ours_grid]
    total = sum(len(row) for row in expected)
    if not total or not ours:
        return 0, total
    our_rows, our_cols = len(ours), max(len(row) for row in ours)
    exp_rows, exp_cols = len(expected), max(len(row) for row in expected)
    best = 0
    # expected[i][j] is compared with ours[i + dr][j + dc]
    for dr in range(-(exp_rows - 1), our_rows):
        for dc in range(-(exp_cols - 1), our_cols):
            right = 0
            for i, row in enumerate(expected):
                r = i + dr
                if not 0 <= r < our_rows:
                    continue
                theirs = ours[r]
                for j, text in enumerate(row):
                    c = j + dc
                    if 0 <= c < len(theirs) and theirs[c] == text:
                        right += 1
            best = max(best, right)
    return best, total


def _relations(grid: Grid) -> Counter[tuple[str, str, str]]:
    cells = [[normalise(t) for t in row] for row in grid]
    relations: Counter[tuple[str, str, str]] = Counter()
    for row in cells:
        filled = [t for t in row if t]
        relations.update((a, b, "right") for a, b in itertools.pairwise(filled))
    columns = max((len(row) for row in cells), default=0)
    for c in range(columns):
        filled = [row[c] for row in cells if c < len(row) and row[c]]
        relations.update((a, b, "below") for a, b in itertools.pairwise(filled))
    return relations


def adjacency_f1(ours_grid: Grid, expected_grid: Grid) -> tuple[float, float, float]:
    """(precision, recall, F1) of neighbouring-cell relations, as in ICDAR 2013's structure measure."""
    ours, expected = _relations(ours_grid), _relations(expected_grid)
    found = sum((ours & expected).values())
    precision = found / sum(ours.values()) if ours else 0.0
    recall = found / sum(expected.values()) if expected else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _relation_counts(ours_grid: Grid, expected_grid: Grid) -> tuple[int, int, int]:
    ours, expected = _relations(ours_grid), _relations(expected_grid)
    return sum((ours & expected).values()), sum(ours.values()), sum(expected.values())


def pair_tables(ours: Sequence[Grid], expected: Sequence[Grid]) -> list[tuple[Grid | None, Grid]]:
    """Expected tables with our tables: in order when the counts match; else one to one, the
    pairs with the most cells right first (an expected table left over pairs with None)."""
    if len(ours) == len(expected):
        return list(zip(ours, expected, strict=True))
    scored = sorted(
        ((cell_accuracy(grid, truth)[0], -e, -o) for e, truth in enumerate(expected) for o, grid in enumerate(ours)),
        reverse=True,
    )
    partner: dict[int, int] = {}
    used: set[int] = set()
    for _, e, o in scored:
        if -e not in partner and -o not in used:
            partner[-e] = -o
            used.add(-o)
    return [(ours[partner[e]] if e in partner else None, truth) for e, truth in enumerate(expected)]


def score_file(ours: Sequence[Grid], expected: Sequence[Grid]) -> dict[str, float | int]:
    """Cell accuracy and adjacency figures of one file (all its tables pooled)."""
    right = total = found = our_relations = true_relations = 0
    for grid, truth in pair_tables(ours, expected):
        if grid is None:
            total += sum(len(row) for row in truth)
            true_relations += sum(_relations(truth).values())
            continue
        r, t = cell_accuracy(grid, truth)
        f, o, e = _relation_counts(grid, truth)
        right, total, found, our_relations, true_relations = (
            right + r,
            total + t,
            found + f,
            our_relations + o,
            true_relations + e,
        )
    precision = found / our_relations if our_relations else 0.0
    recall = found / true_relations if true_relations else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "tables": len(ours),
        "expectedTables": len(expected),
        "cellsRight": right,
        "cells": total,
        "cellAccuracy": right / total if total else 0.0,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def corpus_scores(corpus: Path = CORPUS) -> dict[str, dict[str, float | int]]:
    """Per file of expected.json: our tables' scores (extract_tables run in this process)."""
    from pdfjobs.engines.tables import extract_tables, table_grid

    folder = corpus / "tables"
    truth = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    scores = {}
    for name, entry in truth.items():
        path = folder / name
        pages = _pages(entry.get("pages", "1"))
        ours = [table_grid(t) for page in extract_tables(str(path), pages) for t in page["tables"]]
        scores[name] = score_file(ours, entry["tables"])
    return scores


def _pages(spec: str) -> list[int]:
    """ "1,3-4" -> [1, 3, 4] (camelot's page notation, as expected.json uses it)."""
    numbers: list[int] = []
    for part in str(spec).split(","):
        first, _, last = part.strip().partition("-")
        numbers.extend(range(int(first), int(last or first) + 1))
    return numbers


def main() -> None:
    scores = corpus_scores()
    print("Table extraction against the corpus's true cells (tables/expected.json)")
    print(f"{'file':<18} {'tables':>8} {'cells right':>14} {'accuracy':>9} {'adj. P':>7} {'adj. R':>7} {'adj. F1':>8}")
    for name, s in scores.items():
        print(
            f"{name:<18} {s['tables']:>4}/{s['expectedTables']:<3} {s['cellsRight']:>6}/{s['cells']:<7}"
            f" {s['cellAccuracy']:>8.1%} {s['precision']:>7.3f} {s['recall']:>7.3f} {s['f1']:>8.3f}"
        )
    print("targets: cell accuracy >= 90% per file; adjacency F1 for reference (camelot: 0.78 on ICDAR 2013)")


if __name__ == "__main__":
    main()
