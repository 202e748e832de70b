"""The validation report people look at: one self-contained HTML file with tables and matplotlib plots."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: no display on servers and CI
import matplotlib.pyplot as plt
import numpy as np
from jinja2 import Environment, select_autoescape

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>whyset validation report</title>
<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}img{max-width:100%}.warn{color:#a40}
.fail{color:#b00;font-weight:bold}.pass{color:#070;font-weight:bold}</style></head><body>
<h1>Validation report: {{ name }}</h1>
<p>Run {{ r.run_id }} &middot; {{ r.corpus.sources }} source examples &middot; {{ r.corpus.annotations }}
annotations &middot; {{ r.corpus.candidates }} candidates</p>
{% if gates %}<h2>Gates</h2><table><tr><th class=l>metric</th><th>value</th><th>rule</th><th>result</th></tr>
{% for g in gates %}<tr><td class=l>{{ g.metric }}</td><td>{{ fmt(g.value) }}</td><td>{{ g.rule }}</td>
<td class="{{ 'pass' if g.passed else 'fail' }}">{{ 'pass' if g.passed else 'FAIL' }}</td></tr>{% endfor %}</table>{% endif %}
{% for kind, why in r.skipped.items() %}<p class=warn>{{ kind }} agreement skipped: {{ why }}</p>{% endfor %}
{% if r.label %}<h2>Label agreement</h2>
<table><tr><th class=l>statistic</th><th>value</th></tr>
<tr><td class=l>Krippendorff's alpha ({{ r.label.level }})</td><td>{{ fmt(r.label.krippendorff_alpha) }}
{% if r.label.krippendorff_alpha_ci95 %}[{{ fmt(r.label.krippendorff_alpha_ci95[0]) }}, {{ fmt(r.label.krippendorff_alpha_ci95[1]) }}]{% endif %}</td></tr>
<tr><td class=l>Fleiss' kappa ({{ r.label.fleiss_items }} items)</td><td>{{ fmt(r.label.fleiss_kappa) }}</td></tr>
<tr><td class=l>Gwet's AC1</td><td>{{ fmt(r.label.gwet_ac1) }}</td></tr>
<tr><td class=l>percent agreement</td><td>{{ fmt(r.label.percent_agreement) }}</td></tr></table>
<table><tr><th class=l>annotator</th><th>items</th><th>agreement with majority of rest</th><th>mean Cohen's kappa</th></tr>
{% for a, v in r.label.per_annotator.items() %}<tr><td class=l>{{ a }}</td><td>{{ v['items'] }}</td>
<td>{{ fmt(v.agreement_with_majority_of_rest) }}</td><td>{{ fmt(v.mean_cohen_kappa) }}</td></tr>{% endfor %}</table>
{% if plots.kappa %}<img alt="pairwise kappa" src="data:image/png;base64,{{ plots.kappa }}">{% endif %}{% endif %}
{% if r.span %}<h2>Rationale span agreement</h2><table>
<tr><td class=l>token-level Krippendorff's alpha ({{ r.span.units }} {{ r.span.unit }} units)</td><td>{{ fmt(r.span.krippendorff_alpha) }}</td></tr>
<tr><td class=l>mean pairwise span F1</td><td>{{ fmt(r.span.span_f1) }}</td></tr>
<tr><td class=l>mean pairwise span IoU</td><td>{{ fmt(r.span.span_iou) }}</td></tr></table>{% endif %}
{% if r.text %}<h2>Free-text explanation agreement (leave-one-out)</h2>
<table><tr><th class=l>annotator</th><th>items</th><th>BLEU vs others</th><th>ROUGE-L F1 vs others</th>
{% if r.text.embedding_similarity_loo %}<th>embedding cosine</th>{% endif %}</tr>
{% for a, b in r.text.bleu_loo.items() %}<tr><td class=l>{{ a }}</td><td>{{ r.text.items_per_annotator[a] }}</td>
<td>{{ fmt(b) }}</td><td>{{ fmt(r.text.rouge_l_loo[a]) }}</td>
{% if r.text.embedding_similarity_loo %}<td>{{ fmt(r.text.embedding_similarity_loo[a]) }}</td>{% endif %}</tr>{% endfor %}
</table><p><small>sacrebleu {{ r.text.bleu_signature }}</small></p>
<img alt="per-annotator text agreement" src="data:image/png;base64,{{ plots.text }}">{% endif %}
<h2>Corpus</h2><img alt="label balance and lengths" src="data:image/png;base64,{{ plots.corpus }}">
<h3>Annotator workload</h3><table><tr><th class=l>annotator</th><th class=l>kind</th><th>annotations</th>
<th>median lead time (s)</th><th>total lead time (s)</th></tr>
{% for w in r.corpus.workload %}<tr><td class=l>{{ w.annotator }}</td><td class=l>{{ w.kind }}</td><td>{{ w.annotations }}</td>
<td>{{ fmt(w.median_lead_time_s) }}</td><td>{{ fmt(w.total_lead_time_s) }}</td></tr>{% endfor %}</table>
<h2>Disagreement hot spots</h2>
{% for kind in ('label', 'text') %}{% if r[kind] and r[kind].hotspots %}
<p>{{ kind }}: {{ r[kind].adjudication_items }} item(s) routed to adjudication.</p>
<table><tr><th class=l>item</th>{% for k in r[kind].hotspots[0].keys() if k != 'item' %}<th>{{ k }}</th>{% endfor %}</tr>
{% for h in r[kind].hotspots %}<tr><td class=l>{{ h['item'] }}</td>{% for k, v in h.items() if k != 'item' %}<td>{{ fmt(v) }}</td>{% endfor %}</tr>{% endfor %}
</table>{% endif %}{% endfor %}
</body></html>"""


