"""Aggregated gold: one answer per item from several annotators' answers, what dataset users load first.

* **Label**: Dawid-Skene (1979) with one confusion matrix per annotator, fitted by EM (crowd-kit's
  ``DawidSkene``), beside the majority vote; the posterior probability of the chosen label is its confidence.
* **Rationale**: per token, the posterior that it is evidence, from a binary Dawid-Skene over tokens (each
  annotator gets a sensitivity and a specificity for marking words); tokens at or above ``THRESHOLD`` form the
  aggregated rationale, adjacent ones merged into spans (never across a token below it).
* **Free-text explanation**: the medoid, the annotator's text with the highest mean ROUGE-L F1 to the others'
  (ties: first annotator by handle).

An adjudicated answer (a human annotation of an adjudication round: one whose details name the round it
``adjudicates``, as :meth:`CorpusStore.adjudication_rounds` lists them, the same rule the export's ``final``
answers follow) wins over aggregation for its item and kind; ``method`` says which rule produced each answer.
"""

from __future__ import annotations

import warnings
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from whyset.corpora.kinds.qa import QATriple
from whyset.corpora.kinds.rationale import Rationale
from whyset.corpora.schema import ExplanationRecord, SourceExample
from whyset.corpora.tokens import content_tokens, covered
from whyset.validators.rouge import rouge_l
from whyset.validators.span_agreement import merge_units

THRESHOLD = 0.5  # token posterior at or above which a token is in the aggregated rationale
METHODS = {"label": "Dawid-Skene (EM, one confusion matrix per annotator; crowd-kit), beside the majority vote",
           "rationale": f"binary Dawid-Skene over tokens, posterior >= {THRESHOLD}, adjacent tokens merged",
           "explanation": "medoid by ROUGE-L F1 (highest mean similarity to the other annotators' texts)"}


@dataclass
class GoldSpan:
    field: str
    start: int
    end: int
    text: str
    posterior: float  # the lowest token posterior inside the span


@dataclass
class GoldItem:
    """The aggregated answers for one source example (None where nobody answered that kind)."""

    source_id: str
    annotators: list[str] = field(default_factory=list)
    label: str | None = None
    label_method: str | None = None  # dawid-skene | adjudicated
    label_confidence: float | None = None
    majority_label: str | None = None
    rationale: list[GoldSpan] = field(default_factory=list)
    rationale_method: str | None = None
    explanation: str | None = None
    explanation_annotator: str | None = None
    explanation_method: str | None = None  # medoid-rouge-l | single | adjudicated


def by_source(records: Iterable[ExplanationRecord], kind: str,
              adjudication_rounds: Collection[str]) -> dict[str, list[ExplanationRecord]]:
    """Human answers of ``kind`` per source; where an adjudicated answer (one of the ``adjudication_rounds``)
    exists, only it counts."""
    grouped: dict[str, list[ExplanationRecord]] = defaultdict(list)
    for record in records:
        if record.explanation.kind == kind and record.provenance.origin == "human":
            grouped[record.source_id].append(record)
    return {sid: [r for r in rs if r.round_id in adjudication_rounds] or rs for sid, rs in grouped.items()}


