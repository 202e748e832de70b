"""``whyset pull``: what changed in a round's Label Studio projects since the last pull -> the store.

Incremental: each project keeps a watermark, the newest task ``updated_at`` seen (Label Studio's own clock;
creating, editing, skipping or deleting an annotation all bump its task's stamp, drafts do not). A pull asks
only for tasks updated since the watermark minus a safety margin (a request stamps ``updated_at`` before it
commits, so a slow commit can land behind a watermark read meanwhile) and merges by annotation id and
version. A first pull asks for tasks that hold an annotation or a skip, so a 10,000-task round is never
listed whole, and an unchanged round costs one call per project. No snapshot export is made.

Every submitted annotation becomes one ``studio_results`` row per version, whatever its state: ``valid`` ones
also become typed annotation records (control items excepted: their answer is compared with the known one
and never becomes corpus data); ``invalid`` ones (failing the labeling config, checked client-side with the
SDK's LabelInterface because the server checks nothing, or failing the schema, e.g. span text that does not
match its offsets) are reported and kept aside with the reason and the raw JSON, never dropped. An
annotation edited after it was pulled becomes its next version: the earlier version and its record are kept,
marked superseded, and left out of exports and validation; one deleted in Label Studio is superseded too.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from label_studio_sdk.label_interface import LabelInterface

from whyset.annotation.client import StudioClient, ls_time, ls_time_minus
from whyset.annotation.studio import Studio, annotator_email
from whyset.annotation.views import Outcome, TaskView, make_view
from whyset.corpora.progress import progress
from whyset.corpora.schema import ExplanationRecord, Provenance, SourceExample
from whyset.corpora.store import CorpusStore
from whyset.corpora.store_studio import StudioProject, StudioResult, StudioTask, Version
from whyset.errors import WhysetError
from whyset.validators.disagreement import DECIDED, Answer

SAFETY_MARGIN_S = 60.0


@dataclass
class PullReport:
    """``statuses`` counts the annotation versions this pull stored (new or edited); ``tasks`` how many changed
    tasks were read."""

    statuses: Counter = field(default_factory=Counter)
    new_annotations: int = 0
    edited: int = 0
    deleted: int = 0
    tasks: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass
class _Changes:
    """What one project's changed tasks amount to, before anything is written."""

    results: list[StudioResult] = field(default_factory=list)
    records: list[ExplanationRecord] = field(default_factory=list)
    superseded: list[tuple[int, int]] = field(default_factory=list)
    watermark: str | None = None


def pull(store: CorpusStore, studio: Studio, round_id: str) -> PullReport:
    """Pull what changed in every project of the round, each from its annotator's server; all writes happen in
    one transaction at the end."""
    handles = {annotator_email(h): h for h in store.round(round_id).details.get("annotators", {})}
    projects = store.studio.projects(round_id)
    if not projects:
        raise WhysetError(f"round {round_id!r} has no projects (push it first)")
    clients = {server_id: studio.client_for(server_id) for server_id in {p.server for p in projects}}
    for client in clients.values():
        client.whoami()  # every server reachable, with its own token, before anything is read
    fetched = {(p.server, p.project_id): _changed_tasks(clients[p.server], p, store.studio.watermark(
        p.server, p.project_id)) for p in progress(projects, f"pulling round {round_id}")}
    emails = {server_id: {i: e for e, i in client.users().items()} for server_id, client in clients.items()
              if any(fetched[(p.server, p.project_id)] for p in projects if p.server == server_id)}
    report, changes = PullReport(), {}
    for project in projects:
        tasks = fetched[(project.server, project.project_id)]
        report.tasks += len(tasks)
        changes[project] = _merge(store, project, tasks, emails.get(project.server, {}), handles, report)
    with store.transaction():
        for project, found in changes.items():
            store.studio.supersede(project.server, found.superseded)
        records = [r for found in changes.values() for r in found.records]
        report.new_annotations = store.add_explanations(records) if records else 0
        for project, found in changes.items():
            store.studio.add_results(project.server, round_id, found.results)
            store.studio.set_watermark(project.server, project.project_id,
                                       found.watermark or store.studio.watermark(project.server, project.project_id))
        store.studio.refresh_superseded_records()
    return report


def _changed_tasks(client: StudioClient, project: StudioProject, watermark: str | None) -> list[dict]:
    """Tasks changed since the watermark (minus the margin); before the first answer, tasks with one."""
    if watermark:
        return client.changed_tasks(project.project_id, since=ls_time_minus(watermark, SAFETY_MARGIN_S))
    found = {t["id"]: t for having in ("total_annotations", "cancelled_annotations")
             for t in client.changed_tasks(project.project_id, having=having)}
    return list(found.values())


