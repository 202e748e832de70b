"""Typed records of an explanation corpus.

A *source example* is the thing being explained (e.g. an NLI pair with its gold label). An *explanation*
is one of three first-class kinds (rationale, counterfactual, QA-explanation triple) and is stored either
as a model/rule *candidate* or as a human *annotation*; both carry full provenance so that every row of a
released dataset can be traced to who or what produced it, with which model, prompt and decoding settings.

Checks that need only the record itself live in the models (pydantic validators); checks that need the
source text (span offsets, edit offsets) live in :func:`check_against_source`, because the store calls it
with the stored source at insert time.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from whyset import __version__
from whyset.errors import WhysetError

Origin = Literal["human", "model", "rule"]
Granularity = Literal["token", "sentence", "paragraph"]
EXPLANATION_KINDS = ("rationale", "counterfactual", "qa")


class Record(BaseModel):
    """Base for all records: unknown keys are errors (a typo in a column mapping must not pass silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def content_id(*parts: Any) -> str:
    """A stable 16-hex-digit id from canonical JSON, so re-imports map to the same rows (idempotency)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


class Provenance(Record):
    """Who or what produced a record, and how, in enough detail to reproduce or audit it."""

    origin: Origin
    agent_id: str = Field(min_length=1, description="annotator id (human) or generator id (model/rule)")
    model_name: str | None = None
    model_revision: str | None = None
    prompt_id: str | None = None
    prompt_hash: str | None = None
    decoding: dict[str, Any] | None = None
    seed: int | None = None
    guideline_version: str | None = Field(default=None, description="annotation guideline a human worked under")
    tool_version: str = __version__
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class SourceExample(Record):
    """An item to be explained. ``fields`` maps text-field names (premise, hypothesis, text, ...) to text."""

    id: str
    dataset: str = Field(min_length=1)
    split: str = Field(min_length=1)
    row: int = Field(ge=0)
    fields: dict[str, str]
    label: str | None
    license: str | None = Field(default=None, description="SPDX licence id of the source data")
    attribution: str | None = None

    @staticmethod
    def make_id(dataset: str, split: str, row: int, fields: dict[str, str], label: str | None) -> str:
        """Hash of the content *and* its location: e-SNLI has identical pairs at different rows whose
        explanations differ, and merging them would silently double their annotations."""
        return content_id("source", dataset, split, row, fields, label)


class Span(Record):
    """Character offsets ``[start, end)`` into one named text field of the source example."""

    field: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    text: str
    score: float | None = Field(default=None, description="soft importance score, for AUPRC-style metrics")

    @model_validator(mode="after")
    def _ordered(self) -> Span:
        if self.end <= self.start:
            raise ValueError(f"span end {self.end} must be greater than start {self.start}")
        return self


class Rationale(Record):
    """Evidence spans that support ``label`` (and, if contrastive, argue against ``foil_label``)."""

    kind: Literal["rationale"] = "rationale"
    spans: list[Span] = Field(min_length=1)
    granularity: Granularity = "token"
    label: str
    foil_label: str | None = None


class Edit(Record):
    """One typed edit of the original field text: ``old`` at ``[start, end)`` becomes ``new``."""

    start: int = Field(ge=0)
    end: int = Field(ge=0)
    old: str
    new: str
    edit_type: str = Field(min_length=1, description="negation, antonym, quantifier, entity, rewrite, ...")


class Counterfactual(Record):
    """A minimal edit of one field of the source that should flip its label to ``target_label``."""

    kind: Literal["counterfactual"] = "counterfactual"
    field: str
    edited_text: str
    edits: list[Edit] = Field(min_length=1)
    target_label: str


class QATriple(Record):
    """(question, answer, free-text explanation); ``evidence_span_ids`` point at rationale records."""

    kind: Literal["qa"] = "qa"
    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    explanation: str = Field(min_length=1)
    evidence_span_ids: list[str] = Field(default_factory=list)


Explanation = Annotated[Rationale | Counterfactual | QATriple, Field(discriminator="kind")]
PAYLOAD_MODELS: dict[str, type[Record]] = {"rationale": Rationale, "counterfactual": Counterfactual, "qa": QATriple}


class ExplanationRecord(Record):
    """A stored explanation: a *candidate* (model/rule output awaiting review) or a human *annotation*."""

    id: str
    source_id: str
    role: Literal["candidate", "annotation"]
    round_id: str | None = None
    explanation: Explanation
    provenance: Provenance
    lead_time: float | None = Field(default=None, ge=0, description="seconds the annotator spent")
    scores: dict[str, Any] | None = Field(default=None, description="a builder's automatic scores of a candidate")

    @staticmethod
    def make_id(source_id: str, role: str, round_id: str | None, explanation: Record, agent_id: str) -> str:
        """Same content from the same agent in the same round is the same record: retries are idempotent."""
        return content_id("explanation", source_id, role, round_id, agent_id, explanation.model_dump(mode="json"))


def word_edits(original: str, edited: str, edit_type: str) -> list[Edit]:
    """Word-level edits (difflib over words and the whitespace between them) that turn ``original`` into
    ``edited``: for counterfactuals whose text was written freely (an LLM rewrite, an annotator's correction)."""
    tokens_a, tokens_b = re.findall(r"\S+|\s+", original), re.findall(r"\S+|\s+", edited)
    offsets = [0]
    for token in tokens_a:
        offsets.append(offsets[-1] + len(token))
    matcher = difflib.SequenceMatcher(a=tokens_a, b=tokens_b, autojunk=False)
    return [Edit(start=offsets[i1], end=offsets[i2], old=original[offsets[i1]:offsets[i2]],
                 new="".join(tokens_b[j1:j2]), edit_type=edit_type)
            for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"]


def labels_of(explanation: Rationale | Counterfactual | QATriple) -> list[tuple[str, str]]:
    """(field name, label) pairs an explanation asserts, for checking against the corpus label set."""
    if isinstance(explanation, Rationale):
        pairs = [("label", explanation.label)]
        return pairs + ([("foil_label", explanation.foil_label)] if explanation.foil_label else [])
    if isinstance(explanation, Counterfactual):
        return [("target_label", explanation.target_label)]
    return []


def check_against_source(explanation: Rationale | Counterfactual | QATriple, source: SourceExample) -> None:
    """Raise WhysetError naming the offending field when offsets or texts disagree with the source text."""
    if isinstance(explanation, Rationale):
        for i, span in enumerate(explanation.spans):
            _check_offsets(f"spans[{i}]", span.field, span.start, span.end, source)
            actual = source.fields[span.field][span.start : span.end]
            if actual != span.text:
                raise WhysetError(f"field 'spans[{i}].text': {span.text!r} does not match the source text {actual!r}")
    elif isinstance(explanation, Counterfactual):
        original = source.fields.get(explanation.field)
        if original is None:
            raise WhysetError(f"field 'field': source has no text field {explanation.field!r}")
        rebuilt, cursor = [], 0
        for i, edit in enumerate(sorted(explanation.edits, key=lambda e: e.start)):
            _check_offsets(f"edits[{i}]", explanation.field, edit.start, edit.end, source, allow_empty=True)
            if edit.start < cursor:
                raise WhysetError(f"field 'edits[{i}]': edit at {edit.start} overlaps the previous edit")
            if original[edit.start : edit.end] != edit.old:
                raise WhysetError(f"field 'edits[{i}].old': {edit.old!r} is not the original text at that position")
            rebuilt += [original[cursor : edit.start], edit.new]
            cursor = edit.end
        if "".join(rebuilt) + original[cursor:] != explanation.edited_text:
            raise WhysetError("field 'edited_text': applying the edits to the original does not give the edited text")


def _check_offsets(
    where: str, field: str, start: int, end: int, source: SourceExample, allow_empty: bool = False
) -> None:
    text = source.fields.get(field)
    if text is None:
        raise WhysetError(f"field '{where}.field': source has no text field {field!r} (has {sorted(source.fields)})")
    if end > len(text) or start > end or (start == end and not allow_empty):
        raise WhysetError(
            f"field '{where}': offsets {start}..{end} are outside {field!r} (length {len(text)})"
        )
