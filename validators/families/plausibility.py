"""Rationale candidates against the humans: each builder's candidates scored against the human majority
rationale of the same example (ERASER plausibility: token P/R/F1, IOU F1 macro and micro, AUPRC).

A document is one text field of one example; its gold tokens are the content words more than half of the
example's annotators marked (an adjudicated rationale replaces the annotators' when there is one). Only the
examples some human annotated count; a candidate's soft token scores are its span scores.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from whyset.corpora.tokens import content_tokens, covered
from whyset.validators.aggregation import by_source
from whyset.validators.families import MetricFamily, Skipped, ValidationData, number, register_family
from whyset.validators.families.faithfulness import rationale_masks
from whyset.validators.plausibility import plausibility

_FIGURES = ("token_precision", "token_recall", "token_f1", "iou_f1", "iou_precision", "iou_recall", "iou_f1_micro",
            "iou_precision_micro", "iou_recall_micro", "auprc", "candidates", "documents", "token_documents")


@register_family
class Plausibility(MetricFamily):
    name, title, order = "plausibility", "Rationale candidates against the human majority rationale (ERASER)", 45
    figures = ("annotated", *(f"<builder>.{f}" for f in _FIGURES))
    template = """<table><tr><th class=l>builder</th><th>candidates</th><th>documents</th><th>token P</th><th>token R</th>
<th>token F1</th><th>IOU F1 macro</th><th>IOU F1 micro</th><th>AUPRC</th></tr>
{% for b, v in r.items() if v is mapping %}<tr><td class=l>{{ b }}</td><td>{{ v.candidates }}</td><td>{{ v.documents }}</td>
<td>{{ fmt(v.token_precision) }}</td><td>{{ fmt(v.token_recall) }}</td><td>{{ fmt(v.token_f1) }}</td>
<td>{{ fmt(v.iou_f1) }}</td><td>{{ fmt(v.iou_f1_micro) }}</td><td>{{ fmt(v.auprc) }}</td></tr>{% endfor %}</table>
<p><small>Gold: the content words more than half of {{ r.annotated }} annotated example(s)' annotators marked.</small></p>"""

    def compute(self, data: ValidationData) -> dict[str, Any]:
        humans = by_source(data.human_annotations, "rationale", data.adjudication_rounds)
        if not humans:
            raise Skipped("no human rationale annotations to compare candidates with")
        gold: dict[tuple[str, str], np.ndarray] = {}
        for sid, records in humans.items():
            for name, text in data.sources[sid].fields.items():
                units = content_tokens(text)
                votes = sum(np.array(covered(units, r.explanation.spans_by_field().get(name, ())), dtype=int)
                            for r in records)
                gold[(sid, name)] = np.asarray(votes) * 2 > len(records)
        builders = {}
        for builder, (kept, _) in data.builders_of("rationale").items():
            mine = [r for r in kept if r.source_id in humans]
            if not mine:
                continue
            predicted, truth, scores = [], [], []
            for record in mine:
                masks, soft = rationale_masks(record.explanation, data.sources[record.source_id], content_tokens)
                for name in masks:
                    predicted.append(masks[name])
                    scores.append(soft[name])
                    truth.append(gold[(record.source_id, name)])
            builders[builder] = {"candidates": len(mine), **plausibility(predicted, truth, scores)}
        if not builders:
            raise Skipped("no rationale candidate is on an example a human annotated")
        return {"annotated": len(humans), **builders}

    def card_lines(self, result: dict[str, Any]) -> list[str]:
        lines = ["", (f"Rationale candidates against the human majority rationale ({result['annotated']} examples; "
                 "ERASER definitions):"), "", "| builder | candidates | token F1 | IOU F1 macro | IOU F1 micro | AUPRC |",
                 "|---|---|---|---|---|---|"]
        lines += [f"| {b} | {v['candidates']} | {number(v['token_f1'])} | {number(v['iou_f1'])} | "
                  f"{number(v['iou_f1_micro'])} | {number(v.get('auprc'))} |" for b, v in self.builders(result).items()]
        return lines + [""]
