"""Integration tests against real Label Studio 1.23.2 servers (one per annotator): push, annotate as each
annotator, pull, restart, interrupted pushes, bad input, adjudication."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from whyset.annotation import postgres, server
from whyset.annotation.adjudication import adjudication_items
from whyset.annotation.client import StudioClient
from whyset.annotation.postgres import Database
from whyset.annotation.pull import pull
from whyset.annotation.push import Guideline, items_for, push
from whyset.annotation.studio import Studio
from whyset.annotation.views import make_view
from whyset.corpora.kinds.counterfactual import Counterfactual, Edit
from whyset.corpora.kinds.qa import QATriple
from whyset.corpora.kinds.rationale import Rationale, Span
from whyset.corpora.schema import ExplanationRecord, Provenance
from whyset.corpora.store import CorpusStore
from whyset.errors import ServerUnreachable, WhysetError
from whyset.processes import free_port
from whyset.validators.disagreement import round_disagreements

GUIDE = Guideline("Highlight the words that justify the label.", "g-1.0")


def _candidate(source_id: str, explanation, model: str = "minilm-proto-ig", revision: str = "r1") -> ExplanationRecord:
    prov = Provenance(origin="model", agent_id=model, model_name=model, model_revision=revision)
    return ExplanationRecord(id=ExplanationRecord.make_id(source_id, "candidate", None, explanation, model),
                             source_id=source_id, role="candidate", explanation=explanation, provenance=prov)


def _span(source, name: str, word: str) -> Span:
    start = source.fields[name].index(word)
    return Span(field=name, start=start, end=start + len(word), text=word)


def _add_rationale_candidates(store: CorpusStore) -> None:
    records = []
    for source in store.iter_sources():
        word = re.findall(r"\w+", source.fields["hypothesis"])[-1]
        span = _span(source, "hypothesis", word).model_copy(update={"score": 0.75})
        records.append(_candidate(source.id, Rationale(spans=[span], label=source.label)))
    store.add_explanations(records)


def _rationale_result(spans: list[Span], label: str, foil: str | None = None) -> list[dict]:
    result = [{"from_name": f"evidence_{s.field}", "to_name": s.field, "type": "labels",
               "value": {"start": s.start, "end": s.end, "text": s.text, "labels": ["evidence"]}} for s in spans]
    result.append({"from_name": "label", "to_name": "premise", "type": "choices", "value": {"choices": [label]}})
    if foil:
        result.append({"from_name": "foil", "to_name": "premise", "type": "choices", "value": {"choices": [foil]}})
    result.append({"from_name": "comment", "to_name": "premise", "type": "textarea",
                   "value": {"text": ["checked – ünïcode ok"]}})
    return result


def _tasks(store: CorpusStore, project_id: int, annotator: str = "alice") -> list[tuple[int, str]]:
    """(task id, source id) of an annotator's project, in task order."""
    [project] = {p for r in store.rounds() for p in store.studio.projects(r.id)
                 if p.project_id == project_id and p.annotator == annotator}
    return [(t.task_id, t.source_id) for t in store.studio.tasks(project.server, project_id)]


