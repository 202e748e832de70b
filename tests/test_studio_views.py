"""Labeling configs, pre-annotations and parsing, without a server: every config is valid for the SDK's
LabelInterface, every prediction fits its config, and parse(prediction) gives back the candidate."""

from __future__ import annotations

from collections import Counter

import pytest
from label_studio_sdk.label_interface import LabelInterface

from whyset.annotation.assignment import assign
from whyset.annotation.views import CANT_DECIDE, view_for
from whyset.annotation.views.counterfactual import diff_html
from whyset.corpora.kinds.counterfactual import Counterfactual, Edit, word_edits
from whyset.corpora.kinds.qa import QATriple
from whyset.corpora.kinds.rationale import Rationale, Span
from whyset.corpora.schema import ExplanationRecord, Provenance, SourceExample
from whyset.errors import WhysetError

LABELS = ["entailment", "neutral", "contradiction"]
FIELDS = {"premise": "A man plays a guitar on stage.", "hypothesis": "A man plays music."}
SOURCE = SourceExample(id="s1", dataset="toy", split="dev", row=0, fields=FIELDS, label="entailment")


def _record(explanation) -> ExplanationRecord:
    return ExplanationRecord(id="c1", source_id="s1", role="candidate", explanation=explanation,
                             provenance=Provenance(origin="model", agent_id="m"))


RATIONALE = Rationale(spans=[Span(field="premise", start=13, end=19, text="guitar"),
                             Span(field="hypothesis", start=13, end=18, text="music")],
                      label="entailment", foil_label="neutral")
COUNTERFACTUAL = Counterfactual(field="hypothesis", edited_text="A man plays no music.",
                                edits=[Edit(start=12, end=12, old="", new="no ", edit_type="negation")],
                                target_label="contradiction")
TRIPLE = QATriple(question="Why?", answer="entailment", explanation="A guitar makes music.")


@pytest.mark.parametrize("kind", ["rationale", "counterfactual", "qa", "freetext"])
def test_configs_are_valid_and_offer_cant_decide_and_comment(kind: str) -> None:
    for adjudication in (False, True):
        interface = LabelInterface(view_for(kind, list(FIELDS), LABELS, adjudication=adjudication).config())
        assert interface.get_control("cant_decide").labels == [CANT_DECIDE]
        assert interface.get_control("comment").tag == "TextArea"
        assert ("answers" in interface._objects) is adjudication


def test_rationale_config_has_label_choices_and_evidence_per_field() -> None:
    interface = LabelInterface(view_for("rationale", list(FIELDS), LABELS).config())
    assert interface.get_control("label").labels == LABELS
    assert interface.get_control("foil").labels == LABELS
    assert [interface.get_control(f"evidence_{f}").to_name for f in FIELDS] == [["premise"], ["hypothesis"]]


@pytest.mark.parametrize("kind,candidate", [("rationale", RATIONALE), ("counterfactual", COUNTERFACTUAL),
                                            ("freetext", TRIPLE)])
def test_prediction_fits_config_and_parses_back(kind: str, candidate) -> None:
    view = view_for(kind, list(FIELDS), LABELS, question="Why?")
    record = _record(candidate)
    result = view.prediction(record)
    if kind == "counterfactual":
        result = result + [{"from_name": "flips_label", "to_name": "diff", "type": "choices",
                            "value": {"choices": ["yes"]}}]
    assert LabelInterface(view.config()).validate_prediction({"result": result}, return_errors=True) == []
    outcome = view.parse(result, SOURCE, record)
    assert outcome.status == "valid" and outcome.explanation == candidate


def test_cant_decide_and_rejections_are_not_explanations() -> None:
    view = view_for("qa", list(FIELDS), LABELS)
    undecided = [{"from_name": "cant_decide", "type": "choices", "value": {"choices": [CANT_DECIDE]}}]
    assert view.parse(undecided, SOURCE, _record(TRIPLE)).status == "undecided"
    reject = [{"from_name": "verdict", "type": "choices", "value": {"choices": ["reject"]}}]
    assert view.parse(reject, SOURCE, _record(TRIPLE)).status == "rejected"
    nothing = view_for("rationale", list(FIELDS), LABELS).parse([], SOURCE, None)
    assert (nothing.status, nothing.problem) == ("invalid", "field 'label': no label chosen")


def test_reserved_or_odd_field_names_are_refused() -> None:
    with pytest.raises(WhysetError, match="'label' cannot name"):
        view_for("rationale", ["label"], LABELS)
    with pytest.raises(WhysetError, match="'two words' cannot name"):
        view_for("rationale", ["two words"], LABELS)


def test_diff_html_marks_the_edit_and_escapes_text() -> None:
    cf = Counterfactual(field="t", edited_text="a <b> not c", edits=[Edit(start=6, end=6, old="", new="not ",
                                                                         edit_type="negation")],
                        target_label="x")
    assert diff_html("a <b> c", cf) == 'a &lt;b&gt; <ins style="color:#070">not </ins>c'


