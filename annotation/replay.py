"""Replay existing human explanations into Label Studio as their annotators, through the API.

The demo (and anyone migrating an existing annotated corpus) uses this to put real human work on the
annotation path: each annotator's explanation is submitted with that annotator's own token to the task of
their project that holds the item, so ``pull`` then reads it back exactly as it would read new work. Items
whose task already has an annotation by that annotator are skipped, so a replay can be re-run.
"""

from __future__ import annotations

from collections.abc import Sequence

from whyset.annotation.client import StudioClient
from whyset.annotation.push import make_view
from whyset.annotation.server import Connection
from whyset.corpora.progress import progress
from whyset.corpora.schema import ExplanationRecord
from whyset.corpora.store import CorpusStore
from whyset.errors import WhysetError


def replay(store: CorpusStore, connection: Connection, round_id: str, records: Sequence[ExplanationRecord],
           accounts: dict[str, dict[str, str]]) -> dict[str, int]:
    """Submit each record as its ``provenance.agent_id`` to that annotator's task for the record's source."""
    projects = {p.project_id: p for p in store.studio.projects(round_id, connection.server_id)}
    tasks = {(projects[t.project_id].annotator, t.source_id): (t.project_id, t.task_id)
             for t in store.studio.tasks(connection.server_id) if t.project_id in projects}
    if not tasks:
        raise WhysetError(f"round {round_id!r} has no pushed tasks on {connection.url}")
    view = make_view(store, next(iter(projects.values())).kind)
    clients = {a: StudioClient(connection, token=acc["token"]) for a, acc in accounts.items()}
    done = set(_annotated(StudioClient(connection), clients, {p for p, _ in tasks.values()}))
    counts = {"submitted": 0, "already_there": 0, "no_task": 0}
    for record in progress(records, f"replaying into round {round_id}"):
        annotator = record.provenance.agent_id
        where = tasks.get((annotator, record.source_id))
        if where is None or annotator not in clients:
            counts["no_task"] += 1
            continue
        if (annotator, where[1]) in done:
            counts["already_there"] += 1
            continue
        clients[annotator].annotate(where[1], view.prediction(record), lead_time=record.lead_time)
        counts["submitted"] += 1
    return counts


def _annotated(admin: StudioClient, clients: dict[str, StudioClient], projects: set[int]) -> list[tuple[str, int]]:
    """(annotator, task id) pairs that already carry that annotator's annotation."""
    emails = {client.whoami()["email"]: handle for handle, client in clients.items()}
    found = []
    for project_id in projects:
        for task in admin.snapshot(project_id):
            for annotation in task.get("annotations", []):
                who = annotation.get("completed_by")
                email = who.get("email") if isinstance(who, dict) else None
                if email in emails:
                    found.append((emails[email], task["id"]))
    return found
