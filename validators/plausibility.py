"""Rationale plausibility against human rationales, with the ERASER definitions (DeYoung et al., 2020).

* token F1: precision/recall/F1 of predicted vs human token masks, per example, then averaged;
* IOU F1: a predicted span matches a human span when their token IOU >= 0.5; precision is the share of
  predicted spans that match, recall the share of human spans matched, over the whole corpus;
* AUPRC: average precision (scikit-learn) of soft token scores against the human mask, averaged over
  examples that have a human rationale.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score

TokenSpan = tuple[int, int]  # [start, end) token indices


def mask_to_spans(mask: np.ndarray) -> list[TokenSpan]:
    spans, start = [], None
    for i, on in enumerate(list(mask) + [False]):
        if on and start is None:
            start = i
        elif not on and start is not None:
            spans.append((start, i))
            start = None
    return spans


def _prf(tp: float, predicted: float, gold: float) -> tuple[float, float, float]:
    p = tp / predicted if predicted else 0.0
    r = tp / gold if gold else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def token_f1(predicted: Sequence[np.ndarray], gold: Sequence[np.ndarray]) -> dict[str, float]:
    scores = np.array([_prf(float((p & g).sum()), float(p.sum()), float(g.sum()))
                       for p, g in zip(predicted, gold, strict=True)])
    return {"token_precision": float(scores[:, 0].mean()), "token_recall": float(scores[:, 1].mean()),
            "token_f1": float(scores[:, 2].mean())}


def _iou(a: TokenSpan, b: TokenSpan) -> float:
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    return inter / (max(a[1], b[1]) - min(a[0], b[0]))


def iou_f1(predicted: Sequence[np.ndarray], gold: Sequence[np.ndarray], threshold: float = 0.5) -> dict[str, float]:
    matched_pred = matched_gold = n_pred = n_gold = 0
    for p, g in zip(predicted, gold, strict=True):
        ps, gs = mask_to_spans(p), mask_to_spans(g)
        n_pred, n_gold = n_pred + len(ps), n_gold + len(gs)
        matched_pred += sum(any(_iou(a, b) >= threshold for b in gs) for a in ps)
        matched_gold += sum(any(_iou(a, b) >= threshold for a in ps) for b in gs)
    precision = matched_pred / n_pred if n_pred else 0.0
    recall = matched_gold / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"iou_precision": precision, "iou_recall": recall, "iou_f1": f1}


def auprc(scores: Sequence[np.ndarray], gold: Sequence[np.ndarray]) -> float | None:
    values = [average_precision_score(g.astype(int), s) for s, g in zip(scores, gold, strict=True) if g.any()]
    return float(np.mean(values)) if values else None


def plausibility(predicted: Sequence[np.ndarray], gold: Sequence[np.ndarray],
                 scores: Sequence[np.ndarray] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"examples": len(gold), **token_f1(predicted, gold), **iou_f1(predicted, gold)}
    if scores is not None:
        result["auprc"] = auprc(scores, gold)
    return result
