"""Re-importing a refreshed source file (issue 16, item 5): rows are matched to stored sources by their key
column, or else by content and occurrence, so nothing is duplicated, and the import says what is new, changed,
unchanged and gone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_cli import run
from whyset.corpora.esnli import import_esnli, read_esnli
from whyset.corpora.importers import ColumnMapping, import_sources
from whyset.corpora.kinds.qa import QATriple
from whyset.corpora.schema import ExplanationRecord, Provenance, SourceExample, content_id
from whyset.corpora.store import CorpusStore
from whyset.corpora.store_sources import backfill_identities
from whyset.corpus import Corpus

IMPORT = ["import", "sources", "rows.jsonl", "--field", "text=t", "--label", "y", "--labels", "a,b",
          "--dataset", "toy", "--license", "MIT"]
ROWS = [{"k": f"q{i}", "t": f"sentence number {i}", "y": "ab"[i % 2]} for i in range(20)]
ROWS[7] = {**ROWS[7], "t": ROWS[3]["t"], "y": ROWS[3]["y"]}  # two identical rows: two sources


def _write(cwd: Path, rows: list[dict]) -> None:
    (cwd / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _sources(cwd: Path) -> list[SourceExample]:
    with Corpus.open(cwd / "whyset.duckdb") as corpus:
        return sorted(corpus.store.iter_sources(), key=lambda s: s.row)


@pytest.mark.parametrize("key", [[], ["--id-column", "k"]], ids=["by content", "by key column"])
def test_a_row_inserted_at_the_top_is_the_only_new_source(tmp_path: Path, key: list[str]) -> None:
    _write(tmp_path, ROWS)
    first = run(*IMPORT, *key, cwd=tmp_path)
    assert "20 rows read: 20 new, 0 changed, 0 unchanged, 0 gone (20 in store)" in first.stdout, first.stderr
    before = {s.identity: s.id for s in _sources(tmp_path)}
    _write(tmp_path, [{"k": "new", "t": "a new first row", "y": "a"}, *ROWS])
    again = run(*IMPORT, *key, cwd=tmp_path)
    assert "21 rows read: 1 new, 0 changed, 20 unchanged, 0 gone (21 in store)" in again.stdout, again.stderr
    sources = _sources(tmp_path)
    assert len(sources) == len({s.id for s in sources}) == 21
    assert {s.identity: s.id for s in sources[1:]} == before  # same ids as before
    assert [s.fields["text"] for s in sources] == ["a new first row"] + [r["t"] for r in ROWS]  # rows follow the file
    assert run(*IMPORT, *key, cwd=tmp_path).stdout.count("0 new, 0 changed, 21 unchanged, 0 gone") == 1


def test_an_edited_file_with_a_key_column_reports_changed_and_gone(tmp_path: Path) -> None:
    _write(tmp_path, ROWS)
    assert run(*IMPORT, "--id-column", "k", cwd=tmp_path).returncode == 0
    edited = [{**r, "t": "an edited sentence"} if r["k"] == "q5" else r for r in ROWS if r["k"] != "q9"]
    _write(tmp_path, edited)
    done = run(*IMPORT, "--id-column", "k", cwd=tmp_path)
    assert "19 rows read: 0 new, 1 changed, 18 unchanged, 1 gone (20 in store)" in done.stdout, done.stderr
    texts = {s.identity: s.fields["text"] for s in _sources(tmp_path)}
    assert texts["key:q5"] == "an edited sentence"  # nothing referred to it: updated in place
    assert texts["key:q9"] == "sentence number 9"  # gone from the file, kept in the store


def test_a_changed_source_that_explanations_refer_to_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, ROWS)
    assert run(*IMPORT, "--id-column", "k", cwd=tmp_path).returncode == 0
    with Corpus.open(tmp_path / "whyset.duckdb") as corpus:
        source = next(s for s in corpus.store.iter_sources() if s.identity == "key:q5")
        triple = QATriple(question="why?", answer="b", explanation="because of the number")
        corpus.store.add_explanations([ExplanationRecord(
            id=ExplanationRecord.make_id(source.id, "annotation", None, triple, "ann"), source_id=source.id,
            role="annotation", explanation=triple, provenance=Provenance(origin="human", agent_id="ann"))])
    _write(tmp_path, [{**r, "t": "an edited sentence"} if r["k"] == "q5" else r for r in ROWS])
    done = run(*IMPORT, "--id-column", "k", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        ("error: rows.jsonl:6: field 'text': source with key 'q5' changed since it was imported, and 1 stored "
        "record(s) refer to its old text (candidates, annotations, Label Studio tasks); import the edited rows "
        "under a new key or split instead")]
    assert {s.identity: s.fields["text"] for s in _sources(tmp_path)}["key:q5"] == "sentence number 5"
    # a new licence is not a new text: it is applied, annotations or not
    _write(tmp_path, ROWS)
    relicensed = run(*IMPORT[:-1], "CC-BY-4.0", "--id-column", "k", cwd=tmp_path)
    assert "0 new, 20 changed, 0 unchanged, 0 gone" in relicensed.stdout, relicensed.stderr
    assert {s.license for s in _sources(tmp_path)} == {"CC-BY-4.0"}


def test_without_a_key_an_edited_row_is_one_new_and_one_gone(tmp_path: Path) -> None:
    _write(tmp_path, ROWS)
    assert run(*IMPORT, cwd=tmp_path).returncode == 0
    _write(tmp_path, [{**r, "t": "an edited sentence"} if r["k"] == "q5" else r for r in ROWS])
    done = run(*IMPORT, cwd=tmp_path)
    assert "20 rows read: 1 new, 0 changed, 19 unchanged, 1 gone (21 in store)" in done.stdout, done.stderr


def test_a_split_is_re_imported_the_way_it_was_imported(tmp_path: Path) -> None:
    _write(tmp_path, ROWS)
    assert run(*IMPORT, cwd=tmp_path).returncode == 0
    done = run(*IMPORT, "--id-column", "k", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == ("error: rows.jsonl:1: toy/train was imported without --id-column; import it the "
                                   "same way (rows are matched to stored sources by that key, or else by content)")


def test_sources_stored_before_identities_are_matched_and_keep_their_ids(store: CorpusStore, tmp_path: Path,
                                                                        esnli_dir: Path) -> None:
    """Schema 6 gives the sources of older stores their content identity; their ids (which hashed the row)
    stay, and explanations imported again land on them."""
    pairs, _ = read_esnli(esnli_dir, limit=6)
    legacy = [s.model_copy(update={"id": content_id("source", s.dataset, s.split, s.row, s.fields, s.label),
                                   "identity": None}) for s in pairs]
    store.declare_labels(["entailment", "neutral", "contradiction"])
    store.add_sources(legacy)
    store._set_identities(backfill_identities(store))  # what opening a schema-5 store does once
    changes, annotations = import_esnli(store, esnli_dir, limit=6)
    assert (changes.new, changes.unchanged, annotations) == (0, 6, 18)
    assert {s.id for s in store.iter_sources()} == {s.id for s in legacy}
    assert {r.source_id for r in store.iter_explanations("annotation")} == {s.id for s in legacy}
    # and a tabular file of the same content is recognised too
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps({**s.fields, "y": s.label}) + "\n" for s in pairs))
    mapping = ColumnMapping(fields={"premise": "premise", "hypothesis": "hypothesis"}, label="y", license="MIT")
    _read, changes = import_sources(store, path, "jsonl", mapping, "esnli", "dev")
    assert (changes.new, changes.changed, changes.unchanged) == (0, 6, 0)  # the licence/attribution differ
    assert store.count("sources") == 6
