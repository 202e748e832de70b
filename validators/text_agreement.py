"""Agreement on free-text explanations, per annotator against the others (leave-one-out).

For annotator *a*: corpus BLEU (sacrebleu's, every annotator in one pass by :mod:`whyset.validators.bleu`)
of a's texts with the other annotators' texts of the same items as references, mean ROUGE-L F1 (rouge-score's
definition, best matching reference per item, pairs scored once per run by :mod:`whyset.validators.rouge`), and, when an embedding function is given, mean cosine
similarity to the other annotators' texts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from whyset.validators.bleu import BLEU_METRIC, loo_bleu
from whyset.validators.ratings import Ratings
from whyset.validators.rouge import best_rouge_l

Embed = Callable[[Sequence[str]], np.ndarray]


def _loo_pairs(ratings: Ratings, annotator: str) -> tuple[list[str], list[list[str]]]:
    """(a's texts, the others' texts per item) over items where a and at least one other wrote."""
    hypotheses, references = [], []
    for by in ratings.values.values():
        others = [text for other, text in sorted(by.items()) if other != annotator]
        if annotator in by and others:
            hypotheses.append(by[annotator])
            references.append(others)
    return hypotheses, references


def bleu_signature(references: list[list[str]]) -> str:
    """sacrebleu's signature of this configuration (it is known only once a corpus has been scored: score the
    first item with the same number of reference streams)."""
    width = max(len(r) for r in references)
    BLEU_METRIC.corpus_score(["-"], [[references[0][k] if k < len(references[0]) else None] for k in range(width)])
    return str(BLEU_METRIC.get_signature())


def loo_rouge_l(hypotheses: list[str], references: list[list[str]]) -> float:
    return float(np.mean([best_rouge_l(hyp, refs) for hyp, refs in zip(hypotheses, references, strict=True)]))


def loo_embedding_similarity(hypotheses: list[str], references: list[list[str]], embed: Embed) -> float:
    flat = [text for refs in references for text in refs]
    vectors = embed(list(hypotheses) + flat)
    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    hyp_vecs, ref_vecs = vectors[: len(hypotheses)], vectors[len(hypotheses):]
    sims, cursor = [], 0
    for i, refs in enumerate(references):
        sims.append(float((ref_vecs[cursor: cursor + len(refs)] @ hyp_vecs[i]).mean()))
        cursor += len(refs)
    return float(np.mean(sims))


def text_agreement(ratings: Ratings, embed: Embed | None = None) -> dict[str, Any]:
    warnings = ratings.check_usable()
    result: dict[str, Any] = {"kind": "text", "annotators": len(ratings.annotators), "items": len(ratings.values),
                              "items_pairable": len(ratings.pairable_items()),
                              "bleu_loo": {}, "rouge_l_loo": {}, "items_per_annotator": {}}
    if embed is not None:
        result["embedding_similarity_loo"] = {}
    signature_of = None
    bleu = loo_bleu(ratings.values)
    for annotator in ratings.annotators:
        hypotheses, references = _loo_pairs(ratings, annotator)
        result["items_per_annotator"][annotator] = len(hypotheses)
        if not hypotheses:
            warnings.append(f"annotator {annotator!r} shares no item with another annotator")
            continue
        result["bleu_loo"][annotator] = bleu[annotator]
        signature_of = signature_of or references
        result["rouge_l_loo"][annotator] = loo_rouge_l(hypotheses, references)
        if embed is not None:
            result["embedding_similarity_loo"][annotator] = loo_embedding_similarity(hypotheses, references, embed)
    if signature_of:
        result["bleu_signature"] = bleu_signature(signature_of)
    for key in ("bleu_loo", "rouge_l_loo", "embedding_similarity_loo"):
        if result.get(key):
            result[f"{key}_mean"] = float(np.mean(list(result[key].values())))
    result["warnings"] = warnings
    return result
