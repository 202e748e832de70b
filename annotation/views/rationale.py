"""Rationale task: highlight evidence in each source field, choose the label and optionally a foil."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import quoteattr

from whyset.annotation.views import EVIDENCE, Outcome, TaskView, choice_xml, register_view
from whyset.corpora.kinds.rationale import Rationale, Span
from whyset.corpora.schema import ExplanationRecord
from whyset.errors import WhysetError


@register_view
class RationaleView(TaskView):
    """Highlight evidence in each source field, choose the label, optionally a contrast (foil) label."""

    kind, explanation_kind, per_candidate = "rationale", "rationale", False
    controls = frozenset({"foil"})
    controls_supported = True

    def task_data(self, source, candidate) -> dict[str, Any]:
        """The fields only: the annotator chooses the label, so the gold label is not in the task (Label
        Studio's task list would show it)."""
        return dict(source.fields)

    def _body(self) -> str:
        first = self.fields[0]
        fields = "".join(
            f"<Header value={quoteattr(name)}/>"
            f'<Labels name="evidence_{name}" toName="{name}"><Label value="{EVIDENCE}" background="#ffd666"/></Labels>'
            f'<Text name="{name}" value="${name}" granularity="word"/>' for name in self.fields)
        return (fields + choice_xml("label", first, self.labels, "Label")
                + choice_xml("foil", first, self.labels, "Contrast with (optional foil label)"))

    def prediction(self, candidate: ExplanationRecord) -> list[dict[str, Any]]:
        rationale = candidate.explanation
        assert isinstance(rationale, Rationale)
        result = [{"from_name": f"evidence_{s.field}", "to_name": s.field, "type": "labels",
                   "value": {"start": s.start, "end": s.end, "text": s.text, "labels": [EVIDENCE]}}
                  for s in rationale.spans]
        result.append({"from_name": "label", "to_name": self.fields[0], "type": "choices",
                       "value": {"choices": [rationale.label]}})
        if rationale.foil_label:
            result.append({"from_name": "foil", "to_name": self.fields[0], "type": "choices",
                           "value": {"choices": [rationale.foil_label]}})
        return result

    def _parse(self, result, source, candidate, judgement) -> Outcome:
        spans = [Span(field=item["to_name"], start=item["value"]["start"], end=item["value"]["end"],
                      text=item["value"]["text"])
                 for item in result if item.get("type") == "labels"]
        if not judgement.get("label"):
            raise WhysetError("field 'label': no label chosen")
        if not spans:
            raise WhysetError("field 'spans': no evidence highlighted")
        spans.sort(key=lambda s: (self.fields.index(s.field), s.start))
        return Outcome("valid", Rationale(spans=spans, label=judgement["label"], foil_label=judgement.get("foil")),
                       judgement)
