"""The DuckDB corpus store: one file per corpus project, the single source of truth for every export.

Writes go through :meth:`CorpusStore.transaction`, and every batch is fully validated *before* the first
row is written, so a failed import leaves the store exactly as it was. Inserts are ``INSERT OR IGNORE``
on content-hash primary keys, so re-running any import is idempotent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Self

import duckdb
import pyarrow as pa

from whyset.corpora.schema import (
    ExplanationRecord,
    SourceExample,
    check_against_source,
    labels_of,
)
from whyset.errors import WhysetError

MIGRATIONS = "migrations"


def _migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every bundled migration, in order. Files are named NNNN_description.sql."""
    folder = resources.files("whyset.corpora").joinpath(MIGRATIONS)
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number, _, rest = entry.name.partition("_")
            found.append((int(number), rest.removesuffix(".sql"), entry.read_text(encoding="utf-8")))
    return sorted(found)


class CorpusStore:
    """A corpus project's DuckDB file. Use as a context manager; it closes the connection on exit."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.con = duckdb.connect(str(self.path))
        except duckdb.Error as exc:
            raise WhysetError(f"{self.path}: cannot open the store ({exc})") from exc
        self._migrate()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    # -- schema -------------------------------------------------------------------------------------
    def _migrate(self) -> None:
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
        )
        applied = {row[0] for row in self.con.execute("SELECT version FROM schema_migrations").fetchall()}
        for version, name, sql in _migrations():
            if version in applied:
                continue
            with self.transaction():
                self.con.execute(sql)
                self.con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, name, _now()])

    @property
    def schema_version(self) -> int:
        return self._scalar("SELECT max(version) FROM schema_migrations")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing: on any exception the store rolls back to its state before the block."""
        self.con.begin()
        try:
            yield
        except BaseException:
            self.con.rollback()
            raise
        self.con.commit()

    # -- project settings ---------------------------------------------------------------------------
    def get_setting(self, key: str, default: Any = None) -> Any:
        rows = self.con.execute("SELECT value FROM project WHERE key = ?", [key]).fetchall()
        return json.loads(rows[0][0]) if rows else default

    def set_setting(self, key: str, value: Any) -> None:
        self.con.execute("INSERT OR REPLACE INTO project VALUES (?, ?)", [key, json.dumps(value)])

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

    # -- writes -------------------------------------------------------------------------------------
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

    def add_round(self, round_id: str, name: str, kind: str, guideline_version: str | None = None,
                  details: dict[str, Any] | None = None) -> None:
        """Register an annotation round (idempotent on its id)."""
        self.con.execute(
            "INSERT OR IGNORE INTO rounds VALUES (?, ?, ?, ?, ?, ?)",
            [round_id, name, kind, guideline_version, json.dumps(details or {}), _now()],
        )

    def add_explanations(self, records: Sequence[ExplanationRecord], where: Sequence[str] | None = None) -> int:
        """Validate every record against its stored source and the label set, then insert all of them.

        ``where`` names each record's origin (e.g. ``file.jsonl:12``) for error messages.
        Returns the number of records that were new.
        """
        where = where or [f"record {r.id}" for r in records]
        sources = self.sources_by_id({r.source_id for r in records})
        rounds = {row[0] for row in self.con.execute("SELECT id FROM rounds").fetchall()}
        for record, place in zip(records, where, strict=True):
            source = sources.get(record.source_id)
            if source is None:
                raise WhysetError(f"{place}: field 'source_id': no source example {record.source_id!r} in the store")
            if record.round_id is not None and record.round_id not in rounds:
                raise WhysetError(f"{place}: field 'round_id': unknown annotation round {record.round_id!r}")
            try:
                check_against_source(record.explanation, source)
            except WhysetError as exc:
                raise WhysetError(f"{place}: {exc}") from None
        self._check_labels(
            (place, field, label)
            for record, place in zip(records, where, strict=True)
            for field, label in labels_of(record.explanation)
        )
        new = 0
        for role, table_name in (("candidate", "candidates"), ("annotation", "annotations")):
            chosen = [r for r in records if r.role == role]
            if chosen:
                new += self._insert(table_name, _explanation_table(chosen, with_round=role == "annotation"))
        return new

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
        self.con.register("_batch", table)
        try:
            columns = ", ".join(table.column_names)
            self.con.execute(f"INSERT OR IGNORE INTO {table_name} ({columns}) SELECT {columns} FROM _batch")
        finally:
            self.con.unregister("_batch")
        return self.count(table_name) - before

    # -- reads --------------------------------------------------------------------------------------
    def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        # fetchall, not fetchone: DuckDB refuses further work on a connection with an unfinished result.
        return self.con.execute(sql, params).fetchall()[0][0]

    def count(self, table_name: str) -> int:
        return self._scalar(f"SELECT count(*) FROM {table_name}")

    def sources_by_id(self, ids: Iterable[str]) -> dict[str, SourceExample]:
        rows = self.con.execute(
            "SELECT id, dataset, split, row, fields, label, license, attribution FROM sources "
            "WHERE id IN (SELECT unnest(?::VARCHAR[]))",
            [sorted(ids)],
        ).fetchall()
        return {row[0]: _source_from_row(row) for row in rows}

    def iter_sources(self) -> Iterator[SourceExample]:
        """All source examples in id order (the order every export uses)."""
        cursor = self.con.cursor().execute(
            "SELECT id, dataset, split, row, fields, label, license, attribution FROM sources ORDER BY id"
        )
        while batch := cursor.fetchmany(10_000):
            yield from (_source_from_row(row) for row in batch)

    def iter_explanations(self, role: str, kind: str | None = None) -> Iterator[ExplanationRecord]:
        """Stored candidates or annotations, optionally of one kind, in id order."""
        table_name = {"candidate": "candidates", "annotation": "annotations"}[role]
        round_col = "round_id" if role == "annotation" else "NULL"
        lead_col = "lead_time" if role == "annotation" else "NULL"
        scores_col = "NULL" if role == "annotation" else "scores"
        cursor = self.con.cursor().execute(
            f"SELECT id, source_id, {round_col}, payload, provenance, {lead_col}, {scores_col} FROM {table_name} "
            "WHERE ? IS NULL OR kind = ? ORDER BY id",
            [kind, kind],
        )
        while batch := cursor.fetchmany(10_000):
            for rid, source_id, round_id, payload, provenance, lead_time, scores in batch:
                yield ExplanationRecord(
                    id=rid, source_id=source_id, role=role, round_id=round_id, lead_time=lead_time,
                    explanation=json.loads(payload), provenance=json.loads(provenance),
                    scores=json.loads(scores) if scores else None,
                )

    def exports(self) -> list[dict[str, Any]]:
        """Export history, oldest first."""
        rows = self.con.execute(
            # as text: fetching TIMESTAMPTZ values would need pytz, which nothing else here uses
            "SELECT version, fingerprint, license, override, counts, created_at::VARCHAR FROM exports "
            "ORDER BY created_at"
        ).fetchall()
        keys = ("version", "fingerprint", "license", "override", "counts", "created_at")
        return [
            dict(zip(keys, (*row[:4], json.loads(row[4]), datetime.fromisoformat(row[5])), strict=True))
            for row in rows
        ]

    def record_export(self, version: str, fingerprint: str, license_id: str, override: str | None,
                      counts: dict[str, int]) -> None:
        self.con.execute(
            "INSERT INTO exports VALUES (?, ?, ?, ?, ?, ?)",
            [version, fingerprint, license_id, override, json.dumps(counts, sort_keys=True), _now()],
        )


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
    if not with_round:
        columns["scores"] = pa.array([json.dumps(r.scores) if r.scores else None for r in records], pa.string())
    if with_round:
        columns["round_id"] = pa.array([r.round_id for r in records], pa.string())
        columns["lead_time"] = pa.array([r.lead_time for r in records], pa.float64())
    return pa.table(columns)


def _primary_label(record: ExplanationRecord) -> str | None:
    pairs = labels_of(record.explanation)
    return pairs[0][1] if pairs else None
