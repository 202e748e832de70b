"""Rationales: evidence spans (character offsets into a named text field) supporting a label, optionally
contrasted with a foil label (ERASER-style extractive explanations)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Literal

from pydantic import Field, model_validator

from whyset.corpora.kinds import KindSpec, Rating, check_offsets, register_kind
from whyset.corpora.schema import Payload, Record, SourceExample
from whyset.errors import WhysetError
from whyset.validators.disagreement import SpanOverlap

Granularity = Literal["token", "sentence", "paragraph"]


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


class Rationale(Payload):
    """Evidence spans that support ``label`` (and, if contrastive, argue against ``foil_label``)."""

    kind: Literal["rationale"] = "rationale"
    spans: list[Span] = Field(min_length=1)
    granularity: Granularity = "token"
    label: str
    foil_label: str | None = None

    def check_against(self, source: SourceExample) -> None:
        for i, span in enumerate(self.spans):
            check_offsets(f"spans[{i}]", span.field, span.start, span.end, source)
            actual = source.fields[span.field][span.start : span.end]
            if actual != span.text:
                raise WhysetError(f"field 'spans[{i}].text': {span.text!r} does not match the source text {actual!r}")

    def asserted_labels(self) -> list[tuple[str, str]]:
        return [("label", self.label)] + ([("foil_label", self.foil_label)] if self.foil_label else [])

    def decision(self) -> str | None:
        return self.label

    def spans_by_field(self) -> dict[str, list[tuple[int, int]]]:
        by_field: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for span in self.spans:
            by_field[span.field].append((span.start, span.end))
        return dict(by_field)


def _ratings(rationale: Rationale, source: SourceExample) -> Iterator[Rating]:
    """The label feeds label agreement; the spans of each field feed span agreement on that field's tokens."""
    yield Rating("label", source.id, rationale.label)
    for field, spans in rationale.spans_by_field().items():
        yield Rating("span", f"{source.id}:{field}", spans, source.fields[field])


register_kind(KindSpec(name="rationale", payload=Rationale, config="rationales",
                       item=lambda rationale, source: source.id, ratings=_ratings, content_rule=SpanOverlap()))
