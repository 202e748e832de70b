"""QA review task: accept, reject or repair a (question, answer, explanation) triple and rate it."""

from __future__ import annotations

from typing import Any

from whyset.annotation.views import Outcome, TaskView, choice_xml, register_view, source_objects_xml
from whyset.corpora.kinds.qa import QATriple
from whyset.corpora.schema import ExplanationRecord
from whyset.errors import WhysetError


@register_view
class QAReviewView(TaskView):
    """Accept, reject or repair a (question, answer, explanation) triple and rate it on a short rubric."""

    kind, explanation_kind, per_candidate = "qa", "qa", True
    PARTS = ("question", "answer", "explanation")
    RUBRIC = ("supports_label", "factual", "concise")
    controls = frozenset({"verdict", *RUBRIC} | {f"qa_{p}" for p in PARTS} | {f"repaired_{p}" for p in PARTS})

    def _body(self) -> str:
        parts = "".join(
            f'<Header value="{part}"/><Text name="qa_{part}" value="$qa_{part}"/>'
            f'<TextArea name="repaired_{part}" toName="qa_{part}" rows="2" maxSubmissions="1" editable="true" '
            f'placeholder="repaired {part} (only for repair)"/>'
            for part in self.PARTS)
        rubric = "".join(f'<Header value="{r.replace("_", " ")} (1-5)"/>'
                         f'<Rating name="{r}" toName="qa_explanation" maxRating="5"/>' for r in self.RUBRIC)
        return (source_objects_xml(self.fields) + '<Header value="Gold label: $label"/>' + parts
                + choice_xml("verdict", self.fields[0], ["accept", "reject", "repair"], "Verdict") + rubric)

    def task_data(self, source, candidate) -> dict[str, Any]:
        triple = candidate.explanation
        assert isinstance(triple, QATriple)
        return super().task_data(source, candidate) | {f"qa_{p}": getattr(triple, p) for p in self.PARTS}

    def prediction(self, candidate: ExplanationRecord) -> list[dict[str, Any]]:
        return []  # the candidate is shown as task data; a pre-filled verdict would only anchor reviewers

    def _parse(self, result, source, candidate, judgement) -> Outcome:
        verdict = judgement.get("verdict")
        if verdict == "reject":
            return Outcome("rejected", judgement=judgement)
        triple = candidate.explanation
        assert isinstance(triple, QATriple)
        if verdict == "accept":
            return Outcome("valid", triple, judgement)
        if verdict == "repair":
            repaired = {p: (judgement.get(f"repaired_{p}") or getattr(triple, p)).strip() for p in self.PARTS}
            return Outcome("valid", QATriple(**repaired), judgement)
        raise WhysetError("field 'verdict': choose accept, reject or repair")
