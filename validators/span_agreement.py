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


def majority_spans(units: list[tuple[int, int]], votes: np.ndarray, annotators: int) -> list[tuple[int, int]]:
    """Merge units marked by more than half of the item's annotators into contiguous character spans."""
    chosen = [unit for unit, v in zip(units, votes, strict=True) if v * 2 > annotators]
    merged: list[tuple[int, int]] = []
    for start, end in chosen:
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


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
    if np.nansum(matrix) == 0 or np.nanmin(matrix) == 1:
        alpha, ci = None, None
        warnings.append("every unit has the same mark, so alpha is undefined")
    else:
        alpha = krippendorff_alpha(matrix, "nominal")
        ci = list(bootstrap_alpha_ci(matrix, "nominal", n_boot=n_boot, seed=seed)) if n_boot else None
    pairs: Pairs = {}
    for (a, b), v in pair_scores.items():
        pairs.setdefault(a, {})[b] = {"span_f1": float(np.mean([s[0] for s in v])) if v else None,
                                      "span_iou": float(np.mean([s[1] for s in v])) if v else None, "items": len(v)}
    f1s = [p["span_f1"] for _, _, p in pair_entries(pairs) if p["span_f1"] is not None]
    ious = [p["span_iou"] for _, _, p in pair_entries(pairs) if p["span_iou"] is not None]
    return {
        "kind": "span", "annotators": len(annotators), "items": len(ratings.values),
        "items_pairable": len(pairable), "units": int(matrix.shape[1]),
        "unit": "token" if ratings.texts else "character",
        "krippendorff_alpha": alpha, "krippendorff_alpha_ci95": ci,
        "span_f1": float(np.mean(f1s)) if f1s else None, "span_iou": float(np.mean(ious)) if ious else None,
        "pairs": pairs, "majority_rationale": {item: [list(s) for s in spans] for item, spans in majority.items()},
        "warnings": warnings,
    }
