"""Validation of a whyset store: agreement on its annotations, the saved run, HTML report and export gates."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.test_cli import run as run_cli
from whyset.corpora.kinds.rationale import Rationale, Span
from whyset.corpora.schema import ExplanationRecord, Provenance
from whyset.corpora.store import CorpusStore
from whyset.errors import WhysetError
from whyset.validators.gates import Gate, evaluate, load_gates
from whyset.validators.report import write_report
from whyset.validators.store_validation import run_validation


def _add_rationales(store: CorpusStore) -> None:
    """Two annotators mark the first word of each premise; they disagree on the label of every 3rd item."""
    records = []
    for i, source in enumerate(sorted(store.iter_sources(), key=lambda s: s.row)):
        word = source.fields["premise"].split()[0]
        for annotator in ("r1", "r2"):
            label = source.label if annotator == "r1" or i % 3 else "neutral" if source.label != "neutral" else "entailment"
            rationale = Rationale(spans=[Span(field="premise", start=0, end=len(word), text=word)], label=label)
            records.append(ExplanationRecord(
                id=ExplanationRecord.make_id(source.id, "annotation", None, rationale, annotator),
                source_id=source.id, role="annotation", explanation=rationale, lead_time=10.0 + i,
                provenance=Provenance(origin="human", agent_id=annotator)))
    store.add_explanations(records)


def test_run_validation_covers_all_kinds_and_is_saved(esnli_store: CorpusStore):
    _add_rationales(esnli_store)
    results = run_validation(esnli_store, n_boot=50)
    assert results["text"]["items_per_annotator"] == {"a1": 60, "a2": 60, "a3": 60}
    assert set(results["text"]["bleu_loo"]) == {"a1", "a2", "a3"}
    assert results["span"]["span_f1"] == 1.0 and results["span"]["unit"] == "token"
    assert results["label"]["percent_agreement"] == pytest.approx(40 / 60)  # items 0, 3, ... disagree: 20 of 60
    assert results["disagreements"]["by_kind"]["rationale"] == {"items": 60, "disagreeing": 20, "share": 1 / 3}
    workload = {(w["annotator"], w["kind"]): w for w in results["corpus"]["workload"]}
    assert workload[("r1", "rationale")]["annotations"] == 60
    assert workload[("r1", "rationale")]["median_lead_time_s"] == pytest.approx(39.5)
    saved = esnli_store.validation.figures(results["run_id"])
    assert saved["label.percent_agreement"] == pytest.approx(40 / 60)
    assert esnli_store.validation.full(results["run_id"])["label"]["percent_agreement"] == pytest.approx(40 / 60)


def test_report_is_html_with_tables_and_plots(esnli_store: CorpusStore, tmp_path: Path):
    _add_rationales(esnli_store)
    results = run_validation(esnli_store, n_boot=20)
    gates = evaluate([Gate("label.krippendorff_alpha", min=0.8)], results)
    html = write_report(results, tmp_path / "report.html", "demo", gates).read_text()
    assert html.count("data:image/png;base64,") == 4  # corpus, text agreement, kappa heatmap, span per annotator
    assert "Krippendorff&#39;s alpha (nominal)" in html or "Krippendorff's alpha (nominal)" in html
    assert re.search(r"label.krippendorff_alpha</td><td>[-0-9.]+</td><td>&gt;= 0.8</td>\s*<td class=\"fail\">", html)
    assert "routed to adjudication" in html


def test_single_annotator_kinds_are_skipped_with_reason(store: CorpusStore, esnli_dir: Path):
    from whyset.corpora.esnli import read_esnli

    sources, records = read_esnli(esnli_dir, limit=10)
    store.declare_labels(["entailment", "neutral", "contradiction"])
    store.add_sources(sources)
    store.add_round("esnli-original", "x", "qa")
    store.add_explanations([r for r in records if r.provenance.agent_id == "a1"])
    results = run_validation(store, n_boot=0)
    assert results["skipped"] == {"text": "agreement needs at least 2 annotators; found 1 (a1)",
                                  "label": "no labelled human annotations", "span": "no human rationale spans",
                                  "disagreements": "no item has two or more human answers yet",
                                  "faithfulness": "no rationale candidates (run a rationale builder)",
                                  "plausibility": "no human rationale annotations to compare candidates with",
                                  "counterfactuals": "no counterfactual candidates (run a counterfactual builder)",
                                  "explanations": "no QA or explanation candidates (run an explanation builder)",
                                  "judgements": "no review answers pulled from Label Studio yet",
                                  "campaign": "no Label Studio round pushed yet"}
    assert "text" not in results and results["corpus"]["annotations"] == 10


def test_store_without_annotations_is_a_clear_error(store: CorpusStore):
    with pytest.raises(WhysetError, match="nothing to validate \\(no human annotations and no candidates\\)"):
        run_validation(store)


def test_gate_file_errors(tmp_path: Path):
    path = tmp_path / "g.toml"
    path.write_text('[[gate]]\nmetric = "text.bleu_loo_mean"\nminimum = 3\n')
    with pytest.raises(WhysetError, match=r"gate\[0\]: needs 'metric' and 'min'.*minimum"):
        load_gates(path)
    path.write_text("[[gate]\n")
    with pytest.raises(WhysetError, match="invalid TOML"):
        load_gates(path)


def test_export_refuses_failed_gates_and_records_override(tmp_path: Path, esnli_dir: Path):
    def run(*args: str):
        return run_cli(*args, cwd=tmp_path)

    assert run("import", "esnli", str(esnli_dir), "--limit", "40").returncode == 0
    (tmp_path / "gates.toml").write_text('[[gate]]\nmetric = "text.bleu_loo_mean"\nmin = 60\n\n'
                                         '[[gate]]\nmetric = "corpus.sources"\nmin = 10\n')
    refused = run("export", "out", "--gates", "gates.toml")
    assert refused.returncode == 3 and not (tmp_path / "out").exists()  # GateFailed
    assert re.match(r"error: 1 gate\(s\) failed: text\.bleu_loo_mean = [0-9.]+ \(needs >= 60\); most disputed", refused.stderr)
    done = run("export", "out", "--gates", "gates.toml", "--override-gates", "pilot, BLEU is a weak proxy")
    assert done.returncode == 0, done.stderr
    card = (tmp_path / "out" / "README.md").read_text()
    assert "| corpus.sources | 40 | >= 10 | pass |" in card and "Reason given: pilot, BLEU is a weak proxy" in card
    gates = json.loads((tmp_path / "out" / "provenance.json").read_text())["quality_gates"]
    assert [g["passed"] for g in gates["results"]] == [False, True]


def test_agreement_command_json(tmp_path: Path):
    lines = [{"item": i, "annotator": a, "value": v} for i, row in enumerate([[1, 1, 2], [2, 2, 2], [3, 3, 1]])
             for a, v in zip("xyz", row)]
    (tmp_path / "r.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    done = run_cli("validate", "agreement", "r.jsonl", "--kind", "label", "--level", "ordinal", "--json",
                   "--bootstrap", "0", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    import krippendorff
    import numpy as np

    expected = krippendorff.alpha(reliability_data=np.array([[1, 2, 3], [1, 2, 3], [2, 2, 1]], float),
                                  level_of_measurement="ordinal")
    assert result["krippendorff_alpha"] == pytest.approx(expected)
    assert set(result) >= {"fleiss_kappa", "gwet_ac1", "percent_agreement", "pairs", "per_annotator"}


def test_handles_with_the_old_pair_separator_keep_their_pairs_apart(tmp_path: Path):
    """Pairs used to be keyed "a|b" and split on "|": a handle "a|b" then met "a" and "b" in one key."""
    lines = [{"item": i, "annotator": a, "value": v} for i in range(12)
             for a, v in (("a", i % 2), ("a|b", i % 2), ("b", (i // 2) % 2))]
    (tmp_path / "r.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    done = run_cli("validate", "agreement", "r.jsonl", "--json", "--bootstrap", "0", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    pairs = result["pairs"]
    assert {(a, b) for a, by in pairs.items() for b in by} == {("a", "a|b"), ("a", "b"), ("a|b", "b")}
    assert pairs["a"]["a|b"]["cohen_kappa"] == pytest.approx(1.0)
    kappa_b = pairs["a"]["b"]["cohen_kappa"]
    assert pairs["a|b"]["b"]["cohen_kappa"] == pytest.approx(kappa_b)
    per = result["per_annotator"]
    assert per["a|b"]["mean_cohen_kappa"] == pytest.approx((1.0 + kappa_b) / 2)
    assert per["b"]["mean_cohen_kappa"] == pytest.approx(kappa_b)
    assert result["confusion"]["a"]["a|b"] == [[6, 0], [0, 6]]


def test_user_text_with_math_and_pipes_renders_in_the_report(store: CorpusStore, tmp_path: Path):
    """Labels and handles are the user's: "$5 off" is not matplotlib math text, "a|b" not a pair of two."""
    from whyset.corpora.schema import SourceExample, key_identity

    labels = ["$5 off$", "plain | text", "$x^2^3$"]  # the last is not valid math text
    store.declare_labels(labels)
    sources = [SourceExample(id=SourceExample.make_id("toy", "dev", key_identity(str(i))), dataset="toy",
                             split="dev", row=i, fields={"text": f"Word {i} here."}, label=labels[i % 3],
                             identity=key_identity(str(i))) for i in range(9)]
    store.add_sources(sources)
    records = []
    for annotator, shift in (("$a_b_c$", 0), ("a|b", 0), ("c", 1)):
        for i, source in enumerate(sources):
            rationale = Rationale(spans=[Span(field="text", start=0, end=4, text="Word")], label=labels[(i + shift) % 3])
            records.append(ExplanationRecord(
                id=ExplanationRecord.make_id(source.id, "annotation", None, rationale, annotator),
                source_id=source.id, role="annotation", explanation=rationale,
                provenance=Provenance(origin="human", agent_id=annotator)))
    store.add_explanations(records)
    results = run_validation(store, n_boot=0)
    assert results["label"]["pairs"]["$a_b_c$"]["a|b"]["cohen_kappa"] == pytest.approx(1.0)
    assert results["label"]["per_annotator"]["a|b"]["mean_cohen_kappa"] is not None
    html = write_report(results, tmp_path / "report.html", "$5 corpus", None).read_text()
    assert html.count("data:image/png;base64,") == 3  # label balance, kappa heatmap, span per annotator
    assert "$a_b_c$" in html and "a|b" in html
