"""Free-text task: write why the gold label holds (e-SNLI style); yields QA-explanation triples."""

from __future__ import annotations

from typing import Any

from whyset.annotation.views import Outcome, TaskView, register_view, source_objects_xml
from whyset.corpora.kinds.qa import QATriple
from whyset.corpora.schema import ExplanationRecord
from whyset.errors import WhysetError


@register_view
class FreeTextView(TaskView):
    """Write a free-text explanation of why the gold label holds (e-SNLI style)."""

    kind, explanation_kind, per_candidate = "freetext", "qa", False
    controls = frozenset({"explanation"})

    def _body(self) -> str:
        return (source_objects_xml(self.fields) + '<Header value="Gold label: $label. Explain why it holds:"/>'
                + f'<TextArea name="explanation" toName="{self.fields[0]}" rows="3" maxSubmissions="1" '
                'editable="true"/>')

    def prediction(self, candidate: ExplanationRecord) -> list[dict[str, Any]]:
        triple = candidate.explanation
        assert isinstance(triple, QATriple)
        return [{"from_name": "explanation", "to_name": self.fields[0], "type": "textarea",
                 "value": {"text": [triple.explanation]}}]

    def _parse(self, result, source, candidate, judgement) -> Outcome:
        text = (judgement.get("explanation") or "").strip()
        if not text:
            raise WhysetError("field 'explanation': empty")
        if not source.label:
            raise WhysetError("field 'label': the source example has no gold label to explain")
        return Outcome("valid", QATriple(question=self.question, answer=source.label, explanation=text), judgement)
