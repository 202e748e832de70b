"""Span agreement of rationale evidence (token-level Krippendorff alpha, pairwise span F1 and IoU)."""

from __future__ import annotations

from typing import Any

from whyset.validators.families import MetricFamily, Skipped, ValidationData, number, register_family
from whyset.validators.span_agreement import span_agreement


@register_family
class SpanAgreement(MetricFamily):
    name, title, order = "span", "Rationale span agreement", 20
    figures = ("krippendorff_alpha", "span_f1", "span_iou", "units", "items", "items_pairable", "annotators",
               "pairs.<annotator>.<other>.span_f1", "pairs.<annotator>.<other>.span_iou")
    template = """<table>
<tr><td class=l>token-level Krippendorff's alpha ({{ r.units }} {{ r.unit }} units)</td><td>{{ fmt(r.krippendorff_alpha) }}</td></tr>
<tr><td class=l>mean pairwise span F1</td><td>{{ fmt(r.span_f1) }}</td></tr>
<tr><td class=l>mean pairwise span IoU</td><td>{{ fmt(r.span_iou) }}</td></tr></table>"""

    def compute(self, data: ValidationData) -> dict[str, Any]:
        ratings = data.ratings.get("span")
        if ratings is None:
            raise Skipped("no human rationale spans")
        return span_agreement(ratings, n_boot=data.n_boot, seed=data.seed)

    def card_lines(self, result: dict[str, Any]) -> list[str]:
        return [(f"- Rationale spans: token-level alpha {number(result['krippendorff_alpha'])}, mean pairwise span F1 "
                f"{number(result['span_f1'])}, IoU {number(result['span_iou'])} ({result['items_pairable']} fields "
                "rated by two or more).")]
