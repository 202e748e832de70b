"""Label Studio views of the corpus schema: one class per task kind, each knowing its labeling config, the
task data and pre-annotations it pushes, and how a submitted result becomes a typed explanation again.

Keeping all three directions in one place per kind is what makes the round trip testable: whatever
``predictions`` writes, ``parse`` must read back to the same record.

Every config has an explicit "can't decide" choice and a comment box, and names its controls after the
schema (``evidence_<field>``, ``label``, ``foil``, ...) so exported JSON is readable without the config.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar
from xml.sax.saxutils import quoteattr

from whyset.corpora.schema import (
    Counterfactual,
    ExplanationRecord,
    QATriple,
    Rationale,
    SourceExample,
    Span,
    word_edits,
)
from whyset.errors import WhysetError

CANT_DECIDE = "can't decide"
EVIDENCE = "evidence"
DEFAULT_QUESTION = "Why does this example have its label?"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class Outcome:
    """What one submitted annotation amounts to. ``status`` is ``valid`` (``explanation`` set), ``undecided``
    (annotator chose "can't decide"), ``rejected`` (a review that rejects the candidate) or ``invalid``."""

    status: str
    explanation: Rationale | Counterfactual | QATriple | None = None
    judgement: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None


def _first(result: list[dict], from_name: str, key: str) -> Any:
    for item in result:
        if item.get("from_name") == from_name:
            values = item.get("value", {}).get(key)
            if isinstance(values, list):
                return values[0] if values else None
            return values
    return None


def _choice(name: str, to_name: str, values: list[str], header: str) -> str:
    options = "".join(f"<Choice value={quoteattr(v)}/>" for v in values)
    return (f"<Header value={quoteattr(header)}/>"
            f'<Choices name="{name}" toName="{to_name}" choice="single-radio" showInline="true">{options}</Choices>')


def _common_tail(to_name: str) -> str:
    return (f'<Choices name="cant_decide" toName="{to_name}" choice="multiple">'
            f"<Choice value={quoteattr(CANT_DECIDE)}/></Choices>"
            f'<TextArea name="comment" toName="{to_name}" placeholder="Comment (optional)" rows="2" '
            'maxSubmissions="1" editable="true"/>')


def _source_objects(fields: list[str]) -> str:
    return "".join(f"<Header value={quoteattr(name)}/><Text name=\"{name}\" value=\"${name}\" granularity=\"word\"/>"
                   for name in fields)


def _judgement(result: list[dict]) -> dict[str, Any]:
    """Choices and ratings of a result, by control name (kept with every pulled annotation)."""
    found: dict[str, Any] = {}
    for item in result:
        value = item.get("value", {})
        if "choices" in value:
            found[item["from_name"]] = value["choices"][0] if len(value["choices"]) == 1 else value["choices"]
        elif "rating" in value:
            found[item["from_name"]] = value["rating"]
        elif item.get("type") == "textarea":
            found[item["from_name"]] = "\n".join(value.get("text", []))
    return found


class TaskView:
    """How one explanation kind looks in Label Studio. Subclasses define the four directions."""

    kind: ClassVar[str]
    candidate_kind: ClassVar[str | None]
    per_candidate: ClassVar[bool]  # one task per candidate (review) or one per source example

    reserved: ClassVar[frozenset[str]] = frozenset(
        {"label", "foil", "cant_decide", "comment", "diff", "verdict", "explanation", "answers", "whyset_key"})

    def __init__(self, fields: list[str], labels: list[str], question: str = DEFAULT_QUESTION,
                 adjudication: bool = False):
        for name in fields:
            if not _NAME.match(name) or name in self.reserved:
                raise WhysetError(f"source field {name!r} cannot name a Label Studio object (use letters, digits, _)")
        self.fields, self.labels, self.question, self.adjudication = fields, labels, question, adjudication

    def config(self) -> str:
        """The labeling config; adjudication tasks also show every annotator's answer on top."""
        answers = ('<Header value="Annotators\' answers (each is also a prediction you can start from)"/>'
                   '<HyperText name="answers" value="$answers" inline="true"/>') if self.adjudication else ""
        return "<View>" + answers + self._body() + _common_tail(self._anchor()) + "</View>"

    def _body(self) -> str:
        raise NotImplementedError

    def _anchor(self) -> str:
        """The object the kind's choices and comment attach to."""
        return self.fields[0]

    def task_data(self, source: SourceExample, candidate: ExplanationRecord | None) -> dict[str, Any]:
        return dict(source.fields) | {"label": source.label or ""}

    def prediction(self, candidate: ExplanationRecord) -> list[dict[str, Any]]:
        raise NotImplementedError

    def parse(self, result: list[dict], source: SourceExample, candidate: ExplanationRecord | None) -> Outcome:
        judgement = _judgement(result)
        if judgement.get("cant_decide"):
            return Outcome("undecided", judgement=judgement)
        try:
            return self._parse(result, source, candidate, judgement)
        except (WhysetError, ValueError, KeyError, TypeError) as exc:
            return Outcome("invalid", judgement=judgement, problem=str(exc).splitlines()[0])

    def _parse(self, result: list[dict], source: SourceExample, candidate: ExplanationRecord | None,
               judgement: dict[str, Any]) -> Outcome:
        raise NotImplementedError


