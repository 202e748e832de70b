"""Counterfactual review task: does a model's edit flip the label, is it minimal and fluent; correct it."""

from __future__ import annotations

import html
from typing import Any

from whyset.annotation.views import Outcome, TaskView, choice_xml, register_view, source_objects_xml
from whyset.corpora.kinds.counterfactual import Counterfactual, word_edits
from whyset.corpora.schema import ExplanationRecord
from whyset.errors import WhysetError


@register_view
class CounterfactualView(TaskView):
    """Review a model's edit: does it flip the label, is it minimal and fluent; optionally correct it."""

    kind, explanation_kind, per_candidate = "counterfactual", "counterfactual", True
    controls = frozenset({"diff", "flips_label", "minimal", "fluent", "correction", "cf_field", "target_label"})

    def _anchor(self) -> str:
        return "diff"

    def _body(self) -> str:
        yes_no = ["yes", "no"]
        return (source_objects_xml(self.fields)
                + '<Header value="Gold label: $label. Edit of $cf_field, meant to make it: $target_label"/>'
                + '<HyperText name="diff" value="$diff" inline="true"/>'
                + choice_xml("flips_label", "diff", yes_no, "Does the edited example have the target label?")
                + choice_xml("minimal", "diff", yes_no, "Is the edit minimal?")
                + choice_xml("fluent", "diff", yes_no, "Is the edited text fluent?")
                + '<Header value="Corrected edited text (edit in place if needed)"/>'
                + '<TextArea name="correction" toName="diff" rows="2" maxSubmissions="1" editable="true"/>')

    def task_data(self, source, candidate) -> dict[str, Any]:
        cf = candidate.explanation
        assert isinstance(cf, Counterfactual)
        return super().task_data(source, candidate) | {
            "cf_field": cf.field, "target_label": cf.target_label, "diff": diff_html(source.fields[cf.field], cf),
        }

    def prediction(self, candidate: ExplanationRecord) -> list[dict[str, Any]]:
        cf = candidate.explanation
        assert isinstance(cf, Counterfactual)
        return [{"from_name": "correction", "to_name": "diff", "type": "textarea",
                 "value": {"text": [cf.edited_text]}}]

    def _parse(self, result, source, candidate, judgement) -> Outcome:
        cf = candidate.explanation
        assert isinstance(cf, Counterfactual)
        if judgement.get("flips_label") != "yes":
            return Outcome("rejected", judgement=judgement)
        corrected = (judgement.get("correction") or cf.edited_text).strip()
        if corrected == cf.edited_text:
            return Outcome("valid", cf, judgement)
        original = source.fields[cf.field]
        if corrected == original:
            raise WhysetError("field 'correction': the corrected text equals the original (no edit)")
        return Outcome("valid", Counterfactual(field=cf.field, edited_text=corrected,
                                               edits=word_edits(original, corrected, "annotator"),
                                               target_label=cf.target_label), judgement)


def diff_html(original: str, cf: Counterfactual) -> str:
    """The edit as inline HTML: removed text struck through in red, inserted text in green."""
    parts, cursor = [], 0
    for edit in sorted(cf.edits, key=lambda e: e.start):
        parts.append(html.escape(original[cursor:edit.start]))
        if edit.old:
            parts.append(f'<del style="color:#c00">{html.escape(edit.old)}</del>')
        if edit.new:
            parts.append(f'<ins style="color:#070">{html.escape(edit.new)}</ins>')
        cursor = edit.end
    return "".join(parts) + html.escape(original[cursor:])
