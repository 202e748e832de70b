"""Human rounds measured: the degenerate round that used to crash ``validate run`` (two annotators, a few
rationale tasks, the same label everywhere) against a real Label Studio, pre-annotation effects and the
anchoring flag, and agreement per review question."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_cli import run as run_cli
from whyset.annotation.client import StudioClient
from whyset.annotation.pull import pull
from whyset.annotation.push import Guideline, items_for, push
from whyset.annotation.studio import Studio
from whyset.annotation.views import make_view
from whyset.corpora.kinds.rationale import Rationale, Span
from whyset.corpora.schema import ExplanationRecord, Provenance
from whyset.corpora.store import CorpusStore
from whyset.validators.preannotation import anchoring, compare, units

GUIDE = Guideline("Highlight the words that justify the label.", "g-2.0")


def _word_span(source, name: str, index: int) -> Span:
    words = source.fields[name].split()
    start = len(" ".join(words[:index])) + (1 if index else 0)
    return Span(field=name, start=start, end=start + len(words[index]), text=words[index])


def test_two_annotators_same_label_everywhere_does_not_crash(tmp_path: Path, esnli_store: CorpusStore,
                                                              studio: Studio) -> None:
    store = esnli_store
    sources = [store.sources_by_id([i])[i] for i in store.source_ids_in_order(limit=3)]
    provenance = Provenance(origin="model", agent_id="ig", model_name="minilm+linear-head")
    store.add_explanations([
        ExplanationRecord(id=ExplanationRecord.make_id(s.id, "candidate", None, r, "ig"), source_id=s.id,
                          role="candidate", explanation=r, provenance=provenance)
        for s in sources for r in [Rationale(spans=[_word_span(s, "hypothesis", 0)], label="entailment")]])
    view = make_view(store, "rationale")
    accounts = studio.accounts(["alice", "bob"])
    report = push(store, studio, "r1", view, items_for(store, view, limit=3), ["alice", "bob"], 2, GUIDE)
    for handle in ("alice", "bob"):
        as_user = StudioClient(studio.server(handle), token=accounts[handle]["token"])
        for task in studio.client(handle).snapshot(report.projects[handle]):
            [prediction] = task["predictions"]
            result = prediction["result"]  # alice submits the pre-annotation as it is
            if handle == "bob":  # bob highlights the premise's second word instead, same label
                source = store.sources_by_id([task["data"]["whyset_key"]])[task["data"]["whyset_key"]]
                span = _word_span(source, "premise", 1)
                result = [{"from_name": "evidence_premise", "to_name": "premise", "type": "labels",
                           "value": {"start": span.start, "end": span.end, "text": span.text,
                                     "labels": ["evidence"]}}, result[-1]]
            as_user.annotate(task["id"], result, lead_time=2.0)
    assert pull(store, studio, "r1").statuses == {"valid": 6}
    studio.down()
    store.close()

    done = run_cli("validate", "run", "--report", "r.html", "--bootstrap", "50", "--store", str(store.path),
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = (tmp_path / "r.html").read_text()
    assert "one value in the domain" in report  # the report says why the label figures are empty
    with CorpusStore(store.path) as reopened:
        results = reopened.validation.full(reopened.validation.runs()[-1])
    assert results["label"]["krippendorff_alpha"] is None and results["label"]["percent_agreement"] == 1.0
    assert results["judgements"]["r1"]["label"]["krippendorff_alpha"] is None
    assert "one value in the domain" in results["judgements"]["r1"]["label"]["why"]
    effects = results["rounds"]["r1"]["preannotation"]
    assert effects["per_annotator"]["alice"]["unchanged_rate"] == 1.0
    assert effects["per_annotator"]["bob"]["replaced_rate"] == 0.0  # he kept the label: edited, not replaced
    assert effects["per_annotator"]["bob"]["edited_rate"] == 1.0
    assert effects["per_annotator"]["bob"]["mean_edit_distance"] == 2.0  # one word removed, one added
    assert effects["per_builder"]["ig"]["submitted"] == 6
    assert results["rounds"]["r1"]["guideline_sha256"] == GUIDE.sha256 and results["rounds"]["r1"]["annotators"] == 2


def _labels(start: int, end: int, text: str) -> dict:
    return {"from_name": "evidence_premise", "type": "labels", "value": {"start": start, "end": end, "text": text}}


def test_compare_unchanged_edited_replaced() -> None:
    prediction = units([_labels(0, 9, "two words"), {"from_name": "label", "value": {"choices": ["neutral"]}}])
    assert compare(prediction, prediction) == ("unchanged", 0)
    widened = units([_labels(0, 15, "two words more"), {"from_name": "label", "value": {"choices": ["neutral"]}}])
    assert compare(widened, prediction) == ("edited", 1)
    other = units([_labels(16, 21, "other"), {"from_name": "label", "value": {"choices": ["entailment"]}}])
    assert compare(other, prediction) == ("replaced", 5)  # 2 words + 1 choice removed, 1 word + 1 choice added
    text = units([{"from_name": "correction", "value": {"text": ["a man is not sleeping"]}}])
    fixed = units([{"from_name": "correction", "value": {"text": ["a man is sleeping"]}}])
    assert compare(fixed, text) == ("edited", 1)


@pytest.mark.parametrize("unchanged,flagged", [
    ({"anchored": (18, 20), "b": (4, 20), "c": (5, 20)}, ["anchored"]),   # 0.90 vs 0.225 pooled: z = 4.8
    ({"anchored": (12, 20), "b": (10, 20), "c": (9, 20)}, []),            # 0.60 vs 0.475: too small a gap
    ({"anchored": (8, 9), "b": (1, 20)}, []),                             # fewer than 10 submissions
    ({"anchored": (14, 20), "b": (8, 20)}, []),                           # gap 0.30 but z = 1.9 < 2
])
def test_anchoring_flag_is_far_above_the_others(unchanged: dict, flagged: list) -> None:
    assert sorted(anchoring(unchanged)) == flagged
