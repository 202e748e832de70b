from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import mlcroissant as mlc
import pytest
import yaml

from tests.conftest import load_export
from whyset.corpora.export import bump_version, export_dataset
from whyset.corpora.hub import publish
from whyset.corpora.kinds.counterfactual import Counterfactual, Edit
from whyset.corpora.kinds.rationale import Rationale, Span
from whyset.corpora.schema import ExplanationRecord, Provenance, SourceExample, key_identity
from whyset.corpora.store import CorpusStore
from whyset.errors import WhysetError


def _card_yaml(out: Path) -> dict:
    text = (out / "README.md").read_text()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def _add_model_explanations(store: CorpusStore) -> SourceExample:
    """One rationale annotation and one counterfactual candidate on the first source."""
    source = min(store.iter_sources(), key=lambda s: s.row)
    premise = source.fields["premise"]
    word_end = premise.index(" ")
    rationale = Rationale(spans=[Span(field="premise", start=0, end=word_end, text=premise[:word_end], score=0.9)],
                          label=source.label, granularity="token")
    hypothesis = source.fields["hypothesis"]
    cf = Counterfactual(field="hypothesis", edited_text="No " + hypothesis, target_label="contradiction",
                        edits=[Edit(start=0, end=0, old="", new="No ", edit_type="negation")])
    human = Provenance(origin="human", agent_id="ann1")
    rule = Provenance(origin="rule", agent_id="negation-rule", prompt_id="neg-v1", seed=7,
                      decoding={"temperature": 0.0})
    store.add_explanations([
        ExplanationRecord(id=ExplanationRecord.make_id(source.id, "annotation", None, rationale, "ann1"),
                          source_id=source.id, role="annotation", explanation=rationale, provenance=human,
                          lead_time=12.0),
        ExplanationRecord(id=ExplanationRecord.make_id(source.id, "candidate", None, cf, "negation-rule"),
                          source_id=source.id, role="candidate", explanation=cf, provenance=rule),
    ])
    return source


def test_export_loads_into_configs_with_columns(esnli_store: CorpusStore, tmp_path: Path):
    source = _add_model_explanations(esnli_store)
    out = tmp_path / "ds"
    result = export_dataset(esnli_store, out, include_candidates=True)
    assert result.counts == {"examples": 60, "qa_explanations": 180, "rationales": 1, "counterfactuals": 1,
                             "gold": 60}  # one aggregated row per annotated example

    examples = load_export(out, "examples")
    assert list(examples) == ["validation"]
    assert examples["validation"].num_rows == 60
    assert examples["validation"].column_names == [
        "id", "dataset", "source_split", "row", "fields", "label", "license", "attribution"]
    assert examples["validation"][0]["fields"].keys() == {"premise", "hypothesis"}

    qa = load_export(out, "qa_explanations")["validation"]
    assert qa.num_rows == 180
    assert sorted(set(qa["agent_id"])) == ["a1", "a2", "a3"]
    row0 = qa.filter(lambda r: r["source_id"] == source.id and r["agent_id"] == "a1")[0]
    assert row0["answer"] == row0["gold_label"] == source.label
    assert row0["fields"] == source.fields and row0["provenance"]["origin"] == "human"

    rationale = load_export(out, "rationales")["validation"][0]
    span = rationale["spans"][0]
    assert rationale["fields"][span["field"]][span["start"]:span["end"]] == span["text"]
    assert rationale["lead_time"] == 12.0 and span["score"] == pytest.approx(0.9)

    cf = load_export(out, "counterfactuals")["validation"][0]
    assert cf["record_type"] == "candidate" and cf["edits"][0]["edit_type"] == "negation"
    assert json.loads(cf["provenance"]["decoding"]) == {"temperature": 0.0}
    assert cf["provenance"]["seed"] == 7 and cf["provenance"]["prompt_id"] == "neg-v1"

    # the default load (no config) is the examples table
    assert load_export(out)["validation"].num_rows == 60


def test_candidates_are_left_out_unless_asked(esnli_store: CorpusStore, tmp_path: Path):
    _add_model_explanations(esnli_store)
    result = export_dataset(esnli_store, tmp_path / "ds")
    assert "counterfactuals" not in result.counts and result.counts["rationales"] == 1


