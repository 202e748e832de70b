"""Span agreement of rationale evidence (token-level Krippendorff alpha, pairwise span F1 and IoU)."""

from __future__ import annotations

from typing import Any

from whyset.validators.families import MetricFamily, Skipped, ValidationData, number, register_family
from whyset.validators.plots import plt, png
from whyset.validators.span_agreement import span_agreement


@register_family
class SpanAgreement(MetricFamily):
    name, title, order = "span", "Rationale span agreement", 20
    figures = ("krippendorff_alpha", "span_f1", "span_iou", "units", "items", "items_pairable", "annotators",
               "pairs.<annotator>.<other>.span_f1", "pairs.<annotator>.<other>.span_iou",
               "per_annotator.<annotator>.span_f1", "per_annotator.<annotator>.span_iou",
               "per_annotator.<annotator>.alpha_without", "per_annotator.<annotator>.items")
    template = """<table>
<tr><td class=l>token-level Krippendorff's alpha ({{ r.units }} {{ r.unit }} units)</td><td>{{ fmt(r.krippendorff_alpha) }}
{% if r.krippendorff_alpha_ci95 %}[{{ fmt(r.krippendorff_alpha_ci95[0]) }}, {{ fmt(r.krippendorff_alpha_ci95[1]) }}]{% endif %}</td></tr>
<tr><td class=l>mean pairwise span F1</td><td>{{ fmt(r.span_f1) }}</td></tr>
<tr><td class=l>mean pairwise span IoU</td><td>{{ fmt(r.span_iou) }}</td></tr></table>
<table><tr><th class=l>annotator</th><th>items</th><th>span F1 with the others</th><th>span IoU</th>
<th>alpha of the others without them</th></tr>
{% for a, v in r.per_annotator.items() %}<tr><td class=l>{{ a }}</td><td>{{ v['items'] }}</td><td>{{ fmt(v.span_f1) }}</td>
<td>{{ fmt(v.span_iou) }}</td><td>{{ fmt(v.alpha_without) }}</td></tr>{% endfor %}</table>
{% if plots.span %}<img alt="span agreement per annotator" src="data:image/png;base64,{{ plots.span }}">{% endif %}"""

    def compute(self, data: ValidationData) -> dict[str, Any]:
        ratings = data.ratings.get("span")
        if ratings is None:
            raise Skipped("no human rationale spans")
        return span_agreement(ratings, n_boot=data.n_boot, seed=data.seed)

    def plots(self, result: dict[str, Any]) -> dict[str, str]:
        names = [a for a, v in result["per_annotator"].items() if v["span_f1"] is not None]
        if not names:
            return {}
        fig, ax = plt.subplots(figsize=(5 + 0.5 * len(names), 3))
        x = range(len(names))
        ax.bar([i - 0.2 for i in x], [result["per_annotator"][a]["span_f1"] for a in names], 0.4, label="span F1")
        ax.bar([i + 0.2 for i in x], [result["per_annotator"][a]["span_iou"] for a in names], 0.4, label="span IoU")
        ax.set_xticks(list(x), names)
        ax.set_ylim(0, 1)
        ax.set_title("span agreement of each annotator with the others")
        ax.legend()
        return {"span": png(fig)}

    def card_lines(self, result: dict[str, Any]) -> list[str]:
        ci = result.get("krippendorff_alpha_ci95")
        interval = f" (95% CI {number(ci[0])} to {number(ci[1])})" if ci and ci[0] is not None else ""
        return [(f"- Rationale spans: token-level alpha {number(result['krippendorff_alpha'])}{interval}, "
                 f"{result['annotators']} annotators, mean pairwise span F1 "
                f"{number(result['span_f1'])}, IoU {number(result['span_iou'])} ({result['items_pairable']} fields "
                "rated by two or more).")]
