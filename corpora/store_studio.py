"""Label Studio bookkeeping: projects (one per round, kind and annotator on one server), the tasks pushed to
each (so "who was shown what" is a join; control items and withdrawn tasks included), every pulled version of
every annotation with its status (kept even when invalid or superseded, so that nothing an annotator
submitted is ever lost), and each project's pull watermark.

Writes of many rows go in one statement over an Arrow table, not one statement per row: a push of 3,000 tasks
or a pull of 10,000 annotations costs milliseconds here."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

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
    """One item pushed to one project. ``control_answer`` is set for a control item (its known answer)."""

    project_id: int
    task_id: int
    item_key: str
    source_id: str
    candidate_id: str | None
    control_answer: str | None = None
    withdrawn: bool = False


@dataclass(frozen=True)
class Holding:
    """A task of a round seen from the campaign: whose it is, and whether they answered it yet."""

    annotator: str
    server: str
    task: StudioTask
    answered: bool  # a current pulled result (any status, skipped included) exists for it


@dataclass(frozen=True)
class StudioResult:
    """One pulled version of an annotation. ``status``: valid, invalid, undecided, rejected or skipped."""

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
    version: int = 1
    updated_at: str | None = None  # Label Studio's stamp of this version
    lead_time: float | None = None
    decision: str | None = None


@dataclass(frozen=True)
class Version:
    """What the store holds of an annotation's current version, for merging a pull."""

    task_id: int
    version: int
    updated_at: str | None
    record_id: str | None


_PROJECT_COLUMNS = "server, project_id, title, round_id, kind, annotator, label_config, guideline_version"
_TASK_COLUMNS = "project_id, task_id, item_key, source_id, candidate_id, control_answer, withdrawn_at IS NOT NULL"


