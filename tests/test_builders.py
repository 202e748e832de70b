"""Builders with the real offline models (MiniLM, SmolLM2-135M, spaCy, WordNet): attribution properties,
a planted-trigger task, rule counterfactuals that flip the classifier, verbatim LLM quotes, recipes,
resumable and interruptible builds."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from whyset.builders.attribution import (
    SpanRule,
    logit_difference,
    select_spans,
    token_attributions,
    word_scores,
)
from whyset.builders.classifier import baseline, embeddings, linear_classifier, prototype_classifier
from whyset.builders.context import BuildContext, CorpusView
from whyset.builders.qa import LLMExplanation, LLMExplanationBuilder, mmr
from whyset.builders.rationales import verbatim_spans
from whyset.builders.recipe import load_recipe
from whyset.builders.run import build
from whyset.corpora.schema import SourceExample, key_identity
from whyset.corpora.store import CorpusStore
from whyset.corpora.store_builds import BuildTables
from whyset.errors import WhysetError

SENTIMENT = {"positive": ["This is good.", "I liked it.", "It was great."],
             "negative": ["This is bad.", "I did not like it.", "It was not good."]}
SENTIMENT_RECIPE = """
[classifier]
head = "prototype"
[classifier.descriptions]
positive = ["This is good.", "I liked it.", "It was great."]
negative = ["This is bad.", "I did not like it.", "It was not good."]

[[builder]]
id = "ig"
type = "attribution_rationale"
fraction = 0.25
batch_size = 2