def test_word_edits_rebuild_the_corrected_text() -> None:
    original = "The food was good and cheap."
    corrected = "The food was not good and expensive."
    edits = word_edits(original, corrected, "annotator")
    cf = Counterfactual(field="text", edited_text=corrected, edits=edits, target_label="neg")
    source = SourceExample(id="x", dataset="d", split="s", row=0, fields={"text": original}, label="pos")
    cf.check_against(source)  # raises if the edits do not rebuild the corrected text
    assert sorted(e.new.strip() for e in edits) == ["expensive.", "not"]
    assert word_edits(original, original, "annotator") == []


def test_assignment_is_balanced_deterministic_and_k_distinct() -> None:
    keys = [f"item{i}" for i in range(101)]
    plan = assign(keys, ["a", "b", "c", "d"], 3, seed="r1")
    assert plan == assign(keys, ["a", "b", "c", "d"], 3, seed="r1")
    per_item = Counter(key for assigned in plan.values() for key in assigned)
    assert set(per_item.values()) == {3}
    for assigned in plan.values():
        assert len(assigned) == len(set(assigned))
    loads = [len(v) for v in plan.values()]
    assert sum(loads) == 303 and max(loads) - min(loads) <= 1
    with pytest.raises(WhysetError, match="between 1 and the number of annotators"):
        assign(keys, ["a"], 2)


def test_project_titles_fit_label_studio_and_stay_unique() -> None:
    from whyset.annotation.push import project_title

    assert project_title("r1", "alice") == "r1 · alice"
    long_a = project_title("demo-counterfactual-review-round-2026-11", "alice@example.org")
    long_b = project_title("demo-counterfactual-review-round-2026-11", "alice@example.com")
    assert len(long_a) == len(long_b) == 50 and long_a != long_b


def test_makefile_installs_the_pinned_label_studio() -> None:
    """The Makefile installs the server venv itself (in parallel with .venv); its pin must be whyset's."""
    from tests.conftest import REPO
    from whyset.paths import LABEL_STUDIO_VERSION, studio_venv

    makefile = (REPO / "Makefile").read_text()
    assert f"LABEL_STUDIO := {LABEL_STUDIO_VERSION}\n" in makefile
    assert "export WHYSET_HOME := $(CURDIR)/work\n" in makefile
    assert "STUDIO_VENV := work/label-studio-$(LABEL_STUDIO)\n" in makefile
    assert studio_venv() == REPO / "work" / f"label-studio-{LABEL_STUDIO_VERSION}"  # where whyset looks for it
    assert "pip install -q --disable-pip-version-check label-studio==$(LABEL_STUDIO)\n" in makefile


def test_rebalancing_moves_unstarted_work_to_a_newcomer_once_per_item() -> None:
    from whyset.annotation.assignment import fill, rebalance

    # x and y both hold items 0-5; the newcomer z may take each item from one of them only
    unstarted = {"x": [f"i{n}" for n in range(6)], "y": [f"i{n}" for n in range(6)], "z": []}
    seen = {f"i{n}": {"x", "y"} for n in range(6)}
    moves = rebalance(unstarted, seen, "r")
    assert len({key for key, _, _ in moves}) == len(moves) == 4 and {to for _, _, to in moves} == {"z"}
    assert rebalance({"x": ["a", "b"], "y": ["c"]}, {}, "r") == []  # within one: nothing moves
    holders = {key: {"x", "y"} - {donor} for key, donor, _ in moves}
    plan = fill(list(holders), ["x", "y", "z"], 2, holders, {k: {"x", "y"} for k in holders}, {}, "r")
    assert plan.give == {"x": [], "y": [], "z": sorted(holders, key=plan.give["z"].index)} and not plan.short


def test_a_view_needs_one_field_layout_and_names_the_first_source_that_differs(tmp_path) -> None:
    from whyset.annotation.views import make_view
    from whyset.corpora.store import CorpusStore

    with CorpusStore(tmp_path / "s.duckdb") as store:
        with pytest.raises(WhysetError, match=r"no source examples to annotate"):
            make_view(store, "rationale")
        store.declare_labels(LABELS)
        store.add_sources([SOURCE.model_copy(update={"id": "s1"}),
                           SOURCE.model_copy(update={"id": "s3", "row": 2})])
        assert make_view(store, "rationale").fields == ["premise", "hypothesis"]
        swapped = {"hypothesis": FIELDS["hypothesis"], "premise": FIELDS["premise"]}
        store.add_sources([SOURCE.model_copy(update={"id": "s4", "row": 3, "fields": swapped}),
                           SOURCE.model_copy(update={"id": "s2", "row": 1, "fields": {"text": "Just one."}})])
        with pytest.raises(WhysetError, match=r"^source s2: fields \['text'\] differ from \['premise', 'hypothesis'\]"):
            make_view(store, "rationale")
