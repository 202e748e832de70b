"""Builders with the real offline models (MiniLM, SmolLM2-135M, spaCy, WordNet): attribution properties,
a planted-trigger task, rule counterfactuals that flip the classifier, verbatim LLM quotes, recipes,
resumable and interruptible builds."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from whyset.builders.attribution import (
    IGSchedule,
    SpanRule,
    attribute,
    length_groups,
    logit_difference,
    select_spans,
    word_scores,
)
from whyset.builders.classifier import baseline, embeddings, linear_classifier, prototype_classifier
from whyset.builders.context import BuildContext, CorpusView
from whyset.builders.generation import Generation
from whyset.builders.qa import LLMExplanation, LLMExplanationBuilder, mmr
from whyset.builders.rationales import verbatim_spans
from whyset.builders.recipe import Recipe, load_recipe
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


BATCH = [{"text": "The food was good but the service was slow."}, {"text": "Bad."},
         {"text": "I liked the room, the view from the balcony and the friendly staff a lot."}]


def _gaps(classifier, encoded, targets: list[int]) -> list[float]:
    """f(input) - f(baseline) per example, one at a time (no batching involved)."""
    out = []
    for b, target in enumerate(targets):
        one = classifier.encode([BATCH[b]])
        with torch.no_grad():
            at_input = logit_difference(classifier.logits_from_embeddings(embeddings(classifier.encoder, one),
                                                                          one.attention_mask), target)
            at_base = logit_difference(classifier.logits_from_embeddings(
                baseline(classifier.encoder, classifier.tokenizer, one), one.attention_mask), target)
        out.append(float(at_input - at_base))
    return out


def test_integrated_gradients_complete_per_example_in_a_padded_batch(sentiment) -> None:
    targets = [0, 1, 0]
    encoded = sentiment.encode(BATCH)
    assert int(encoded.attention_mask[0][1].sum()) < encoded.attention_mask[0].shape[1]  # "Bad." is padded
    exact = IGSchedule(start=64, most=64, tolerance=1e-9)
    batch = attribute(sentiment, BATCH, targets, "integrated_gradients", exact, encoded)
    for b, (result, expected) in enumerate(zip(batch, _gaps(sentiment, encoded, targets), strict=True)):
        total = float(sum(t.sum() for t in result.tokens))
        assert abs(expected) > 0.5  # the check below would be vacuous for a near-zero difference
        assert total == pytest.approx(expected, abs=0.01 * abs(expected))
        assert result.delta < 0.01 * abs(expected) and result.steps == 64
        # words carry the token sums, so completeness survives aggregation
        assert sum(w.score for w in word_scores(encoded, b, BATCH[b], result.tokens)) == pytest.approx(total, abs=1e-4)
        alone = attribute(sentiment, [BATCH[b]], [targets[b]], "integrated_gradients", exact)[0]
        for mine, own in zip(result.tokens, alone.tokens, strict=True):  # padding leaks nothing into an example
            assert mine.shape == own.shape and torch.allclose(mine, own, atol=1e-4)


def test_integrated_gradients_take_more_steps_only_where_they_have_not_converged(sentiment) -> None:
    targets = [0, 1, 0]
    gaps = _gaps(sentiment, sentiment.encode(BATCH), targets)
    # a tolerance nothing fails: every example stops at the first rung (0.5 is not enough for BATCH[0], whose
    # delta at 8 steps exceeds half its gap with this model, measured)
    loose = attribute(sentiment, BATCH, targets, "integrated_gradients", IGSchedule(8, 32, tolerance=1e6))
    assert [r.steps for r in loose] == [8, 8, 8]
    strict = attribute(sentiment, BATCH, targets, "integrated_gradients", IGSchedule(8, 32, tolerance=1e-7))
    assert [r.steps for r in strict] == [32, 32, 32]  # never converged that tightly: the most steps, recorded
    default = attribute(sentiment, BATCH, targets, "integrated_gradients", IGSchedule())
    tolerance = IGSchedule().tolerance
    for result, gap, at_8 in zip(default, gaps, loose, strict=True):
        assert result.steps in (8, 16, 32)
        if result.steps < 32:
            assert result.delta <= tolerance * abs(gap)
        if result.steps == 8:
            assert result.delta == pytest.approx(at_8.delta, rel=1e-3)
        else:  # it went on because 8 steps had not converged
            assert at_8.delta > tolerance * abs(gap)
    assert [r.steps for r in default] != [8, 8, 8]  # the schedule stepped up somewhere: the branches above ran


def test_integrated_gradients_length_groups_change_no_score(sentiment) -> None:
    """One example per forward+backward (each cut to its own length), or the whole padded batch in one: the
    same scores, steps and deltas. Groups are cut shortest first, within the budget."""
    targets = [0, 1, 0]
    lengths = sentiment.encode(BATCH).attention_mask[0].sum(-1)
    assert [len(g) for g in length_groups(lengths, torch.arange(3), 8, 2 * 8 * int(lengths[0]))] == [2, 1]
    alone, together = (attribute(sentiment, BATCH, targets, "integrated_gradients", IGSchedule(8, 32, 0.05, tokens))
                       for tokens in (1, 10 ** 9))
    for one, all_ in zip(alone, together, strict=True):
        assert one.steps == all_.steps and one.delta == pytest.approx(all_.delta, abs=1e-4)
        assert all(torch.allclose(x, y, atol=1e-5) for x, y in zip(one.tokens, all_.tokens, strict=True))


def test_gradient_x_input_and_occlusion_batched_equal_one_at_a_time(sentiment) -> None:
    targets = [0, 1, 0]
    for method in ("gradient_x_input", "occlusion"):
        batch = attribute(sentiment, BATCH, targets, method)
        for b, result in enumerate(batch):
            alone = attribute(sentiment, [BATCH[b]], [targets[b]], method)[0]
            assert all(torch.allclose(x, y, atol=1e-4) for x, y in zip(result.tokens, alone.tokens, strict=True))
            assert result.probabilities == pytest.approx(alone.probabilities, abs=1e-5)
    occluded = attribute(sentiment, BATCH[:1], [0], "occlusion")[0]
    words = word_scores(sentiment.encode(BATCH[:1]), 0, BATCH[0], occluded.tokens)
    # every word of the example gets a score of its own (which word matters most is the prototype model's
    # business: with it, removing any word of this sentence moves the target the same way)
    assert [w.text for w in words] == BATCH[0]["text"].replace(".", " .").split()
    assert all(w.score != 0 and math.isfinite(w.score) for w in words)


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
    positives = [e[1] for e in examples[120:] if e[2] == "alert"]
    encoded = classifier.encode(positives)
    results = attribute(classifier, positives, [1] * len(positives), "integrated_gradients", encoded=encoded)
    hits = 0
    for b, (fields, result) in enumerate(zip(positives, results, strict=True)):
        spans = select_spans(word_scores(encoded, b, fields, result.tokens), fields,
                             SpanRule("top_fraction", fraction=0.01))
        hits += spans[0].text == "banana"
    assert hits >= 0.9 * len(positives)


def test_sentence_granularity_and_threshold_rule(sentiment) -> None:
    fields = {"text": "The weather was dull. The food was good! Parking was far."}
    encoded = sentiment.encode([fields])
    scores = attribute(sentiment, [fields], [0], "gradient_x_input", encoded=encoded)[0].tokens
    words = word_scores(encoded, 0, fields, scores)
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
        self.text, self.key, self.calls = text, f"echo {text}", 0

    def generate(self, requests, concurrency=1):
        self.calls += 1
        return [Generation(self.text, "stop") for _ in requests]


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


VERIFY_RECIPE = SENTIMENT_RECIPE.split("[[builder]]")[0] + """
[[builder]]
id = "{id}"
type = "rule_counterfactual"
edits = ["negation"]
require = "{require}"
[[builder.verify_with]]
head = "prototype"
[builder.verify_with.descriptions]
positive = ["This is bad.", "I did not like it."]
negative = ["This is good.", "I liked it."]
"""


def test_counterfactual_flips_are_verified_by_every_listed_model(store: CorpusStore, tmp_path: Path) -> None:
    """A verifier with the labels' descriptions swapped disagrees with the primary classifier on every flip."""
    store.declare_labels(["positive", "negative"])
    store.add_sources(_sources(REVIEWS, "positive"))
    for builder_id, require in (("primary-only", "primary"), ("all-agree", "all")):
        recipe = tmp_path / f"{builder_id}.toml"
        recipe.write_text(VERIFY_RECIPE.format(id=builder_id, require=require))
        build(store, recipe)
    kept = [c for c in store.iter_explanations("candidate", "counterfactual")]
    assert kept and {c.provenance.agent_id for c in kept} == {"primary-only"}
    for candidate in kept:
        (name, verdict), = candidate.scores["verifiers"].items()
        assert name == "minilm+prototype-head" and verdict["flipped"] is False and candidate.scores["flipped"]
    refused = [r for r in store.builds.rejected("all-agree") if r.scores["flipped"]]
    assert len(refused) == len(kept)  # the same proposals, refused because the verifier does not confirm them
    assert all(r.reason.startswith("minilm+prototype-head predicts 'positive'") and r.reason.endswith(
        "(require all)") for r in refused)


