"""Corpus statistics: counts, label balance, text lengths, annotator workload and lead time."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from whyset.corpora.tokens import content_tokens
from whyset.validators.families import MetricFamily, ValidationData, register_family
from whyset.validators.plots import plt, png


@register_family
class CorpusStatistics(MetricFamily):
    name, title, order = "corpus", "Corpus", 90
    figures = ("sources", "annotations", "candidates", "label_balance.<label>", "token_lengths.<field>.mean",
               "token_lengths.<field>.median", "token_lengths.<field>.max")
    template = """<img alt="label balance and lengths" src="data:image/png;base64,{{ plots.corpus }}">
<h3>Annotator workload</h3><table><tr><th class=l>annotator</th><th class=l>kind</th><th>annotations</th>
<th>median lead time (s)</th><th>total lead time (s)</th></tr>
{% for w in r.workload %}<tr><td class=l>{{ w.annotator }}</td><td class=l>{{ w.kind }}</td><td>{{ w.annotations }}</td>
<td>{{ fmt(w.median_lead_time_s) }}</td><td>{{ fmt(w.total_lead_time_s) }}</td></tr>{% endfor %}</table>"""

    def compute(self, data: ValidationData) -> dict[str, Any]:
        lengths: dict[str, list[int]] = defaultdict(list)
        for source in data.sources.values():
            for field, text in source.fields.items():
                lengths[field].append(len(content_tokens(text)))
        store = data.store
        return {
            "sources": len(data.sources), "annotations": store.count("annotations"),
            "candidates": store.count("candidates"), "label_balance": store.label_balance(),
            "token_lengths": {f: {"mean": statistics.fmean(v), "median": statistics.median(v), "max": max(v),
                                  "values": v} for f, v in lengths.items()},
            "workload": store.workload(),
        }

    def plots(self, result: dict[str, Any]) -> dict[str, str]:
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.5))
        labels = result["label_balance"]
        left.bar(list(labels), list(labels.values()), color="#4a7ab5")
        left.set_title("label balance")
        for field, stats in result["token_lengths"].items():
            right.hist(stats["values"], bins=40, alpha=0.6, label=field)
        right.set_title("length (words)")
        if result["token_lengths"]:
            right.legend()
        return {"corpus": png(fig)}

    def card_lines(self, result: dict[str, Any]) -> list[str]:
        return [(f"- {result['sources']} source examples, {result['annotations']} human annotations, "
                f"{result['candidates']} model candidates.")]
