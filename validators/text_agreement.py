"""Agreement on free-text explanations, per annotator against the others (leave-one-out).

For annotator *a*: corpus BLEU (sacrebleu) of a's texts with the other annotators' texts of the same
items as references, mean ROUGE-L F1 (rouge-score's definition, best matching reference per item, pairs
scored once per run by :mod:`whyset.validators.rouge`), and, when an embedding function is given, mean cosine
similarity to the other annotators' texts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from sacrebleu.metrics import BLEU
from sacrebleu.metrics.helpers import extract_all_word_ngrams

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


# force=True: corpora such as e-SNLI ship tokenized text, which sacrebleu would only warn about; the
# signature (tokenizer 13a, exp smoothing) is reported with the scores so figures stay comparable.
_BLEU = BLEU(force=True)


@lru_cache(maxsize=1 << 17)
def _ngrams(text: str) -> tuple[Counter, int]:
    """A text's n-gram counts and length as sacrebleu sees it (13a tokens), once per text: every text is a
    hypothesis once and a reference for each other annotator of its item."""
    return extract_all_word_ngrams(_BLEU._preprocess_segment(text), 1, _BLEU.max_ngram_order)


def loo_bleu(hypotheses: list[str], references: list[list[str]]) -> float:
    """sacrebleu's corpus BLEU (13a, exp smoothing) with a variable number of references per item.

    The segment statistics are sacrebleu's (clipped n-gram matches against the maximum count over the
    references, closest reference length) and the score is its ``compute_bleu``; only the n-gram extraction is
    cached per text, which ``corpus_score`` would redo for every annotator (5x faster on e-SNLI; ``tests``
    compare both)."""
    order = _BLEU.max_ngram_order
    stats = [0] * (2 + 2 * order)  # sys_len, ref_len, correct[order], total[order]
    for hypothesis, refs in zip(hypotheses, references, strict=True):
        counts, length = _ngrams(hypothesis)
        extracted = [_ngrams(r) for r in refs]
        stats[0] += length
        stats[1] += _BLEU._get_closest_ref_len(length, [n for _, n in extracted])
        for gram, count in counts.items():
            stats[2 + order + len(gram) - 1] += count
            stats[2 + len(gram) - 1] += min(count, max(c.get(gram, 0) for c, _ in extracted))
    score = BLEU.compute_bleu(stats[2:2 + order], stats[2 + order:], stats[0], stats[1], smooth_method="exp",
                              max_ngram_order=order)
    return float(score.score)


def bleu_signature(references: list[list[str]]) -> str:
    """sacrebleu's signature of this configuration (it is known only once a corpus has been scored: score the
    first item with the same number of reference streams)."""
    width = max(len(r) for r in references)
    _BLEU.corpus_score(["-"], [[references[0][k] if k < len(references[0]) else None] for k in range(width)])
    return str(_BLEU.get_signature())


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
    for annotator in ratings.annotators:
        hypotheses, references = _loo_pairs(ratings, annotator)
        result["items_per_annotator"][annotator] = len(hypotheses)
        if not hypotheses:
            warnings.append(f"annotator {annotator!r} shares no item with another annotator")
            continue
        result["bleu_loo"][annotator] = loo_bleu(hypotheses, references)
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
