"""Label Studio bookkeeping: projects (one per round, kind and annotator on one server), the tasks pushed to
each (so "who was shown what" is a join), and every pulled annotation with its status, kept even when invalid
so that nothing an annotator submitted is ever lost."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from whyset.corpora.store import CorpusStore


@dataclass(frozen=True)
class StudioProject:
    server: str
    project_id: int
    title: str
    round_id: str
    kind: str
    annotator: str
    label_config: str
    guideline_version: str | None


@dataclass(frozen=True)
class StudioTask:
    project_id: int
    task_id: int
    item_key: str
    source_id: str
    candidate_id: str | None


@dataclass(frozen=True)
class StudioResult:
    """One pulled annotation. ``status``: valid, invalid, undecided, rejected or skipped."""

    annotation_id: int
    project_id: int
    task_id: int
    source_id: str
    candidate_id: str | None
    annotator: str
    status: str
    problem: str | None
    judgement: dict[str, Any]
    record_id: str | None
    raw: dict[str, Any]
    item_key: str | None = None  # filled by reads that join the task
    kind: str | None = None      # filled by reads that join the project


_PROJECT_COLUMNS = "server, project_id, title, round_id, kind, annotator, label_config, guideline_version"


class StudioTables:
    def __init__(self, store: CorpusStore):
        self.store = store

    # -- projects -----------------------------------------------------------------------------------
    def add_project(self, project: StudioProject) -> None:
        self.store.execute(f"INSERT OR IGNORE INTO studio_projects ({_PROJECT_COLUMNS}, created_at) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           [project.server, project.project_id, project.title, project.round_id, project.kind,
                            project.annotator, project.label_config, project.guideline_version, datetime.now(UTC)])

    def projects(self, round_id: str, server: str | None = None) -> list[StudioProject]:
        """The round's projects (on one server, or on any), in project id order."""
        rows = self.store.execute(f"SELECT {_PROJECT_COLUMNS} FROM studio_projects WHERE round_id = ? "
                                  "AND (? IS NULL OR server = ?) ORDER BY server, project_id",
                                  [round_id, server, server])
        return [StudioProject(*row) for row in rows]

    def kinds(self, round_id: str) -> set[str]:
        """Task kinds pushed in the round (whyset keeps one kind per round)."""
        return {p.kind for p in self.projects(round_id)}

    # -- tasks --------------------------------------------------------------------------------------
    def add_tasks(self, server: str, tasks: Sequence[StudioTask]) -> None:
        now = datetime.now(UTC)
        with self.store.transaction():
            self.store.executemany(
                "INSERT OR IGNORE INTO studio_tasks VALUES (?, ?, ?, ?, ?, ?, ?)",
                [[server, t.project_id, t.task_id, t.item_key, t.source_id, t.candidate_id, now] for t in tasks])

    def tasks(self, server: str, project_id: int | None = None) -> list[StudioTask]:
        rows = self.store.execute(
            "SELECT project_id, task_id, item_key, source_id, candidate_id FROM studio_tasks WHERE server = ? "
            "AND (? IS NULL OR project_id = ?) ORDER BY project_id, task_id", [server, project_id, project_id])
        return [StudioTask(*row) for row in rows]

    # -- results ------------------------------------------------------------------------------------
    def add_results(self, server: str, round_id: str, results: Sequence[StudioResult]) -> None:
        """Insert or replace pulled annotations (an annotation edited in Label Studio replaces its row)."""
        now = datetime.now(UTC)
        self.store.executemany(
            "INSERT OR REPLACE INTO studio_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [[server, r.annotation_id, r.project_id, r.task_id, round_id, r.source_id, r.candidate_id, r.annotator,
              r.status, r.problem, json.dumps(r.judgement), r.record_id, json.dumps(r.raw), now] for r in results])

    def record_ids(self, server: str) -> dict[int, str]:
        """Annotation id -> the annotation record it became, for the annotations pulled from ``server``."""
        return dict(self.store.execute(
            "SELECT annotation_id, record_id FROM studio_results WHERE server = ? AND record_id IS NOT NULL", [server]))

    def results(self, round_id: str | None = None, statuses: Sequence[str] | None = None) -> list[StudioResult]:
        """Pulled annotations (of one round, of some statuses) with their task's item key and project's kind,
        ordered by item and annotator."""
        rows = self.store.execute(
            "SELECT r.annotation_id, r.project_id, r.task_id, r.source_id, r.candidate_id, r.annotator, r.status, "
            "r.problem, r.judgement, r.record_id, r.raw, t.item_key, p.kind FROM studio_results r "
            "JOIN studio_tasks t ON t.server = r.server AND t.project_id = r.project_id AND t.task_id = r.task_id "
            "JOIN studio_projects p ON p.server = r.server AND p.project_id = r.project_id "
            "WHERE (? IS NULL OR r.round_id = ?) AND (? IS NULL OR list_contains(?::VARCHAR[], r.status)) "
            "ORDER BY t.item_key, r.annotator, r.annotation_id",
            [round_id, round_id, statuses and list(statuses), statuses and list(statuses)])
        return [StudioResult(*row[:8], json.loads(row[8] or "{}"), row[9], json.loads(row[10]), row[11], row[12])
                for row in rows]
