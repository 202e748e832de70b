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
    expected = [(version, name) for version, name, _ in _migrations()]
    with CorpusStore(path) as db:
        assert db.schema_version == expected[-1][0]
    with CorpusStore(path) as db:  # reopening must not re-run (it would fail on CREATE TABLE)
        rows = db.migrations()
    assert rows == expected
    assert {(1, "initial"), (2, "label_studio"), (3, "builds"), (4, "corpus_info"), (5, "responses"), (6, "source_identity"),
            (7, "campaigns")} <= set(rows)


def test_campaign_migration_keeps_pulled_results_as_first_versions(tmp_path: Path, monkeypatch) -> None:
    """A store pulled before results were versioned: each row becomes version 1, stamped from its raw JSON
    (rows written with DuckDB's relational API: the store owns all SQL)."""
    import duckdb

    import whyset.corpora.store as store_module

    path = tmp_path / "old.duckdb"
    monkeypatch.setattr(store_module, "_migrations", lambda: [m for m in _migrations() if m[0] < 7])
    with CorpusStore(path) as db:
        db.add_round("r1", "r1", "rationale")
    monkeypatch.undo()
    raw = '{"annotation": {"updated_at": "2026-12-01T10:00:00.5Z", "lead_time": 3.5}}'
    with duckdb.connect(str(path)) as con:
        con.values(["srv", 7, 1, 2, "r1", "s1", None, "alice", "valid", None, "{}", None, raw,
                    "2026-12-01 10:00:01+00"]).insert_into("studio_results")
    with CorpusStore(path) as db:
        assert db.schema_version == _migrations()[-1][0]
    with duckdb.connect(str(path)) as con:
        rows = con.table("studio_results").project("version, updated_at, lead_time, superseded_at").fetchall()
    assert rows == [(1, "2026-12-01T10:00:00.5Z", 3.5, None)]


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