def test_round_trip_two_annotators_with_restart(any_studio: Studio, esnli_store: CorpusStore) -> None:
    studio, store = any_studio, esnli_store
    _add_rationale_candidates(store)
    view = make_view(store, "rationale")
    items = items_for(store, view, limit=12)
    accounts = studio.accounts(["alice", "bob"])
    report = push(store, studio, "r1", view, items, ["alice", "bob"], 2, GUIDE, batch_size=5)
    assert report.created == 24 and report.already_there == 0
    alice, bob = studio.server("alice"), studio.server("bob")
    assert alice.url != bob.url and alice.server_id != bob.server_id  # a server each
    assert alice.database == bob.database == ("postgresql" if studio.database else "sqlite")
    if studio.database:  # a database each, made by whyset on the PostgreSQL server
        base = Database.parse(studio.database)
        cluster = postgres.Cluster(base)
        assert cluster.exists(f"{base.name}_alice") and cluster.exists(f"{base.name}_bob")

    # the predictions went in with their model_version and score
    snapshot = studio.client("alice").snapshot(report.projects["alice"])
    assert len(snapshot) == 12
    assert {p["model_version"] for t in snapshot for p in t["predictions"]} == {"minilm-proto-ig@r1"}
    assert {p["score"] for t in snapshot for p in t["predictions"]} == {0.75}

    submitted: dict[tuple[str, str], tuple[list[Span], str, str | None, float]] = {}

    def annotate(handle: str, nth: int) -> None:
        as_user = StudioClient(studio.server(handle), token=accounts[handle]["token"])
        for i, (task_id, source_id) in enumerate(_tasks(store, report.projects[handle], handle)[:nth]):
            source = store.sources_by_id([source_id])[source_id]
            words = source.fields["premise"].split()
            spans = [_span(source, "premise", words[1]),
                     _span(source, "hypothesis", source.fields["hypothesis"].split()[0])]
            label = source.label if handle == "alice" or i % 2 else "neutral"
            foil = "contradiction" if label != "contradiction" else None
            lead = 3.25 + i
            as_user.annotate(task_id, _rationale_result(spans, label, foil), lead_time=lead)
            submitted[(handle, source_id)] = (spans, label, foil, lead)

    annotate("alice", 6)
    # restart every server mid-round: same data dirs, other ports; nothing may be lost, tokens still work
    studio.down()
    studio = Studio.open(studio.home)
    assert studio.servers == {}
    annotate("bob", 6)  # starts bob's server again

    pulled = pull(store, studio, "r1")  # starts alice's again: the store names it by its server id
    assert pulled.statuses == {"valid": 12}
    assert studio.server("alice").server_id == alice.server_id and studio.server("alice").url != alice.url
    records = {(r.provenance.agent_id, r.source_id): r for r in store.iter_explanations("annotation")
               if r.round_id == "r1"}
    assert set(records) == set(submitted)
    for key, (spans, label, foil, lead) in submitted.items():
        record = records[key]
        assert record.explanation == Rationale(spans=spans, label=label, foil_label=foil)
        assert record.lead_time == lead
        assert record.provenance.origin == "human" and record.provenance.guideline_version == "g-1.0"
    results = store.studio.results("r1")
    assert {r.judgement["comment"] for r in results} == {"checked – ünïcode ok"}
    identities = {r.raw["annotation"]["completed_by"]["email"] for r in results}
    assert identities == {"alice@whyset.local", "bob@whyset.local"}

    # idempotent: pulling and pushing again change nothing
    assert pull(store, studio, "r1").new_annotations == 0
    again = push(store, studio, "r1", view, items, ["alice", "bob"], 2, GUIDE)
    assert (again.created, again.already_there) == (0, 24)
    assert len(list(store.iter_explanations("annotation", round_id="r1"))) == 12

    # bob disagreed on the label of every other item he did: those go to adjudication with both answers
    conflicts = round_disagreements(store, "r1", "rationale")
    expected = {s for (h, s), v in submitted.items() if h == "bob" and (("alice", s) in submitted)
                and v[1] != submitted[("alice", s)][1]}
    assert set(conflicts) == expected and expected
    adj_view = make_view(store, "rationale", adjudication=True)
    adj_items = adjudication_items({i.key: i for i in items}, conflicts)
    studio.accounts(["carol"])
    adj = push(store, studio, "r1-adjudication", adj_view, adj_items, ["carol"], 1, GUIDE, round_kind="adjudication")
    tasks = studio.client("carol").snapshot(adj.projects["carol"])
    assert len(tasks) == len(expected)
    assert {p["model_version"] for p in tasks[0]["predictions"]} >= {"annotator:alice", "annotator:bob"}
    assert "alice" in tasks[0]["data"]["answers"]


def test_interrupted_push_yields_one_task_per_item(any_studio: Studio, esnli_store: CorpusStore,
                                                    monkeypatch) -> None:
    studio = any_studio
    view = make_view(esnli_store, "freetext")
    items = items_for(esnli_store, view, limit=20)
    real_import, calls = StudioClient.import_tasks, []

    def import_then_lose_response(self, project_id, tasks):
        calls.append(len(tasks))
        ids = real_import(self, project_id, tasks)
        if len(calls) == 2:  # the server committed the batch, the client never hears back
            raise WhysetError("connection lost (simulated)")
        return ids

    monkeypatch.setattr(StudioClient, "import_tasks", import_then_lose_response)
    with pytest.raises(WhysetError, match="simulated"):
        push(esnli_store, studio, "r-int", view, items, ["alice"], 1, GUIDE, batch_size=6)
    monkeypatch.setattr(StudioClient, "import_tasks", real_import)
    report = push(esnli_store, studio, "r-int", view, items, ["alice"], 1, GUIDE, batch_size=6)
    assert (report.already_there, report.created) == (12, 8)
    keys = [t["data"]["whyset_key"] for t in studio.client("alice").snapshot(report.projects["alice"])]
    assert sorted(keys) == sorted(i.key for i in items)
    assert esnli_store.count("studio_tasks") == 20


