"""Aggregated gold: Dawid-Skene against the worked example of Dawid & Skene (1979), token posteriors,
medoid explanations, and adjudicated answers winning over aggregation."""

from __future__ import annotations

import pytest

from whyset.corpora.kinds.qa import QATriple
from whyset.corpora.kinds.rationale import Rationale, Span
from whyset.corpora.schema import ExplanationRecord, Provenance, SourceExample
from whyset.validators.aggregation import aggregate_gold, dawid_skene, quiet_pandas

# Dawid & Skene (1979), "Maximum likelihood estimation of observer error-rates using the EM algorithm",
# Applied Statistics 28(1), Table 1: 45 patients, 5 clinicians, 4 classes; clinician 1 rated every patient
# three times. Patient -> clinician -> ratings.
CLINICIANS = {1: {1:[1,1,1], 2:[1], 3:[1], 4:[1], 5:[1]}, 2: {1:[3,3,3], 2:[4], 3:[3], 4:[3], 5:[4]}, 3: {1:[1,1,2], 2:[2], 3:[1], 4:[2], 5:[2]},
4: {1:[2,2,2], 2:[3], 3:[1], 4:[2], 5:[1]}, 5: {1:[2,2,2], 2:[3], 3:[2], 4:[2], 5:[2]}, 6: {1:[2,2,2], 2:[3], 3:[3], 4:[2], 5:[2]},
7: {1:[1,2,2], 2:[2], 3:[1], 4:[1], 5:[1]}, 8: {1:[3,3,3], 2:[3], 3:[4], 4:[3], 5:[3]}, 9: {1:[2,2,2], 2:[2], 3:[2], 4:[2], 5:[3]},
10: {1:[2,3,2], 2:[2], 3:[2], 4:[2], 5:[3]}, 11: {1:[4,4,4], 2:[4], 3:[4], 4:[4], 5:[4]}, 12: {1:[2,2,2], 2:[3], 3:[3], 4:[4], 5:[3]},
13: {1:[1,1,1], 2:[1], 3:[1], 4:[1], 5:[1]}, 14: {1:[2,2,2], 2:[3], 3:[2], 4:[1], 5:[2]}, 15: {1:[1,2,1], 2:[1], 3:[1], 4:[1], 5:[1]},
16: {1:[1,1,1], 2:[2], 3:[1], 4:[1], 5:[1]}, 17: {1:[1,1,1], 2:[1], 3:[1], 4:[1], 5:[1]}, 18: {1:[1,1,1], 2:[1], 3:[1], 4:[1], 5:[1]},
19: {1:[2,2,2], 2:[2], 3:[2], 4:[2], 5:[1]}, 20: {1:[2,2,2], 2:[1], 3:[3], 4:[2], 5:[2]}, 21: {1:[2,2,2], 2:[2], 3:[2], 4:[2], 5:[2]},
22: {1:[2,2,2], 2:[2], 3:[2], 4:[2], 5:[1]}, 23: {1:[2,2,2], 2:[3], 3:[2], 4:[2], 5:[2]}, 24: {1:[2,2,1], 2:[2], 3:[2], 4:[2], 5:[2]},
25: {1:[1,1,1], 2:[1], 3:[1], 4:[1], 5:[1]}, 26: {1:[1,1,1], 2:[1], 3:[1], 4:[1], 5:[1]}, 27: {1:[2,3,2], 2:[2], 3:[2], 4:[2], 5:[2]},
28: {1:[1,1,1], 2:[1], 3:[1], 4:[1], 5:[1]}, 29: {1:[1,1,1], 2:[1], 3:[1], 4:[1], 5:[1]}, 30: {1:[1,1,2], 2:[1], 3:[1], 4:[2], 5:[1]},
31: {1:[1,1,1], 2:[1], 3:[1], 4:[1], 5:[1]}, 32: {1:[3,3,3], 2:[3], 3:[2], 4:[3], 5:[3]}, 33: {1:[1,1,1], 2:[1], 3:[1], 4:[1], 5:[1]},
34: {1:[2,2,2], 2:[2], 3:[2], 4:[2], 5:[2]}, 35: {1:[2,2,2], 2:[3], 3:[2], 4:[3], 5:[2]}, 36: {1:[4,3,3], 2:[4], 3:[3], 4:[4], 5:[3]},
37: {1:[2,2,1], 2:[2], 3:[2], 4:[3], 5:[2]}, 38: {1:[2,3,2], 2:[3], 3:[2], 4:[3], 5:[3]}, 39: {1:[3,3,3], 2:[3], 3:[4], 4:[3], 5:[2]},
40: {1:[1,1,1], 2:[1], 3:[1], 4:[1], 5:[1]}, 41: {1:[1,1,1], 2:[1], 3:[1], 4:[1], 5:[1]}, 42: {1:[1,2,1], 2:[2], 3:[1], 4:[1], 5:[1]},
43: {1:[2,3,2], 2:[2], 3:[2], 4:[2], 5:[2]}, 44: {1:[1,2,1], 2:[1], 3:[1], 4:[1], 5:[1]}, 45: {1:[2,2,2], 2:[2], 3:[2], 4:[2], 5:[2]}}