@contextmanager
def quiet_pandas() -> Iterator[None]:
    """crowd-kit 1.4 still passes pandas keywords that pandas 3 deprecates (``copy=``, ``inplace=``); the
    results are unaffected, the warnings would only bury the user's own."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="crowdkit")
        yield


def dawid_skene(rows: Sequence[tuple[str, str, Any]], n_iter: int = 100) -> tuple[dict[str, Any], dict[str, float],
                                                                                 dict[str, Any]]:
    """(task -> label, task -> posterior of that label, task -> majority label) for (task, worker, label) rows
    (a worker may answer a task several times, as in Dawid & Skene's data)."""
    import pandas as pd
    from crowdkit.aggregation import DawidSkene, MajorityVote

    frame = pd.DataFrame(list(rows), columns=["task", "worker", "label"])
    with quiet_pandas():
        probas = DawidSkene(n_iter=n_iter).fit(frame).probas_
        majority = MajorityVote().fit_predict(frame)
    labels = probas.idxmax(axis=1)
    return ({t: labels[t] for t in probas.index}, {t: float(probas.loc[t].max()) for t in probas.index},
            {t: majority[t] for t in majority.index})


def _label_gold(items: dict[str, GoldItem], rationales: dict[str, list[ExplanationRecord]],
                adjudication_rounds: Collection[str]) -> None:
    rows = []
    for sid, records in rationales.items():
        if all(r.round_id in adjudication_rounds for r in records):
            votes = Counter(r.explanation.label for r in records)
            items[sid].label, items[sid].label_method = votes.most_common(1)[0][0], "adjudicated"
            continue
        rows += [(sid, r.provenance.agent_id, r.explanation.label) for r in records]
    if not rows:
        return
    labels, confidence, majority = dawid_skene(rows)
    for sid, label in labels.items():
        item = items[sid]
        item.label, item.label_method = label, "dawid-skene"
        item.label_confidence, item.majority_label = confidence[sid], majority[sid]


def _rationale_gold(items: dict[str, GoldItem], rationales: dict[str, list[ExplanationRecord]],
                    sources: dict[str, SourceExample], adjudication_rounds: Collection[str]) -> None:
    rows, units = [], {}
    for sid, records in rationales.items():
        for name, text in sources[sid].fields.items():
            units[(sid, name)] = content_tokens(text)
            for record in records:
                rationale: Rationale = record.explanation  # type: ignore[assignment]
                marks = covered(units[(sid, name)], rationale.spans_by_field().get(name, ()))
                rows += [(f"{sid}\t{name}\t{i}", record.provenance.agent_id, int(m)) for i, m in enumerate(marks)]
    if not rows:
        return
    posterior = _token_posteriors(rows)
    for (sid, name), toks in units.items():
        p = [posterior.get(f"{sid}\t{name}\t{i}", 0.0) for i in range(len(toks))]
        text = sources[sid].fields[name]
        chosen = [x >= THRESHOLD for x in p]
        for start, end in merge_units(toks, chosen):
            inside = [x for (s, e), x in zip(toks, p, strict=True) if s >= start and e <= end]
            items[sid].rationale.append(GoldSpan(name, start, end, text[start:end], round(min(inside), 4)))
        items[sid].rationale_method = ("adjudicated" if all(r.round_id in adjudication_rounds for r in rationales[sid])
                                       else "dawid-skene-tokens")


def _token_posteriors(rows: list[tuple[str, str, int]]) -> dict[str, float]:
    """P(token is evidence) per token task; with a single value seen (nobody marked anything, or everyone
    everything) the answer is that value with certainty."""
    values = {label for _, _, label in rows}
    if len(values) == 1:
        value = float(values.pop())
        return {task: value for task, _, _ in rows}
    import pandas as pd
    from crowdkit.aggregation import DawidSkene

    with quiet_pandas():
        probas = DawidSkene(n_iter=50).fit(pd.DataFrame(rows, columns=["task", "worker", "label"])).probas_
    return {t: float(p) for t, p in probas[1].items()}


def _explanation_gold(items: dict[str, GoldItem], explanations: dict[str, list[ExplanationRecord]],
                      adjudication_rounds: Collection[str]) -> None:
    for sid, records in explanations.items():
        texts = sorted((r.provenance.agent_id, r.explanation.explanation) for r in records
                       if isinstance(r.explanation, QATriple))
        if not texts:
            continue
        if len(texts) == 1:
            chosen, method = texts[0], "adjudicated" if records[0].round_id in adjudication_rounds else "single"
        else:
            means = [np.mean([rouge_l(t, o) for j, (_, o) in enumerate(texts) if j != i])
                     for i, (_, t) in enumerate(texts)]
            chosen = texts[int(np.argmax(means))]
            method = "adjudicated" if all(r.round_id in adjudication_rounds for r in records) else "medoid-rouge-l"
        items[sid].explanation_annotator, items[sid].explanation = chosen
        items[sid].explanation_method = method


def aggregate_gold(records: Sequence[ExplanationRecord], sources: dict[str, SourceExample],
                   adjudication_rounds: Collection[str] = ()) -> list[GoldItem]:
    """One :class:`GoldItem` per source with a human answer, in source id order; answers from the
    ``adjudication_rounds`` win over aggregation."""
    humans = [r for r in records if r.provenance.origin == "human"]
    adjudication_rounds = set(adjudication_rounds)
    items = {sid: GoldItem(sid) for sid in sorted({r.source_id for r in humans})}
    for record in humans:
        if record.provenance.agent_id not in items[record.source_id].annotators:
            items[record.source_id].annotators.append(record.provenance.agent_id)
    rationales = by_source(humans, "rationale", adjudication_rounds)
    _label_gold(items, rationales, adjudication_rounds)
    _rationale_gold(items, rationales, sources, adjudication_rounds)
    _explanation_gold(items, by_source(humans, "qa", adjudication_rounds), adjudication_rounds)
    for item in items.values():
        item.annotators.sort()
    return list(items.values())