def test_review_kinds_round_trip_and_invalid_kept_aside(studio: Studio, esnli_store: CorpusStore) -> None:
    store = esnli_store
    sources = list(store.iter_sources())[:3]
    s0 = sources[0]
    hyp = s0.fields["hypothesis"]
    word = hyp.split()[1]
    at = hyp.index(word)
    cf = Counterfactual(field="hypothesis", edited_text=hyp[:at] + "not " + hyp[at:],
                        edits=[Edit(start=at, end=at, old="", new="not ", edit_type="negation")],
                        target_label="contradiction")
    triple = QATriple(question="Why?", answer=s0.label, explanation="Because the premise says so.")
    store.add_explanations([_candidate(s0.id, cf, "rules"), _candidate(s0.id, triple, "smollm2")])
    studio.accounts(["alice"])
    as_alice = studio.client("alice", as_annotator=True)

    def one_task(kind: str) -> int:
        view = make_view(store, kind)
        report = push(store, studio, f"r-{kind}", view, items_for(store, view, limit=3), ["alice"], 1, GUIDE)
        return _tasks(store, report.projects["alice"])[0][0]

    corrected = hyp[:at] + "never " + hyp[at:]
    as_alice.annotate(one_task("counterfactual"), [
        {"from_name": "flips_label", "to_name": "diff", "type": "choices", "value": {"choices": ["yes"]}},
        {"from_name": "minimal", "to_name": "diff", "type": "choices", "value": {"choices": ["yes"]}},
        {"from_name": "correction", "to_name": "diff", "type": "textarea", "value": {"text": [corrected]}}])
    as_alice.annotate(one_task("qa"), [
        {"from_name": "verdict", "to_name": "premise", "type": "choices", "value": {"choices": ["repair"]}},
        {"from_name": "repaired_explanation", "to_name": "qa_explanation", "type": "textarea",
         "value": {"text": ["The premise states it directly."]}},
        {"from_name": "factual", "to_name": "qa_explanation", "type": "rating", "value": {"rating": 4}}])
    free_task = one_task("freetext")
    as_alice.annotate(free_task, [{"from_name": "explanation", "to_name": "premise", "type": "textarea",
                                   "value": {"text": ["A man is a person."]}}], lead_time=7.0)
    # config/annotation mismatch: a control that does not exist, and a label outside the label set
    as_alice.annotate(free_task, [{"from_name": "nonexistent", "to_name": "premise", "type": "choices",
                                   "value": {"choices": ["x"]}}])
    before = store.count("annotations")

    statuses = {kind: pull(store, studio, f"r-{kind}").statuses for kind in ("counterfactual", "qa", "freetext")}
    assert statuses == {"counterfactual": {"valid": 1}, "qa": {"valid": 1}, "freetext": {"valid": 1, "invalid": 1}}
    assert store.count("annotations") == before + 3
    by_round = {r.round_id: r for r in store.iter_explanations("annotation") if r.round_id.startswith("r-")}
    got_cf = by_round["r-counterfactual"].explanation
    assert got_cf.edited_text == corrected and got_cf.target_label == "contradiction"
    # one insertion of "never" (difflib may attach the space on either side; both rebuild the text)
    assert [(e.old, e.new.strip(), e.edit_type) for e in got_cf.edits] == [("", "never", "annotator")]
    assert by_round["r-qa"].explanation == QATriple(question="Why?", answer=s0.label,
                                                    explanation="The premise states it directly.")
    assert by_round["r-freetext"].explanation.explanation == "A man is a person."
    assert by_round["r-freetext"].lead_time == 7.0
    [invalid] = store.studio.results(statuses=["invalid"])
    assert "nonexistent" in invalid.problem
    assert invalid.raw["annotation"]["result"][0]["from_name"] == "nonexistent"
    [qa_result] = store.studio.results("r-qa")
    assert qa_result.judgement["factual"] == 4


