"""``whyset pull``: Label Studio snapshot exports -> annotations of the round in the store.

Every submitted annotation becomes one ``studio_results`` row, whatever its state: ``valid`` ones also
become typed annotation records; ``invalid`` ones (failing the labeling config, checked client-side with the
SDK's LabelInterface because the server checks nothing, or failing the schema, e.g. span text that does not
match its offsets) are reported and kept aside with the reason and the raw JSON, never dropped. Re-pulling is
idempotent; an annotation edited in Label Studio replaces its earlier version.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from label_studio_sdk.label_interface import LabelInterface

from whyset.annotation.push import make_view
from whyset.annotation.studio import Studio, annotator_email
from whyset.annotation.views import Outcome, TaskView
from whyset.corpora.progress import progress
from whyset.corpora.schema import ExplanationRecord, Provenance, SourceExample
from whyset.corpora.store import CorpusStore
from whyset.corpora.store_studio import StudioProject, StudioResult
from whyset.errors import WhysetError


@dataclass
class PullReport:
    statuses: Counter = field(default_factory=Counter)
    new_annotations: int = 0
    problems: list[str] = field(default_factory=list)


def pull(store: CorpusStore, studio: Studio, round_id: str) -> PullReport:
    """Pull every project of the round, each from its annotator's server; all writes happen in one transaction
    at the end."""
    handles = {annotator_email(h): h for h in store.round(round_id).details.get("annotators", {})}
    projects = store.studio.projects(round_id)
    if not projects:
        raise WhysetError(f"round {round_id!r} has no projects (push it first)")
    clients = {server_id: studio.client_for(server_id) for server_id in {p.server for p in projects}}
    for client in clients.values():
        client.whoami()  # every server reachable, with its own token, before anything is read
    tasks = {(p.server, t.project_id, t.item_key): t for p in projects
             for t in store.studio.tasks(p.server, p.project_id)}
    sources = store.sources_by_id({t.source_id for t in tasks.values()})
    candidates = store.candidates_by_id({t.candidate_id for t in tasks.values() if t.candidate_id})
    report, results = PullReport(), {server_id: [] for server_id in clients}
    records = []
    for project in progress(projects, f"pulling round {round_id}"):
        snapshot = clients[project.server].snapshot(project.project_id)
        view = make_view(store, project.kind)
        interface = LabelInterface(project.label_config)
        for task in snapshot:
            pushed_task = tasks.get((project.server, project.project_id, (task.get("data") or {}).get("whyset_key")))
            if pushed_task is None:
                report.problems.append(f"project {project.project_id} task {task['id']}: not pushed by whyset, "
                                       "ignored")
                continue
            candidate = candidates.get(pushed_task.candidate_id) if pushed_task.candidate_id else None
            if pushed_task.candidate_id and candidate is None:
                raise WhysetError(f"candidate {pushed_task.candidate_id} of a pushed task is no longer in the store")
            for annotation in task.get("annotations", []):
                result, record = _one(store, view, interface, task, annotation, project,
                                      sources[pushed_task.source_id], candidate, round_id, handles)
                results[project.server].append(result)
                records += [record] if record else []
                report.statuses[result.status] += 1
                if result.status == "invalid":
                    report.problems.append(f"project {project.project_id} task {task['id']} annotation "
                                           f"{annotation['id']} by {result.annotator}: {result.problem}")
    with store.transaction():
        for server_id, pulled in results.items():
            previous = store.studio.record_ids(server_id)
            store.delete_annotations([previous[r.annotation_id] for r in pulled
                                      if previous.get(r.annotation_id) not in (None, r.record_id)])
        report.new_annotations = store.add_explanations(records) if records else 0
        for server_id, pulled in results.items():
            store.studio.add_results(server_id, round_id, pulled)
    return report


def _one(store: CorpusStore, view: TaskView, interface: LabelInterface, task: dict, annotation: dict,
         project: StudioProject, source: SourceExample, candidate: ExplanationRecord | None, round_id: str,
         handles: dict[str, str]) -> tuple[StudioResult, ExplanationRecord | None]:
    completed_by = annotation.get("completed_by")
    email = completed_by.get("email") if isinstance(completed_by, dict) else str(completed_by)
    annotator = handles.get(email, email)
    if annotator != project.annotator:  # the project is that annotator's alone: anyone else's work is foreign
        outcome = Outcome("invalid", problem=f"annotation by {annotator!r} in the project of {project.annotator!r}")
    else:
        outcome = _outcome(store, view, interface, annotation, source, candidate)
    guideline_version = project.guideline_version
    record = None
    if outcome.status == "valid":
        provenance = Provenance(origin="human", agent_id=annotator, guideline_version=guideline_version,
                                created_at=annotation.get("created_at") or datetime.now(UTC))
        record = ExplanationRecord(
            id=ExplanationRecord.make_id(source.id, "annotation", round_id, outcome.explanation, annotator),
            source_id=source.id, role="annotation", round_id=round_id, explanation=outcome.explanation,
            provenance=provenance, lead_time=annotation.get("lead_time"))
    result = StudioResult(annotation_id=annotation["id"], project_id=project.project_id, task_id=task["id"],
                          source_id=source.id, candidate_id=candidate.id if candidate else None, annotator=annotator,
                          status=outcome.status, problem=outcome.problem, judgement=outcome.judgement,
                          record_id=record.id if record else None,
                          raw={"annotation": annotation, "predictions": task.get("predictions", [])})
    return result, record


def _outcome(store: CorpusStore, view: TaskView, interface: LabelInterface, annotation: dict,
             source: SourceExample, candidate: ExplanationRecord | None) -> Outcome:
    if annotation.get("was_cancelled"):
        return Outcome("skipped")
    result: list[dict[str, Any]] = annotation.get("result") or []
    errors = interface.validate_prediction({"result": result}, return_errors=True)
    if errors:
        return Outcome("invalid", problem=f"does not fit the labeling config: {errors[0]}")
    outcome = view.parse(result, source, candidate)
    if outcome.status == "valid":
        try:
            outcome.explanation.check_against(source)
            unknown = store.unknown_labels(label for _, label in outcome.explanation.asserted_labels())
            if unknown:
                raise WhysetError(f"unknown label {unknown[0]!r}")
        except WhysetError as exc:
            return Outcome("invalid", judgement=outcome.judgement, problem=str(exc))
    return outcome