def _merge(store: CorpusStore, project: StudioProject, tasks: list[dict], emails: dict[int, str],
           handles: dict[str, str], report: PullReport) -> _Changes:
    """New versions of the project's changed annotations; versions gone from a changed task are superseded."""
    found = _Changes()
    if not tasks:
        return found
    pushed = {t.item_key: t for t in store.studio.tasks(project.server, project.project_id, withdrawn=True)}
    mine = {task["id"]: pushed.get((task.get("data") or {}).get("whyset_key")) for task in tasks}
    sources = store.sources_by_id({t.source_id for t in mine.values() if t})
    candidates = store.candidates_by_id({t.candidate_id for t in mine.values() if t and t.candidate_id})
    current = store.studio.current_versions(project.server, project.project_id)
    view, interface = make_view(store, project.kind), LabelInterface(project.label_config)
    for task in tasks:
        found.watermark = max(filter(None, [found.watermark, ls_time(task["updated_at"])]))
        pushed_task = mine[task["id"]]
        if pushed_task is None:
            report.problems.append(f"project {project.project_id} task {task['id']}: not pushed by whyset, ignored")
            continue
        candidate = candidates.get(pushed_task.candidate_id) if pushed_task.candidate_id else None
        if pushed_task.candidate_id and candidate is None:
            raise WhysetError(f"candidate {pushed_task.candidate_id} of a pushed task is no longer in the store")
        present = set()
        for annotation in task.get("annotations", []):
            present.add(annotation["id"])
            before = current.get(annotation["id"])
            stamp = ls_time(annotation["updated_at"]) if annotation.get("updated_at") else None
            if before is not None and before.updated_at is not None and ls_time(before.updated_at) == stamp:
                continue
            if before is not None:
                found.superseded.append((annotation["id"], before.version))
                report.edited += 1
            annotation = annotation | {"completed_by": _identity(annotation.get("completed_by"), emails)}
            result, record = _one(store, view, interface, task, annotation, project, sources[pushed_task.source_id],
                                  candidate, pushed_task, handles, before)
            found.results.append(result)
            found.records += [record] if record else []
            report.statuses[result.status] += 1
            if result.status == "invalid":
                report.problems.append(f"project {project.project_id} task {task['id']} annotation "
                                       f"{annotation['id']} by {result.annotator}: {result.problem}")
        gone = [(a, v.version) for a, v in current.items() if v.task_id == task["id"] and a not in present]
        found.superseded += gone
        report.deleted += len(gone)
    return found


def _identity(completed_by: Any, emails: dict[int, str]) -> dict[str, Any]:
    """The task list names annotators by user id; the store keeps id and e-mail (the e-mail maps to a handle)."""
    if isinstance(completed_by, dict):
        return completed_by
    return {"id": completed_by, "email": emails.get(completed_by, str(completed_by))}


def _one(store: CorpusStore, view: TaskView, interface: LabelInterface, task: dict, annotation: dict,
         project: StudioProject, source: SourceExample, candidate: ExplanationRecord | None,
         pushed_task: StudioTask, handles: dict[str, str], before: Version | None,
         ) -> tuple[StudioResult, ExplanationRecord | None]:
    email = annotation["completed_by"]["email"]
    annotator = handles.get(email, email)
    if annotator != project.annotator:  # the project is that annotator's alone: anyone else's work is foreign
        outcome = Outcome("invalid", problem=f"annotation by {annotator!r} in the project of {project.annotator!r}")
    else:
        outcome = _outcome(store, view, interface, annotation, source, candidate)
    record = None
    if outcome.status == "valid" and pushed_task.control_answer is None:
        provenance = Provenance(origin="human", agent_id=annotator, guideline_version=project.guideline_version,
                                created_at=annotation.get("created_at") or datetime.now(UTC))
        record = ExplanationRecord(
            id=ExplanationRecord.make_id(source.id, "annotation", project.round_id, outcome.explanation, annotator),
            source_id=source.id, role="annotation", round_id=project.round_id, explanation=outcome.explanation,
            provenance=provenance, lead_time=annotation.get("lead_time"))
    decision = (Answer(annotator, outcome.status, outcome.explanation).decision
                if outcome.status in DECIDED else None)
    result = StudioResult(annotation_id=annotation["id"], project_id=project.project_id, task_id=task["id"],
                          source_id=source.id, candidate_id=candidate.id if candidate else None, annotator=annotator,
                          status=outcome.status, problem=outcome.problem, judgement=outcome.judgement,
                          record_id=record.id if record else None,
                          raw={"annotation": annotation, "predictions": task.get("predictions", [])},
                          version=before.version + 1 if before else 1, updated_at=annotation.get("updated_at"),
                          lead_time=annotation.get("lead_time"), decision=decision)
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
