"""Agreement on rationale spans: token-level Krippendorff alpha, pairwise span F1/IoU, majority rationale.

Units are the item's content tokens (:mod:`whyset.corpora.tokens`) when its text is known (a token counts
as marked when any span of the annotator overlaps it). Without the text, units are the character positions that at least one
annotator marked in that item (the union), since tokens cannot be recovered from offsets alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from typing import Any

import numpy as np

from whyset.corpora.tokens import content_tokens, covered
from whyset.validators.label_agreement import Pairs, bootstrap_alpha_ci, krippendorff_alpha, pair_entries
from whyset.validators.ratings import Ratings

Spans = Sequence[tuple[int, int]]


def units_for_item(spans_by_annotator: dict[str, Spans], text: str | None) -> list[tuple[int, int]]:
    """The units of one item as character ranges: tokens of the text, or single marked characters."""
    if text is not None:
        return content_tokens(text)
    marked = sorted({c for spans in spans_by_annotator.values() for s, e in spans for c in range(s, e)})
    return [(c, c + 1) for c in marked]


def marks(spans: Spans, units: list[tuple[int, int]]) -> np.ndarray:
    """1 for each unit overlapped by any span, else 0."""
    return np.array(covered(units, spans), dtype=float)


def _f1_iou(a: np.ndarray, b: np.ndarray) -> tuple[float, float] | None:
    both, either = float((a * b).sum()), float(np.maximum(a, b).sum())
    if either == 0:
        return None  # neither marked anything: no evidence either way
    return 2 * both / (a.sum() + b.sum()), both / either


def merge_units(units: list[tuple[int, int]], chosen: Sequence[bool]) -> list[tuple[int, int]]:
    """Character spans of runs of chosen units: a run joins *adjacent* units only (consecutive in ``units``),
    never across a unit that was not chosen, however close their characters are."""
    merged: list[tuple[int, int]] = []
    previous = -2
    for i, ((start, end), on) in enumerate(zip(units, chosen, strict=True)):
        if not on:
            continue
        if merged and previous == i - 1:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
        previous = i
    return merged


def majority_spans(units: list[tuple[int, int]], votes: np.ndarray, annotators: int) -> list[tuple[int, int]]:
    """Units marked by more than half of the item's annotators, adjacent ones merged into spans."""
    return merge_units(units, [v * 2 > annotators for v in votes])


def span_agreement(ratings: Ratings, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    warnings = ratings.check_usable()
    annotators = ratings.annotators
    row_of = {a: i for i, a in enumerate(annotators)}
    columns: list[np.ndarray] = []
    pair_scores: dict[tuple[str, str], list[tuple[float, float]]] = {pair: [] for pair in combinations(annotators, 2)}
    majority = {}
    pairable = ratings.pairable_items()
    for item in pairable:
        by = ratings.values[item]
        units = units_for_item(by, ratings.texts.get(item))
        marked = {a: marks(spans, units) for a, spans in by.items()}
        block = np.full((len(annotators), len(units)), np.nan)
        for a, m in marked.items():
            block[row_of[a]] = m
        columns.append(block)
        for a, b in combinations(sorted(by), 2):
            if (scores := _f1_iou(marked[a], marked[b])) is not None:
                pair_scores[a, b].append(scores)
        majority[item] = majority_spans(units, sum(marked.values()), len(by))
    matrix = np.concatenate(columns, axis=1) if columns else np.empty((len(annotators), 0))
    alpha, ci = _alpha(matrix, n_boot, seed, warnings)
    pairs: Pairs = {}
    for (a, b), v in pair_scores.items():
        pairs.setdefault(a, {})[b] = {"span_f1": float(np.mean([s[0] for s in v])) if v else None,
                                      "span_iou": float(np.mean([s[1] for s in v])) if v else None, "items": len(v)}
    f1s = [p["span_f1"] for _, _, p in pair_entries(pairs) if p["span_f1"] is not None]
    ious = [p["span_iou"] for _, _, p in pair_entries(pairs) if p["span_iou"] is not None]
    per_annotator = {}  # alpha_without: the others' alpha, so an annotator who lowers agreement stands out
    for i, annotator in enumerate(annotators):
        mine = [p for a, b, p in pair_entries(pairs) if annotator in (a, b) and p["items"]]
        rest, _ = _alpha(np.delete(matrix, i, axis=0), 0, seed, []) if len(annotators) > 2 else (None, None)
        per_annotator[annotator] = {
            "items": sum(annotator in ratings.values[t] for t in pairable),
            "span_f1": float(np.mean([p["span_f1"] for p in mine])) if mine else None,
            "span_iou": float(np.mean([p["span_iou"] for p in mine])) if mine else None,
            "alpha_without": rest}
    return {
        "kind": "span", "annotators": len(annotators), "items": len(ratings.values),
        "items_pairable": len(pairable), "units": int(matrix.shape[1]),
        "unit": "token" if ratings.texts else "character",
        "krippendorff_alpha": alpha, "krippendorff_alpha_ci95": ci,
        "span_f1": float(np.mean(f1s)) if f1s else None, "span_iou": float(np.mean(ious)) if ious else None,
        "pairs": pairs, "per_annotator": per_annotator, "majority_rationale": {item: [list(s) for s in spans] for item, spans in majority.items()},
        "warnings": warnings,
    }


def _alpha(matrix: np.ndarray, n_boot: int, seed: int, warnings: list[str]) -> tuple[float | None, list | None]:
    """Token alpha and its bootstrap CI; None (and a warning) when every unit has the same mark."""
    marks_seen = np.unique(matrix[~np.isnan(matrix)])
    if len(marks_seen) < 2:
        warnings.append("every unit has the same mark, so alpha is undefined")
        return None, None
    alpha = krippendorff_alpha(matrix, "nominal")
    return alpha, list(bootstrap_alpha_ci(matrix, "nominal", n_boot=n_boot, seed=seed)) if n_boot else None