def test_unreachable_server_and_wrong_token_leave_store_unchanged(studio: Studio, esnli_store: CorpusStore) -> None:
    view = make_view(esnli_store, "freetext")
    items = items_for(esnli_store, view, limit=4)
    real = studio.server("alice")
    counts = {t: esnli_store.count(t) for t in ("rounds", "studio_projects", "studio_tasks")}
    studio.servers["alice"] = server.Connection(url=real.url, token="0" * 40, server_id="x")
    with pytest.raises(ServerUnreachable, match="rejected the API token"):
        push(esnli_store, studio, "r-bad", view, items, ["alice"], 1, GUIDE)
    studio.servers["alice"] = server.Connection(url=f"http://127.0.0.1:{free_port()}", token="t",
                                                server_id="y")
    with pytest.raises(ServerUnreachable, match="cannot reach Label Studio"):
        push(esnli_store, studio, "r-bad2", view, items, ["alice"], 1, GUIDE)
    assert {t: esnli_store.count(t) for t in counts} == counts
    studio.servers["alice"] = real


def test_cli_studio_lifecycle(tmp_path: Path, esnli_dir: Path) -> None:
    from tests.test_cli import run

    home = str(tmp_path / "studio")
    assert run("import", "esnli", str(esnli_dir), "--limit", "5", cwd=tmp_path).returncode == 0
    up = run("studio", "up", "alice", "--home", home, cwd=tmp_path)
    try:
        assert up.returncode == 0, up.stderr
        assert re.search(r"^alice: http://127\.0\.0\.1:\d+ \(pid \d+, sqlite\)$", up.stdout, re.MULTILINE), up.stdout
        assert run("studio", "status", "--home", home, cwd=tmp_path).returncode == 0
        args = ("push", "--kind", "freetext", "--round", "r1", "--annotators", "alice,bob", "--k", "2", "--home", home)
        first = run(*args, cwd=tmp_path)  # starts bob's server too
        assert "round r1: 10 tasks created, 0 already there" in first.stdout, first.stderr
        assert "round r1: 0 tasks created, 10 already there" in run(*args, cwd=tmp_path).stdout
        pulled = run("pull", "--round", "r1", "--home", home, cwd=tmp_path)
        assert "round r1: nothing new; 0 new annotation records (0 changed tasks read)" in pulled.stdout, pulled.stderr
        shown = run("studio", "status", "--json", "--home", home, cwd=tmp_path)
        servers = json.loads(shown.stdout)["servers"]
        assert sorted(servers) == ["alice", "bob"] and servers["alice"]["version"] == "1.23.2"
        assert servers["alice"]["database"] == "sqlite" and len(servers["alice"]["admin_token"]) == 40
        [project] = servers["bob"]["projects"]
        assert project["round"] == "r1" and project["link"] == f"{servers['bob']['url']}/projects/{project['project_id']}"
        assert StudioClient(server.Connection(servers["bob"]["url"], servers["bob"]["admin_token"], "x")).task_count(
            project["project_id"]) == 5  # the token drives the server
        accounts = run("studio", "accounts", "alice", "--home", home, cwd=tmp_path)
        assert re.match(r"alice: http://127\.0\.0\.1:\d+ alice@whyset\.local / \S+$", accounts.stdout)
    finally:
        down = run("studio", "down", "--home", home, cwd=tmp_path)
    assert len(re.findall(r"^stopped http://127\.0\.0\.1:\d+$", down.stdout, re.MULTILINE)) == 2
    gone = run("studio", "status", "--home", home, cwd=tmp_path)
    assert gone.returncode == 4 and gone.stderr.count("\n") == 1  # ServerUnreachable
    assert gone.stderr.startswith("error: no Label Studio running or connected")
    refused = run("studio", "connect", "http://127.0.0.1:9", "--token", "x", "--annotator", "dan", "--home", home,
                  cwd=tmp_path)
    assert refused.returncode == 4 and "cannot reach Label Studio at http://127.0.0.1:9" in refused.stderr