def test_reexport_is_byte_identical_and_keeps_version(esnli_store: CorpusStore, tmp_path: Path):
    first = export_dataset(esnli_store, tmp_path / "a")
    second = export_dataset(esnli_store, tmp_path / "b")
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a" / "data").rglob("*.parquet"))
    assert len(files) == 3  # examples, qa_explanations, gold
    for relative in files:
        assert (tmp_path / "a" / relative).read_bytes() == (tmp_path / "b" / relative).read_bytes()
    assert (first.version, second.version, second.new_version) == ("1.0.0", "1.0.0", False)
    assert len(esnli_store.exports()) == 1


def test_changed_data_bumps_version_and_changelog(esnli_store: CorpusStore, tmp_path: Path):
    out = tmp_path / "ds"
    export_dataset(esnli_store, out)
    _add_model_explanations(esnli_store)
    second = export_dataset(esnli_store, out, bump="patch")
    assert second.version == "1.0.1" and second.new_version
    changelog = (out / "CHANGELOG.md").read_text()
    assert changelog.index("## [1.0.1]") < changelog.index("## [1.0.0]")
    assert "rationales: 1 rows (+1)" in changelog
    with pytest.raises(WhysetError, match="not greater than the last release 1.0.1"):
        export_dataset(esnli_store, out, version="0.9.0")
    assert _card_yaml(out)["version"] == "1.0.1"


def test_released_version_cannot_be_reused_for_new_data(esnli_store: CorpusStore, tmp_path: Path):
    export_dataset(esnli_store, tmp_path / "ds", version="2.3.4")
    _add_model_explanations(esnli_store)
    with pytest.raises(WhysetError, match="2.3.4 was already released with different data"):
        export_dataset(esnli_store, tmp_path / "ds", version="2.3.4")
    with pytest.raises(WhysetError, match="not semantic versioning"):
        export_dataset(esnli_store, tmp_path / "ds", version="v3")


def test_bump_version():
    assert bump_version(None, "minor") == "1.0.0"
    assert bump_version("1.2.3", "major") == "2.0.0"
    assert bump_version("1.2.3", "minor") == "1.3.0"
    assert bump_version("1.2.3", "patch") == "1.2.4"


def test_card_yaml_carries_licence_and_metadata(esnli_store: CorpusStore, tmp_path: Path):
    export_dataset(esnli_store, tmp_path / "ds")
    meta = _card_yaml(tmp_path / "ds")
    assert meta["license"] == "mit"
    assert meta["annotations_creators"] == ["crowdsourced"]
    assert meta["source_datasets"] == ["extended|esnli"]
    assert meta["size_categories"] == ["n<1K"]
    assert meta["language"] == ["en"] and meta["task_categories"] == ["text-classification"]
    assert [c["config_name"] for c in meta["configs"]] == ["examples", "qa_explanations", "gold"]
    card = (tmp_path / "ds" / "README.md").read_text()
    assert "Camburu" in card and "Released under **MIT**" in card


def test_croissant_validates_and_reads(esnli_store: CorpusStore, tmp_path: Path):
    _add_model_explanations(esnli_store)
    export_dataset(esnli_store, tmp_path / "ds", include_candidates=True)
    dataset = mlc.Dataset(jsonld=str(tmp_path / "ds" / "croissant.json"))  # raises on validation errors
    assert {rs.name for rs in dataset.metadata.record_sets} == {
        "examples", "qa_explanations", "rationales", "counterfactuals", "gold"}
    records = list(dataset.records("examples"))
    assert len(records) == 60 and {r["examples/label"] for r in records} <= {
        b"entailment", b"neutral", b"contradiction"}


