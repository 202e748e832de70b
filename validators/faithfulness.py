"""Rationale faithfulness to a model, with the ERASER definitions (DeYoung et al., ACL 2020).

For an input x with predicted-class probability m(x)_j and a rationale r (a token mask):

* comprehensiveness = m(x)_j - m(x \\ r)_j   (how much the prediction drops without the rationale)
* sufficiency       = m(x)_j - m(r)_j        (how much it drops with only the rationale)
* AOPC: each score averaged over rationales made of the top k% tokens by attribution score, k in BINS.

Every figure is reported next to a random baseline: random token sets of the same sizes, so that a
method is only called faithful when it beats chance.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from whyset.corpora.tokens import keep_tokens, tokens

Predict = Callable[[Sequence[str]], np.ndarray]  # texts -> class probabilities, shape (n, classes)
BINS = (0.01, 0.05, 0.10, 0.20, 0.50)


def comprehensiveness_sufficiency(predict: Predict, texts: Sequence[str], masks: Sequence[np.ndarray],
                                  targets: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per-example (comprehensiveness, sufficiency) for token masks over :func:`whyset.corpora.tokens.tokens`
    (True = in the rationale)."""
    units = [tokens(t) for t in texts]
    full = predict(list(texts))
    without = predict([keep_tokens(t, u, ~m) for t, u, m in zip(texts, units, masks, strict=True)])
    only = predict([keep_tokens(t, u, m) for t, u, m in zip(texts, units, masks, strict=True)])
    rows = np.arange(len(texts))
    targets = np.asarray(targets)
    return full[rows, targets] - without[rows, targets], full[rows, targets] - only[rows, targets]


def top_k_mask(scores: np.ndarray, fraction: float) -> np.ndarray:
    """The ceil(fraction * n) highest-scoring tokens (at least one); ties broken by position."""
    k = max(1, math.ceil(fraction * len(scores)))
    mask = np.zeros(len(scores), dtype=bool)
    mask[np.argsort(-scores, kind="stable")[:k]] = True
    return mask


def random_masks(like: Sequence[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Random masks with the same number of selected tokens as each of ``like``."""
    out = []
    for mask in like:
        random = np.zeros(len(mask), dtype=bool)
        random[rng.choice(len(mask), size=int(mask.sum()), replace=False)] = True
        out.append(random)
    return out


def aopc(predict: Predict, texts: Sequence[str], token_scores: Sequence[np.ndarray], targets: Sequence[int],
         bins: Sequence[float] = BINS, seed: int = 0) -> dict[str, Any]:
    """AOPC comprehensiveness and sufficiency for soft token scores, with an equal-size random baseline."""
    rng = np.random.default_rng(seed)
    per_bin = []  # (comprehensiveness, sufficiency, random comprehensiveness, random sufficiency)
    for fraction in bins:
        masks = [top_k_mask(np.asarray(s, dtype=float), fraction) for s in token_scores]
        c, s = comprehensiveness_sufficiency(predict, texts, masks, targets)
        rc, rs = comprehensiveness_sufficiency(predict, texts, random_masks(masks, rng), targets)
        per_bin.append((c.mean(), s.mean(), rc.mean(), rs.mean()))
    comp, suff, rcomp, rsuff = (list(column) for column in zip(*per_bin, strict=True))
    return {"bins": list(bins), "aopc_comprehensiveness": float(np.mean(comp)),
            "aopc_sufficiency": float(np.mean(suff)), "random_aopc_comprehensiveness": float(np.mean(rcomp)),
            "random_aopc_sufficiency": float(np.mean(rsuff)),
            "comprehensiveness_by_bin": [float(x) for x in comp], "sufficiency_by_bin": [float(x) for x in suff]}


def faithfulness(predict: Predict, texts: Sequence[str], masks: Sequence[np.ndarray], targets: Sequence[int],
                 seed: int = 0) -> dict[str, Any]:
    """Mean comprehensiveness and sufficiency of hard rationales, with the random baseline beside them."""
    c, s = comprehensiveness_sufficiency(predict, texts, masks, targets)
    rc, rs = comprehensiveness_sufficiency(predict, texts, random_masks(masks, np.random.default_rng(seed)), targets)
    return {"examples": len(texts), "comprehensiveness": float(c.mean()), "sufficiency": float(s.mean()),
            "random_comprehensiveness": float(rc.mean()), "random_sufficiency": float(rs.mean())}