def _png(fig: plt.Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _plots(results: dict[str, Any]) -> dict[str, str]:
    plots = {}
    corpus = results["corpus"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.5))
    labels = corpus["label_balance"]
    left.bar(list(labels), list(labels.values()), color="#4a7ab5")
    left.set_title("label balance")
    for field, stats in corpus["token_lengths"].items():
        right.hist(stats["values"], bins=40, alpha=0.6, label=field)
    right.set_title("length (tokens)")
    right.legend()
    plots["corpus"] = _png(fig)
    if "text" in results:
        text = results["text"]
        annotators = list(text["bleu_loo"])
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.2))
        left.bar(annotators, [text["bleu_loo"][a] for a in annotators], color="#5b9b5b")
        left.set_title("leave-one-out BLEU")
        right.bar(annotators, [text["rouge_l_loo"][a] for a in annotators], color="#b5834a")
        right.set_title("leave-one-out ROUGE-L F1")
        plots["text"] = _png(fig)
    if "label" in results:
        annotators = list(results["label"]["per_annotator"])
        matrix = np.full((len(annotators), len(annotators)), np.nan)
        for key, pair in results["label"]["pairs"].items():
            a, b = key.split("|")
            i, j = annotators.index(a), annotators.index(b)
            matrix[i, j] = matrix[j, i] = pair["cohen_kappa"] if pair["cohen_kappa"] is not None else np.nan
        fig, ax = plt.subplots(figsize=(4 + len(annotators) * 0.4, 3.5 + len(annotators) * 0.3))
        image = ax.imshow(matrix, vmin=-1, vmax=1, cmap="RdYlGn")
        ax.set_xticks(range(len(annotators)), annotators, rotation=45)
        ax.set_yticks(range(len(annotators)), annotators)
        ax.set_title("pairwise Cohen's kappa (who disagrees with whom)")
        fig.colorbar(image)
        plots["kappa"] = _png(fig)
    return plots


def write_report(results: dict[str, Any], path: Path, name: str, gates: list[dict[str, Any]] | None = None) -> Path:
    env = Environment(autoescape=select_autoescape(default=True))
    html = env.from_string(TEMPLATE).render(r=results, plots=_plots(results), name=name, gates=gates or [],
                                            fmt=_fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path