class RationaleView(TaskView):
    """Highlight evidence in each source field, choose the label, optionally a contrast (foil) label."""

    kind, candidate_kind, per_candidate = "rationale", "rationale", False

    def _body(self) -> str:
        first = self.fields[0]
        fields = "".join(
            f"<Header value={quoteattr(name)}/>"
            f'<Labels name="evidence_{name}" toName="{name}"><Label value="{EVIDENCE}" background="#ffd666"/></Labels>'
            f'<Text name="{name}" value="${name}" granularity="word"/>' for name in self.fields)
        return (fields + _choice("label", first, self.labels, "Label")
                + _choice("foil", first, self.labels, "Contrast with (optional foil label)"))

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


class CounterfactualView(TaskView):
    """Review a model's edit: does it flip the label, is it minimal and fluent; optionally correct it."""

    kind, candidate_kind, per_candidate = "counterfactual", "counterfactual", True

    def _anchor(self) -> str:
        return "diff"

    def _body(self) -> str:
        yes_no = ["yes", "no"]
        return (_source_objects(self.fields)
                + '<Header value="Gold label: $label. Edit of $cf_field, meant to make it: $target_label"/>'
                + '<HyperText name="diff" value="$diff" inline="true"/>'
                + _choice("flips_label", "diff", yes_no, "Does the edited example have the target label?")
                + _choice("minimal", "diff", yes_no, "Is the edit minimal?")
                + _choice("fluent", "diff", yes_no, "Is the edited text fluent?")
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


class QAReviewView(TaskView):
    """Accept, reject or repair a (question, answer, explanation) triple and rate it on a short rubric."""

    kind, candidate_kind, per_candidate = "qa", "qa", True
    PARTS = ("question", "answer", "explanation")
    RUBRIC = ("supports_label", "factual", "concise")

    def _body(self) -> str:
        parts = "".join(
            f'<Header value="{part}"/><Text name="qa_{part}" value="$qa_{part}"/>'
            f'<TextArea name="repaired_{part}" toName="qa_{part}" rows="2" maxSubmissions="1" editable="true" '
            f'placeholder="repaired {part} (only for repair)"/>'
            for part in self.PARTS)
        rubric = "".join(f'<Header value="{r.replace("_", " ")} (1-5)"/>'
                         f'<Rating name="{r}" toName="qa_explanation" maxRating="5"/>' for r in self.RUBRIC)
        return (_source_objects(self.fields) + '<Header value="Gold label: $label"/>' + parts
                + _choice("verdict", self.fields[0], ["accept", "reject", "repair"], "Verdict") + rubric)

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


class FreeTextView(TaskView):
    """Write a free-text explanation of why the gold label holds (e-SNLI style)."""

    kind, candidate_kind, per_candidate = "freetext", "qa", False

    def _body(self) -> str:
        return (_source_objects(self.fields) + '<Header value="Gold label: $label. Explain why it holds:"/>'
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


VIEWS: dict[str, type[TaskView]] = {v.kind: v for v in (RationaleView, CounterfactualView, QAReviewView, FreeTextView)}


def view_for(kind: str, fields: list[str], labels: list[str], question: str = DEFAULT_QUESTION,
             adjudication: bool = False) -> TaskView:
    if kind not in VIEWS:
        raise WhysetError(f"unknown task kind {kind!r} (choose from {', '.join(VIEWS)})")
    return VIEWS[kind](fields, labels, question, adjudication)


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
