from __future__ import annotations

import json
from pathlib import Path

import datasets
import pandas as pd
import pytest

from whyset.corpora.importers import ColumnMapping, import_explanations, import_sources
from whyset.corpora.store import CorpusStore
from whyset.corpora.store_sources import SourceChanges
from whyset.errors import WhysetError

ROWS = [
    {"sentence1": "A dog runs.", "sentence2": "An animal moves.", "gold": "entailment"},
    {"sentence1": "A cat sleeps.", "sentence2": "The cat is running.", "gold": "contradiction"},
    {"sentence1": "Kids play.", "sentence2": "Kids play soccer.", "gold": "neutral"},
]
LABELS = ["entailment", "neutral", "contradiction"]
MAPPING = ColumnMapping(fields={"premise": "sentence1", "hypothesis": "sentence2"}, label="gold", license="MIT")


def _write(tmp_path: Path, fmt: str) -> Path:
    frame = pd.DataFrame(ROWS)
    if fmt == "jsonl":
        path = tmp_path / "rows.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    elif fmt == "csv":
        path = tmp_path / "rows.csv"
        frame.to_csv(path, index=False)
    elif fmt == "parquet":
        path = tmp_path / "rows.parquet"
        frame.to_parquet(path)
    else:
        path = tmp_path / "rows_hf"
        datasets.DatasetDict({"test": datasets.Dataset.from_pandas(frame)}).save_to_disk(str(path))
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "hf-disk"])
def test_every_format_imports_with_mapping_and_is_idempotent(store: CorpusStore, tmp_path: Path, fmt: str):
    path = _write(tmp_path, fmt)
    assert import_sources(store, path, fmt, MAPPING, "toy-nli", "train", LABELS) == (3, SourceChanges(3, 0, 0, 0))
    assert import_sources(store, path, fmt, MAPPING, "toy-nli", "train", LABELS) == (3, SourceChanges(0, 0, 3, 0))
    sources = sorted(store.iter_sources(), key=lambda s: s.row)
    assert [s.fields for s in sources] == [{"premise": r["sentence1"], "hypothesis": r["sentence2"]} for r in ROWS]
    assert [s.label for s in sources] == [r["gold"] for r in ROWS]
    assert {s.split for s in sources} == ({"test"} if fmt == "hf-disk" else {"train"})
    assert {s.license for s in sources} == {"MIT"}


def test_malformed_jsonl_names_file_and_line_and_stores_nothing(store: CorpusStore, tmp_path: Path):
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n" + json.dumps(ROWS[1]) + "\n" + '{"sentence1": "oops",\n')
    with pytest.raises(WhysetError, match=rf"^{path}:3: invalid JSON"):
        import_sources(store, path, "jsonl", MAPPING, "toy", "train", LABELS)
    assert store.count("sources") == 0
    assert store.labels == []  # even the label declaration rolled back


def test_unknown_label_is_rejected_with_its_line(store: CorpusStore, tmp_path: Path):
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS[:2] + [{**ROWS[2], "gold": "maybe"}]))
    with pytest.raises(WhysetError, match=r"rows.jsonl:3: field 'label': unknown label 'maybe'"):
        import_sources(store, path, "jsonl", MAPPING, "toy", "train", LABELS)
    assert store.count("sources") == 0


def test_missing_column_is_named(store: CorpusStore, tmp_path: Path):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps({"sentence1": "x", "gold": "neutral"}) + "\n")
    with pytest.raises(WhysetError, match=r"rows.jsonl:1: field 'sentence2': missing"):
        import_sources(store, path, "jsonl", MAPPING, "toy", "train", LABELS)


def test_licence_from_column(store: CorpusStore, tmp_path: Path):
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps({**r, "lic": "CC-BY-4.0"}) + "\n" for r in ROWS))
    mapping = ColumnMapping(fields={"text": "sentence1"}, label="gold", license_column="lic")
    import_sources(store, path, "jsonl", mapping, "toy", "train", LABELS)
    assert {s.license for s in store.iter_sources()} == {"CC-BY-4.0"}


def _explanation_line(source_id: str, spans: list[dict], label: str = "entailment") -> str:
    return json.dumps({
        "source_id": source_id, "role": "annotation",
        "explanation": {"kind": "rationale", "label": label, "spans": spans},
        "provenance": {"origin": "human", "agent_id": "ann-7"}, "lead_time": 4.5,
    }) + "\n"


def test_explanations_import_and_reimport(store: CorpusStore, tmp_path: Path):
    import_sources(store, _write(tmp_path, "jsonl"), "jsonl", MAPPING, "toy", "train", LABELS)
    source = min(store.iter_sources(), key=lambda s: s.row)  # "A dog runs."
    path = tmp_path / "expl.jsonl"
    path.write_text(_explanation_line(source.id, [{"field": "premise", "start": 2, "end": 5, "text": "dog"}]))
    assert import_explanations(store, path) == (1, 1)
    assert import_explanations(store, path) == (1, 0)
    [record] = store.iter_explanations("annotation", "rationale")
    assert record.explanation.spans[0].text == "dog" and record.lead_time == 4.5


def test_explanation_spans_outside_text_are_rejected_whole_file(store: CorpusStore, tmp_path: Path):
    import_sources(store, _write(tmp_path, "jsonl"), "jsonl", MAPPING, "toy", "train", LABELS)
    source = min(store.iter_sources(), key=lambda s: s.row)
    path = tmp_path / "expl.jsonl"
    path.write_text(
        _explanation_line(source.id, [{"field": "premise", "start": 2, "end": 5, "text": "dog"}])
        + _explanation_line(source.id, [{"field": "premise", "start": 2, "end": 40, "text": "dog runs."}])
    )
    with pytest.raises(WhysetError, match=r"expl.jsonl:2: field 'spans\[0\]': offsets 2\.\.40 are outside 'premise'"):
        import_explanations(store, path)
    assert store.count("annotations") == 0


def test_explanation_schema_error_names_field(store: CorpusStore, tmp_path: Path):
    path = tmp_path / "expl.jsonl"
    path.write_text(json.dumps({"source_id": "x", "role": "annotation",
                                "explanation": {"kind": "qa", "question": "q", "answer": "a"},
                                "provenance": {"origin": "human", "agent_id": "a"}}) + "\n")
    with pytest.raises(WhysetError, match=r"expl.jsonl:1: field 'explanation.explanation': Field required"):
        import_explanations(store, path)