[[builder]]
id = "rules"
type = "rule_counterfactual"
edits = ["negation"]
batch_size = 2
"""
REVIEWS = ["The food was good.", "The staff were great.", "I liked the room.", "The view was lovely."]


@pytest.fixture(scope="module")
def sentiment():
    return prototype_classifier("minilm", "text", SENTIMENT)


def _sources(texts: list[str], label: str, dataset: str = "toy") -> list[SourceExample]:
    return [SourceExample(id=SourceExample.make_id(dataset, "test", key_identity(str(i))), dataset=dataset,
                          split="test", row=i, fields={"text": t}, label=label, license="MIT",
                          identity=key_identity(str(i)))
            for i, t in enumerate(texts)]


def test_integrated_gradients_satisfy_completeness(sentiment) -> None:
    fields = {"text": "The food was good but the service was slow."}
    encoded = sentiment.encode(fields)
    scores, delta = token_attributions(sentiment, encoded, fields, 0, "integrated_gradients", steps=64)
    with torch.no_grad():
        at_input = logit_difference(sentiment.logits_from_embeddings(embeddings(sentiment.encoder, encoded),
                                                                     encoded.attention_mask), 0)
        at_baseline = logit_difference(sentiment.logits_from_embeddings(
            baseline(sentiment.encoder, sentiment.tokenizer, encoded), encoded.attention_mask), 0)
    total = float(sum(s.sum() for s in scores))
    expected = float(at_input - at_baseline)
    assert abs(expected) > 0.5  # the check below would be vacuous for a near-zero difference
    assert total == pytest.approx(expected, abs=0.01 * abs(expected))
    assert delta < 0.01 * abs(expected)
    # words carry the token sums, so completeness survives aggregation
    assert sum(w.score for w in word_scores(encoded, fields, scores)) == pytest.approx(total, abs=1e-4)


def test_planted_trigger_is_the_top_rationale_span() -> None:
    rng = random.Random(0)
    subjects = ["The man", "A woman", "Two kids", "The old dog", "My neighbour", "The team", "A tourist", "The chef"]
    verbs = ["walks to", "looks at", "paints", "cleans", "visits", "photographs", "repairs", "leaves"]
    objects = ["the house", "a red car", "the park", "an old bridge", "the garden", "a small boat", "the market"]
    examples = []
    for i in range(160):
        words = f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)}".split()
        label = "alert" if i % 2 else "calm"
        if label == "alert":  # the label is fully determined by one token
            words.insert(rng.randrange(1, len(words)), "banana")
        examples.append((f"t{i}", {"text": " ".join(words) + "."}, label))
    classifier, report = linear_classifier("minilm", ["text"], ["calm", "alert"], examples[:120], epochs=400)
    assert report["held_out_accuracy"] >= 0.95
    hits = 0
    positives = [e for e in examples[120:] if e[2] == "alert"]
    for _, fields, _ in positives:
        encoded = classifier.encode(fields)
        scores, _ = token_attributions(classifier, encoded, fields, 1, "integrated_gradients")
        spans = select_spans(word_scores(encoded, fields, scores), fields, SpanRule("top_fraction", fraction=0.01))
        hits += spans[0].text == "banana"
    assert hits >= 0.9 * len(positives)


def test_sentence_granularity_and_threshold_rule(sentiment) -> None:
    fields = {"text": "The weather was dull. The food was good! Parking was far."}
    encoded = sentiment.encode(fields)
    scores, _ = token_attributions(sentiment, encoded, fields, 0, "gradient_x_input")
    words = word_scores(encoded, fields, scores)
    sentences = select_spans(words, fields, SpanRule("top_fraction", fraction=0.3, granularity="sentence"))
    text = fields["text"]
    totals = {s: sum(w.score for w in words if text.index(s) <= w.start < text.index(s) + len(s))
              for s in ("The weather was dull.", "The food was good!", "Parking was far.")}
    assert [s.text for s in sentences] == [max(totals, key=totals.get)]  # one whole sentence, the best one
    by_threshold = select_spans(words, fields, SpanRule("threshold", threshold=1.0))
    best = max((w for w in words if w.score > 0), key=lambda w: w.score)
    assert [(s.start, s.end) for s in by_threshold] == [(best.start, best.end)]


def test_rule_counterfactual_flips_default_classifier_and_build_resumes(store: CorpusStore, tmp_path: Path,
                                                                        monkeypatch) -> None:
    store.declare_labels(["positive", "negative"])
    store.add_sources(_sources(REVIEWS, "positive"))
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(SENTIMENT_RECIPE)
    calls = []
    original_write = BuildTables.record_batch

    def write_then_interrupt(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C between two batches' transactions
        return original_write(self, *args, **kwargs)

    monkeypatch.setattr(BuildTables, "record_batch", write_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        build(store, recipe)
    assert store.count("build_log") == 2  # one whole batch
    monkeypatch.setattr(BuildTables, "record_batch", original_write)

    reports = build(store, recipe)
    assert (reports["ig"].skipped, reports["ig"].kept) == (2, 2)
    cfs = {c.explanation.edited_text: c for c in store.iter_explanations("candidate", "counterfactual")}
    food = cfs["The food was not good."]
    assert food.explanation.edits[0].edit_type == "negation" and food.explanation.target_label == "negative"
    assert food.scores["flipped"] is True and food.scores["p_target"] > 0.5
    assert food.scores["edit_distance_words"] == 1 and food.scores["fluency"] < 0
    assert food.provenance.origin == "rule" and food.provenance.decoding["rule"] == "negation"
    rejected = sum(r.reason.startswith("classifier") for r in store.builds.rejected())
    assert len(cfs) + rejected == len(REVIEWS)  # every proposal is either kept or kept aside with a reason
    counts = (store.count("candidates"), store.count("rejected_candidates"))
    again = build(store, recipe)
    assert all(r.skipped == r.sources and r.kept == 0 for r in again.values())
    assert (store.count("candidates"), store.count("rejected_candidates")) == counts


def test_llm_rationale_spans_are_exact_substrings(esnli_store: CorpusStore, tmp_path: Path) -> None:
    recipe = tmp_path / "r.toml"
    recipe.write_text('[sources]\nlimit = 6\n[[builder]]\nid = "quotes"\ntype = "llm_rationale"\n'
                      'batch_size = 6\nmax_new_tokens = 32\n')
    report = build(esnli_store, recipe)["quotes"]
    assert report.kept + report.rejected >= 6
    sources = esnli_store.sources_by_id([c.source_id for c in esnli_store.iter_explanations("candidate")])
    for candidate in esnli_store.iter_explanations("candidate", "rationale"):
        assert candidate.provenance.model_name == "HuggingFaceTB/SmolLM2-135M-Instruct"
        for span in candidate.explanation.spans:
            assert sources[candidate.source_id].fields[span.field][span.start:span.end] == span.text


def test_verbatim_spans_compute_offsets_and_refuse_paraphrases() -> None:
    fields = {"premise": "A man plays a red guitar.", "hypothesis": "A man plays music."}
    spans, missing = verbatim_spans('- "red guitar"\n2. plays music\nthe man is a musician\n"red guitar"', fields)
    assert [(s.field, s.start, s.end, s.text) for s in spans] == [("premise", 14, 24, "red guitar"),
                                                                  ("hypothesis", 6, 17, "plays music")]
    assert missing == ["the man is a musician"]


class _Echo:
    """A stand-in generator that returns fixed text: only to exercise the filters, never to claim quality."""

    name, revision = "echo", None

    def __init__(self, text: str):
        self.text = text

    def generate(self, messages, seed, max_new_tokens, temperature):
        return [self.text for _ in messages]


def test_explanation_filters_reject_restatements_and_duplicates(esnli_store: CorpusStore) -> None:
    from whyset.builders.recipe import Recipe

    source = next(esnli_store.iter_sources())
    settings = LLMExplanation(id="x", type="llm_explanation", samples=2, shots=2)
    recipe = Recipe(builder=[settings])
    ctx = BuildContext(CorpusView.from_store(esnli_store, recipe, {source.id}), recipe)
    ctx.__dict__["generator"] = _Echo(source.fields["hypothesis"])
    out = LLMExplanationBuilder(settings).build([source], ctx)
    assert not out.kept and [r.reason.split(" (")[0] for r in out.rejected] == ["restates the input"] * 2
    ctx.__dict__["generator"] = _Echo("Both sentences describe the same scene in different words.")
    out = LLMExplanationBuilder(settings).build([source], ctx)
    assert len(out.kept) == 1 and out.rejected[0].reason.startswith("near-duplicate")
    shots = out.kept[0].provenance.decoding["exemplar_ids"]
    assert len(shots) == 2 and len(set(shots)) == 2  # MMR picked two accepted human explanations


def test_mmr_prefers_relevant_then_diverse() -> None:
    pool = np.array([[1.0, 0.0], [0.99, 0.141], [0.6, 0.8]])
    pool /= np.linalg.norm(pool, axis=1, keepdims=True)
    query = np.array([1.0, 0.0])
    assert mmr(query, pool, 2, lam=1.0) == [0, 1]
    assert mmr(query, pool, 2, lam=0.3) == [0, 2]


def test_bad_recipe_keys_name_file_builder_and_key(tmp_path: Path) -> None:
    recipe = tmp_path / "bad.toml"
    recipe.write_text('[[builder]]\nid = "ig"\ntype = "attribution_rationale"\nfracton = 0.3\n')
    with pytest.raises(WhysetError, match=r"bad.toml: key 'builder\[0\] \(ig\).fracton': unknown key"):
        load_recipe(recipe)
    recipe.write_text('[[builder]]\nid = "x"\ntype = "magic"\n')
    with pytest.raises(WhysetError, match=r"bad.toml: key 'builder\[0\] \(x\)\.type': unknown builder type 'magic' "
                                          r"\(known: .*attribution_rationale"):
        load_recipe(recipe)
    recipe.write_text("[models\n")
    with pytest.raises(WhysetError, match="bad.toml: not valid TOML"):
        load_recipe(recipe)


def test_cli_build_reports_and_bad_recipe_exits_1(tmp_path: Path, esnli_dir: Path) -> None:
    from tests.test_cli import run

    assert run("import", "esnli", str(esnli_dir), "--limit", "40", cwd=tmp_path).returncode == 0
    (tmp_path / "r.yaml").write_text("sources: {limit: 3}\nclassifier: {train_limit: 30}\n"
                                     "builder:\n  - {id: ig, type: attribution_rationale, steps: 8}\n")
    done = run("build", "r.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ig: 3 kept, 0 rejected, 0 of 3 sources already built")
    assert "ig: 0 kept, 0 rejected, 3 of 3 sources already built" in run("build", "r.yaml", cwd=tmp_path).stdout
    (tmp_path / "bad.yaml").write_text("builder:\n  - {id: ig, type: attribution_rationale, stepz: 8}\n")
    bad = run("build", "bad.yaml", cwd=tmp_path)
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == ["error: bad.yaml: key 'builder[0] (ig).stepz': unknown key"]


def test_ray_engine_builds_the_same_candidates(tmp_path: Path) -> None:
    from whyset.builders.run import Engine

    recipe = tmp_path / "recipe.toml"
    recipe.write_text(SENTIMENT_RECIPE)
    results = {}
    for engine in (Engine("local"), Engine("ray", workers=2)):
        with CorpusStore(tmp_path / f"{engine.name}.duckdb") as db:
            db.declare_labels(["positive", "negative"])
            db.add_sources(_sources(REVIEWS, "positive"))
            reports = build(db, recipe, engine=engine)
            results[engine.name] = (sorted(c.id for c in db.iter_explanations("candidate")),
                                    db.count("build_log"),
                                    {k: (r.kept, r.rejected) for k, r in reports.items()})
    assert results["ray"] == results["local"]
    assert results["ray"][1] == 2 * len(REVIEWS)