def test_device_setting_auto_chooses_cpu_here_and_cuda_is_refused_without_a_gpu(tmp_path: Path) -> None:
    from whyset.builders.models import resolve_device
    from whyset.errors import BadInput

    assert resolve_device("auto") == "cpu" and resolve_device("cpu") == "cpu"  # no GPU on this machine
    with pytest.raises(BadInput, match=r"device = 'cuda': torch sees no CUDA device"):
        resolve_device("cuda")
    (tmp_path / "r.toml").write_text('[models]\ndevice = "tpu"\n[[builder]]\nid = "a"\ntype = "llm_rationale"\n')
    with pytest.raises(WhysetError, match=r"key 'models.device': Input should be 'auto', 'cpu' or 'cuda'"):
        load_recipe(tmp_path / "r.toml")


def test_fluency_batched_equals_one_at_a_time(esnli_store: CorpusStore) -> None:
    from whyset.builders.counterfactuals import mean_log_likelihood
    from whyset.builders.recipe import Recipe

    recipe = Recipe(builder=[LLMExplanation(id="x", type="llm_explanation")], models={"device": "cpu"})
    ctx = BuildContext(CorpusView.from_store(esnli_store, recipe, set()), recipe)
    texts = ["A man plays a guitar on the street.", "Dogs run.", "x",
             "Two women are sitting on a bench in a park near the old fountain, talking about the weather."]
    batched = mean_log_likelihood(ctx, texts, batch_size=4)
    alone = [mean_log_likelihood(ctx, [t])[0] for t in texts]
    assert batched[2] is None and alone[2] is None  # one token: no likelihood to average
    assert [b for b in batched if b is not None] == pytest.approx([a for a in alone if a is not None], abs=2e-3)
    assert batched[0] > batched[3] - 5 and all(b < 0 for b in batched if b is not None)


