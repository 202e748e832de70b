"""A campaign against real Label Studio servers (one per annotator): control items mixed in blind, status per
annotator, an edited annotation versioned, a re-pull that fetches nothing, an annotator who leaves and one
who joins (k distinct annotators per item throughout, nobody given an item twice), idempotent re-runs."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.test_studio import GUIDE, _rationale_result, _span
from whyset.annotation.campaign import reassign
from whyset.annotation.client import StudioClient
from whyset.annotation.pull import pull
from whyset.annotation.push import items_for, push
from whyset.annotation.studio import Studio
from whyset.annotation.views import make_view
from whyset.corpora.store import CorpusStore
from whyset.errors import BadInput
from whyset.validators.families import FAMILIES, ValidationData, flat_figures
from whyset.validators.round_status import round_status

TEAM = ["alice", "bob", "carol"]


def _answer(store: CorpusStore, studio: Studio, handle: str, task, label: str | None = None) -> int:
    source = store.sources_by_id([task.source_id])[task.source_id]
    word = source.fields["premise"].split()[0]
    result = _rationale_result([_span(source, "premise", word)], label or source.label)
    return studio.client(handle, as_annotator=True).annotate(task.task_id, result, lead_time=4.0)


def _holders(store: CorpusStore, round_id: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for h in store.studio.holdings(round_id):
        if not h.task.withdrawn and h.task.control_answer is None:
            found.setdefault(h.task.item_key, set()).add(h.annotator)
    return found


def test_campaign_controls_status_versions_leave_and_join(studio: Studio, esnli_store: CorpusStore,
                                                          monkeypatch) -> None:
    store = esnli_store
    view = make_view(store, "rationale")
    items = items_for(store, view, limit=12)
    studio.accounts(TEAM)
    report = push(store, studio, "camp", view, items, TEAM, 2, GUIDE, controls=0.25)
    assert (report.created, report.controls) == (24, 6)  # 8 items each, plus 2 controls each (a quarter)
    holdings = store.studio.holdings("camp")
    controls = {h.task.item_key for h in holdings if h.task.control_answer}
    assert len(controls) == 2 and not controls & {i.key for i in items}  # the same two for all, outside the round
    # blind: a control looks like any task (no gold label in the data), and sits among the others
    client = studio.client("alice")
    tasks = client.changed_tasks(report.projects["alice"])
    assert len(tasks) == 10 and all(set(t["data"]) == {"premise", "hypothesis", "whyset_key"} for t in tasks)
    alice = sorted((h.task for h in holdings if h.annotator == "alice"), key=lambda t: t.task_id)
    assert not {alice[0].item_key, alice[-1].item_key} >= controls  # not simply first or last

    # alice: three items and both controls, one control right and one wrong; bob: one item, then edits it
    own = [t for t in alice if t.control_answer is None]
    for task in own[:3]:
        _answer(store, studio, "alice", task)
    right, wrong = [t for t in alice if t.control_answer]
    _answer(store, studio, "alice", right)
    _answer(store, studio, "alice", wrong, label=next(lab for lab in store.labels if lab != wrong.control_answer))
    bob_task = next(h.task for h in holdings if h.annotator == "bob" and h.task.control_answer is None)
    bob_annotation = _answer(store, studio, "bob", bob_task, label="neutral")

    monkeypatch.setattr(StudioClient, "snapshot", lambda *a, **k: pytest.fail("pull made a snapshot export"))
    first = pull(store, studio, "camp")
    assert first.statuses == {"valid": 6} and first.new_annotations == 4  # controls never become records
    fetched = []
    real = StudioClient.changed_tasks
    monkeypatch.setattr(StudioClient, "changed_tasks",
                        lambda self, *a, **k: fetched.append(len(found := real(self, *a, **k))) or found)
    # the tasks are younger than the safety margin, so alice's and bob's are read again (and merged away:
    # nothing is stored twice); carol, who answered nothing yet, costs two calls that find nothing
    again = pull(store, studio, "camp")
    assert (again.statuses, again.new_annotations, again.edited) == ({}, 0, 0) and sorted(fetched) == [0, 0, 10, 10]

    bob = studio.accounts(["bob"])["bob"]
    source = store.sources_by_id([bob_task.source_id])[bob_task.source_id]
    edited = _rationale_result([_span(source, "premise", source.fields["premise"].split()[1])], source.label)
    answer = httpx.patch(f"{studio.server('bob').url}/api/annotations/{bob_annotation}/",
                         headers={"Authorization": f"Token {bob['token']}"}, json={"result": edited}, timeout=60)
    assert answer.status_code == 200
    third = pull(store, studio, "camp")
    assert (third.statuses, third.edited, third.new_annotations) == ({"valid": 1}, 1, 1)
    versions = [r for r in store.studio.results("camp", superseded=True) if r.annotation_id == bob_annotation
                and r.annotator == "bob"]
    assert [v.version for v in versions] == [1, 2] and versions[0].judgement["label"] == "neutral"
    current = [r for r in store.iter_explanations("annotation", round_id="camp") if r.provenance.agent_id == "bob"]
    assert [r.explanation.label for r in current] == [source.label]  # the old version is kept, but not current
    assert len(list(store.iter_explanations("annotation", round_id="camp", superseded=True))) == 5

    status = round_status(store, "camp")
    mine = status.annotators["alice"]
    assert [mine[k] for k in ("assigned", "done", "skipped", "remaining", "median_lead_time_s")] == [8, 3, 0, 5, 4.0]
    assert status.annotators["alice"]["controls"] == {"controls": 2, "answered": 2, "correct": 1, "accuracy": 0.5}
    assert status.annotators["bob"]["remaining"] == 7
    section = FAMILIES.get("campaign")().compute(ValidationData(store, n_boot=0))  # the report's section
    assert section["rounds"]["camp"]["annotators"]["alice"] == status.as_dict()["annotators"]["alice"]
    assert flat_figures({"campaign": section})["campaign.rounds.camp.annotators.alice.controls.accuracy"] == 0.5

    # alice leaves: her unstarted items go to the two others, each item still to two distinct annotators
    with pytest.raises(BadInput, match="reassign --round camp"):
        push(store, studio, "camp", view, items, ["bob", "carol"], 2, GUIDE, controls=0.25)
    left = reassign(store, studio, "camp", leave=["alice"])
    assert left.withdrawn["alice"] == 5 and left.kept == 0 and not left.short
    remaining = {a: v["remaining"] for a, v in round_status(store, "camp").annotators.items()}
    assert remaining["alice"] == 0 and abs(remaining["bob"] - remaining["carol"]) <= 1  # rebalanced too
    holders = _holders(store, "camp")
    assert all(len(who) == 2 for who in holders.values())
    assert {k for k, who in holders.items() if "alice" in who} == {t.item_key for t in own[:3]}
    assert client.task_count(report.projects["alice"]) == 5  # what she did stays; the rest is gone
    # nobody was given an item twice (a withdrawn task still counts as seen), and new tasks carry no answers
    seen = Counter((h.annotator, h.task.item_key) for h in store.studio.holdings("camp"))
    assert max(seen.values()) == 1
    for handle in ("bob", "carol"):
        for task in studio.client(handle).changed_tasks(store.studio.projects("camp", studio.server(handle).server_id)[0]
                                                        .project_id):
            assert task["predictions"] == [] and (task["annotations"] == [] or handle == "bob")

    # dave joins late and gets a balanced share of what is left; re-running changes nothing
    joined = reassign(store, studio, "camp", join=["dave"])
    assert sum(joined.withdrawn.values()) == joined.given["dave"] - 2 > 0  # his items, plus his two controls
    remaining = {a: v["remaining"] for a, v in round_status(store, "camp").annotators.items() if a != "alice"}
    assert max(remaining.values()) - min(remaining.values()) <= 1 and remaining["dave"] > 0
    assert all(len(who) == 2 for who in _holders(store, "camp").values())
    again = reassign(store, studio, "camp", join=["dave"])
    assert (sum(again.withdrawn.values()), sum(again.given.values())) == (0, 0)
    assert max(Counter((h.annotator, h.task.item_key) for h in store.studio.holdings("camp")).values()) == 1


def test_status_and_reassign_from_the_cli(tmp_path: Path, esnli_dir: Path) -> None:
    from tests.test_cli import run

    home = str(tmp_path / "studio")
    assert run("import", "esnli", str(esnli_dir), "--limit", "20", cwd=tmp_path).returncode == 0
    try:
        pushed = run("push", "--kind", "rationale", "--round", "r1", "--annotators", "ann", "--limit", "8",
                     "--controls", "0.25", "--home", home, cwd=tmp_path)
        assert "round r1: 8 tasks created, 0 already there, 2 control tasks" in pushed.stdout, pushed.stderr
        refused = run("push", "--kind", "freetext", "--round", "r2", "--annotators", "ann", "--controls", "0.1",
                      "--home", home, cwd=tmp_path)
        assert refused.returncode == 1 and "freetext tasks have no known answer" in refused.stderr
        shown = run("status", "--round", "r1", cwd=tmp_path)
        assert "round r1 (rationale), as of the last pull (never pulled):" in shown.stdout, shown.stderr
        assert any(line.split()[:5] == ["ann", "8", "0", "0", "8"] for line in shown.stdout.splitlines())
        moved = run("reassign", "--round", "r1", "--join", "ben", "--home", home, cwd=tmp_path)
        assert "round r1: annotators ann, ben; tasks withdrawn: ann -4; given: ben +5" in moved.stdout, moved.stderr
    finally:
        run("studio", "down", "--home", home, cwd=tmp_path)
