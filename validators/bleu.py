"""Leave-one-out corpus BLEU for every annotator of a free-text round in one pass, exactly sacrebleu's.

sacrebleu's ``corpus_score`` extracts every segment's n-grams again for each annotator (each text is a
hypothesis once and a reference for every other annotator of its item) and clips matches in Python, one n-gram
at a time: about 9 s for e-SNLI's 3 x 9,842 explanations. Here each text is tokenized once (sacrebleu's own 13a
tokenizer), its n-grams are counted as integer arrays, and the clipping (a hypothesis n-gram counts up to its
largest count in any reference of the item) is a sort and a lookup per annotator. The statistics are
sacrebleu's (clipped matches and totals per order, hypothesis length, closest reference length with ties to
the shorter) and the score is its ``BLEU.compute_bleu``; ``tests`` compare with ``corpus_score`` on random
rounds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import pandas as pd
from sacrebleu.metrics import BLEU

# force=True: corpora such as e-SNLI ship tokenized text, which sacrebleu would only warn about; the
# signature (tokenizer 13a, exp smoothing) is reported with the scores so figures stay comparable.
BLEU_METRIC = BLEU(force=True)
ORDER = BLEU_METRIC.max_ngram_order


SEPARATOR = "\x00"  # matched by none of 13a's rules, and no whitespace to str.split


def tokenize_13a(texts: Sequence[str]) -> list[str]:
    """sacrebleu's 13a tokens of each text (``_preprocess_segment``), its tokenizer called once on all texts
    joined by a NUL character with a space on either side: its rules look at one or two adjacent characters,
    and each text keeps the space on either side that a call on its own would give it, so the output splits
    back exactly (``tests`` compare with one call per text). One call instead of one per text: 1.3 s instead
    of 1.9 s for e-SNLI's 29,526 explanations. Texts that contain the separator are tokenized one by one.
    (The outer call is unwrapped from its lru_cache so that the joined text is cached once, by the inner
    tokenizer, as every text called one by one would be.)"""
    segments = [text.rstrip() for text in texts]
    if any(SEPARATOR in segment for segment in segments):
        return [BLEU_METRIC._preprocess_segment(text) for text in texts]
    tokenizer = BLEU_METRIC.tokenizer
    joined = type(tokenizer).__call__.__wrapped__(tokenizer, f" {SEPARATOR} ".join(segments))
    return [part.strip() for part in joined.split(SEPARATOR)]


@dataclass(frozen=True)
class GramCounts:
    """Every text's n-gram counts, one row per (text, distinct n-gram); n-gram ids are unique across orders."""

    text: np.ndarray
    gram: np.ndarray
    order: np.ndarray  # 1..ORDER
    count: np.ndarray
    length: np.ndarray  # tokens per text

    @classmethod
    def of(cls, texts: Sequence[str]) -> GramCounts:
        tokens = [line.split() for line in tokenize_13a(texts)]
        length = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
        ids = pd.factorize(np.array(list(chain.from_iterable(tokens)), dtype=object))[0].astype(np.int64)
        owner = np.repeat(np.arange(len(texts), dtype=np.int64), length)
        end = np.repeat(np.cumsum(length), length)  # one past each token's text
        start = np.arange(len(ids), dtype=np.int64)
        vocabulary = int(ids.max()) + 1 if len(ids) else 1
        parts, offset, codes = [], 0, ids
        for n in range(1, ORDER + 1):
            if n > 1:  # an n-gram's code: the code of its (n-1)-gram prefix with its last token
                starts = max(len(ids) - n + 1, 0)
                codes = pd.factorize(codes[:starts] * vocabulary + ids[n - 1:n - 1 + starts])[0].astype(np.int64)
            valid = start[: len(codes)] + n - 1 < end[: len(codes)]
            width = int(codes.max()) + 1 if len(codes) else 1
            keys, count = np.unique(owner[: len(codes)][valid] * width + codes[valid], return_counts=True)
            parts.append((keys // width, keys % width + offset, np.full(len(keys), n), count))
            offset += width
        text, gram, order, count = (np.concatenate(column) for column in zip(*parts, strict=True))
        return cls(text, gram, order, count, length)


def loo_bleu(values: Mapping[str, Mapping[str, str]]) -> dict[str, float]:
    """Per annotator: corpus BLEU of their texts against the other annotators' texts of the same items, over
    the items where they and at least one other wrote. ``values`` is text by item, then annotator.

    An annotator writes an item once, so a hypothesis n-gram's reference count (its largest count in the
    other texts of the item) is the item's largest count of it, or the second largest where the largest is
    the annotator's own: both come from one sort of all n-gram rows, shared by every annotator."""
    cells = [(item, annotator, text) for item, by in enumerate(values.values()) for annotator, text in by.items()]
    if not cells:
        return {}
    items, annotators, texts = zip(*cells, strict=True)
    item_of = np.array(items, dtype=np.int64)
    names = sorted(set(annotators))
    author = np.searchsorted(names, np.array(annotators, dtype=object))
    grams = GramCounts.of(texts)
    reference = _reference_counts(item_of[grams.text] * (int(grams.gram.max(initial=0)) + 1) + grams.gram,
                                  author[grams.text], grams.count)
    closest = _closest_reference_length(item_of, grams.length)
    shared = (np.bincount(item_of) > 1)[item_of]
    scores = {}
    for code, annotator in enumerate(names):
        mine = (author == code) & shared
        if not mine.any():
            continue
        rows = mine[grams.text]
        counts, order = grams.count[rows], grams.order[rows] - 1
        clipped = np.minimum(counts, reference[rows])
        correct = np.bincount(order, weights=clipped, minlength=ORDER).astype(np.int64).tolist()
        total = np.bincount(order, weights=counts, minlength=ORDER).astype(np.int64).tolist()
        scores[annotator] = float(BLEU.compute_bleu(
            correct, total, int(grams.length[mine].sum()), int(closest[mine].sum()), smooth_method="exp",
            max_ngram_order=ORDER).score)
    return scores


def _reference_counts(keys: np.ndarray, author: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per n-gram row (``keys``: item and n-gram): the largest count of that key among the other authors'
    rows, 0 where no other text of the item has it."""
    order = np.lexsort((-counts, keys))
    keys, author, counts = keys[order], author[order], counts[order]
    first = np.r_[True, keys[1:] != keys[:-1]]
    group = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    top, top_author = counts[starts], author[starts]
    has_second = np.r_[starts[1:], len(keys)] - starts > 1
    second = np.where(has_second, counts[np.minimum(starts + 1, len(keys) - 1)], 0)
    best = np.where(top_author[group] == author, second[group], top[group])
    out = np.empty_like(best)
    out[order] = best
    return out


def _closest_reference_length(item_of: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Per text: sacrebleu's closest reference length among the other texts of its item (smallest absolute
    difference, ties to the shorter; 0 for a text alone in its item)."""
    cells = pd.DataFrame({"item": item_of, "length": length, "text": np.arange(len(length))})
    pairs = cells.merge(cells, on="item", suffixes=("", "_ref"))
    pairs = pairs[pairs.text != pairs.text_ref]
    pairs["rank"] = (pairs.length - pairs.length_ref).abs() * (1 + int(length.max(initial=0))) + pairs.length_ref
    best = pairs.loc[pairs.groupby("text")["rank"].idxmin()]
    closest = np.zeros(len(length), dtype=np.int64)
    closest[best.text.to_numpy()] = best.length_ref.to_numpy()
    return closest
