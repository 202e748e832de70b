"""When do annotators of one item disagree? One definition, used by ``validate run`` (the hot spots it
reports) and by ``adjudicate`` (the items it sends to an adjudicator), for every kind.

Two answers disagree when their decisions differ: status (a valid explanation, "can't decide", a rejected
candidate) and the kind's categorical answer (a rationale's label). Answers that agree on that are then
compared on content by the kind's :class:`ContentRule`: highlighted tokens for rationales (the lowest
pairwise token F1 must reach the threshold), free text for QA explanations (the best-matching pair's ROUGE-L
must reach it), so that two annotators who "agree" on a label but mark unrelated evidence, or write
unrelated explanations, still go to adjudication.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from itertools import combinations
from typing import TYPE_CHECKING, Any, Protocol

from whyset.corpora.schema import Payload, SourceExample
from whyset.corpora.tokens import content_tokens, covered

if TYPE_CHECKING:
    from whyset.corpora.store import CorpusStore
    from whyset.corpora.store_studio import StudioResult

DECIDED = ("valid", "undecided", "rejected")  # pulled statuses that are answers (not skipped, not invalid)


@dataclass(frozen=True)
class Answer:
    """What one annotator answered for one item. ``payload`` is None unless ``status`` is ``valid``."""

    annotator: str
    status: str  # valid | undecided | rejected
    payload: Payload | None = None
    judgement: dict[str, Any] = field(default_factory=dict)

    @property
    def decision(self) -> str:
        if self.status != "valid":
            return "can't decide" if self.status == "undecided" else self.status
        answer = self.payload.decision() if self.payload is not None else None
        return answer if answer is not None else "valid"


class ContentRule(Protocol):
    """How close the content of answers with the same decision is: a score in [0, 1], and the threshold
    under which they disagree."""

    name: str
    threshold: float

    def score(self, payloads: Sequence[Payload], source: SourceExample) -> float | None: ...


@dataclass(frozen=True)
class SpanOverlap:
    """Rationales: the lowest pairwise F1 of highlighted content tokens (all fields together)."""

    threshold: float = 0.5
    name: str = "lowest pairwise token F1"

    def score(self, payloads: Sequence[Payload], source: SourceExample) -> float | None:
        units = {name: content_tokens(text) for name, text in source.fields.items()}
        marked = []
        for rationale in payloads:
            spans = rationale.spans_by_field()  # type: ignore[attr-defined]
            marked.append({(name, i) for name, toks in units.items()
                           for i, hit in enumerate(covered(toks, spans.get(name, ()))) if hit})
        scores = [2 * len(a & b) / (len(a) + len(b)) if a or b else 1.0 for a, b in combinations(marked, 2)]
        return min(scores) if scores else None


@dataclass(frozen=True)
class TextOverlap:
    """Free-text explanations: ROUGE-L F1 of the best-matching pair (shared with text agreement)."""

    threshold: float = 0.2
    name: str = "best pairwise ROUGE-L F1"

    def score(self, payloads: Sequence[Payload], source: SourceExample) -> float | None:
        from whyset.validators.rouge import rouge_l

        texts = [p.explanation for p in payloads]  # type: ignore[attr-defined]
        scores = [rouge_l(a, b) for a, b in combinations(texts, 2)]
        return max(scores) if scores else None


@dataclass(frozen=True)
class Finding:
    """An item whose annotators disagree, with every answer, for the report and the adjudicator."""

    kind: str
    item: str
    source_id: str
    reason: str
    score: float | None  # the content rule's score (lower: more disputed); None when decisions differ
    answers: tuple[Answer, ...]


def disagreement(kind: str, item: str, source: SourceExample, answers: Sequence[Answer],
                 rule: ContentRule | None) -> Finding | None:
    """The finding for one item, or None when its two or more answers agree (one answer cannot disagree)."""
    if len(answers) < 2:
        return None
    decisions = sorted({a.decision for a in answers})
    if len(decisions) > 1:
        return Finding(kind, item, source.id, f"answers differ: {' / '.join(decisions)}", None, tuple(answers))
    payloads = [a.payload for a in answers if a.payload is not None]
    if rule is None or len(payloads) < 2:
        return None
    score = rule.score(payloads, source)
    if score is None or score >= rule.threshold:
        return None
    return Finding(kind, item, source.id, f"{rule.name} {score:.2f} < {rule.threshold:g}", score, tuple(answers))


def round_disagreements(store: CorpusStore, round_id: str, explanation_kind: str,
                        threshold: float | None = None) -> dict[str, tuple[Finding, list[StudioResult]]]:
    """Task item key -> (finding, the annotators' pulled results) for the items of a Label Studio round whose
    answers disagree. ``threshold`` replaces the kind's content-rule threshold for this call."""
    from whyset.corpora.kinds import KINDS

    rule = KINDS.get(explanation_kind).content_rule
    if rule is not None and threshold is not None:
        rule = replace(rule, threshold=threshold)
    by_item: dict[str, list[StudioResult]] = defaultdict(list)
    for result in store.studio.results(round_id, DECIDED):
        by_item[result.item_key].append(result)
    records = {r.id: r for r in store.iter_explanations("annotation", round_id=round_id)}
    sources = store.sources_by_id({r.source_id for results in by_item.values() for r in results})
    found = {}
    for key, results in by_item.items():
        answers = [Answer(r.annotator, r.status, records[r.record_id].explanation if r.record_id in records else None,
                          r.judgement) for r in results]
        finding = disagreement(explanation_kind, key, sources[results[0].source_id], answers, rule)
        if finding is not None:
            found[key] = (finding, results)
    return found