def test_dawid_skene_reproduces_dawid_and_skene_1979():
    import pandas as pd
    from crowdkit.aggregation import DawidSkene

    rows = [(p, c, r) for p, by in CLINICIANS.items() for c, ratings in by.items() for r in ratings]
    assert len(rows) == 315
    labels, confidence, majority = dawid_skene(rows)
    with quiet_pandas():
        model = DawidSkene(n_iter=100).fit(pd.DataFrame(rows, columns=["task", "worker", "label"]))
    # published estimates of the class marginals (section 4): 0.40, 0.42, 0.11, 0.07
    assert {k: round(v, 2) for k, v in model.priors_.items()} == {1: 0.40, 2: 0.42, 3: 0.11, 4: 0.07}
    # and of clinician 1's error rates (rows: true class; columns: the rating given)
    errors = model.errors_.loc[1]
    published = {1: [0.89, 0.11, 0.00, 0.00], 2: [0.07, 0.88, 0.05, 0.00], 3: [0.00, 0.34, 0.66, 0.00],
                 4: [0.00, 0.00, 0.56, 0.44]}
    for true_class, rates in published.items():
        assert [round(errors.loc[given, true_class], 2) for given in (1, 2, 3, 4)] == rates
    # patient 2: five of the seven ratings say 3, but the clinicians who say 4 are the reliable ones for class 4
    assert majority[2] == 3 and labels[2] == 4 and confidence[2] > 0.99
    assert labels[1] == 1 and confidence[1] == pytest.approx(1.0, abs=1e-6)


def _source(i: int) -> SourceExample:
    return SourceExample(id=f"s{i}", dataset="t", split="dev", row=i, label="yes", license="MIT",
                         fields={"text": "the food was not good at all"})


def _record(source: SourceExample, annotator: str, payload, round_id: str | None = None) -> ExplanationRecord:
    return ExplanationRecord(id=ExplanationRecord.make_id(source.id, "annotation", round_id, payload, annotator),
                             source_id=source.id, role="annotation", round_id=round_id, explanation=payload,
                             provenance=Provenance(origin="human", agent_id=annotator))


def _span(text: str, words: str) -> Span:
    start = text.index(words)
    return Span(field="text", start=start, end=start + len(words), text=words)


def test_gold_rationale_from_token_posteriors_and_medoid_explanation():
    sources = {s.id: s for s in (_source(0), _source(1))}
    text = sources["s0"].fields["text"]
    records = []
    for source in sources.values():
        # "not good" by two of three, "at all" by one: the posterior rationale is "not good", one span
        for annotator, words in (("a", "not good"), ("b", "not good"), ("c", "at all")):
            records.append(_record(source, annotator, Rationale(spans=[_span(text, words)], label="yes")))
    for annotator, words in (("a", "it says not good"), ("b", "the food was not good"), ("c", "bad food")):
        records.append(_record(sources["s0"], annotator, QATriple(question="q", answer="yes", explanation=words)))
    gold = {g.source_id: g for g in aggregate_gold(records, sources)}
    assert [(s.start, s.end, s.text) for s in gold["s0"].rationale] == [(13, 21, "not good")]
    assert gold["s0"].rationale_method == "dawid-skene-tokens" and gold["s0"].rationale[0].posterior > 0.5
    assert gold["s0"].label == "yes" and gold["s0"].label_method == "dawid-skene"
    assert gold["s0"].explanation_annotator == "b" and gold["s0"].explanation_method == "medoid-rouge-l"
    assert gold["s1"].explanation is None and gold["s0"].annotators == ["a", "b", "c"]


def test_adjudicated_answers_win_over_aggregation():
    sources = {"s0": _source(0)}
    text = sources["s0"].fields["text"]
    records = [_record(sources["s0"], a, Rationale(spans=[_span(text, "not")], label="yes")) for a in "ab"]
    records.append(_record(sources["s0"], "dana", Rationale(spans=[_span(text, "good")], label="no"),
                           round_id="r1-adjudication"))
    [gold] = aggregate_gold(records, sources, adjudication_rounds={"r1-adjudication"})
    assert gold.label == "no" and gold.label_method == "adjudicated"
    assert [s.text for s in gold.rationale] == ["good"] and gold.rationale_method == "adjudicated"
    # a round is an adjudication because the store says so, not because of its name
    [plain] = aggregate_gold(records, sources)
    assert plain.label_method == "dawid-skene" and plain.majority_label == "yes"
