"""Label Studio views of the corpus schema: one class per task kind, each knowing its labeling config, the
task data and pre-annotations it pushes, and how a submitted result becomes a typed explanation again.

Keeping all three directions in one place per kind is what makes the round trip testable: whatever
``predictions`` writes, ``parse`` must read back to the same record.

Every config has an explicit "can't decide" choice and a comment box, and names its controls after the
schema (``evidence_<field>``, ``label``, ``foil``, ...) so exported JSON is readable without the config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar
from xml.sax.saxutils import quoteattr

from whyset.corpora.kinds.qa import DEFAULT_QUESTION
from whyset.corpora.schema import FIELD_NAME, ExplanationRecord, Payload, SourceExample
from whyset.errors import WhysetError
from whyset.registry import Registry

if TYPE_CHECKING:
    from whyset.corpora.store import CorpusStore

CANT_DECIDE = "can't decide"
EVIDENCE = "evidence"


@dataclass
class Outcome:
    """What one submitted annotation amounts to. ``status`` is ``valid`` (``explanation`` set), ``undecided``
    (annotator chose "can't decide"), ``rejected`` (a review that rejects the candidate) or ``invalid``."""

    status: str
    explanation: Payload | None = None
    judgement: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None


def choice_xml(name: str, to_name: str, values: list[str], header: str) -> str:
    options = "".join(f"<Choice value={quoteattr(v)}/>" for v in values)
    return (f"<Header value={quoteattr(header)}/>"
            f'<Choices name="{name}" toName="{to_name}" choice="single-radio" showInline="true">{options}</Choices>')


def common_tail_xml(to_name: str) -> str:
    return (f'<Choices name="cant_decide" toName="{to_name}" choice="multiple">'
            f"<Choice value={quoteattr(CANT_DECIDE)}/></Choices>"
            f'<TextArea name="comment" toName="{to_name}" placeholder="Comment (optional)" rows="2" '
            'maxSubmissions="1" editable="true"/>')


def source_objects_xml(fields: list[str]) -> str:
    return "".join(f"<Header value={quoteattr(name)}/><Text name=\"{name}\" value=\"${name}\" granularity=\"word\"/>"
                   for name in fields)


def judgement_of(result: list[dict]) -> dict[str, Any]:
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
    """How one task kind looks in Label Studio. Subclasses define the four directions and register
    themselves with :func:`register_view`."""

    kind: ClassVar[str]               # the task kind (``whyset push --kind``)
    explanation_kind: ClassVar[str]   # the explanation kind its tasks show as candidates and yield
    per_candidate: ClassVar[bool]     # one task per candidate (review) or one per source example

    controls: ClassVar[frozenset[str]]  # names of the view's own controls and task data keys
    # whether control items (a known answer: the source's gold label) can be mixed into its queues: only for
    # views whose decision is a label the annotator chooses, and whose tasks do not show the gold label
    controls_supported: ClassVar[bool] = False
    common: ClassVar[frozenset[str]] = frozenset({"label", "cant_decide", "comment", "answers", "whyset_key"})

    def __init__(self, fields: list[str], labels: list[str], question: str = DEFAULT_QUESTION,
                 adjudication: bool = False):
        for name in fields:
            if not FIELD_NAME.match(name) or name in self.common | self.controls:
                raise WhysetError(f"source field {name!r} cannot name a Label Studio object in a {self.kind} task "
                                  "(use letters, digits and _, and not a name the task uses itself)")
        self.fields, self.labels, self.question, self.adjudication = fields, labels, question, adjudication

    def config(self) -> str:
        """The labeling config; adjudication tasks also show every annotator's answer on top."""
        answers = ('<Header value="Annotators\' answers (each is also a prediction you can start from)"/>'
                   '<HyperText name="answers" value="$answers" inline="true"/>') if self.adjudication else ""
        return "<View>" + answers + self._body() + common_tail_xml(self._anchor()) + "</View>"

    def _body(self) -> str:
        raise NotImplementedError

    def _anchor(self) -> str:
        """The object the kind's choices and comment attach to."""
        return self.fields[0]

    def task_data(self, source: SourceExample, candidate: ExplanationRecord | None) -> dict[str, Any]:
        return dict(source.fields) | {"label": source.label or ""}

    def prediction(self, candidate: ExplanationRecord) -> list[dict[str, Any]]:
        raise NotImplementedError

    def known_answer(self, source: SourceExample) -> str | None:
        """A control item's known answer (what a correct decision is), when the view supports controls."""
        return source.label if self.controls_supported else None

    def parse(self, result: list[dict], source: SourceExample, candidate: ExplanationRecord | None) -> Outcome:
        judgement = judgement_of(result)
        if judgement.get("cant_decide"):
            return Outcome("undecided", judgement=judgement)
        try:
            return self._parse(result, source, candidate, judgement)
        except (WhysetError, ValueError, KeyError, TypeError) as exc:
            return Outcome("invalid", judgement=judgement, problem=str(exc).splitlines()[0])

    def _parse(self, result: list[dict], source: SourceExample, candidate: ExplanationRecord | None,
               judgement: dict[str, Any]) -> Outcome:
        raise NotImplementedError


VIEWS: Registry[type[TaskView]] = Registry("views", "task kind", ["whyset.annotation.views"])


def register_view(cls: type[TaskView]) -> type[TaskView]:
    """Class decorator: a view registers under its task kind."""
    return VIEWS.register(cls.kind)(cls)


def view_for(kind: str, fields: list[str], labels: list[str], question: str = DEFAULT_QUESTION,
             adjudication: bool = False) -> TaskView:
    return VIEWS.get(kind)(fields, labels, question, adjudication)


def source_fields(store: CorpusStore) -> list[str]:
    """Text-field names shared by the store's examples, in their stored order (one config per corpus)."""
    layouts = store.field_layouts()
    if not layouts:
        raise WhysetError(f"{store.path}: no source examples to annotate (import some first)")
    names = layouts[0][0]
    if len(layouts) > 1:  # the first source, in id order, whose fields differ from the first source's
        other, source_id = layouts[1]
        raise WhysetError(f"source {source_id}: fields {other} differ from {names}; push needs one field layout "
                          "per store")
    return names


def make_view(store: CorpusStore, kind: str, adjudication: bool = False) -> TaskView:
    """The task view of ``kind`` for this store's fields and labels (and its free-text question, if set)."""
    return view_for(kind, source_fields(store), store.labels, store.freetext_question, adjudication)
