"""Quality of counterfactuals and QA-explanation triples, for any classifier, LM scorer or embedder.

The models are passed in as plain functions so the same figures work with the offline defaults, a
user's checkpoint, or an OpenAI-compatible endpoint wrapped in a function:

* ``predict(inputs) -> (n, classes) probabilities``  (classifier, e.g. an NLI model; inputs are the texts
  themselves unless ``inputs`` gives what the classifier reads, e.g. the edited example's fields)
* ``loglik(texts) -> (n,) mean token log-likelihood`` (causal LM)
* ``embed(texts) -> (n, d) vectors``                  (sentence embeddings, e.g. MiniLM)
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from itertools import combinations
from typing import Any

import numpy as np
from rapidfuzz.distance import Levenshtein

from whyset.validators.text_agreement import Embed

Predict = Callable[[Sequence[Any]], np.ndarray]
LogLik = Callable[[Sequence[str]], np.ndarray]


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def normalize(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def counterfactual_quality(originals: Sequence[str], edited: Sequence[str], targets: Sequence[int], predict: Predict,
                           loglik: LogLik | None = None, embed: Embed | None = None,
                           groups: Sequence[str] | None = None, inputs: Sequence[Any] | None = None
                           ) -> dict[str, Any]:
    """Flip rate, token edit distance, fluency (LM log-likelihood) and diversity of a counterfactual set.

    ``groups`` names the original of each counterfactual; diversity is the mean pairwise cosine distance
    between counterfactuals of the same original (how different the alternatives are from each other).
    ``inputs`` is what ``predict`` reads for each counterfactual (default: the edited texts).
    """
    flipped = predict(list(edited if inputs is None else inputs)).argmax(axis=1) == np.asarray(targets)
    distances = [Levenshtein.distance(o.split(), e.split()) for o, e in zip(originals, edited, strict=True)]
    normalized = [d / max(len(o.split()), len(e.split()), 1) for d, o, e in zip(distances, originals, edited,
                                                                                strict=True)]
    result: dict[str, Any] = {"counterfactuals": len(edited), "flip_rate": float(flipped.mean()),
                              "flipped": flipped.tolist(), "token_edit_distance": float(np.mean(distances)),
                              "normalized_edit_distance": float(np.mean(normalized))}
    if loglik is not None:
        after, before = np.asarray(loglik(list(edited))), np.asarray(loglik(list(originals)))
        result |= {"fluency_loglik": float(after.mean()), "fluency_delta": float((after - before).mean())}
    if embed is not None and groups is not None:
        vectors = _unit(np.asarray(embed(list(edited))))
        by_group: dict[str, list[int]] = {}
        for i, group in enumerate(groups):
            by_group.setdefault(group, []).append(i)
        spreads = [1 - float(vectors[i] @ vectors[j]) for members in by_group.values()
                   for i, j in combinations(members, 2)]
        result["diversity"] = float(np.mean(spreads)) if spreads else None
    return result


def answer_grounded(answer: str, passage: str) -> bool:
    """The normalized answer occurs in the normalized passage."""
    return normalize(answer) in normalize(passage)


def _near_duplicate_pairs(unit_vectors: np.ndarray, threshold: float, block: int = 1024) -> int:
    """Pairs i < j with cosine >= threshold, in row blocks so memory stays O(block x n), not O(n^2)."""
    pairs = 0
    for start in range(0, len(unit_vectors), block):
        similarity = unit_vectors[start:start + block] @ unit_vectors.T
        rows = np.arange(start, start + len(similarity))[:, None]
        pairs += int(((similarity >= threshold) & (np.arange(len(unit_vectors))[None, :] > rows)).sum())
    return pairs


def qa_quality(passages: Sequence[str], answers: Sequence[str], explanations: Sequence[str],
               labels: Sequence[int] | None = None, predict: Predict | None = None, embed: Embed | None = None,
               restate_threshold: float = 0.9, duplicate_threshold: float = 0.95) -> dict[str, Any]:
    """Grounding, support, restatement and duplicates of QA-explanation triples.

    * grounded: the normalized answer occurs in the normalized passage;
    * supports label: ``predict`` on the explanation alone gives the triple's label (a classifier or NLI
      check; skipped without one);
    * restates input: explanation and passage embeddings closer than ``restate_threshold`` (cosine);
    * duplicates: identical normalized explanations, plus near-duplicates above ``duplicate_threshold``.
    """
    grounded = [answer_grounded(a, p) for a, p in zip(answers, passages, strict=True)]
    norm = [normalize(e) for e in explanations]
    exact = sum(n - 1 for n in Counter(norm).values())
    result: dict[str, Any] = {"triples": len(explanations), "answer_grounded_rate": float(np.mean(grounded)),
                              "exact_duplicates": exact}
    if predict is not None and labels is not None:
        supported = predict(list(explanations)).argmax(axis=1) == np.asarray(labels)
        result["supports_label_rate"] = float(supported.mean())
    if embed is not None:
        vectors = _unit(np.asarray(embed(list(explanations) + list(passages))))
        expl, pas = vectors[: len(explanations)], vectors[len(explanations):]
        result["restates_input_rate"] = float(((expl * pas).sum(axis=1) >= restate_threshold).mean())
        result["near_duplicate_pairs"] = _near_duplicate_pairs(expl, duplicate_threshold)
    return result
