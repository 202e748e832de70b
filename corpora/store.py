"""The DuckDB corpus store: one file per corpus project, the single source of truth for every export.

The store owns every table, in the manner of sqlite-utils' ``Table``: no SQL is written outside
``corpora/``. The core tables (project settings, sources, rounds, candidates, annotations, exports) are
methods here; the bookkeeping of builds, generator responses, Label Studio and validation runs are table
groups of their own (``store.builds``, ``store.responses``, ``store.studio``, ``store.validation``).

Writes go through :meth:`CorpusStore.transaction`, and every batch is fully validated *before* the first
row is written, so a failed import leaves the store exactly as it was. Inserts are ``INSERT OR IGNORE``
on content-hash primary keys, so re-running any import is idempotent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Self

import duckdb
import pyarrow as pa

from whyset.corpora.info import CorpusInfo
from whyset.corpora.schema import ExplanationRecord, SourceExample
from whyset.errors import StoreBusy, WhysetError

MIGRATIONS = "migrations"
_SOURCE_COLUMNS = "id, dataset, split, row, fields, label, license, attribution"


def _migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every bundled migration, in order. Files are named NNNN_description.sql."""
    folder = resources.files("whyset.corpora").joinpath(MIGRATIONS)
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number, _, rest = entry.name.partition("_")
            found.append((int(number), rest.removesuffix(".sql"), entry.read_text(encoding="utf-8")))
    return sorted(found)


@dataclass(frozen=True)
class Round:
    """An annotation round: its kind, guideline version and what was pushed (annotators, k, guideline)."""

    id: str
    name: str
    kind: str
    guideline_version: str | None
    details: dict[str, Any]


