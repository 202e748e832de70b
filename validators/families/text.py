"""Agreement of free-text explanations (leave-one-out BLEU and ROUGE-L per annotator)."""

from __future__ import annotations

from typing import Any

from whyset.validators.families import MetricFamily, Skipped, ValidationData, number, register_family
from whyset.validators.plots import plt, png
from whyset.validators.text_agreement import text_agreement


@register_family
class TextAgreement(MetricFamily):
    name, title, order = "text", "Free-text explanation agreement (leave-one-out)", 30
    figures = ("bleu_loo_mean", "rouge_l_loo_mean", "embedding_similarity_loo_mean", "bleu_loo.<annotator>",
               "rouge_l_loo.<annotator>", "embedding_similarity_loo.<annotator>", "items", "items_pairable",
               "annotators", "items_per_annotator.<annotator>")
    template = """<table><tr><th class=l>annotator</th><th>items</th><th>BLEU vs others</th><th>ROUGE-L F1 vs others</th>
{% if r.embedding_similarity_loo %}<th>embedding cosine</th>{% endif %}</tr>
{% for a, b in r.bleu_loo.items() %}<tr><td class=l>{{ a }}</td><td>{{ r.items_per_annotator[a] }}</td>
<td>{{ fmt(b) }}</td><td>{{ fmt(r.rouge_l_loo[a]) }}</td>
{% if r.embedding_similarity_loo %}<td>{{ fmt(r.embedding_similarity_loo[a]) }}</td>{% endif %}</tr>{% endfor %}
</table><p><small>sacrebleu {{ r.bleu_signature }}</small></p>
{% if plots.text %}<img alt="per-annotator text agreement" src="data:image/png;base64,{{ plots.text }}">{% endif %}"""

    def compute(self, data: ValidationData) -> dict[str, Any]:
        ratings = data.ratings.get("text")
        if ratings is None:
            raise Skipped("no human free-text explanations")
        return text_agreement(ratings)

    def plots(self, result: dict[str, Any]) -> dict[str, str]:
        annotators = list(result["bleu_loo"])
        if not annotators:
            return {}
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.2))
        left.bar(annotators, [result["bleu_loo"][a] for a in annotators], color="#5b9b5b")
        left.set_title("leave-one-out BLEU")
        right.bar(annotators, [result["rouge_l_loo"][a] for a in annotators], color="#b5834a")
        right.set_title("leave-one-out ROUGE-L F1")
        return {"text": png(fig)}

    def card_lines(self, result: dict[str, Any]) -> list[str]:
        return [(f"- Free-text explanations: leave-one-out BLEU {number(result.get('bleu_loo_mean'))} and ROUGE-L F1 "
                f"{number(result.get('rouge_l_loo_mean'))} (mean over {result['annotators']} annotators; "
                f"{result.get('bleu_signature', 'sacrebleu')}).")]
