"""Replay existing human explanations into Label Studio as their annotators, through the API.

The demo (and anyone migrating an existing annotated corpus) uses this to put real human work on the
annotation path: each annotator's explanation is submitted with that annotator's own token, on their own
server, to the task of their project that holds the item, so ``pull`` then reads it back exactly as it would
read new work. Items whose task already has an annotation by that annotator are skipped, so a replay can be
re-run.
"""

from __future__ import annotations

from collections.abc import Sequence

from whyset.annotation.studio import Studio, annotator_email
from whyset.annotation.views import make_view
from whyset.corpora.progress import progress
from whyset.corpora.schema import ExplanationRecord
from whyset.corpora.store import CorpusStore
from whyset.errors import WhysetError


def replay(store: CorpusStore, studio: Studio, round_id: str, records: Sequence[ExplanationRecord]) -> dict[str, int]:
    """Submit each record as its ``provenance.agent_id`` to that annotator's task for the record's source."""
    projects = {p.annotator: p for p in store.studio.projects(round_id)}
    if not projects:
        raise WhysetError(f"round {round_id!r} has no pushed tasks")
    view = make_view(store, next(iter(projects.values())).kind)
    tasks = {(annotator, t.source_id): t.task_id for annotator, p in projects.items()
             for t in store.studio.tasks(p.server, p.project_id)}
    studio.accounts(list(projects))
    clients = {a: studio.client(a, as_annotator=True) for a in projects}
    done = {(a, task["id"]) for a, p in projects.items() for task in studio.client(a).snapshot(p.project_id)
            if any(_email(annotation) == annotator_email(a) for annotation in task.get("annotations", []))}
    counts = {"submitted": 0, "already_there": 0, "no_task": 0}
    for record in progress(records, f"replaying into round {round_id}"):
        annotator = record.provenance.agent_id
        task_id = tasks.get((annotator, record.source_id))
        if task_id is None:
            counts["no_task"] += 1
        elif (annotator, task_id) in done:
            counts["already_there"] += 1
        else:
            clients[annotator].annotate(task_id, view.prediction(record), lead_time=record.lead_time)
            counts["submitted"] += 1
    return counts


def _email(annotation: dict) -> str | None:
    who = annotation.get("completed_by")
    return who.get("email") if isinstance(who, dict) else None
