"""Rationale faithfulness to a model, with the ERASER definitions (DeYoung et al., ACL 2020).

For an input x with predicted-class probability m(x)_j and a rationale r (a token mask):

* comprehensiveness = m(x)_j - m(x \\ r)_j   (how much the prediction drops without the rationale)
* sufficiency       = m(x)_j - m(r)_j        (how much it drops with only the rationale)
* AOPC: each score averaged over rationales made of the top k% tokens by attribution score, k in BINS.

An input is one example's text fields (``{"premise": ..., "hypothesis": ...}``; a single text is
``{"text": ...}``); tokens are :func:`whyset.corpora.tokens.tokens` of each field, and removing tokens keeps the
others joined by single spaces. Every figure is reported next to a random baseline of the same size: in
each field, one contiguous run of as many tokens as the rationale marks there, at a random position (an
equal-size random span), so that a method is only called faithful when it beats chance.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from whyset.corpora.tokens import Offsets, keep_tokens, tokens

Example = dict[str, str]                 # the text fields of one input
Mask = dict[str, np.ndarray]             # per field: True for the tokens in the rationale
Predict = Callable[[Sequence[Example]], np.ndarray]  # inputs -> class probabilities, shape (n, classes)
BINS = (0.01, 0.05, 0.10, 0.20, 0.50)


def field_tokens(example: Example) -> dict[str, list[Offsets]]:
    return {name: tokens(text) for name, text in example.items()}


def _keep(example: Example, masks: Mask, inside: bool) -> Example:
    """The example with only the tokens inside (or outside) the rationale."""
    out = {}
    for name, text in example.items():
        units = tokens(text)
        mask = masks.get(name, np.zeros(len(units), dtype=bool))
        out[name] = keep_tokens(text, units, mask if inside else ~mask)
    return out


def comprehensiveness_sufficiency(predict: Predict, examples: Sequence[Example], masks: Sequence[Mask],
                                  targets: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per-example (comprehensiveness, sufficiency): one batch of full, reduced and rationale-only inputs."""
    n = len(examples)
    batch = [*examples, *(_keep(e, m, False) for e, m in zip(examples, masks, strict=True)),
             *(_keep(e, m, True) for e, m in zip(examples, masks, strict=True))]
    probs = predict(batch)
    picked = probs[np.arange(3 * n), np.tile(np.asarray(targets, dtype=int), 3)]
    full, without, only = picked[:n], picked[n:2 * n], picked[2 * n:]
    return full - without, full - only


def top_k_mask(scores: Mask, fraction: float, tiebreak: np.ndarray | None = None) -> Mask:
    """The ceil(fraction * n) highest-scoring tokens over all fields (at least one). Ties are broken by
    ``tiebreak`` (lower first; one value per token, e.g. random, since tokens a builder did not score all tie
    at 0), else by position; the same ``tiebreak`` for every fraction keeps the bins nested."""
    names = list(scores)
    flat = np.concatenate([np.asarray(scores[n], dtype=float) for n in names]) if names else np.zeros(0)
    k = max(1, math.ceil(fraction * len(flat)))
    tiebreak = np.arange(len(flat)) if tiebreak is None else tiebreak
    chosen = np.zeros(len(flat), dtype=bool)
    chosen[np.lexsort((tiebreak, -flat))[:k]] = True
    out, cursor = {}, 0
    for name in names:
        size = len(scores[name])
        out[name] = chosen[cursor:cursor + size]
        cursor += size
    return out


def random_span_masks(like: Sequence[Mask], seed: int) -> list[Mask]:
    """For each mask: in every field, one contiguous run of as many tokens as the mask selects there, at a
    random start drawn once per (example, field, size), so equal-size rationales get the same baseline."""
    out = []
    for i, masks in enumerate(like):
        random = {}
        for f, (name, mask) in enumerate(masks.items()):
            size, total = int(mask.sum()), len(mask)
            run = np.zeros(total, dtype=bool)
            start = int(np.random.default_rng([seed, i, f, size]).integers(0, total - size + 1)) if size else 0
            run[start:start + size] = True
            random[name] = run
        out.append(random)
    return out


def aopc(predict: Predict, examples: Sequence[Example], token_scores: Sequence[Mask], targets: Sequence[int],
         bins: Sequence[float] = BINS, seed: int = 0) -> dict[str, Any]:
    """AOPC comprehensiveness and sufficiency for soft token scores, with an equal-size random baseline."""
    rng = np.random.default_rng(seed)  # orders the tokens a builder left unscored, once per example
    ties = [rng.random(sum(len(v) for v in s.values())) for s in token_scores]
    per_bin = []  # (comprehensiveness, sufficiency, random comprehensiveness, random sufficiency)
    for fraction in bins:
        masks = [top_k_mask(s, fraction, t) for s, t in zip(token_scores, ties, strict=True)]
        c, s = comprehensiveness_sufficiency(predict, examples, masks, targets)
        rc, rs = comprehensiveness_sufficiency(predict, examples, random_span_masks(masks, seed), targets)
        per_bin.append((c.mean(), s.mean(), rc.mean(), rs.mean()))
    comp, suff, rcomp, rsuff = (list(column) for column in zip(*per_bin, strict=True))
    return {"bins": list(bins), "aopc_comprehensiveness": float(np.mean(comp)),
            "aopc_sufficiency": float(np.mean(suff)), "random_aopc_comprehensiveness": float(np.mean(rcomp)),
            "random_aopc_sufficiency": float(np.mean(rsuff)),
            "comprehensiveness_by_bin": [float(x) for x in comp], "sufficiency_by_bin": [float(x) for x in suff]}


def faithfulness(predict: Predict, examples: Sequence[Example], masks: Sequence[Mask], targets: Sequence[int],
                 seed: int = 0) -> dict[str, Any]:
    """Mean comprehensiveness and sufficiency of hard rationales, with the random baseline beside them, and
    the per-example scores (``per_example``: comprehensiveness, sufficiency)."""
    c, s = comprehensiveness_sufficiency(predict, examples, masks, targets)
    rc, rs = comprehensiveness_sufficiency(predict, examples, random_span_masks(masks, seed), targets)
    return {"examples": len(examples), "comprehensiveness": float(c.mean()), "sufficiency": float(s.mean()),
            "random_comprehensiveness": float(rc.mean()), "random_sufficiency": float(rs.mean()),
            "per_example": list(zip(c.tolist(), s.tolist(), strict=True))}
