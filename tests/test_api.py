"""The public Python API runs the whole loop without the CLI, against a real Label Studio server: import,
build, push, annotate (through the API, as each annotator), pull, adjudicate, validate with gates, export."""

from __future__ import annotations

from pathlib import Path

import whyset
from tests.conftest import load_export
from whyset import Corpus, CorpusInfo, Guideline, Studio

RECIPE = """
[sources]
limit = 4
[classifier]
train_limit = 40
[[builder]]
id = "ig"
type = "attribution_rationale"
steps = 8
"""
GATES = """
[[gate]]
metric = "corpus.sources"
min = 4
[[gate]]
metric = "text.bleu_loo_mean"
min = 1.0
"""


def _submit(corpus: Corpus, studio: Studio, round_id: str, answers: dict[str, list]) -> None:
    """Each annotator submits, with their own token, one result per task of their project, in task order."""
    for project in corpus.store.studio.projects(round_id):
        as_user = studio.client(project.annotator, as_annotator=True)
        tasks = corpus.store.studio.tasks(project.server, project.project_id)
        for task, result in zip(sorted(tasks, key=lambda t: t.source_id), answers[project.annotator], strict=False):
            as_user.annotate(task.task_id, result(corpus.store.sources_by_id([task.source_id])[task.source_id]))


def _rationale(label: str | None = None):
    def result(source) -> list[dict]:
        word = source.fields["premise"].split()[0]
        return [{"from_name": "evidence_premise", "to_name": "premise", "type": "labels",
                 "value": {"start": 0, "end": len(word), "text": word, "labels": ["evidence"]}},
                {"from_name": "label", "to_name": "premise", "type": "choices",
                 "value": {"choices": [label or source.label]}}]
    return result


def _text(text: str):
    return lambda source: [{"from_name": "explanation", "to_name": "premise", "type": "textarea",
                            "value": {"text": [text]}}]


def test_the_demo_loop_from_python(tmp_path: Path, esnli_dir: Path, studio: Studio) -> None:
    (tmp_path / "recipe.toml").write_text(RECIPE)
    (tmp_path / "gates.toml").write_text(GATES)
    with whyset.Corpus.open(tmp_path / "corpus.duckdb") as corpus:
        corpus.init(info=CorpusInfo(pretty_name="Loop test corpus", citation="@misc{loop, title={Loop}}"))
        assert corpus.import_esnli(esnli_dir, limit=48, explanations=False).new == 48
        assert corpus.build(tmp_path / "recipe.toml")["ig"].kept == 4

        pushed = corpus.push(studio, "rationale", "r1", ["alice", "bob"], k=2, limit=4,
                             guideline=Guideline("Highlight the evidence.", "1.0"))
        assert pushed.created == 8
        _submit(corpus, studio, "r1", {"alice": [_rationale()] * 4,
                                       "bob": [_rationale(), _rationale("neutral"), _rationale(), _rationale()]})
        corpus.push(studio, "freetext", "r2", ["a1", "a2", "a3"], k=3, limit=4)
        assert corpus.replay_esnli(studio, esnli_dir, "r2", limit=4)["submitted"] == 12
        assert corpus.pull(studio, "r1").statuses == {"valid": 8}
        assert corpus.pull(studio, "r2").statuses == {"valid": 12}

        adjudication = corpus.adjudicate(studio, "r1", "dana")
        second = sorted({t.source_id for p in corpus.store.studio.projects("r1")
                         for t in corpus.store.studio.tasks(p.server, p.project_id)})[1]
        disagreeing = int(corpus.store.sources_by_id([second])[second].label != "neutral")  # bob's second label
        assert (adjudication.disagreeing, adjudication.created) == (disagreeing, disagreeing)

        validation = corpus.validate(n_boot=50, report=tmp_path / "report.html", gates=tmp_path / "gates.toml")
        assert [g.passed for g in validation.gates] == [True, True]
        assert validation.figures["disagreements.by_kind.rationale.disagreeing"] == adjudication.disagreeing
        release = corpus.export(tmp_path / "dataset", gates=tmp_path / "gates.toml", annotated_only=True,
                                include_candidates=True)
    assert release.result.version == "1.0.0" and release.gates.passed
    assert release.result.counts["examples"] == 4
    assert load_export(tmp_path / "dataset", "qa_explanations")["validation"].num_rows == 12
    rationales = load_export(tmp_path / "dataset", "rationales")["validation"]
    assert sorted({r["agent_id"] for r in rationales}) == ["alice", "bob", "ig"]
    card = (tmp_path / "dataset" / "README.md").read_text()
    assert "# Loop test corpus (version 1.0.0)" in card and "@misc{loop, title={Loop}}" in card
    assert "language:" in card and "- en" in card  # the e-SNLI importer knows its language
    assert "## Quality" in card and "Free-text explanations: leave-one-out BLEU" in card


def test_free_text_round_adjudicates_by_the_rule_validate_reports(tmp_path: Path, esnli_dir: Path,
                                                                  studio: Studio) -> None:
    same = "The man in the picture is playing a guitar on a stage."
    with Corpus.open(tmp_path / "corpus.duckdb") as corpus:
        corpus.import_esnli(esnli_dir, limit=4, explanations=False)
        corpus.push(studio, "freetext", "ft", ["alice", "bob"], k=2)
        _submit(corpus, studio, "ft", {
            "alice": [_text(same), _text(same), _text(same), _text(same)],
            "bob": [_text(same), _text("Dogs bark at night."), _text(same + " Yes."), _text("Cats sleep.")]})
        assert corpus.pull(studio, "ft").statuses == {"valid": 8}
        sources = sorted(corpus.store.source_ids_in_order())
        expected = {sources[1], sources[3]}  # bob's unrelated explanations: ROUGE-L far under 0.2

        validation = corpus.validate(n_boot=0)
        reported = validation.results["disagreements"]
        assert reported["by_kind"]["qa"] == {"items": 4, "disagreeing": 2, "share": 0.5}
        assert {h["item"] for h in reported["hotspots"]} == expected
        assert all("best pairwise ROUGE-L F1" in h["reason"] for h in reported["hotspots"])
        assert all(set(h["answers"]) == {"alice", "bob"} and h["text"]["premise"] for h in reported["hotspots"])

        report = corpus.adjudicate(studio, "ft", "dana")
        assert (report.disagreeing, report.created) == (2, 2)
        tasks = studio.client("dana").snapshot(report.project_id)
        assert {t["data"]["whyset_key"] for t in tasks} == expected
        assert {p["model_version"] for t in tasks for p in t["predictions"]} == {"annotator:alice", "annotator:bob"}

        # the adjudicator settles both; her answer becomes each item's final answer in the export and for gold
        _submit(corpus, studio, "ft-adjudication", {"dana": [_text("The premise shows the man on a stage.")] * 2})
        assert corpus.pull(studio, "ft-adjudication").statuses == {"valid": 2}
        final = list(corpus.store.final_answers("qa"))
        assert len(final) == 6 and {r.provenance.agent_id for r in final if r.source_id in expected} == {"dana"}
        corpus.export(tmp_path / "dataset")
    rows = load_export(tmp_path / "dataset", "qa_explanations")["validation"]
    finals = {(r["agent_id"], r["source_id"]): r["final"] for r in rows}
    assert len(finals) == 10 and sum(finals.values()) == 6
    assert {key for key, is_final in finals.items() if not is_final} == {(a, s) for a in ("alice", "bob")
                                                                          for s in expected}
