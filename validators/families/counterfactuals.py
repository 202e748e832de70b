"""Counterfactual candidates, per builder: does the edit flip the label under the build's classifier and
under a second model (:func:`whyset.validators.classifiers.second_opinion`), how large is it (token edit
distance), does it stay fluent (the generator LM's log-likelihood change the builder recorded), and, where
people reviewed them in Label Studio, the human-confirmed flip rate beside the model's.

Builders keep only the proposals their classifier flips, so ``flip_rate`` (recomputed with the reloaded
classifier) is 1 unless the model changed; ``flip_rate_second`` and ``human_flip_rate`` are the tests.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import numpy as np

from whyset.annotation.views import VIEWS
from whyset.validators.classifiers import memoized, second_opinion
from whyset.validators.disagreement import DECIDED
from whyset.validators.families import MetricFamily, Skipped, ValidationData, number, register_family
from whyset.validators.quality import counterfactual_quality

_FIGURES = ("candidates", "rejected", "flip_rate", "flip_rate_second", "token_edit_distance",
            "normalized_edit_distance", "fluency_delta", "reviews", "human_flip_rate")


def _reviews(data: ValidationData) -> dict[str, Counter]:
    """Per builder: how many decided reviews said the edit flips the label (yes) or not (no)."""
    owner = {r.id: builder for builder, records in data.candidates.items() for r in records}
    verdicts: dict[str, Counter] = defaultdict(Counter)
    for round_ in data.store.rounds():
        kinds = data.store.studio.kinds(round_.id)
        if not kinds or VIEWS.get(next(iter(kinds))).explanation_kind != "counterfactual":
            continue
        for result in data.store.studio.results(round_.id, DECIDED):
            answer = result.judgement.get("flips_label")
            if result.candidate_id in owner and answer in ("yes", "no"):
                verdicts[owner[result.candidate_id]][answer] += 1
    return verdicts


@register_family
class Counterfactuals(MetricFamily):
    name, title, order = "counterfactuals", "Counterfactual candidates: flips, edit size, fluency", 46
    figures = tuple(f"<builder>.{f}" for f in _FIGURES)
    template = """<table><tr><th class=l>builder</th><th>candidates</th><th>rejected</th><th>flip rate (build model)</th>
<th>flip rate (second model)</th><th>human-confirmed flip rate (reviews)</th><th>token edit distance</th>
<th>fluency change</th></tr>
{% for b, v in r.items() if v is mapping %}<tr><td class=l>{{ b }}</td><td>{{ v.candidates }}</td><td>{{ v.rejected }}</td>
<td>{{ fmt(v.flip_rate) }}</td><td>{{ fmt(v.flip_rate_second) }}</td>
<td>{{ fmt(v.human_flip_rate) }} ({{ v.reviews }})</td><td>{{ fmt(v.token_edit_distance) }}</td>
<td>{{ fmt(v.fluency_delta) }}</td></tr>{% endfor %}</table>
<p><small>Build model: {{ r.classifier }}. Second model: {{ r.second or 'none (too few labelled sources outside the
build)' }}. Fluency change: mean change of the generator LM's token log-likelihood, as the builder recorded it.</small></p>"""

    def compute(self, data: ValidationData) -> dict[str, Any]:
        builders = data.builders_of("counterfactual")
        if not builders:
            raise Skipped("no counterfactual candidates (run a counterfactual builder)")
        reviews, result = _reviews(data), {"classifier": None, "second": None}
        for builder, (kept, refused) in builders.items():
            verdicts = reviews.get(builder, Counter())
            row: dict[str, Any] = {"candidates": len(kept), "rejected": len(refused),
                                   "reviews": verdicts["yes"] + verdicts["no"],
                                   "human_flip_rate": verdicts["yes"] / (verdicts["yes"] + verdicts["no"])
                                   if verdicts["yes"] + verdicts["no"] else None}
            result[builder] = row
            if not kept:
                continue
            scorer = data.scorer(builder)
            sources = [data.sources[r.source_id] for r in kept]
            inputs = [s.fields | {r.explanation.field: r.explanation.edited_text} for r, s in zip(kept, sources,
                                                                                                  strict=True)]
            targets = [scorer.labels.index(r.explanation.target_label) for r in kept]
            originals = [s.fields[r.explanation.field] for r, s in zip(kept, sources, strict=True)]
            edited = [r.explanation.edited_text for r in kept]
            quality = counterfactual_quality(originals, edited, targets, scorer.predict, inputs=inputs)
            row |= {k: quality[k] for k in ("flip_rate", "token_edit_distance", "normalized_edit_distance")}
            second = second_opinion(data.store, data.classifier_record(builder), {s.id for s in sources})
            if second is not None:
                row["flip_rate_second"] = counterfactual_quality(originals, edited, targets, memoized(second).predict,
                                                                 inputs=inputs)["flip_rate"]
                result["second"] = second.name
            deltas = [r.scores["fluency_delta"] for r in kept if r.scores and r.scores.get("fluency_delta") is not None]
            row["fluency_delta"] = float(np.mean(deltas)) if deltas else None
            result["classifier"] = scorer.name
        return result

    def card_lines(self, result: dict[str, Any]) -> list[str]:
        lines = ["", "Counterfactual candidates (flip rate under the build's classifier / a second model / reviewers):",
                 "", "| builder | candidates | flip rate | second model | human-confirmed (reviews) | token edits |",
                 "|---|---|---|---|---|---|"]
        lines += [f"| {b} | {v['candidates']} ({v['rejected']} rejected) | {number(v.get('flip_rate'), 2)} | "
                  f"{number(v.get('flip_rate_second'), 2)} | {number(v['human_flip_rate'], 2)} ({v['reviews']}) | "
                  f"{number(v.get('token_edit_distance'), 1)} |" for b, v in self.builders(result).items()]
        return lines + [""]
