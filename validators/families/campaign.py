"""Campaigns: how far each Label Studio round is, per annotator (what ``whyset status --round R`` shows), as
of the round's last pull: done / skipped / remaining, median lead time, agreement so far, control accuracy."""

from __future__ import annotations

from typing import Any

from whyset.validators.families import MetricFamily, Skipped, ValidationData, register_family
from whyset.validators.round_status import round_status


@register_family
class Campaigns(MetricFamily):
    name, title, order = "campaign", "Campaigns (Label Studio rounds)", 85
    figures = ("rounds.<round>.annotators.<annotator>.assigned", "rounds.<round>.annotators.<annotator>.done",
               "rounds.<round>.annotators.<annotator>.skipped", "rounds.<round>.annotators.<annotator>.remaining",
               "rounds.<round>.annotators.<annotator>.median_lead_time_s",
               "rounds.<round>.annotators.<annotator>.controls.accuracy", "rounds.<round>.agreement.<figure>")
    template = """{% for rid, r in r.rounds.items() %}<h3>{{ rid }} ({{ r.kind }}), as of {{ r.as_of or 'no pull yet' }}</h3>
{% for f, v in r.agreement.items() %}<p>agreement so far: {{ f }} {{ fmt(v) }}</p>{% endfor %}
<table><tr><th class=l>annotator</th><th>assigned</th><th>done</th><th>skipped</th><th>remaining</th>
<th>median lead time (s)</th><th>control items right</th><th>control accuracy</th></tr>
{% for a, v in r.annotators.items() %}<tr><td class=l>{{ a }}{% if a in r.left %} (left){% endif %}</td>
<td>{{ v.assigned }}</td><td>{{ v.done }}</td><td>{{ v.skipped }}</td><td>{{ v.remaining }}</td>
<td>{{ fmt(v.median_lead_time_s) }}</td><td>{{ v.controls.correct }} / {{ v.controls.answered }}</td>
<td>{{ fmt(v.controls.accuracy) }}</td></tr>{% endfor %}</table>{% endfor %}"""

    def compute(self, data: ValidationData) -> dict[str, Any]:
        rounds = [r.id for r in data.store.rounds() if data.store.studio.kinds(r.id)]
        if not rounds:
            raise Skipped("no Label Studio round pushed yet")
        return {"rounds": {round_id: round_status(data.store, round_id).as_dict() for round_id in rounds}}
