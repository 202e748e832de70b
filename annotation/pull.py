"""``whyset pull``: Label Studio snapshot exports -> annotations of the round in the store.

Every submitted annotation becomes one ``studio_results`` row, whatever its state: ``valid`` ones also
become typed annotation records; ``invalid`` ones (failing the labeling config, checked client-side with the
SDK's LabelInterface because the server checks nothing, or failing the schema, e.g. span text that does not
match its offsets) are reported and kept aside with the reason and the raw JSON, never dropped. Re-pulling is
idempotent; an annotation edited in Label Studio replaces its earlier version.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from label_studio_sdk.label_interface import LabelInterface

from whyset.annotation.client import StudioClient
from whyset.annotation.push import annotator_email, make_view, round_details
from whyset.annotation.views import Outcome, TaskView
from whyset.corpora.progress import progress
from whyset.corpora.schema import ExplanationRecord, Provenance, check_against_source, labels_of
from whyset.corpora.store import CorpusStore
from whyset.errors import WhysetError


@dataclass
class PullReport:
    statuses: Counter = field(default_factory=Counter)
    new_annotations: int = 0
    problems: list[str] = field(default_factory=list)


def pull(store: CorpusStore, client: StudioClient, round_id: str) -> PullReport:
    """Pull every project of the round from this server; all writes happen in one transaction at the end."""
    details = round_details(store, round_id)
    handles = {annotator_email(h): h for h in details.get("annotators", {})}
    projects = store.con.execute(
        "SELECT project_id, kind, annotator, label_config, guideline_version FROM studio_projects "
        "WHERE server = ? AND round_id = ? ORDER BY project_id", [client.server_id, round_id]).fetchall()
    if not projects:
        raise WhysetError(f"round {round_id!r} has no projects on {client.url} (push first, or check the server)")
    tasks = {(pid, key): (source_id, candidate_id) for pid, key, source_id, candidate_id in store.con.execute(
        "SELECT project_id, item_key, source_id, candidate_id FROM studio_tasks WHERE server = ?",
        [client.server_id]).fetchall()}
    report, results, records = PullReport(), [], []
    for project_id, kind, _, config, guideline_version in progress(projects, f"pulling round {round_id}"):
        snapshot = client.snapshot(project_id)
        view = make_view(store, kind)
        interface = LabelInterface(config)
        for task in snapshot:
            key = (task.get("data") or {}).get("whyset_key")
            if (project_id, key) not in tasks:
                report.problems.append(f"project {project_id} task {task['id']}: not pushed by whyset, ignored")
                continue
            source_id, candidate_id = tasks[(project_id, key)]
            for annotation in task.get("annotations", []):
                row, record = _one(store, view, interface, task, annotation, source_id, candidate_id,
                                   round_id, guideline_version, handles)
                row["project_id"] = project_id
                results.append(row)
                records += [record] if record else []
                report.statuses[row["status"]] += 1
                if row["status"] == "invalid":
                    report.problems.append(f"project {project_id} task {task['id']} annotation {annotation['id']} "
                                           f"by {row['annotator']}: {row['problem']}")
    with store.transaction():
        _forget_replaced(store, client.server_id, results)
        report.new_annotations = store.add_explanations(records) if records else 0
        rows = [[client.server_id, r["annotation_id"], r["project_id"], r["task_id"], round_id, r["source_id"],
                 r["candidate_id"], r["annotator"], r["status"], r["problem"], json.dumps(r["judgement"]),
                 r["record_id"], json.dumps(r["raw"]), datetime.now(UTC)] for r in results]
        if rows:  # DuckDB's executemany refuses an empty list
            store.con.executemany(
                "INSERT OR REPLACE INTO studio_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return report


def _one(store: CorpusStore, view: TaskView, interface: LabelInterface, task: dict, annotation: dict,
         source_id: str, candidate_id: str | None, round_id: str, guideline_version: str | None,
         handles: dict[str, str]) -> tuple[dict[str, Any], ExplanationRecord | None]:
    completed_by = annotation.get("completed_by")
    email = completed_by.get("email") if isinstance(completed_by, dict) else str(completed_by)
    annotator = handles.get(email, email)
    row: dict[str, Any] = {"annotation_id": annotation["id"], "task_id": task["id"], "source_id": source_id,
                           "candidate_id": candidate_id, "annotator": annotator, "record_id": None,
                           "raw": {"annotation": annotation, "predictions": task.get("predictions", [])}}
    result = annotation.get("result") or []
    outcome = _outcome(store, view, interface, annotation, result, source_id, candidate_id)
    row |= {"status": outcome.status, "problem": outcome.problem, "judgement": outcome.judgement}
    if outcome.status != "valid":
        return row, None
    provenance = Provenance(origin="human", agent_id=annotator, guideline_version=guideline_version,
                            created_at=annotation.get("created_at") or datetime.now(UTC))
    record = ExplanationRecord(
        id=ExplanationRecord.make_id(source_id, "annotation", round_id, outcome.explanation, annotator),
        source_id=source_id, role="annotation", round_id=round_id, explanation=outcome.explanation,
        provenance=provenance, lead_time=annotation.get("lead_time"))
    row["record_id"] = record.id
    return row, record


def _outcome(store: CorpusStore, view: TaskView, interface: LabelInterface, annotation: dict,
             result: list[dict], source_id: str, candidate_id: str | None) -> Outcome:
    if annotation.get("was_cancelled"):
        return Outcome("skipped")
    errors = interface.validate_prediction({"result": result}, return_errors=True)
    if errors:
        return Outcome("invalid", problem=f"does not fit the labeling config: {errors[0]}")
    source = store.sources_by_id([source_id])[source_id]
    candidate = _candidate(store, candidate_id)
    outcome = view.parse(result, source, candidate)
    if outcome.status == "valid":
        try:
            check_against_source(outcome.explanation, source)
            unknown = [label for _, label in labels_of(outcome.explanation) if label not in store.labels]
            if unknown:
                raise WhysetError(f"unknown label {unknown[0]!r}")
        except WhysetError as exc:
            return Outcome("invalid", judgement=outcome.judgement, problem=str(exc))
    return outcome


def _candidate(store: CorpusStore, candidate_id: str | None) -> ExplanationRecord | None:
    if candidate_id is None:
        return None
    rows = store.con.execute("SELECT source_id, payload, provenance FROM candidates WHERE id = ?",
                             [candidate_id]).fetchall()
    if not rows:
        raise WhysetError(f"candidate {candidate_id} of a pushed task is no longer in the store")
    source_id, payload, provenance = rows[0]
    return ExplanationRecord(id=candidate_id, source_id=source_id, role="candidate",
                             explanation=json.loads(payload), provenance=json.loads(provenance))


def _forget_replaced(store: CorpusStore, server: str, results: list[dict[str, Any]]) -> None:
    """Drop the stored record of an annotation that was edited in Label Studio since the last pull."""
    previous = dict(store.con.execute(
        "SELECT annotation_id, record_id FROM studio_results WHERE server = ? AND record_id IS NOT NULL",
        [server]).fetchall())
    stale = [previous[r["annotation_id"]] for r in results
             if previous.get(r["annotation_id"]) not in (None, r["record_id"])]
    if stale:
        store.con.execute("DELETE FROM annotations WHERE id IN (SELECT unnest(?::VARCHAR[]))", [stale])
