"""Label Studio rounds: who annotated under which guideline (version and SHA-256, from the round's push), and
what the model's pre-annotations did to them: per annotator and per builder, the share of submissions equal to
the pre-annotation, edited or replaced, with the mean edit distance, and the annotators flagged for anchoring
(:mod:`whyset.validators.preannotation` defines all three and the flag).

Pulled results keep the raw annotation and the task's predictions (``studio_results.raw``); a prediction is
traced to its builder by matching it with what the round's view makes of each candidate of the item.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from whyset.annotation.views import EVIDENCE, make_view
from whyset.validators.disagreement import DECIDED
from whyset.validators.families import MetricFamily, Skipped, ValidationData, register_family
from whyset.validators.plots import plt, png
from whyset.validators.preannotation import anchoring, compare, controls_of, tally, units


def _round_effects(data: ValidationData, round_id: str, kind: str) -> dict[str, Any] | None:
    view = make_view(data.store, kind)
    by_source = defaultdict(list)
    for builder, records in data.candidates.items():
        for record in records:
            if record.explanation.kind == view.explanation_kind:
                shown = view.prediction(record)
                by_source[record.source_id].append((builder, units(shown), controls_of(shown)))
    # compared on every control a pre-annotation of this view fills, and every field's highlights (one that
    # marks only the hypothesis still pre-fills the premise: with nothing)
    prefilled = {c for entries in by_source.values() for _, _, controls in entries for c in controls}
    if any(c.startswith(f"{EVIDENCE}_") for c in prefilled):
        prefilled |= {f"{EVIDENCE}_{name}" for name in view.fields}
    per_annotator, per_builder = defaultdict(list), defaultdict(list)
    for result in data.store.studio.results(round_id, DECIDED):
        predictions = [p.get("result") or [] for p in result.raw.get("predictions", [])]
        shown = [units(p) for p in predictions]
        known = [(builder, u, c) for builder, u, c in by_source.get(result.source_id, []) if u in shown]
        if not known:
            continue  # no model pre-annotation on this task (or only annotators' answers, in adjudication)
        answer = result.raw["annotation"].get("result") or []
        outcome, builder = min(((compare(units(answer, prefilled), u), builder) for builder, u, _ in known),
                               key=lambda scored: scored[0][1])
        per_annotator[result.annotator].append(outcome)
        per_builder[builder].append(outcome)
    if not per_annotator:
        return None
    annotators = {a: tally(o) for a, o in sorted(per_annotator.items())}
    flagged = anchoring({a: (v["unchanged"], v["submitted"]) for a, v in annotators.items()})
    return {"per_annotator": annotators, "per_builder": {b: tally(o) for b, o in sorted(per_builder.items())},
            "anchoring_flagged": sorted(flagged), "anchoring_z": flagged}


@register_family
class Rounds(MetricFamily):
    name, title, order = "rounds", "Annotation rounds: guidelines and pre-annotation effects", 60
    figures = ("<round>.annotators", "<round>.annotations", "<round>.items",
               "<round>.preannotation.per_annotator.<annotator>.unchanged_rate",
               "<round>.preannotation.per_annotator.<annotator>.edited_rate",
               "<round>.preannotation.per_annotator.<annotator>.replaced_rate",
               "<round>.preannotation.per_annotator.<annotator>.mean_edit_distance",
               "<round>.preannotation.per_builder.<builder>.unchanged_rate",
               "<round>.preannotation.per_builder.<builder>.edited_rate",
               "<round>.preannotation.per_builder.<builder>.replaced_rate",
               "<round>.preannotation.per_builder.<builder>.mean_edit_distance")
    template = """<table><tr><th class=l>round</th><th class=l>kind</th><th>annotators</th><th>items</th><th>annotations</th>
<th class=l>guideline</th><th class=l>SHA-256</th></tr>
{% for id, v in r.items() %}<tr><td class=l>{{ id }}</td><td class=l>{{ v.kind }}</td><td>{{ v.annotators }}</td>
<td>{{ v['items'] }}</td><td>{{ v.annotations }}</td><td class=l>{{ v.guideline_version }}</td>
<td class=l>{{ (v.guideline_sha256 or '')[:12] }}</td></tr>{% endfor %}</table>
{% for id, v in r.items() if v.preannotation %}<h3>Pre-annotations in {{ id }}</h3>
<table><tr><th class=l>annotator / builder</th><th>submitted</th><th>unchanged</th><th>edited</th><th>replaced</th>
<th>mean edit distance</th></tr>
{% for group in ('per_annotator', 'per_builder') %}{% for a, t in v.preannotation[group].items() %}
<tr><td class=l>{{ a }}{% if a in v.preannotation.anchoring_flagged %} <span class=fail>anchoring?</span>{% endif %}</td>
<td>{{ t.submitted }}</td><td>{{ fmt(t.unchanged_rate) }}</td><td>{{ fmt(t.edited_rate) }}</td>
<td>{{ fmt(t.replaced_rate) }}</td><td>{{ fmt(t.mean_edit_distance) }}</td></tr>{% endfor %}{% endfor %}</table>
{% if plots[id] %}<img alt="pre-annotation rates per annotator" src="data:image/png;base64,{{ plots[id] }}">{% endif %}
{% endfor %}"""

    def compute(self, data: ValidationData) -> dict[str, Any]:
        rounds = {}
        for round_ in data.store.rounds():
            results = data.store.studio.results(round_.id, DECIDED)
            kinds = data.store.studio.kinds(round_.id)
            entry: dict[str, Any] = {
                "kind": round_.kind, "guideline_version": round_.guideline_version,
                "guideline_sha256": round_.details.get("guideline_sha256"),
                "annotators": len({r.annotator for r in results}) or len(round_.details.get("annotators", {})),
                "items": len({r.item_key for r in results}), "annotations": len(results)}
            if len(kinds) == 1 and results:
                entry["preannotation"] = _round_effects(data, round_.id, next(iter(kinds)))
            rounds[round_.id] = entry
        if not rounds:
            raise Skipped("no annotation round yet (push and pull one)")
        return rounds

    def plots(self, result: dict[str, Any]) -> dict[str, str]:
        out = {}
        for round_id, v in result.items():
            effects = v.get("preannotation")
            if not effects:
                continue
            names = list(effects["per_annotator"])
            fig, ax = plt.subplots(figsize=(5 + 0.4 * len(names), 3))
            bottom = [0.0] * len(names)
            for category, color in (("unchanged", "#b5834a"), ("edited", "#4a7ab5"), ("replaced", "#5b9b5b")):
                heights = [effects["per_annotator"][a][f"{category}_rate"] or 0.0 for a in names]
                ax.bar(names, heights, bottom=bottom, label=category, color=color)
                bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
            ax.set_title(f"{round_id}: submissions against the pre-annotation")
            ax.legend()
            out[round_id] = png(fig)
        return out

    def card_lines(self, result: dict[str, Any]) -> list[str]:
        lines = ["", "Annotation rounds:", "", ("| round | kind | annotators | items | guideline | SHA-256 | "
                 "pre-annotation kept unchanged |"), "|---|---|---|---|---|---|---|"]
        for round_id, v in result.items():
            effects = v.get("preannotation")
            kept = ", ".join(f"{a} {t['unchanged_rate']:.2f}" for a, t in effects["per_annotator"].items()
                             if t["unchanged_rate"] is not None) if effects else "n/a"
            lines.append(f"| {round_id} | {v['kind']} | {v['annotators']} | {v['items']} | "
                         f"{v['guideline_version'] or 'n/a'} | {(v['guideline_sha256'] or 'n/a')[:12]} | {kept} |")
        return lines + [""]
