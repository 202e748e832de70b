"""QA-explanation triples: (question, answer, free-text explanation), possibly several per item (CoS-E,
ECQA, e-SNLI's free-text explanations, where the question is fixed and the answer is the gold label)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import Field

from whyset.corpora.kinds import KindSpec, Rating, register_kind
from whyset.corpora.schema import Payload, SourceExample, content_id
from whyset.validators.disagreement import TextOverlap

DEFAULT_QUESTION = "Why does this example have its label?"


class QATriple(Payload):
    """(question, answer, free-text explanation); ``evidence_span_ids`` point at rationale records."""

    kind: Literal["qa"] = "qa"
    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    explanation: str = Field(min_length=1)
    evidence_span_ids: list[str] = Field(default_factory=list)


def _item(triple: QATriple, source: SourceExample) -> str:
    """Several questions per source are allowed: the item is the (source, question) pair."""
    return f"{source.id}/q{content_id(triple.question)[:6]}"


def _ratings(triple: QATriple, source: SourceExample) -> Iterator[Rating]:
    yield Rating("text", _item(triple, source), triple.explanation)


register_kind(KindSpec(name="qa", payload=QATriple, config="qa_explanations", item=_item, ratings=_ratings,
                       content_rule=TextOverlap()))
