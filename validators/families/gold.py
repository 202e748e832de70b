"""Aggregated gold (:mod:`whyset.validators.aggregation`): how many examples get an aggregated label,
rationale and explanation, how sure Dawid-Skene is, and where it overrules the majority vote; the same
aggregation is exported as the ``gold`` config, and the card states its method and parameters."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from whyset.validators.aggregation import METHODS, THRESHOLD, aggregate_gold
from whyset.validators.families import MetricFamily, Skipped, ValidationData, number, register_family


@register_family
class Gold(MetricFamily):
    name, title, order = "gold", "Aggregated gold (the export's gold config)", 70
    figures = ("items", "labels", "labels_adjudicated", "label_confidence_mean", "label_overrules_majority",
               "rationales", "rationale_threshold", "explanations", "explanations_medoid")
    template = """<table><tr><th class=l>answer</th><th>examples</th><th class=l>method</th></tr>
<tr><td class=l>label</td><td>{{ r.labels }} ({{ r.labels_adjudicated }} adjudicated)</td><td class=l>{{ r.methods.label }};
mean posterior {{ fmt(r.label_confidence_mean) }}, overrules the majority vote on {{ r.label_overrules_majority }}</td></tr>
<tr><td class=l>rationale</td><td>{{ r.rationales }}</td><td class=l>{{ r.methods.rationale }}</td></tr>
<tr><td class=l>explanation</td><td>{{ r.explanations }}</td><td class=l>{{ r.methods.explanation }}</td></tr></table>"""

    def compute(self, data: ValidationData) -> dict[str, Any]:
        items = aggregate_gold(data.human_annotations, data.sources, data.adjudication_rounds)
        if not items:
            raise Skipped("no human annotation to aggregate")
        labels = Counter(i.label_method for i in items if i.label is not None)
        confidences = [i.label_confidence for i in items if i.label_confidence is not None]
        return {
            "items": len(items), "labels": sum(labels.values()), "labels_adjudicated": labels["adjudicated"],
            "label_confidence_mean": float(np.mean(confidences)) if confidences else None,
            "label_overrules_majority": sum(i.label_method == "dawid-skene" and i.label != i.majority_label
                                            for i in items),
            "rationales": sum(i.rationale_method is not None for i in items), "rationale_threshold": THRESHOLD,
            "explanations": sum(i.explanation is not None for i in items),
            "explanations_medoid": sum(i.explanation_method == "medoid-rouge-l" for i in items),
            "methods": METHODS,
        }

    def card_lines(self, result: dict[str, Any]) -> list[str]:
        return ["", (f"Aggregated gold (config `gold`, {result['items']} examples; an adjudicated answer wins over "
                "aggregation):"), "",
                (f"- label ({result['labels']} examples): {METHODS['label']}; mean posterior "
                f"{number(result['label_confidence_mean'])}; overrules the majority on "
                f"{result['label_overrules_majority']}."),
                f"- rationale ({result['rationales']} examples): {METHODS['rationale']}.",
                f"- explanation ({result['explanations']} examples): {METHODS['explanation']}.", ""]