class CorpusStore:
    """A corpus project's DuckDB file. Use as a context manager; it closes the connection on exit."""

    def __init__(self, path: str | Path):
        from whyset.corpora.store_builds import BuildTables
        from whyset.corpora.store_responses import ResponseTables
        from whyset.corpora.store_studio import StudioTables
        from whyset.corpora.store_validation import ValidationTables

        self.path = Path(path)
        try:
            self._con = duckdb.connect(str(self.path))
        except duckdb.IOException as exc:
            raise _busy_or_unreadable(self.path, exc) from None
        except duckdb.Error as exc:
            raise WhysetError(f"{self.path}: cannot open the store ({str(exc).splitlines()[0]})") from None
        self._migrate()
        self.builds = BuildTables(self)
        self.responses = ResponseTables(self)
        self.studio = StudioTables(self)
        self.validation = ValidationTables(self)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._con.close()

    # -- schema -------------------------------------------------------------------------------------
    def _migrate(self) -> None:
        self._con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
        )
        applied = {row[0] for row in self._con.execute("SELECT version FROM schema_migrations").fetchall()}
        for version, name, sql in _migrations():
            if version in applied:
                continue
            with self.transaction():
                self._con.execute(sql)
                self._con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, name, _now()])

    @property
    def schema_version(self) -> int:
        return self._scalar("SELECT max(version) FROM schema_migrations")

    def migrations(self) -> list[tuple[int, str]]:
        return self._con.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing: on any exception the store rolls back to its state before the block. Nested
        blocks join the outer transaction."""
        if getattr(self, "_in_transaction", False):
            yield
            return
        self._con.begin()
        self._in_transaction = True
        try:
            yield
        except BaseException:
            self._con.rollback()
            raise
        else:
            self._con.commit()
        finally:
            self._in_transaction = False

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """For the table groups of ``corpora/``: one statement, all rows fetched (DuckDB refuses further work on
        a connection with an unfinished result)."""
        return self._con.execute(sql, params).fetchall()

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:  # DuckDB's executemany refuses an empty list
            self._con.executemany(sql, rows)

    def stream(self, sql: str, params: Sequence[Any] = (), batch: int = 10_000) -> Iterator[tuple]:
        """Rows of a large read, on a cursor of their own so other statements can run meanwhile."""
        cursor = self._con.cursor().execute(sql, params)
        while rows := cursor.fetchmany(batch):
            yield from rows

    # -- project settings and metadata --------------------------------------------------------------
    def get_setting(self, key: str, default: Any = None) -> Any:
        rows = self.execute("SELECT value FROM project WHERE key = ?", [key])
        return json.loads(rows[0][0]) if rows else default

    def set_setting(self, key: str, value: Any) -> None:
        self._con.execute("INSERT OR REPLACE INTO project VALUES (?, ?)", [key, json.dumps(value)])

    @property
    def info(self) -> CorpusInfo:
        return CorpusInfo.model_validate(self.get_setting("info", {}))

    def update_info(self, info: CorpusInfo) -> CorpusInfo:
        """Merge the fields ``info`` sets into the stored metadata; returns the result."""
        merged = self.info.merged(info)
        self.set_setting("info", merged.model_dump(exclude_defaults=True))
        return merged

    @property
    def name(self) -> str:
        """The corpus name used for exports: set with ``whyset init --name``, else the store's file name."""
        return self.info.name or self.path.stem

    @property
    def freetext_question(self) -> str:
        """The question free-text explanations answer (e-SNLI's, once imported), shown in free-text tasks."""
        from whyset.corpora.kinds.qa import DEFAULT_QUESTION

        return self.get_setting("freetext_question", DEFAULT_QUESTION)

    @property
    def labels(self) -> list[str]:
        return self.get_setting("labels", [])

    def declare_labels(self, labels: Sequence[str]) -> None:
        """Set the corpus label set once; later declarations may only add labels, never drop one,
        because stored records may already use them."""
        current = self.labels
        merged = current + [label for label in labels if label not in current]
        if merged != current:
            self.set_setting("labels", merged)

    # -- sources ------------------------------------------------------------------------------------
    def add_sources(self, sources: Sequence[SourceExample], where: Sequence[str] | None = None) -> int:
        """Insert source examples after checking their labels; returns how many were new.

        ``where`` names each example's origin (e.g. ``file.jsonl:12``) for error messages.
        """
        where = where or [f"{s.dataset}:{s.split}:{s.row}" for s in sources]
        self._check_labels(
            (place, "label", s.label) for s, place in zip(sources, where, strict=True) if s.label is not None
        )
        now = _now()
        table = pa.table(
            {
                "id": [s.id for s in sources],
                "dataset": [s.dataset for s in sources],
                "split": [s.split for s in sources],
                "row": pa.array([s.row for s in sources], pa.int64()),
                "fields": [json.dumps(s.fields, ensure_ascii=False) for s in sources],
                "label": pa.array([s.label for s in sources], pa.string()),
                "license": pa.array([s.license for s in sources], pa.string()),
                "attribution": pa.array([s.attribution for s in sources], pa.string()),
                "imported_at": pa.array([now] * len(sources), pa.timestamp("us", tz="UTC")),
            }
        )
        return self._insert("sources", table)

    def sources_by_id(self, ids: Iterable[str]) -> dict[str, SourceExample]:
        rows = self.execute(f"SELECT {_SOURCE_COLUMNS} FROM sources WHERE id IN (SELECT unnest(?::VARCHAR[]))",
                            [sorted(ids)])
        return {row[0]: _source_from_row(row) for row in rows}

    def iter_sources(self) -> Iterator[SourceExample]:
        """All source examples in id order (the order every export uses)."""
        return (_source_from_row(row) for row in self.stream(f"SELECT {_SOURCE_COLUMNS} FROM sources ORDER BY id"))

    def source_ids_in_order(self, dataset: str | None = None, split: str | None = None,
                            limit: int | None = None) -> list[str]:
        """Source ids in dataset/split/row order, so that "the first 500 pairs" means what it says."""
        rows = self.execute(
            "SELECT id FROM sources WHERE (? IS NULL OR dataset = ?) AND (? IS NULL OR split = ?) "
            "ORDER BY dataset, split, row LIMIT ?", [dataset, dataset, split, split, limit or 2**62])
        return [row[0] for row in rows]

    def annotated_source_ids(self) -> set[str]:
        """Sources with at least one human annotation."""
        return {row[0] for row in self.execute("SELECT DISTINCT source_id FROM annotations")}

    def label_balance(self) -> dict[str, int]:
        return dict(self.execute("SELECT coalesce(label, '(none)'), count(*) FROM sources GROUP BY 1 ORDER BY 1"))

    # -- rounds -------------------------------------------------------------------------------------
    def add_round(self, round_id: str, name: str, kind: str, guideline_version: str | None = None,
                  details: dict[str, Any] | None = None) -> None:
        """Register an annotation round (idempotent on its id)."""
        self._con.execute("INSERT OR IGNORE INTO rounds VALUES (?, ?, ?, ?, ?, ?)",
                          [round_id, name, kind, guideline_version, json.dumps(details or {}), _now()])

    def rounds(self) -> list[Round]:
        rows = self.execute("SELECT id, name, kind, guideline_version, details FROM rounds ORDER BY id")
        return [Round(r[0], r[1], r[2], r[3], json.loads(r[4] or "{}")) for r in rows]

    def round(self, round_id: str) -> Round:
        found = [r for r in self.rounds() if r.id == round_id]
        if not found:
            raise WhysetError(f"unknown round {round_id!r} (push it first)")
        return found[0]

    # -- explanations -------------------------------------------------------------------------------
    def add_explanations(self, records: Sequence[ExplanationRecord], where: Sequence[str] | None = None) -> int:
        """Validate every record against its stored source and the label set, then insert all of them.

        ``where`` names each record's origin (e.g. ``file.jsonl:12``) for error messages.
        Returns the number of records that were new.
        """
        where = where or [f"record {r.id}" for r in records]
        sources = self.sources_by_id({r.source_id for r in records})
        rounds = {r.id for r in self.rounds()}
        for record, place in zip(records, where, strict=True):
            source = sources.get(record.source_id)
            if source is None:
                raise WhysetError(f"{place}: field 'source_id': no source example {record.source_id!r} in the store")
            if record.round_id is not None and record.round_id not in rounds:
                raise WhysetError(f"{place}: field 'round_id': unknown annotation round {record.round_id!r}")
            try:
                record.explanation.check_against(source)
            except WhysetError as exc:
                raise WhysetError(f"{place}: {exc}") from None
        self._check_labels(
            (place, field, label)
            for record, place in zip(records, where, strict=True)
            for field, label in record.explanation.asserted_labels()
        )
        new = 0
        for role, table_name in (("candidate", "candidates"), ("annotation", "annotations")):
            chosen = [r for r in records if r.role == role]
            if chosen:
                new += self._insert(table_name, _explanation_table(chosen, with_round=role == "annotation"))
        return new

    def unknown_labels(self, labels: Iterable[str]) -> list[str]:
        allowed = set(self.labels)
        return [label for label in labels if label not in allowed]

    def iter_explanations(self, role: str, kind: str | None = None,
                          round_id: str | None = None) -> Iterator[ExplanationRecord]:
        """Stored candidates or annotations, optionally of one kind (and one round), in id order."""
        table_name = {"candidate": "candidates", "annotation": "annotations"}[role]
        round_col = "round_id" if role == "annotation" else "NULL"
        lead_col = "lead_time" if role == "annotation" else "NULL"
        scores_col = "NULL" if role == "annotation" else "scores"
        rows = self.stream(
            f"SELECT id, source_id, {round_col}, payload, provenance, {lead_col}, {scores_col} FROM {table_name} "
            f"WHERE (? IS NULL OR kind = ?) AND (? IS NULL OR {round_col} = ?) ORDER BY id",
            [kind, kind, round_id, round_id])
        for rid, source_id, round_, payload, provenance, lead_time, scores in rows:
            yield ExplanationRecord(
                id=rid, source_id=source_id, role=role, round_id=round_, lead_time=lead_time,
                explanation=json.loads(payload), provenance=json.loads(provenance),
                scores=json.loads(scores) if scores else None,
            )

    def candidates_by_id(self, ids: Iterable[str]) -> dict[str, ExplanationRecord]:
        rows = self.execute("SELECT id, source_id, payload, provenance, scores FROM candidates "
                            "WHERE id IN (SELECT unnest(?::VARCHAR[]))", [sorted(ids)])
        return {rid: ExplanationRecord(id=rid, source_id=sid, role="candidate", explanation=json.loads(payload),
                                       provenance=json.loads(prov), scores=json.loads(scores) if scores else None)
                for rid, sid, payload, prov, scores in rows}

    def delete_annotations(self, ids: Sequence[str]) -> None:
        """Remove annotation records (an annotation edited in Label Studio replaces its earlier record)."""
        if ids:
            self._con.execute("DELETE FROM annotations WHERE id IN (SELECT unnest(?::VARCHAR[]))", [list(ids)])

    def workload(self) -> list[dict[str, Any]]:
        """Per annotator (or producer) and kind: annotations, median and total lead time in seconds."""
        rows = self.execute("SELECT agent_id, kind, count(*), median(lead_time), sum(lead_time) FROM annotations "
                            "GROUP BY agent_id, kind ORDER BY agent_id, kind")
        return [{"annotator": a, "kind": k, "annotations": n, "median_lead_time_s": med, "total_lead_time_s": total}
                for a, k, n, med, total in rows]

    # -- exports ------------------------------------------------------------------------------------
    def exports(self) -> list[dict[str, Any]]:
        """Export history, oldest first."""
        rows = self.execute(
            # as text: fetching TIMESTAMPTZ values would need pytz, which nothing else here uses
            "SELECT version, fingerprint, license, override, counts, created_at::VARCHAR FROM exports "
            "ORDER BY created_at")
        keys = ("version", "fingerprint", "license", "override", "counts", "created_at")
        return [
            dict(zip(keys, (*row[:4], json.loads(row[4]), datetime.fromisoformat(row[5])), strict=True))
            for row in rows
        ]

    def record_export(self, version: str, fingerprint: str, license_id: str, override: str | None,
                      counts: dict[str, int]) -> None:
        self._con.execute("INSERT INTO exports VALUES (?, ?, ?, ?, ?, ?)",
                          [version, fingerprint, license_id, override, json.dumps(counts, sort_keys=True), _now()])

    # -- helpers ------------------------------------------------------------------------------------
    def count(self, table_name: str) -> int:
        if not re.fullmatch(r"[a-z_]+", table_name):
            raise ValueError(f"not a table name: {table_name!r}")
        return self._scalar(f"SELECT count(*) FROM {table_name}")

    def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.execute(sql, params)[0][0]

    def _check_labels(self, checks: Iterable[tuple[str, str, str]]) -> None:
        allowed = set(self.labels)
        for place, field, label in checks:
            if not allowed:
                raise WhysetError(f"{place}: field '{field}': the store has no label set yet (declare labels first)")
            if label not in allowed:
                raise WhysetError(
                    f"{place}: field '{field}': unknown label {label!r} (allowed: {', '.join(sorted(allowed))})"
                )

    def _insert(self, table_name: str, table: pa.Table) -> int:
        before = self.count(table_name)
        self._con.register("_batch", table)
        try:
            columns = ", ".join(table.column_names)
            self._con.execute(f"INSERT OR IGNORE INTO {table_name} ({columns}) SELECT {columns} FROM _batch")
        finally:
            self._con.unregister("_batch")
        return self.count(table_name) - before


