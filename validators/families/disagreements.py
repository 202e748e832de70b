"""Disagreement hot spots: the items ``adjudicate`` would send to an adjudicator, by the one rule of
:mod:`whyset.validators.disagreement`, shown with each item's text and every annotator's answer side by side.

Label Studio rounds are judged on their pulled results (exactly as ``adjudicate --round R`` does); annotations
that arrived by import (e.g. e-SNLI's own explanations) are grouped by their kind's item.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from whyset.annotation.views import VIEWS
from whyset.corpora.kinds import KINDS
from whyset.validators.disagreement import DECIDED, Answer, Finding, disagreement, round_disagreements
from whyset.validators.families import MetricFamily, Skipped, ValidationData, number, register_family

SHOWN = 25


@register_family
class Disagreements(MetricFamily):
    name, title, order = "disagreements", "Disagreement hot spots (routed to adjudication)", 80
    figures = ("by_kind.<kind>.items", "by_kind.<kind>.disagreeing", "by_kind.<kind>.share", "total")
    template = """<table><tr><th class=l>kind</th><th>items with 2+ answers</th><th>disagreeing</th><th>share</th></tr>
{% for kind, v in r.by_kind.items() %}<tr><td class=l>{{ kind }}</td><td>{{ v['items'] }}</td><td>{{ v.disagreeing }}</td>
<td>{{ fmt(v.share) }}</td></tr>{% endfor %}</table>
{% if r.hotspots %}<p>The {{ r.hotspots | length }} most disputed of {{ r.total }} item(s):</p>
<table><tr><th class=l>kind</th><th class=l>item</th><th class=l>text</th><th class=l>why</th><th class=l>answers</th></tr>
{% for h in r.hotspots %}<tr><td class=l>{{ h.kind }}</td><td class=l>{{ h.item }}</td><td class=l>{% for f, t in h.text.items() %}<b>{{ f }}</b>: {{ t }}<br>{% endfor %}</td>
<td class=l>{{ h.reason }}</td><td class=l>{% for a, v in h.answers.items() %}<b>{{ a }}</b>: {{ v }}<br>{% endfor %}</td></tr>{% endfor %}
</table>{% endif %}"""

    def compute(self, data: ValidationData) -> dict[str, Any]:
        compared: dict[str, int] = defaultdict(int)
        findings: list[Finding] = []
        studio_rounds = set()
        for round_ in data.store.rounds():
            kinds = data.store.studio.kinds(round_.id)
            if len(kinds) != 1:
                continue
            studio_rounds.add(round_.id)
            kind = VIEWS.get(kinds.pop()).explanation_kind
            answered = Counter(r.item_key for r in data.store.studio.results(round_.id, DECIDED))
            compared[kind] += sum(n >= 2 for n in answered.values())
            findings += [finding for finding, _ in round_disagreements(data.store, round_.id, kind).values()]
        grouped: dict[tuple[str, str, str], list[Answer]] = defaultdict(list)
        for record in data.human_annotations:
            if record.round_id in studio_rounds:
                continue
            spec = KINDS.get(record.explanation.kind)
            source = data.sources[record.source_id]
            grouped[(spec.name, spec.item(record.explanation, source), source.id)].append(
                Answer(record.provenance.agent_id, "valid", record.explanation))
        for (kind, item, source_id), answers in grouped.items():
            if len(answers) < 2:
                continue
            compared[kind] += 1
            found = disagreement(kind, item, data.sources[source_id], answers, KINDS.get(kind).content_rule)
            findings += [found] if found else []
        compared = {kind: n for kind, n in compared.items() if n}
        if not compared:
            raise Skipped("no item has two or more human answers yet")
        counts = Counter(finding.kind for finding in findings)
        findings.sort(key=lambda f: (f.score is not None, f.score or 0.0, f.item))
        return {
            "by_kind": {kind: {"items": n, "disagreeing": counts[kind], "share": counts[kind] / n}
                        for kind, n in sorted(compared.items())},
            "total": len(findings),
            "hotspots": [_shown(data, f) for f in findings[:SHOWN]],
        }

    def card_lines(self, result: dict[str, Any]) -> list[str]:
        return [f"- Disagreement ({kind}): {v['disagreeing']} of {v['items']} items ({number(v['share'], 2)}) "
                "routed to adjudication." for kind, v in result["by_kind"].items()]


def _shown(data: ValidationData, finding: Finding) -> dict[str, Any]:
    source = data.sources[finding.source_id]
    return {"kind": finding.kind, "item": finding.item, "reason": finding.reason, "text": dict(source.fields),
            "answers": {a.annotator: _describe(a) for a in finding.answers}}


def _describe(answer: Answer) -> str:
    """One annotator's answer in words: the decision, then the evidence or text."""
    payload = answer.payload
    if payload is None:
        return answer.decision
    spans = getattr(payload, "spans", None)
    if spans is not None:
        return f"{answer.decision}: " + " | ".join(f"[{s.field}] {s.text}" for s in spans)
    text = getattr(payload, "explanation", None) or getattr(payload, "edited_text", None)
    return f"{answer.decision}: {text}" if text and answer.decision != "valid" else (text or answer.decision)
