from __future__ import annotations

from pathlib import Path

import pytest

from whyset.corpora.esnli import ROUND_ID
from whyset.corpora.kinds.rationale import Rationale, Span
from whyset.corpora.schema import ExplanationRecord, Provenance
from whyset.corpora.store import CorpusStore, _migrations
from whyset.errors import WhysetError


def test_migrations_are_versioned_and_applied_once(tmp_path: Path):
    path = tmp_path / "c.duckdb"
    with CorpusStore(path) as db:
        assert db.schema_version == max(v for v, _, _ in _migrations()) == 5
    with CorpusStore(path) as db:  # reopening must not re-run (it would fail on CREATE TABLE)
        rows = db.migrations()
    assert rows == [(1, "initial"), (2, "label_studio"), (3, "builds"), (4, "corpus_info"), (5, "responses")]


def test_labels_can_grow_but_never_shrink(store: CorpusStore):
    store.declare_labels(["a", "b"])
    store.declare_labels(["b", "c"])
    assert store.labels == ["a", "b", "c"]


def _rationale(source_id: str, start: int, end: int, text: str, label: str = "neutral") -> ExplanationRecord:
    explanation = Rationale(spans=[Span(field="premise", start=start, end=end, text=text)], label=label)
    return ExplanationRecord(
        id=ExplanationRecord.make_id(source_id, "candidate", None, explanation, "ig"),
        source_id=source_id, role="candidate", explanation=explanation,
        provenance=Provenance(origin="model", agent_id="ig", model_name="minilm-proto", seed=0),
    )


def test_failed_batch_leaves_store_unchanged(esnli_store: CorpusStore):
    source = next(esnli_store.iter_sources())
    good = _rationale(source.id, 0, 3, source.fields["premise"][:3])
    bad = _rationale(source.id, 0, 500, "x")
    before = {t: esnli_store.count(t) for t in ("sources", "candidates", "annotations")}
    with pytest.raises(WhysetError, match="outside 'premise'"), esnli_store.transaction():
        esnli_store.add_explanations([good, bad])
    assert {t: esnli_store.count(t) for t in before} == before


def test_explanations_are_idempotent_and_round_trip(esnli_store: CorpusStore):
    source = next(esnli_store.iter_sources())
    record = _rationale(source.id, 0, 3, source.fields["premise"][:3])
    assert esnli_store.add_explanations([record]) == 1
    assert esnli_store.add_explanations([record]) == 0
    [stored] = list(esnli_store.iter_explanations("candidate", "rationale"))
    assert stored == record


def test_unknown_label_and_unknown_source_are_named(esnli_store: CorpusStore):
    source = next(esnli_store.iter_sources())
    with pytest.raises(WhysetError, match=r"field 'label': unknown label 'maybe' \(allowed: contradiction"):
        esnli_store.add_explanations([_rationale(source.id, 0, 3, source.fields["premise"][:3], "maybe")])
    with pytest.raises(WhysetError, match="field 'source_id': no source example 'nope'"):
        esnli_store.add_explanations([_rationale("nope", 0, 3, "abc")])


def test_esnli_round_is_registered(esnli_store: CorpusStore):
    assert [(r.id, r.kind) for r in esnli_store.rounds()] == [(ROUND_ID, "qa")]