def test_croissant_passes_the_mlcroissant_command_line_validator(esnli_store: CorpusStore, tmp_path: Path):
    export_dataset(esnli_store, tmp_path / "ds")
    validator = Path(sys.executable).with_name("mlcroissant")
    done = subprocess.run([str(validator), "validate", "--jsonld", "croissant.json"], cwd=tmp_path / "ds",
                          capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "error" not in done.stderr.lower()


def test_provenance_file_lists_sources_producers_and_hashes(esnli_store: CorpusStore, tmp_path: Path):
    _add_model_explanations(esnli_store)
    export_dataset(esnli_store, tmp_path / "ds", include_candidates=True)
    prov = json.loads((tmp_path / "ds" / "provenance.json").read_text())
    assert prov["license"] == {"release": "MIT", "sources": ["MIT"], "override": None}
    assert prov["sources"][0]["examples"] == 60
    producers = {(p["config"], p["agent_id"]): p["records"] for p in prov["producers"]}
    assert producers[("qa_explanations", "a2")] == 60 and producers[("counterfactuals", "negation-rule")] == 1
    assert all(h.startswith("sha256:") for h in prov["files"].values()) and len(prov["files"]) == 5


def _source(row: int, license_id: str | None) -> SourceExample:
    fields = {"text": f"example {row}"}
    return SourceExample(id=SourceExample.make_id("mix", "train", key_identity(str(row))), dataset="mix", split="train",
                         row=row, fields=fields, label="x", license=license_id)


def test_missing_licence_refuses_export(store: CorpusStore, tmp_path: Path):
    store.declare_labels(["x"])
    store.add_sources([_source(0, "MIT"), _source(1, None)])
    with pytest.raises(WhysetError, match=r"1 source example\(s\) have no licence, e.g. mix:train:1 .*field 'license'"):
        export_dataset(store, tmp_path / "ds")
    assert not (tmp_path / "ds").exists() and store.exports() == []


def test_non_commercial_source_refuses_commercial_release_unless_overridden(store: CorpusStore, tmp_path: Path):
    store.declare_labels(["x"])
    store.add_sources([_source(0, "MIT"), _source(1, "CC-BY-NC-4.0")])
    with pytest.raises(WhysetError, match="several licences"):
        export_dataset(store, tmp_path / "ds")
    with pytest.raises(WhysetError, match="CC-BY-NC-4.0 is non-commercial but the release licence MIT"):
        export_dataset(store, tmp_path / "ds", license_id="MIT")
    assert export_dataset(store, tmp_path / "ds", license_id="CC-BY-NC-4.0").license == "CC-BY-NC-4.0"
    reason = "written permission from the NC rights holder, ticket 42"
    export_dataset(store, tmp_path / "ds2", license_id="MIT", override=reason)
    assert reason in (tmp_path / "ds2" / "README.md").read_text()
    assert json.loads((tmp_path / "ds2" / "provenance.json").read_text())["license"]["override"] == reason


def test_share_alike_and_no_derivatives(store: CorpusStore, tmp_path: Path):
    store.declare_labels(["x"])
    store.add_sources([_source(0, "CC-BY-SA-4.0")])
    with pytest.raises(WhysetError, match="share-alike, so the release must also be CC-BY-SA-4.0"):
        export_dataset(store, tmp_path / "ds", license_id="CC-BY-4.0")
    store.add_sources([_source(1, "CC-BY-ND-4.0")])
    with pytest.raises(WhysetError, match="forbids derivatives"):
        export_dataset(store, tmp_path / "ds", license_id="CC-BY-SA-4.0")


class RecordingHub:
    """Stands in for HfApi: records calls instead of reaching the network."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def create_repo(self, repo_id: str, **kwargs: object) -> None:
        self.calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))

    def upload_folder(self, **kwargs: object) -> SimpleNamespace:
        self.calls.append(("upload_folder", kwargs))
        return SimpleNamespace(oid="abc123")

    def create_tag(self, repo_id: str, **kwargs: object) -> None:
        self.calls.append(("create_tag", {"repo_id": repo_id, **kwargs}))


def test_publish_uploads_the_export_and_tags_its_version(esnli_store: CorpusStore, tmp_path: Path):
    export_dataset(esnli_store, tmp_path / "ds", version="0.3.0")
    hub = RecordingHub()
    assert publish(tmp_path / "ds", "org/corpus", api=hub) == "v0.3.0"
    names = [name for name, _ in hub.calls]
    assert names == ["create_repo", "upload_folder", "create_tag"]
    assert hub.calls[1][1]["folder_path"] == str(tmp_path / "ds") and hub.calls[1][1]["repo_type"] == "dataset"
    assert hub.calls[2][1] == {"repo_id": "org/corpus", "repo_type": "dataset", "tag": "v0.3.0",
                               "revision": "abc123", "tag_message": "dataset version 0.3.0"}
    with pytest.raises(WhysetError, match="run 'whyset export'"):
        publish(tmp_path / "nothing", "org/corpus", api=hub)


def test_any_field_name_exports_end_to_end(tmp_path: Path) -> None:
    """A QA dataset whose text fields are named like whyset's own columns (question, answer, id, label,
    explanation, provenance) imports, validates and exports: fields live in their own struct column."""
    from tests.test_cli import run

    names = ["question", "answer", "id", "label", "explanation", "provenance"]
    rows = [{**{name: f"{name} {i}" for name in names}, "gold": "yes" if i % 2 else "no"} for i in range(4)]
    (tmp_path / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    done = run("import", "sources", "qa.jsonl", *[a for n in names for a in ("--field", n)], "--label", "gold",
               "--labels", "yes,no", "--dataset", "qa", "--license", "CC-BY-4.0", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with CorpusStore(tmp_path / "whyset.duckdb") as store:
        sources = sorted(store.iter_sources(), key=lambda s: s.row)
        lines = [{"source_id": s.id, "role": "annotation",
                  "explanation": {"kind": "qa", "question": s.fields["question"], "answer": s.label,
                                  "explanation": f"{who} says so"},
                  "provenance": {"origin": "human", "agent_id": who}} for s in sources for who in ("p", "q")]
    (tmp_path / "expl.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert run("import", "explanations", "expl.jsonl", cwd=tmp_path).returncode == 0
    validated = run("validate", "run", "--bootstrap", "0", cwd=tmp_path)
    assert validated.returncode == 0, validated.stderr
    exported = run("export", "out", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert "examples 4, qa_explanations 8" in exported.stdout
    qa = load_export(tmp_path / "out", "qa_explanations")["train"]
    row = qa.filter(lambda r: r["source_id"] == sources[1].id and r["agent_id"] == "p")[0]
    assert row["fields"] == sources[1].fields and row["fields"]["question"] == "question 1"
    assert (row["question"], row["answer"], row["explanation"]) == ("question 1", "yes", "p says so")
    assert row["id"] != row["fields"]["id"] and row["provenance"]["agent_id"] == "p"
    examples = load_export(tmp_path / "out", "examples")["train"]
    by_id = {example["id"]: example for example in examples}
    assert by_id[sources[1].id]["fields"] == sources[1].fields and by_id[sources[1].id]["label"] == "yes"
    dataset = mlc.Dataset(jsonld=str(tmp_path / "out" / "croissant.json"))  # raises on validation errors
    record = next(iter(dataset.records("qa_explanations")))
    fields = record["qa_explanations/fields"]  # Croissant readers see the struct and its sub-fields
    assert fields["qa_explanations/fields/question"] == record["qa_explanations/question"]
    assert fields["qa_explanations/fields/id"].startswith(b"id ") and record["qa_explanations/id"] != b"id 0"


def test_user_text_in_the_card_is_escaped(store: CorpusStore, tmp_path: Path) -> None:
    """Attribution, pretty name and override reasons are the user's text: shown as typed, never as markup."""
    from whyset.corpora.info import CorpusInfo

    payload = '<script>alert(1)</script> **bold** [link](http://x) | cell\n\n# Heading'
    store.declare_labels(["x"])
    store.update_info(CorpusInfo(pretty_name='<b>My</b> _corpus_'))
    store.add_sources([_source(0, "CC-BY-NC-4.0").model_copy(update={"attribution": payload})])
    gates = {"file": "g.toml", "run_id": "r1", "override": payload,
             "results": [{"metric": "text.bleu_loo_mean", "value": 1.0, "rule": ">= 15", "passed": False}]}
    export_dataset(store, tmp_path / "ds", license_id="MIT", override=payload, gates=gates)
    body = (tmp_path / "ds" / "README.md").read_text().split("---\n", 2)[2]
    assert "<script>" not in body and "<b>" not in body and "\n# Heading" not in body
    assert "# &lt;b&gt;My&lt;/b&gt; \\_corpus\\_ (version 1.0.0)" in body
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt; \\*\\*bold\\*\\* \\[link\\](http://x) \\| cell # Heading"
    assert body.count(escaped) == 3  # the attribution, the licence override reason, the gate override reason
    changelog = (tmp_path / "ds" / "CHANGELOG.md").read_text()
    assert f"licence check overridden: {escaped}" in changelog
