"""Rationale plausibility against human rationales, with the definitions of ERASER's ``metrics.py``
(DeYoung et al., ACL 2020). A *document* is one text a rationale marks tokens in (for e-SNLI: the premise or
the hypothesis of one pair); masks are per document.

* token P/R/F1: per document, then averaged over the documents where the gold or the prediction marks at
  least one token (documents where neither does carry no information and are left out, as in ERASER);
* IOU F1: a predicted span is a true positive when its best token IOU with a gold span reaches the threshold
  (0.5). *Micro*: precision = true positives / predicted spans and recall = true positives / gold spans over
  the whole corpus. *Macro* (what ERASER's papers report): precision averaged over the documents with a
  predicted span, recall over the documents with a gold span, and F1 of those two averages;
* AUPRC: average precision (scikit-learn) of soft token scores against the gold mask, averaged over the
  documents that have both gold and non-gold tokens (average precision is undefined or trivially 1 on the
  others, so ERASER leaves them out).
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


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def _prf(tp: float, predicted: float, gold: float) -> tuple[float, float, float]:
    p = tp / predicted if predicted else 0.0
    r = tp / gold if gold else 0.0
    return p, r, _f1(p, r)


def token_f1(predicted: Sequence[np.ndarray], gold: Sequence[np.ndarray]) -> dict[str, float | None]:
    """Token precision, recall and F1 averaged over documents where gold or prediction marks a token."""
    scores = np.array([_prf(float((p & g).sum()), float(p.sum()), float(g.sum()))
                       for p, g in zip(predicted, gold, strict=True) if p.any() or g.any()])
    if not len(scores):
        return {"token_precision": None, "token_recall": None, "token_f1": None, "token_documents": 0}
    return {"token_precision": float(scores[:, 0].mean()), "token_recall": float(scores[:, 1].mean()),
            "token_f1": float(scores[:, 2].mean()), "token_documents": len(scores)}


def _iou(a: TokenSpan, b: TokenSpan) -> float:
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    return inter / (max(a[1], b[1]) - min(a[0], b[0]))


def iou_f1(predicted: Sequence[np.ndarray], gold: Sequence[np.ndarray], threshold: float = 0.5
           ) -> dict[str, float | None]:
    """IOU F1, macro (per document, as ERASER's papers report it) and micro, at an IOU threshold."""
    hits, n_pred, n_gold = [], [], []
    for p, g in zip(predicted, gold, strict=True):
        ps, gs = mask_to_spans(p), mask_to_spans(g)
        hits.append(sum(max((_iou(a, b) for b in gs), default=0.0) >= threshold for a in ps))
        n_pred.append(len(ps))
        n_gold.append(len(gs))
    if not sum(n_pred) and not sum(n_gold):
        return {"iou_f1": None, "iou_precision": None, "iou_recall": None, "iou_f1_micro": None,
                "iou_precision_micro": None, "iou_recall_micro": None}
    micro_p = sum(hits) / sum(n_pred) if sum(n_pred) else 0.0
    micro_r = sum(hits) / sum(n_gold) if sum(n_gold) else 0.0
    precisions = [h / n for h, n in zip(hits, n_pred, strict=True) if n]
    recalls = [h / n for h, n in zip(hits, n_gold, strict=True) if n]
    macro_p = float(np.mean(precisions)) if precisions else 0.0
    macro_r = float(np.mean(recalls)) if recalls else 0.0
    return {"iou_f1": _f1(macro_p, macro_r), "iou_precision": macro_p, "iou_recall": macro_r,
            "iou_f1_micro": _f1(micro_p, micro_r), "iou_precision_micro": micro_p, "iou_recall_micro": micro_r}


def auprc(scores: Sequence[np.ndarray], gold: Sequence[np.ndarray]) -> float | None:
    """Mean average precision over documents with both gold and non-gold tokens (None if there are none)."""
    values = [average_precision_score(g.astype(int), s) for s, g in zip(scores, gold, strict=True)
              if g.any() and not g.all()]
    return float(np.mean(values)) if values else None


def plausibility(predicted: Sequence[np.ndarray], gold: Sequence[np.ndarray],
                 scores: Sequence[np.ndarray] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"documents": len(gold), **token_f1(predicted, gold), **iou_f1(predicted, gold)}
    if scores is not None:
        result["auprc"] = auprc(scores, gold)
    return result
