"""Quality in the loop, end to end on a real build: the build records its classifier, ``validate run`` reloads
it for ERASER faithfulness (beside the random baseline), plausibility against three annotators' majority
rationale, span alpha, counterfactual flips and explanation checks; ``export`` writes a ``gold`` config that
loads with ``datasets.load_dataset``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import load_export
from whyset.corpora.esnli import import_esnli
from whyset.corpora.kinds.counterfactual import Counterfactual, word_edits
from whyset.corpora.kinds.qa import QATriple
from whyset.corpora.kinds.rationale import Rationale, Span
from whyset.corpora.schema import ExplanationRecord, Provenance
from whyset.corpora.store import CorpusStore

RECIPE = """
sources = {limit = 8}
classifier = {train_limit = 60}
builder = [{id = "ig", type = "attribution_rationale", steps = 8}]
"""


def _word(text: str, index: int) -> Span:
    words = text.split()
    start = len(" ".join(words[:index])) + (1 if index else 0)
    return Span(field="hypothesis", start=start, end=start + len(words[index]), text=words[index])


def _annotation(source, annotator: str, rationale, round_id: str | None = None) -> ExplanationRecord:
    return ExplanationRecord(id=ExplanationRecord.make_id(source.id, "annotation", round_id, rationale, annotator),
                             source_id=source.id, role="annotation", round_id=round_id, explanation=rationale,
                             provenance=Provenance(origin="human", agent_id=annotator))


def _candidate(source, builder: str, payload, scores=None) -> ExplanationRecord:
    return ExplanationRecord(id=ExplanationRecord.make_id(source.id, "candidate", None, payload, builder),
                             source_id=source.id, role="candidate", explanation=payload, scores=scores,
                             provenance=Provenance(origin="rule", agent_id=builder))


@pytest.fixture(scope="module")
def built(tmp_path_factory, esnli_dir: Path) -> Path:
    """80 e-SNLI pairs (with e-SNLI's three explanations each); IG rationales for the first 8; three annotators
    mark hypothesis words (h1, h2 the first word, h3 the last) and a hand-made counterfactual and explanation
    candidate."""
    from whyset.builders.run import build

    folder = tmp_path_factory.mktemp("quality")
    (folder / "recipe.toml").write_text(RECIPE)
    with CorpusStore(folder / "corpus.duckdb") as store:
        import_esnli(store, esnli_dir, limit=80)
        build(store, folder / "recipe.toml")
        sources = [store.sources_by_id([i])[i] for i in store.source_ids_in_order(limit=8)]
        records = []
        for i, source in enumerate(sources):
            hypothesis = source.fields["hypothesis"]
            last = len(hypothesis.split()) - 1
            for annotator, index in (("h1", 0), ("h2", 0), ("h3", last)):
                label = source.label if annotator != "h3" or i % 2 else "neutral"
                records.append(_annotation(source, annotator, Rationale(spans=[_word(hypothesis, index)],
                                                                        label=label)))
        hypothesis = sources[0].fields["hypothesis"]
        edited = "Nobody " + hypothesis.split(" ", 1)[1]
        records.append(_candidate(sources[0], "hand-cf", Counterfactual(
            field="hypothesis", edited_text=edited, edits=word_edits(hypothesis, edited, "quantifier"),
            target_label="contradiction"), {"fluency_delta": -0.5}))
        records.append(_candidate(sources[1], "hand-qa", QATriple(
            question="Why?", answer=sources[1].label, explanation=sources[1].fields["premise"]),
            {"max_input_similarity": 0.97, "max_sibling_similarity": 0.0}))
        store.add_explanations(records)
    return folder


def test_validate_run_stores_candidate_quality_with_baselines(built: Path):
    from whyset.validators.store_validation import run_validation

    with CorpusStore(built / "corpus.duckdb") as store:
        assert store.builds.classifiers()[("ig", next(iter(store.builds.classifiers()))[1])]["train_ids"]
        results = run_validation(store, n_boot=50)
        saved = store.validation.figures(results["run_id"])
        ig = results["faithfulness"]["ig"]
        assert ig["candidates"] == 8 and ig["classifier"].endswith("+linear-head")
        for name in ("comprehensiveness", "sufficiency", "random_comprehensiveness", "random_sufficiency",
                     "aopc_comprehensiveness", "random_aopc_comprehensiveness"):
            assert saved[f"faithfulness.ig.{name}"] == pytest.approx(ig[name])
        assert saved["faithfulness.ig.comprehensiveness_over_random"] == pytest.approx(
            ig["comprehensiveness"] - ig["random_comprehensiveness"])
        candidate = ig["per_candidate"][0]
        assert store.validation.figures(results["run_id"], candidate["id"]) == {
            "faithfulness.comprehensiveness": pytest.approx(candidate["comprehensiveness"]),
            "faithfulness.sufficiency": pytest.approx(candidate["sufficiency"])}
        plaus = results["plausibility"]["ig"]
        assert plaus["candidates"] == 8 and plaus["documents"] == 16  # premise and hypothesis of 8 pairs
        assert saved["plausibility.ig.token_f1"] == pytest.approx(plaus["token_f1"])
        assert "plausibility.ig.iou_f1" in saved and "plausibility.ig.iou_f1_micro" in saved
        assert saved["span.krippendorff_alpha"] is not None and results["span"]["annotators"] == 3
        cf = results["counterfactuals"]["hand-cf"]
        assert cf["candidates"] == 1 and cf["flip_rate"] in (0.0, 1.0) and cf["fluency_delta"] == -0.5
        assert cf["token_edit_distance"] >= 1
        qa = results["explanations"]["hand-qa"]
        assert qa["restatement_rate"] == 1.0 and qa["grounding"] == 1.0  # the premise, word for word
        assert qa["supports_label_rate"] in (0.0, 1.0)
        assert results["gold"]["labels"] == 8 and results["gold"]["rationales"] == 8


def test_validate_run_with_another_recipe_scores_with_that_classifier(built: Path, tmp_path: Path):
    from whyset import Corpus

    (tmp_path / "other.toml").write_text(RECIPE.replace("train_limit = 60", "train_limit = 40"))
    with Corpus.open(built / "corpus.duckdb") as corpus:
        # the builds' own classifier (run here too: under xdist the test above may run in another worker)
        own = corpus.validate(n_boot=0).figures["faithfulness.ig.comprehensiveness"]
        other = corpus.validate(n_boot=0, recipe=tmp_path / "other.toml")
        assert other.figures["faithfulness.ig.comprehensiveness"] != pytest.approx(own)


def test_export_writes_a_gold_config_that_loads(built: Path):
    from whyset import Corpus

    with Corpus.open(built / "corpus.duckdb") as corpus:
        corpus.export(built / "out")
    gold = load_export(built / "out", "gold")["validation"]
    assert gold.num_rows == 80  # every pair has e-SNLI's explanations; 8 also have rationales
    rows = {row["source_id"]: row for row in gold}
    with CorpusStore(built / "corpus.duckdb") as store:
        first = store.source_ids_in_order(limit=8)
        row = rows[first[0]]
        assert row["label_method"] == "dawid-skene" and row["label"] == row["majority_label"]
        assert 0.5 <= row["label_confidence"] <= 1
        word = store.sources_by_id([first[0]])[first[0]].fields["hypothesis"].split()[0]
        assert [s["text"] for s in row["rationale"]] == [word] and row["rationale_threshold"] == 0.5
        assert row["explanation_method"] == "medoid-rouge-l" and row["explanation_annotator"] in ("a1", "a2", "a3")
        assert rows[store.source_ids_in_order()[40]]["label"] is None  # explanations only
    card = (built / "out" / "README.md").read_text()
    assert "config_name: gold" in card