def test_local_generator_answers_are_cached_too(esnli_store: CorpusStore) -> None:
    from whyset.builders.generation import ResponseCache
    from whyset.builders.recipe import Recipe

    sources = list(esnli_store.iter_sources())[:3]
    settings = LLMExplanation(id="x", type="llm_explanation", samples=2, shots=0)
    recipe = Recipe(builder=[settings])
    echo = _Echo("Both sentences describe the same scene in different words.")
    for threshold in (0.9, 0.5):  # a changed filter on the second pass: answers from the cache
        ctx = BuildContext(CorpusView.from_store(esnli_store, recipe, set()), recipe,
                           ResponseCache(esnli_store.responses.get))
        ctx.__dict__["generator"] = echo
        LLMExplanationBuilder(settings.model_copy(update={"max_input_similarity": threshold})).build(sources, ctx)
        esnli_store.responses.add(ctx.responses.take_new())
    assert echo.calls == 1 and esnli_store.count("responses") == 6


def test_cross_encoder_trains_once_caches_and_attributes(esnli_store: CorpusStore, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Trained on 40 pairs for one epoch: only to exercise training, caching, locking and attribution, never to
    claim quality (the benchmark measures that on e-SNLI)."""
    import threading

    from whyset.builders import cross_encoder
    from whyset.builders.cross_encoder import CrossEncoderTraining, cross_encoder_classifier

    monkeypatch.setenv("WHYSET_MODEL_CACHE", str(tmp_path / "models"))
    labels = esnli_store.labels
    examples = [(s.id, s.fields, s.label) for s in esnli_store.iter_sources()][:40]
    training = CrossEncoderTraining(epochs=1, held_out=10, batch_size=8)
    trained, real_train = [], cross_encoder._train
    monkeypatch.setattr(cross_encoder, "_train", lambda *a, **k: (trained.append(1), real_train(*a, **k)))
    results = []
    workers = [threading.Thread(target=lambda: results.append(cross_encoder_classifier(
        "minilm", ["premise", "hypothesis"], labels, examples, training))) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert trained == [1] and len(results) == 2  # two workers at once, one training
    classifier, report = results[0]
    assert (report["train"], report["held_out"], report["head"]) == (30, 10, "cross_encoder")
    assert 0 <= report["held_out_accuracy"] <= 1 and report["training_seconds"] > 0
    assert classifier.name.startswith("minilm+cross-encoder-")
    assert classifier.predict_proba([examples[0][1]]).shape == (1, len(labels))
    with pytest.raises(WhysetError, match="need more than held_out = 10"):
        cross_encoder_classifier("minilm", ["premise", "hypothesis"], labels, examples[:12], training)
    # one segment with token types: completeness holds for the cross-encoder too
    pair = [examples[0][1]]
    result = attribute(classifier, pair, [0], "integrated_gradients", IGSchedule(64, 64, 1e-9))[0]
    one = classifier.encode(pair)
    with torch.no_grad():
        gap = float(logit_difference(classifier.logits_from_embeddings(embeddings(classifier.encoder, one),
                                                                       one.attention_mask, one.token_type_ids), 0)
                    - logit_difference(classifier.logits_from_embeddings(
                        baseline(classifier.encoder, classifier.tokenizer, one), one.attention_mask,
                        one.token_type_ids), 0))
    assert float(result.tokens[0].sum()) == pytest.approx(gap, abs=0.02 * abs(gap) + 1e-3)
    assert {owner for owner in one.token_fields[0][0]} == {None, "premise", "hypothesis"}


def test_build_hash_follows_the_models_a_builder_uses(tmp_path: Path) -> None:
    """Training the classifier on more pairs rebuilds the builders that score with it; a rule builder that
    uses no model, and a change the builder does not use, keep their hash."""
    from whyset.builders.run import build_hash

    def recipe(train_limit: int, generator: str = "smollm2") -> Recipe:
        path = tmp_path / f"r{train_limit}{generator}.toml"
        path.write_text(f'[models]\ngenerator = "{generator}"\n[classifier]\ntrain_limit = {train_limit}\n'
                        '[[builder]]\nid = "ig"\ntype = "attribution_rationale"\n'
                        '[[builder]]\nid = "quote"\ntype = "llm_rationale"\n')
        return load_recipe(path)

    small, large, other_llm = recipe(60), recipe(1500), recipe(60, "another-model")
    ig = [build_hash(r.builder[0], r) for r in (small, large, other_llm)]
    llm = [build_hash(r.builder[1], r) for r in (small, large, other_llm)]
    assert ig[0] != ig[1] and ig[0] == ig[2]  # the classifier changed; the generator is not IG's
    assert llm[0] == llm[1] and llm[0] != llm[2]  # the generator changed; the classifier is not the LLM's
