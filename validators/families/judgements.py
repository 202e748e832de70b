"""Agreement on every choice and rating question of every Label Studio round: the label chosen in rationale
rounds, flips-label / minimal / fluent in counterfactual reviews, the verdict and the 1-5 rubric of QA reviews.

Each question of each round is its own table (items: the round's tasks; values: what each annotator
answered, from the pulled ``judgement``; free-text boxes and "can't decide" are not questions): choices at the
nominal level, ratings at the ordinal level, with alpha, Cohen's and Fleiss' kappas and Gwet's AC1
(:func:`whyset.validators.label_agreement.label_agreement`). A question nobody answered twice (k = 1 rounds)
or that leaves a figure undefined is listed with the reason, and the rest of the run goes on.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from whyset.errors import WhysetError
from whyset.validators.disagreement import DECIDED
from whyset.validators.families import MetricFamily, Skipped, ValidationData, number, register_family
from whyset.validators.label_agreement import label_agreement
from whyset.validators.ratings import Ratings

NOT_QUESTIONS = frozenset({"comment", "cant_decide", "correction", "explanation"})
_STATISTICS = ("krippendorff_alpha", "fleiss_kappa", "fleiss_kappa_generalized", "gwet_ac1", "percent_agreement",
               "items_pairable")


def _questions(results: list) -> dict[str, Ratings]:
    tables: dict[str, Ratings] = defaultdict(lambda: Ratings("label"))
    for result in results:
        for question, value in result.judgement.items():
            if question in NOT_QUESTIONS or question.startswith("repaired_") or isinstance(value, list | bool):
                continue
            if isinstance(value, str | int | float) and value != "":
                tables[question].values.setdefault(result.item_key, {})[result.annotator] = value
    return dict(tables)


def _agreement(ratings: Ratings, n_boot: int, seed: int) -> dict[str, Any]:
    numeric = all(isinstance(v, int | float) for by in ratings.values.values() for v in by.values())
    try:
        result = label_agreement(ratings, "ordinal" if numeric else "nominal", n_boot=n_boot, seed=seed)
    except WhysetError as exc:  # one annotator, nobody answered an item twice (k = 1)...
        return {"why": str(exc)}
    kept = {k: result[k] for k in _STATISTICS} | {"level": result["level"], "annotators": result["annotators"]}
    if any(result[k] is None for k in ("krippendorff_alpha", "gwet_ac1")):
        kept["why"] = "; ".join(result["warnings"]) or "a figure is undefined on these answers"
    return kept


@register_family
class Judgements(MetricFamily):
    name, title, order = "judgements", "Agreement on every review question, per round", 15
    figures = tuple(f"<round>.<question>.{s}" for s in (*_STATISTICS, "annotators"))
    template = """<table><tr><th class=l>round</th><th class=l>question</th><th>level</th><th>items (2+ answers)</th>
<th>alpha</th><th>Fleiss' kappa</th><th>generalized</th><th>Gwet's AC1</th><th>agreement</th><th class=l>note</th></tr>
{% for round, questions in r.items() if questions is mapping %}{% for q, v in questions.items() %}
<tr><td class=l>{{ round }}</td><td class=l>{{ q }}</td><td>{{ v.level or '' }}</td><td>{{ v.items_pairable or 0 }}</td>
<td>{{ fmt(v.krippendorff_alpha) }}</td><td>{{ fmt(v.fleiss_kappa) }}</td><td>{{ fmt(v.fleiss_kappa_generalized) }}</td>
<td>{{ fmt(v.gwet_ac1) }}</td><td>{{ fmt(v.percent_agreement) }}</td><td class=l>{{ v.why or '' }}</td></tr>
{% endfor %}{% endfor %}</table>"""

    def compute(self, data: ValidationData) -> dict[str, Any]:
        rounds = {}
        for round_ in data.store.rounds():
            questions = _questions(data.store.studio.results(round_.id, DECIDED))
            if questions:
                rounds[round_.id] = {q: _agreement(r, data.n_boot, data.seed) for q, r in sorted(questions.items())}
        if not rounds:
            raise Skipped("no review answers pulled from Label Studio yet")
        return rounds

    def card_lines(self, result: dict[str, Any]) -> list[str]:
        lines = ["", "Agreement on review questions (Krippendorff's alpha / Gwet's AC1):", "",
                 "| round | question | items rated twice or more | alpha | AC1 |", "|---|---|---|---|---|"]
        lines += [f"| {r} | {q} | {v.get('items_pairable', 0)} | {number(v.get('krippendorff_alpha'))} | "
                  f"{number(v.get('gwet_ac1'))} |" for r, qs in result.items() if isinstance(qs, dict)
                  for q, v in qs.items()]
        return lines + [""]