class StudioTables:
    def __init__(self, store: CorpusStore):
        self.store = store

    # -- projects -----------------------------------------------------------------------------------
    def add_project(self, project: StudioProject) -> None:
        self.store.execute(f"INSERT OR IGNORE INTO studio_projects ({_PROJECT_COLUMNS}, created_at) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           [project.server, project.project_id, project.title, project.round_id, project.kind,
                            project.annotator, project.label_config, project.guideline_version, datetime.now(UTC)])

    def projects(self, round_id: str | None = None, server: str | None = None) -> list[StudioProject]:
        """The round's projects (every round's, by default; on one server, or on any), in project id order."""
        rows = self.store.execute(f"SELECT {_PROJECT_COLUMNS} FROM studio_projects WHERE (? IS NULL OR round_id = ?) "
                                  "AND (? IS NULL OR server = ?) ORDER BY server, project_id",
                                  [round_id, round_id, server, server])
        return [StudioProject(*row) for row in rows]

    def kinds(self, round_id: str) -> set[str]:
        """Task kinds pushed in the round (whyset keeps one kind per round)."""
        return {p.kind for p in self.projects(round_id)}

    # -- tasks --------------------------------------------------------------------------------------
    def add_tasks(self, server: str, tasks: Sequence[StudioTask]) -> None:
        """Record pushed tasks (idempotent on server, project and item), all in one statement."""
        if not tasks:
            return
        table = pa.table({
            "server": pa.array([server] * len(tasks), pa.string()),
            "project_id": pa.array([t.project_id for t in tasks], pa.int32()),
            "task_id": pa.array([t.task_id for t in tasks], pa.int32()),
            "item_key": pa.array([t.item_key for t in tasks], pa.string()),
            "source_id": pa.array([t.source_id for t in tasks], pa.string()),
            "candidate_id": pa.array([t.candidate_id for t in tasks], pa.string()),
            "pushed_at": pa.array([datetime.now(UTC)] * len(tasks), pa.timestamp("us", tz="UTC")),
            "control_answer": pa.array([t.control_answer for t in tasks], pa.string()),
        })
        self.store.insert_table("studio_tasks", table)

    def tasks(self, server: str, project_id: int | None = None, withdrawn: bool = False) -> list[StudioTask]:
        """The tasks pushed to a project (or to every project of a server), in task order; tasks taken back
        from their annotator only with ``withdrawn``."""
        rows = self.store.execute(
            f"SELECT {_TASK_COLUMNS} FROM studio_tasks WHERE server = ? AND (? IS NULL OR project_id = ?) "
            "AND (? OR withdrawn_at IS NULL) ORDER BY project_id, task_id", [server, project_id, project_id, withdrawn])
        return [StudioTask(*row) for row in rows]

    def task_count(self, server: str, project_id: int) -> int:
        """Tasks of the project that should be on the server (withdrawn ones were deleted there)."""
        return self.store.execute("SELECT count(*) FROM studio_tasks WHERE server = ? AND project_id = ? "
                                  "AND withdrawn_at IS NULL", [server, project_id])[0][0]

    def withdraw(self, server: str, project_id: int, task_ids: Sequence[int]) -> None:
        """Mark tasks as taken back from their annotator (deleted from their project, kept here)."""
        self.store.execute("UPDATE studio_tasks SET withdrawn_at = ? WHERE server = ? AND project_id = ? "
                           "AND task_id IN (SELECT unnest(?::INTEGER[])) AND withdrawn_at IS NULL",
                           [datetime.now(UTC), server, project_id, list(task_ids)])

    def holdings(self, round_id: str) -> list[Holding]:
        """Every task of the round (withdrawn ones included), with its annotator and whether they answered it."""
        rows = self.store.execute(
            f"SELECT p.annotator, p.server, {', '.join('t.' + c for c in _TASK_COLUMNS.split(', '))}, "
            "EXISTS (SELECT 1 FROM studio_results r WHERE r.server = t.server AND r.project_id = t.project_id "
            "        AND r.task_id = t.task_id AND r.superseded_at IS NULL) "
            "FROM studio_tasks t JOIN studio_projects p ON p.server = t.server AND p.project_id = t.project_id "
            "WHERE p.round_id = ? ORDER BY p.annotator, t.task_id", [round_id])
        return [Holding(row[0], row[1], StudioTask(*row[2:9]), row[9]) for row in rows]

    # -- results ------------------------------------------------------------------------------------
    def add_results(self, server: str, round_id: str, results: Sequence[StudioResult]) -> None:
        """Insert pulled annotation versions (re-inserting a version replaces it), all in one statement."""
        if not results:
            return
        now = datetime.now(UTC)
        columns: dict[str, pa.Array] = {
            "server": pa.array([server] * len(results), pa.string()),
            "annotation_id": pa.array([r.annotation_id for r in results], pa.int32()),
            "version": pa.array([r.version for r in results], pa.int32()),
            "project_id": pa.array([r.project_id for r in results], pa.int32()),
            "task_id": pa.array([r.task_id for r in results], pa.int32()),
            "round_id": pa.array([round_id] * len(results), pa.string()),
            "source_id": pa.array([r.source_id for r in results], pa.string()),
            "candidate_id": pa.array([r.candidate_id for r in results], pa.string()),
            "annotator": pa.array([r.annotator for r in results], pa.string()),
            "status": pa.array([r.status for r in results], pa.string()),
            "problem": pa.array([r.problem for r in results], pa.string()),
            "judgement": pa.array([json.dumps(r.judgement) for r in results], pa.string()),
            "record_id": pa.array([r.record_id for r in results], pa.string()),
            "raw": pa.array([json.dumps(r.raw) for r in results], pa.string()),
            "pulled_at": pa.array([now] * len(results), pa.timestamp("us", tz="UTC")),
            "updated_at": pa.array([r.updated_at for r in results], pa.string()),
            "lead_time": pa.array([r.lead_time for r in results], pa.float64()),
            "decision": pa.array([r.decision for r in results], pa.string()),
        }
        self.store.insert_table("studio_results", pa.table(columns), replace=True)

    def current_versions(self, server: str, project_id: int) -> dict[int, Version]:
        """Annotation id -> its current (not superseded) version, for one project."""
        rows = self.store.execute("SELECT annotation_id, task_id, version, updated_at, record_id FROM studio_results "
                                  "WHERE server = ? AND project_id = ? AND superseded_at IS NULL",
                                  [server, project_id])
        return {row[0]: Version(*row[1:]) for row in rows}

    def supersede(self, server: str, annotations: Sequence[tuple[int, int]]) -> None:
        """Mark (annotation id, version) pairs as superseded: edited since, or deleted in Label Studio."""
        if not annotations:
            return
        table = pa.table({"annotation_id": pa.array([a for a, _ in annotations], pa.int32()),
                          "version": pa.array([v for _, v in annotations], pa.int32())})
        self.store.execute_with(table, "UPDATE studio_results SET superseded_at = ? FROM _batch b "
                                       "WHERE studio_results.server = ? AND studio_results.annotation_id = "
                                       "b.annotation_id AND studio_results.version = b.version",
                                [datetime.now(UTC), server])

    def refresh_superseded_records(self) -> None:
        """An annotation record pulled from Label Studio is superseded unless a current result version still
        yields it (an edit back to earlier content revives the earlier record)."""
        self.store.execute(
            "UPDATE annotations SET superseded = id NOT IN (SELECT record_id FROM studio_results "
            "WHERE superseded_at IS NULL AND record_id IS NOT NULL) "
            "WHERE id IN (SELECT record_id FROM studio_results WHERE record_id IS NOT NULL)")

    def results(self, round_id: str | None = None, statuses: Sequence[str] | None = None,
                controls: bool = False, superseded: bool = False) -> list[StudioResult]:
        """Pulled annotations (of one round, of some statuses) with their task's item key and project's kind,
        ordered by item and annotator: current versions of corpus items only, unless ``superseded`` (every
        version) or ``controls`` (control items too)."""
        status_list = list(statuses) if statuses else None
        rows = self.store.execute(
            "SELECT r.annotation_id, r.project_id, r.task_id, r.source_id, r.candidate_id, r.annotator, r.status, "
            "r.problem, r.judgement, r.record_id, r.raw, t.item_key, p.kind, r.version, r.updated_at, r.lead_time, "
            "r.decision FROM studio_results r "
            "JOIN studio_tasks t ON t.server = r.server AND t.project_id = r.project_id AND t.task_id = r.task_id "
            "JOIN studio_projects p ON p.server = r.server AND p.project_id = r.project_id "
            "WHERE (? IS NULL OR r.round_id = ?) AND (? IS NULL OR list_contains(?::VARCHAR[], r.status)) "
            "AND (? OR t.control_answer IS NULL) AND (? OR r.superseded_at IS NULL) "
            "ORDER BY t.item_key, r.annotator, r.annotation_id, r.version",
            [round_id, round_id, status_list, status_list, controls, superseded])
        return [StudioResult(*row[:8], json.loads(row[8] or "{}"), row[9], json.loads(row[10]), *row[11:])
                for row in rows]

    # -- pull watermarks ----------------------------------------------------------------------------
    def watermark(self, server: str, project_id: int) -> str | None:
        rows = self.store.execute("SELECT watermark FROM studio_pulls WHERE server = ? AND project_id = ?",
                                  [server, project_id])
        return rows[0][0] if rows else None

    def set_watermark(self, server: str, project_id: int, watermark: str | None) -> None:
        self.store.execute("INSERT OR REPLACE INTO studio_pulls VALUES (?, ?, ?, ?)",
                           [server, project_id, watermark, datetime.now(UTC)])

    def last_pull(self, round_id: str) -> datetime | None:
        """When the round's projects were last pulled (the oldest of them: status is as of then)."""
        rows = self.store.execute(
            "SELECT min(coalesce(l.pulled_at::VARCHAR, '')) FROM studio_projects p LEFT JOIN studio_pulls l "
            "ON l.server = p.server AND l.project_id = p.project_id WHERE p.round_id = ?", [round_id])
        return datetime.fromisoformat(rows[0][0]) if rows and rows[0][0] else None

    # -- campaign figures ---------------------------------------------------------------------------
    def progress(self, round_id: str) -> dict[str, dict[str, Any]]:
        """Per annotator of the round, corpus items only: tasks assigned (withdrawn ones not counted), done
        (answered, valid or not), skipped, remaining, and the median lead time of their answers in seconds
        (current versions)."""
        rows = self.store.execute(
            "SELECT p.annotator, count(*) FILTER (WHERE t.withdrawn_at IS NULL), count(*) FILTER (WHERE s.answered), "
            "count(*) FILTER (WHERE s.skipped AND NOT s.answered), "
            "count(*) FILTER (WHERE t.withdrawn_at IS NULL AND s.task_id IS NULL), median(s.lead_time) "
            "FROM studio_tasks t JOIN studio_projects p ON p.server = t.server AND p.project_id = t.project_id "
            "LEFT JOIN (SELECT server, project_id, task_id, bool_or(status <> 'skipped') AS answered, "
            "           bool_or(status = 'skipped') AS skipped, max(lead_time) AS lead_time FROM studio_results "
            "           WHERE superseded_at IS NULL GROUP BY server, project_id, task_id) s "
            "ON s.server = t.server AND s.project_id = t.project_id AND s.task_id = t.task_id "
            "WHERE p.round_id = ? AND t.control_answer IS NULL GROUP BY p.annotator ORDER BY p.annotator", [round_id])
        keys = ("assigned", "done", "skipped", "remaining", "median_lead_time_s")
        return {row[0]: dict(zip(keys, row[1:], strict=True)) for row in rows}

    def control_accuracy(self, round_id: str | None = None) -> dict[str, dict[str, dict[str, Any]]]:
        """Round -> annotator -> control items pushed, answered (a decision: skipped and invalid answers have
        none), correct (the decision equals the known answer) and accuracy, over current versions."""
        rows = self.store.execute(
            "SELECT p.round_id, p.annotator, count(DISTINCT t.task_id), count(DISTINCT t.task_id) FILTER "
            "(WHERE r.decision IS NOT NULL), count(DISTINCT t.task_id) FILTER (WHERE r.decision = t.control_answer) "
            "FROM studio_tasks t JOIN studio_projects p ON p.server = t.server AND p.project_id = t.project_id "
            "LEFT JOIN studio_results r ON r.server = t.server AND r.project_id = t.project_id "
            "AND r.task_id = t.task_id AND r.superseded_at IS NULL "
            "WHERE t.control_answer IS NOT NULL AND (? IS NULL OR p.round_id = ?) "
            "GROUP BY p.round_id, p.annotator ORDER BY p.round_id, p.annotator", [round_id, round_id])
        found: dict[str, dict[str, dict[str, Any]]] = {}
        for round_, annotator, pushed, answered, correct in rows:
            found.setdefault(round_, {})[annotator] = {
                "controls": pushed, "answered": answered, "correct": correct,
                "accuracy": correct / answered if answered else None}
        return found

    # -- adjudication -------------------------------------------------------------------------------
    def overridden_records(self) -> set[str]:
        """Annotation records an adjudicator's valid answer replaced as the item's final answer: the current
        answers of an item in round R whose adjudication round (``details.adjudicates = R``) holds a current
        valid answer for the same item."""
        rows = self.store.execute(
            "SELECT DISTINCT o.record_id FROM studio_results o "
            "JOIN studio_tasks ot ON ot.server = o.server AND ot.project_id = o.project_id AND ot.task_id = o.task_id "
            "JOIN rounds a ON json_extract_string(a.details, '$.adjudicates') = o.round_id "
            "JOIN studio_results d ON d.round_id = a.id AND d.status = 'valid' AND d.superseded_at IS NULL "
            "JOIN studio_tasks dt ON dt.server = d.server AND dt.project_id = d.project_id AND dt.task_id = d.task_id "
            "WHERE dt.item_key = ot.item_key AND o.record_id IS NOT NULL AND o.superseded_at IS NULL")
        return {row[0] for row in rows}