def _busy_or_unreadable(path: Path, exc: duckdb.IOException) -> WhysetError:
    """DuckDB allows one process to open a file for writing; say who holds it, in words."""
    message = str(exc).splitlines()[0]
    holder = re.search(r"Conflicting lock is held in (.+?) \(PID (\d+)\)", message)
    if holder:
        return StoreBusy(f"{path}: the store is in use by another process ({holder[1]}, PID {holder[2]}); "
                         "wait for it to finish, or stop it, then retry")
    return WhysetError(f"{path}: cannot open the store ({message})")


def _now() -> datetime:
    return datetime.now(UTC)


def _source_from_row(row: tuple) -> SourceExample:
    sid, dataset, split, row_idx, fields, label, license_id, attribution = row
    return SourceExample(
        id=sid, dataset=dataset, split=split, row=row_idx, fields=json.loads(fields),
        label=label, license=license_id, attribution=attribution,
    )


def _explanation_table(records: Sequence[ExplanationRecord], with_round: bool) -> pa.Table:
    columns: dict[str, Any] = {
        "id": [r.id for r in records],
        "source_id": [r.source_id for r in records],
        "kind": [r.explanation.kind for r in records],
        "label": pa.array([_primary_label(r) for r in records], pa.string()),
        "origin": [r.provenance.origin for r in records],
        "agent_id": [r.provenance.agent_id for r in records],
        "payload": [r.explanation.model_dump_json() for r in records],
        "provenance": [r.provenance.model_dump_json() for r in records],
    }
    if with_round:
        columns["round_id"] = pa.array([r.round_id for r in records], pa.string())
        columns["lead_time"] = pa.array([r.lead_time for r in records], pa.float64())
    else:
        columns["scores"] = pa.array([json.dumps(r.scores) if r.scores else None for r in records], pa.string())
    return pa.table(columns)


def _primary_label(record: ExplanationRecord) -> str | None:
    pairs = record.explanation.asserted_labels()
    return pairs[0][1] if pairs else None
