"""Free-text explanation candidates (LLM explanations, QA triples), per builder, measured without humans:

* ``supports_label_rate``: the build's classifier, reading the explanation in place of the first text field
  (for NLI: does the explanation, as premise, lead to the example's label with the hypothesis?), predicts the
  triple's answer; only for answers that are labels;
* ``grounding``: the mean share of the explanation's content words that occur in the example's text;
* ``answer_grounded_rate``: for answers that are not labels, the share that occur in the passage;
* ``restatement_rate`` and ``near_duplicate_rate``: over every proposal (kept and rejected), the share whose
  embedding similarity to an input field, or to a sibling candidate, reached the builder's threshold (the
  builder records both similarities with every proposal); ``exact_duplicate_rate``: kept candidates whose
  normalized text repeats another of the same example.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from whyset.corpora.tokens import content_tokens
from whyset.validators.families import MetricFamily, Skipped, ValidationData, number, register_family
from whyset.validators.quality import answer_grounded, normalize

_FIGURES = ("candidates", "rejected", "supports_label_rate", "grounding", "answer_grounded_rate",
            "restatement_rate", "near_duplicate_rate", "exact_duplicate_rate")
RESTATE, DUPLICATE = 0.9, 0.95  # the llm_explanation builder's defaults, when a proposal does not record its own


def _words(text: str) -> list[str]:
    return [text[s:e].lower() for s, e in content_tokens(text)]


def _rate(flags: list[bool]) -> float | None:
    return float(np.mean(flags)) if flags else None


def _similarity_rates(kept: list, refused: list) -> dict[str, float | None]:
    restated, duplicated = [], []
    for item in [*kept, *refused]:
        scores, settings = item.scores or {}, (item.provenance.decoding or {}).get("builder", {})
        if "max_input_similarity" in scores:
            restated.append(scores["max_input_similarity"] > settings.get("max_input_similarity", RESTATE))
        if "max_sibling_similarity" in scores:
            duplicated.append(scores["max_sibling_similarity"] > settings.get("max_duplicate_similarity", DUPLICATE))
    return {"restatement_rate": _rate(restated), "near_duplicate_rate": _rate(duplicated)}


@register_family
class Explanations(MetricFamily):
    name, title, order = "explanations", "Explanation candidates: label support, grounding, restatements", 47
    figures = tuple(f"<builder>.{f}" for f in _FIGURES)
    template = """<table><tr><th class=l>builder</th><th>candidates</th><th>rejected</th><th>supports label</th>
<th>grounding</th><th>answer in passage</th><th>restatements</th><th>near-duplicates</th><th>exact duplicates</th></tr>
{% for b, v in r.items() if v is mapping %}<tr><td class=l>{{ b }}</td><td>{{ v.candidates }}</td><td>{{ v.rejected }}</td>
<td>{{ fmt(v.supports_label_rate) }}</td><td>{{ fmt(v.grounding) }}</td><td>{{ fmt(v.answer_grounded_rate) }}</td>
<td>{{ fmt(v.restatement_rate) }}</td><td>{{ fmt(v.near_duplicate_rate) }}</td><td>{{ fmt(v.exact_duplicate_rate) }}</td></tr>
{% endfor %}</table><p><small>Restatements and near-duplicates: share of all proposals (kept and rejected) over the
builder's similarity thresholds. Label support: {{ r.classifier or 'not measured (no classifier recorded)' }}.</small></p>"""

    def compute(self, data: ValidationData) -> dict[str, Any]:
        builders = data.builders_of("qa")
        if not builders:
            raise Skipped("no QA or explanation candidates (run an explanation builder)")
        result: dict[str, Any] = {"classifier": None}
        labels = set(data.store.labels)
        for builder, (kept, refused) in builders.items():
            row: dict[str, Any] = {"candidates": len(kept), "rejected": len(refused), **_similarity_rates(kept, refused)}
            result[builder] = row
            if not kept:
                continue
            sources = [data.sources[r.source_id] for r in kept]
            triples = [r.explanation for r in kept]
            inputs = [set(_words(" ".join(s.fields.values()))) for s in sources]
            row["grounding"] = _rate([w in seen for t, seen in zip(triples, inputs, strict=True)
                                      for w in _words(t.explanation)])
            free = [(t, s) for t, s in zip(triples, sources, strict=True) if t.answer not in labels]
            row["answer_grounded_rate"] = _rate([answer_grounded(t.answer, " ".join(s.fields.values()))
                                                 for t, s in free])
            seen = Counter((r.source_id, normalize(r.explanation.explanation)) for r in kept)
            row["exact_duplicate_rate"] = sum(n - 1 for n in seen.values()) / len(kept)
            labelled = [(t, s) for t, s in zip(triples, sources, strict=True) if t.answer in labels]
            row["supports_label_rate"] = self._support(data, builder, labelled, result)
        return result

    @staticmethod
    def _support(data: ValidationData, builder: str, labelled: list, result: dict[str, Any]) -> float | None:
        if not labelled:
            return None
        try:
            scorer = data.scorer(builder)
        except Skipped:
            return None
        first = next(iter(labelled[0][1].fields))
        predicted = scorer.predict([s.fields | {first: t.explanation} for t, s in labelled]).argmax(axis=1)
        result["classifier"] = f"{scorer.name}, the explanation read as the {first!r} field"
        return _rate([scorer.labels[p] == t.answer for p, (t, _) in zip(predicted, labelled, strict=True)])

    def card_lines(self, result: dict[str, Any]) -> list[str]:
        lines = ["", "Explanation candidates:", "", ("| builder | candidates | supports label | grounding | "
                 "restatements | near-duplicates |"), "|---|---|---|---|---|---|"]
        lines += [f"| {b} | {v['candidates']} ({v['rejected']} rejected) | {number(v.get('supports_label_rate'), 2)} | "
                  f"{number(v.get('grounding'), 2)} | {number(v['restatement_rate'], 2)} | "
                  f"{number(v['near_duplicate_rate'], 2)} |" for b, v in self.builders(result).items()]
        return lines + [""]
