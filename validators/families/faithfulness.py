"""Rationale candidates measured without humans: ERASER comprehensiveness, sufficiency and their AOPC over
1/5/10/20/50 %, per builder, each beside an equal-size random-span baseline, scored with the classifier the
build used (reloaded from what the build recorded; ``--recipe``/``--classifier`` to use another).

The target class is the one the classifier predicts on the full input (as in ERASER). ``*_over_random``
figures are the margin over chance, signed so that higher is better: comprehensiveness minus the random
one, and the random sufficiency minus the rationale's (a sufficient rationale loses little). AOPC ranks tokens
by the candidate's span scores; tokens outside its spans (which builders do not score) tie at 0 and are
taken in random order, so the larger bins measure the scored tokens plus chance.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from whyset.corpora.kinds.rationale import Rationale
from whyset.corpora.schema import ExplanationRecord, SourceExample
from whyset.corpora.tokens import Offsets, covered, tokens
from whyset.validators.faithfulness import Mask, aopc, faithfulness
from whyset.validators.families import MetricFamily, Skipped, ValidationData, number, register_family
from whyset.validators.plots import plt, png

SCORED = 200  # candidates scored per builder (a seeded sample beyond that: ~25 model calls per candidate)
_FIGURES = ("comprehensiveness", "sufficiency", "random_comprehensiveness", "random_sufficiency",
            "comprehensiveness_over_random", "sufficiency_over_random", "aopc_comprehensiveness",
            "aopc_sufficiency", "random_aopc_comprehensiveness", "random_aopc_sufficiency",
            "aopc_comprehensiveness_over_random", "aopc_sufficiency_over_random", "candidates", "rejected", "scored")


def rationale_masks(rationale: Rationale, source: SourceExample,
                    tokenize: Callable[[str], list[Offsets]] = tokens) -> tuple[Mask, Mask]:
    """Per field, which units (``tokenize``: every token by default) the rationale covers, and their scores
    (the covering span's score, else 1; 0 outside the spans)."""
    masks, scores = {}, {}
    for name, text in source.fields.items():
        units = tokenize(text)
        spans = [s for s in rationale.spans if s.field == name]
        masks[name] = np.array(covered(units, [(s.start, s.end) for s in spans]), dtype=bool)
        scores[name] = np.array([max((s.score if s.score is not None else 1.0 for s in spans
                                      if s.start < end and start < s.end), default=0.0) for start, end in units])
    return masks, scores


def _builder(data: ValidationData, kept: list[ExplanationRecord], refused: int) -> dict[str, Any]:
    result: dict[str, Any] = {"candidates": len(kept), "rejected": refused}
    if not kept:
        result["why"] = "no candidate passed the builder's checks"
        return result
    if len(kept) > SCORED:  # a seeded sample keeps validate run fast on big builds
        order = np.random.default_rng(data.seed).permutation(len(kept))[:SCORED]
        kept = [kept[i] for i in sorted(order)]
        result["scored"] = SCORED
    scorer = data.scorer(kept[0].provenance.agent_id)
    sources = [data.sources[r.source_id] for r in kept]
    examples = [dict(s.fields) for s in sources]
    masks, scores = zip(*(rationale_masks(r.explanation, s) for r, s in zip(kept, sources, strict=True)),
                        strict=True)
    targets = scorer.predict(examples).argmax(axis=1)
    hard = faithfulness(scorer.predict, examples, list(masks), targets, seed=data.seed)
    soft = aopc(scorer.predict, examples, list(scores), targets, seed=data.seed)
    per_example = hard.pop("per_example")
    result |= hard | {k: v for k, v in soft.items() if k != "bins"} | {"classifier": scorer.name}
    result["comprehensiveness_over_random"] = result["comprehensiveness"] - result["random_comprehensiveness"]
    result["sufficiency_over_random"] = result["random_sufficiency"] - result["sufficiency"]
    result["aopc_comprehensiveness_over_random"] = (result["aopc_comprehensiveness"]
                                                   - result["random_aopc_comprehensiveness"])
    result["aopc_sufficiency_over_random"] = result["random_aopc_sufficiency"] - result["aopc_sufficiency"]
    result["per_candidate"] = [{"id": r.id, "comprehensiveness": c, "sufficiency": s}
                               for r, (c, s) in zip(kept, per_example, strict=True)]
    return result


@register_family
class Faithfulness(MetricFamily):
    name, title, order = "faithfulness", "Rationale candidates: faithfulness to the model (ERASER)", 40
    figures = tuple(f"<builder>.{f}" for f in _FIGURES)
    template = """<table><tr><th class=l>builder</th><th>candidates</th><th>rejected</th><th>comprehensiveness</th>
<th>random</th><th>sufficiency</th><th>random</th><th>AOPC compr.</th><th>random</th><th>AOPC suff.</th><th>random</th>
<th class=l>classifier</th></tr>
{% for b, v in r.items() if v is mapping %}<tr><td class=l>{{ b }}</td><td>{{ v.candidates }}</td><td>{{ v.rejected }}</td>
{% if v.why %}<td class=l colspan=9>{{ v.why }}</td>{% else %}
<td>{{ fmt(v.comprehensiveness) }}</td><td>{{ fmt(v.random_comprehensiveness) }}</td><td>{{ fmt(v.sufficiency) }}</td>
<td>{{ fmt(v.random_sufficiency) }}</td><td>{{ fmt(v.aopc_comprehensiveness) }}</td><td>{{ fmt(v.random_aopc_comprehensiveness) }}</td>
<td>{{ fmt(v.aopc_sufficiency) }}</td><td>{{ fmt(v.random_aopc_sufficiency) }}</td><td class=l>{{ v.classifier }}</td>{% endif %}</tr>
{% endfor %}</table><p><small>Higher comprehensiveness and lower sufficiency are better; random: an equal-size random
span in each field. Target: the class the classifier predicts on the full input.</small></p>
{% if plots.faithfulness %}<img alt="faithfulness against random per builder" src="data:image/png;base64,{{ plots.faithfulness }}">{% endif %}"""

    def compute(self, data: ValidationData) -> dict[str, Any]:
        builders = data.builders_of("rationale")
        if not builders:
            raise Skipped("no rationale candidates (run a rationale builder)")
        return {b: _builder(data, kept, len(refused)) for b, (kept, refused) in builders.items()}

    def plots(self, result: dict[str, Any]) -> dict[str, str]:
        measured = {b: v for b, v in self.builders(result).items() if v["candidates"]}
        if not measured:
            return {}
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
        x = np.arange(len(measured))
        for ax, key in zip(axes, ("comprehensiveness", "aopc_comprehensiveness"), strict=True):
            ax.bar(x - 0.2, [v[key] for v in measured.values()], 0.4, label="rationale", color="#4a7ab5")
            ax.bar(x + 0.2, [v[f"random_{key}"] for v in measured.values()], 0.4, label="random span",
                   color="#bbbbbb")
            ax.set_xticks(x, list(measured))
            ax.set_title(key.replace("_", " "))
            ax.legend()
        return {"faithfulness": png(fig)}

    def card_lines(self, result: dict[str, Any]) -> list[str]:
        lines = ["", ("Rationale candidates, faithfulness to the build's classifier (ERASER; random = equal-size "
                 "random span):"), "", ("| builder | candidates | comprehensiveness (random) | sufficiency (random) "
                 "| AOPC comprehensiveness (random) |"), "|---|---|---|---|---|"]
        for b, v in self.builders(result).items():
            if not v["candidates"]:
                lines.append(f"| {b} | 0 ({v['rejected']} rejected) | n/a | n/a | n/a |")
                continue
            lines.append(f"| {b} | {v['candidates']} | {number(v['comprehensiveness'])} "
                         f"({number(v['random_comprehensiveness'])}) | {number(v['sufficiency'])} "
                         f"({number(v['random_sufficiency'])}) | {number(v['aopc_comprehensiveness'])} "
                         f"({number(v['random_aopc_comprehensiveness'])}) |")
        return lines + [""]
