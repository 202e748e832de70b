"""Token attributions (captum) -> word scores -> contiguous rationale spans.

Attribution is taken on the *logit difference* (target logit minus the mean of the other logits), so a
score says how much a token pushes toward the label rather than toward "any label"; Integrated Gradients
then satisfies completeness: the scores sum to f(input) - f(baseline), up to the Riemann error captum
reports as the convergence delta. The baseline replaces every field token by [PAD] and keeps special tokens.

Token scores are summed into words (sums keep completeness); words become spans by a recorded rule
(``top_fraction`` of the words, or ``threshold`` relative to the best word), merging adjacent words.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from captum.attr import FeatureAblation, InputXGradient, IntegratedGradients

from whyset.builders.classifier import Encoded, baseline, embeddings
from whyset.corpora.kinds.rationale import Span

Method = Literal["integrated_gradients", "gradient_x_input", "occlusion"]
WORD = re.compile(r"\w+(?:'\w+)?|[^\w\s]")
SENTENCE = re.compile(r"[^.!?]+(?:[.!?]+|$)")


@dataclass(frozen=True)
class WordScore:
    field: str
    start: int
    end: int
    text: str
    score: float


@dataclass(frozen=True)
class SpanRule:
    """How word scores become spans; recorded in every candidate's provenance."""

    select: Literal["top_fraction", "threshold"] = "top_fraction"
    fraction: float = 0.2
    threshold: float = 0.5
    granularity: Literal["token", "sentence"] = "token"


def logit_difference(logits: torch.Tensor, target: int) -> torch.Tensor:
    others = (logits.sum(-1) - logits[:, target]) / (logits.shape[-1] - 1)
    return logits[:, target] - others


def token_attributions(classifier: Any, encoded: Encoded, fields: dict[str, str], target: int, method: Method,
                       steps: int = 32) -> tuple[list[torch.Tensor], float | None]:
    """Per-segment token scores [n] and, for Integrated Gradients, captum's convergence delta."""
    inputs = tuple(embeddings(classifier.encoder, encoded))
    base = tuple(baseline(classifier.encoder, classifier.tokenizer, encoded))
    masks = encoded.attention_mask

    def forward(*embeds: torch.Tensor) -> torch.Tensor:
        return logit_difference(classifier.logits_from_embeddings(embeds, masks), target)

    delta = None
    if method == "integrated_gradients":
        attributions, deltas = IntegratedGradients(forward).attribute(
            inputs, baselines=base, n_steps=steps, internal_batch_size=steps, return_convergence_delta=True)
        delta = float(deltas.abs().max())
    elif method == "gradient_x_input":
        attributions = InputXGradient(forward).attribute(inputs)
    elif method == "occlusion":
        groups = _word_groups(encoded, fields)
        ablated = FeatureAblation(forward).attribute(inputs, baselines=base,
                                                     feature_mask=tuple(g.view(1, -1, 1) for g in groups))
        # captum gives every element of a group the group's whole effect; share it out over the word's tokens
        all_ids = torch.cat(groups)
        counts = torch.bincount(all_ids)
        return [a[0, :, 0].detach() / counts[g] for a, g in zip(ablated, groups, strict=True)], None
    else:
        raise ValueError(f"unknown attribution method {method!r}")
    return [a.sum(-1)[0].detach() for a in attributions], delta


def words_of(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in WORD.finditer(text)]


def _word_index(encoded: Encoded, fields: dict[str, str]) -> list[list[tuple[str, int] | None]]:
    """For every token of every segment: (field, index of the word it falls in), or None."""
    words = {name: words_of(text) for name, text in fields.items()}
    index = []
    for owners, offsets in zip(encoded.token_fields, encoded.offsets, strict=True):
        row: list[tuple[str, int] | None] = []
        for owner, (start, end) in zip(owners, offsets, strict=True):
            hit = None
            if owner is not None and end > start:
                hit = next(((owner, i) for i, (ws, we) in enumerate(words[owner]) if ws <= start < we), None)
            row.append(hit)
        index.append(row)
    return index


def _word_groups(encoded: Encoded, fields: dict[str, str]) -> list[torch.Tensor]:
    """Feature ids for occlusion: the tokens of one word share an id; every other token has its own."""
    ids: dict[tuple[str, int] | int, int] = {}
    groups = []
    for s, row in enumerate(_word_index(encoded, fields)):
        groups.append(torch.tensor([ids.setdefault(hit if hit is not None else -(s * 10_000 + t) - 1, len(ids))
                                    for t, hit in enumerate(row)]))
    return groups


def word_scores(encoded: Encoded, fields: dict[str, str], token_scores: Sequence[torch.Tensor]) -> list[WordScore]:
    totals: dict[tuple[str, int], float] = {}
    for row, scores in zip(_word_index(encoded, fields), token_scores, strict=True):
        for hit, score in zip(row, scores.tolist(), strict=True):
            if hit is not None:
                totals[hit] = totals.get(hit, 0.0) + score
    out = []
    for name, text in fields.items():
        for i, (start, end) in enumerate(words_of(text)):
            out.append(WordScore(name, start, end, text[start:end], totals.get((name, i), 0.0)))
    return out


def select_spans(words: Sequence[WordScore], fields: dict[str, str], rule: SpanRule) -> list[Span]:
    """Contiguous spans from the chosen words (or sentences); span score = its best unit's score / best."""
    units = _sentences(words, fields) if rule.granularity == "sentence" else \
        [w for w in words if any(c.isalnum() for c in w.text)]
    positive = [u for u in units if u.score > 0]
    if not positive:
        return []
    best = max(u.score for u in positive)
    if rule.select == "top_fraction":
        k = max(1, math.ceil(rule.fraction * len(units)))
        chosen = sorted(positive, key=lambda u: -u.score)[:k]
    else:
        chosen = [u for u in positive if u.score >= rule.threshold * best]
    chosen.sort(key=lambda u: (list(fields).index(u.field), u.start))
    spans: list[Span] = []
    for unit in chosen:
        last = spans[-1] if spans else None
        if last and last.field == unit.field and not fields[unit.field][last.end:unit.start].strip():
            score = max(last.score or 0.0, unit.score / best)
            spans[-1] = Span(field=unit.field, start=last.start, end=unit.end,
                             text=fields[unit.field][last.start:unit.end], score=round(score, 4))
        else:
            spans.append(Span(field=unit.field, start=unit.start, end=unit.end, text=unit.text,
                              score=round(unit.score / best, 4)))
    return spans


def _sentences(words: Sequence[WordScore], fields: dict[str, str]) -> list[WordScore]:
    out = []
    for name, text in fields.items():
        for match in SENTENCE.finditer(text):
            start = match.start() + len(match.group()) - len(match.group().lstrip())
            end = match.start() + len(match.group().rstrip())
            if end > start:
                score = sum(w.score for w in words if w.field == name and start <= w.start < end)
                out.append(WordScore(name, start, end, text[start:end], score))
    return out
