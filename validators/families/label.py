"""Label agreement of rationale labels (and any kind whose spec feeds the ``label`` family)."""

from __future__ import annotations

from typing import Any

import numpy as np

from whyset.validators.families import MetricFamily, Skipped, ValidationData, number, register_family
from whyset.validators.label_agreement import label_agreement, pair_entries
from whyset.validators.plots import plt, png


@register_family
class LabelAgreement(MetricFamily):
    name, title, order = "label", "Label agreement", 10
    figures = ("krippendorff_alpha", "fleiss_kappa", "gwet_ac1", "percent_agreement", "items", "items_pairable",
               "annotators", "pairs.<annotator>.<other>.cohen_kappa", "per_annotator.<annotator>.mean_cohen_kappa",
               "per_annotator.<annotator>.agreement_with_majority_of_rest")
    template = """
<table><tr><th class=l>statistic</th><th>value</th></tr>
<tr><td class=l>Krippendorff's alpha ({{ r.level }})</td><td>{{ fmt(r.krippendorff_alpha) }}
{% if r.krippendorff_alpha_ci95 %}[{{ fmt(r.krippendorff_alpha_ci95[0]) }}, {{ fmt(r.krippendorff_alpha_ci95[1]) }}]{% endif %}</td></tr>
<tr><td class=l>Fleiss' kappa ({{ r.fleiss_items }} items)</td><td>{{ fmt(r.fleiss_kappa) }}</td></tr>
<tr><td class=l>Gwet's AC1</td><td>{{ fmt(r.gwet_ac1) }}</td></tr>
<tr><td class=l>percent agreement</td><td>{{ fmt(r.percent_agreement) }}</td></tr></table>
<table><tr><th class=l>annotator</th><th>items</th><th>agreement with majority of rest</th><th>mean Cohen's kappa</th></tr>
{% for a, v in r.per_annotator.items() %}<tr><td class=l>{{ a }}</td><td>{{ v['items'] }}</td>
<td>{{ fmt(v.agreement_with_majority_of_rest) }}</td><td>{{ fmt(v.mean_cohen_kappa) }}</td></tr>{% endfor %}</table>
{% if plots.kappa %}<img alt="pairwise kappa" src="data:image/png;base64,{{ plots.kappa }}">{% endif %}"""

    def compute(self, data: ValidationData) -> dict[str, Any]:
        ratings = data.ratings.get("label")
        if ratings is None:
            raise Skipped("no labelled human annotations")
        return label_agreement(ratings, n_boot=data.n_boot, seed=data.seed)

    def plots(self, result: dict[str, Any]) -> dict[str, str]:
        annotators = list(result["per_annotator"])
        matrix = np.full((len(annotators), len(annotators)), np.nan)
        for a, b, pair in pair_entries(result["pairs"]):
            i, j = annotators.index(a), annotators.index(b)
            matrix[i, j] = matrix[j, i] = pair["cohen_kappa"] if pair["cohen_kappa"] is not None else np.nan
        fig, ax = plt.subplots(figsize=(4 + len(annotators) * 0.4, 3.5 + len(annotators) * 0.3))
        image = ax.imshow(matrix, vmin=-1, vmax=1, cmap="RdYlGn")
        ax.set_xticks(range(len(annotators)), annotators, rotation=45)
        ax.set_yticks(range(len(annotators)), annotators)
        ax.set_title("pairwise Cohen's kappa (who disagrees with whom)")
        fig.colorbar(image)
        return {"kappa": png(fig)}

    def card_lines(self, result: dict[str, Any]) -> list[str]:
        ci = result.get("krippendorff_alpha_ci95")
        interval = f" (95% CI {number(ci[0])} to {number(ci[1])})" if ci else ""
        return [(f"- Label agreement: Krippendorff's alpha ({result['level']}) {number(result['krippendorff_alpha'])}"
                f"{interval}, Gwet's AC1 {number(result['gwet_ac1'])}, {result['annotators']} annotators, "
                f"{result['items_pairable']} items rated by two or more.")]
