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
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Self

import duckdb
import pyarrow as pa

from whyset.corpora.info import CorpusInfo
from whyset.corpora.schema import ExplanationRecord, SourceExample
from whyset.corpora.store_file import StoreFile
from whyset.corpora.store_sources import SourceChanges, backfill_identities, plan_sources
from whyset.errors import WhysetError

MIGRATIONS = "migrations"
IDENTITY_MIGRATION = 6  # adds sources.identity, which existing rows get from Python (store_sources.py)
_READ = re.compile(r"\s*(SELECT|WITH|FROM|DESCRIBE|SHOW|EXPLAIN|PRAGMA)\b", re.IGNORECASE)
_SOURCE_COLUMNS = "id, dataset, split, row, fields, label, license, attribution, identity"


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
    """A corpus project's DuckDB file. Use as a context manager; it closes on exit.

    The file is held only while the store works (:mod:`whyset.corpora.store_file`): a transaction holds it for
    writing, a read holds it read-only for one statement (or one page of :meth:`stream`), :meth:`reading`
    across several. Another process's command can therefore run between any two of them."""

    def __init__(self, path: str | Path, busy_timeout: float | None = None):
        from whyset.corpora.store_builds import BuildTables
        from whyset.corpora.store_responses import ResponseTables
        from whyset.corpora.store_studio import StudioTables
        from whyset.corpora.store_validation import ValidationTables

        self.path = Path(path)
        self._file = StoreFile(self.path, busy_timeout)
        self._in_transaction = False
        self._known_labels: set[str] = set()
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
        self._file.close()

    # -- schema -------------------------------------------------------------------------------------
    def _migrate(self) -> None:
        """Apply the bundled migrations this file lacks. Checked read-only, so that opening a store another
        process is writing does not wait; written only when a migration is due."""
        if self.path.exists() and not self._pending(self._applied()):
            return
        with self.transaction():
            self.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                         "(version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)")
            for version, name, sql in self._pending(self._applied()):
                self.execute(sql)
                self.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, name, _now()])
                if version == IDENTITY_MIGRATION:
                    self._set_identities(backfill_identities(self))

    def _applied(self) -> set[int]:
        try:
            return {row[0] for row in self.execute("SELECT version FROM schema_migrations")}
        except duckdb.CatalogException:  # a new (or foreign) file: no migration table yet
            return set()

    @staticmethod
    def _pending(applied: set[int]) -> list[tuple[int, str, str]]:
        return [migration for migration in _migrations() if migration[0] not in applied]

    @property
    def schema_version(self) -> int:
        return self._scalar("SELECT max(version) FROM schema_migrations")

    def migrations(self) -> list[tuple[int, str]]:
        return self.execute("SELECT version, name FROM schema_migrations ORDER BY version")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing: on any exception the store rolls back to its state before the block. Nested
        blocks join the outer transaction. The file is held for writing for the length of the block only."""
        if self._in_transaction:
            yield
            return
        with self._file.lease(write=True) as con:
            con.begin()
            self._in_transaction = True
            try:
                yield
            except BaseException:
                con.rollback()
                raise
            else:
                con.commit()
            finally:
                self._in_transaction = False

    def reading(self) -> AbstractContextManager[None]:
        """Several reads from one view of the store (an export reads sources and explanations alike), holding
        the file read-only for the block: other readers may work meanwhile, writers wait."""
        return self._file.reading()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """For the table groups of ``corpora/``: one statement, all rows fetched. A statement that writes runs
        in a transaction (the caller's, or one of its own)."""
        if not self._in_transaction and not _READ.match(sql):
            with self.transaction():
                return self.execute(sql, params)
        with self._file.lease(write=False) as con:
            return con.execute(sql, params).fetchall()

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:  # DuckDB's executemany refuses an empty list
            with self.transaction(), self._file.lease(write=True) as con:
                con.executemany(sql, rows)

    def execute_with(self, table: pa.Table, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """One statement that reads ``table`` as ``_batch``: the table groups' bulk writes (one statement for
        thousands of rows, where ``executemany`` runs one per row)."""
        with self.transaction(), self._file.lease(write=True) as con:
            con.register("_batch", table)
            try:
                return con.execute(sql, params).fetchall()
            finally:
                con.unregister("_batch")

    def stream(self, sql: str, params: Sequence[Any] = (), key: str = "id", batch: int = 10_000) -> Iterator[tuple]:
        """Rows of a large read in ``key`` order, a page at a time: ``sql`` selects the unique column ``key``
        first and has no ORDER BY. Each page is one short read, so the file is not held between pages."""
        page = self.execute(f"SELECT * FROM ({sql}) AS page ORDER BY {key} LIMIT {batch}", params)
        while page:
            yield from page
            if len(page) < batch:
                return
            page = self.execute(f"SELECT * FROM ({sql}) AS page WHERE {key} > ? ORDER BY {key} LIMIT {batch}",
                                [*params, page[-1][0]])

    # -- project settings and metadata --------------------------------------------------------------
    def get_setting(self, key: str, default: Any = None) -> Any:
        rows = self.execute("SELECT value FROM project WHERE key = ?", [key])
        return json.loads(rows[0][0]) if rows else default

    def set_setting(self, key: str, value: Any) -> None:
        self.execute("INSERT OR REPLACE INTO project VALUES (?, ?)", [key, json.dumps(value)])

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
    def add_sources(self, sources: Sequence[SourceExample], where: Sequence[str] | None = None,
                    complete: bool = False) -> SourceChanges:
        """Insert new source examples and update changed ones, after checking their labels; returns what
        changed (see :mod:`whyset.corpora.store_sources`). ``complete`` says the input is all of its dataset
        splits, so that stored sources missing from it are counted as gone.

        ``where`` names each example's origin (e.g. ``file.jsonl:12``) for error messages.
        """
        where = where or [f"{s.dataset}:{s.split}:{s.row}" for s in sources]
        self._check_labels(
            (place, "label", s.label) for s, place in zip(sources, where, strict=True) if s.label is not None
        )
        with self.transaction():
            plan = plan_sources(self, sources, where, complete)
            if plan.insert:
                self._insert("sources", _source_table(plan.insert))
            if plan.update:
                self._update("sources", _source_table(plan.update).drop_columns(["dataset", "split", "identity", "imported_at"]))
        return plan.changes

    def sources_by_id(self, ids: Iterable[str]) -> dict[str, SourceExample]:
        rows = self.execute(f"SELECT {_SOURCE_COLUMNS} FROM sources WHERE id IN (SELECT unnest(?::VARCHAR[]))",
                            [sorted(ids)])
        return {row[0]: _source_from_row(row) for row in rows}

    def iter_sources(self) -> Iterator[SourceExample]:
        """All source examples in id order (the order every export uses)."""
        return (_source_from_row(row) for row in self.stream(f"SELECT {_SOURCE_COLUMNS} FROM sources"))

    def field_layouts(self) -> list[tuple[list[str], str]]:
        """Each distinct list of text-field names (in stored order) among the sources, with the first source
        id (in id order) that has it, ordered by that id: one query, where reading every source costs
        0.5 s per 10,000."""
        rows = self.execute("SELECT json_keys(fields) AS names, min(id) AS first FROM sources "
                            "GROUP BY names ORDER BY first")
        return [(list(names), first) for names, first in rows]

    def source_ids_in_order(self, dataset: str | None = None, split: str | None = None,
                            limit: int | None = None) -> list[str]:
        """Source ids in dataset/split/row order, so that "the first 500 pairs" means what it says."""
        rows = self.execute(
            "SELECT id FROM sources WHERE (? IS NULL OR dataset = ?) AND (? IS NULL OR split = ?) "
            "ORDER BY dataset, split, row, id LIMIT ?", [dataset, dataset, split, split, limit or 2**62])
        return [row[0] for row in rows]

    def annotated_source_ids(self) -> set[str]:
        """Sources with at least one human annotation (superseded versions do not count)."""
        return {row[0] for row in self.execute("SELECT DISTINCT source_id FROM annotations WHERE NOT superseded")}

    def label_balance(self) -> dict[str, int]:
        return dict(self.execute("SELECT coalesce(label, '(none)'), count(*) FROM sources GROUP BY 1 ORDER BY 1"))

    # -- rounds -------------------------------------------------------------------------------------
    def add_round(self, round_id: str, name: str, kind: str, guideline_version: str | None = None,
                  details: dict[str, Any] | None = None) -> None:
        """Register an annotation round (idempotent on its id)."""
        self.execute("INSERT OR IGNORE INTO rounds VALUES (?, ?, ?, ?, ?, ?)",
                     [round_id, name, kind, guideline_version, json.dumps(details or {}), _now()])

    def update_round(self, round_id: str, details: dict[str, Any]) -> None:
        """Replace a round's details (who is in it changes when annotators join or leave)."""
        self.execute("UPDATE rounds SET details = ? WHERE id = ?", [json.dumps(details), round_id])

    def rounds(self) -> list[Round]:
        rows = self.execute("SELECT id, name, kind, guideline_version, details FROM rounds ORDER BY id")
        return [Round(r[0], r[1], r[2], r[3], json.loads(r[4] or "{}")) for r in rows]

    def adjudication_rounds(self) -> set[str]:
        """Rounds whose answers are adjudications: their details name the round they adjudicate."""
        return {r.id for r in self.rounds() if r.details.get("adjudicates")}

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
        """Labels outside the label set. Called once per pulled annotation, so the set is cached: it only
        ever grows (:meth:`declare_labels`), hence a cached label stays valid and only a miss reads again."""
        labels = list(labels)
        if not self._known_labels.issuperset(labels):
            self._known_labels = set(self.labels)
        return [label for label in labels if label not in self._known_labels]

    def iter_explanations(self, role: str, kind: str | None = None, round_id: str | None = None,
                          superseded: bool = False) -> Iterator[ExplanationRecord]:
        """Stored candidates or annotations, optionally of one kind (and one round), in id order. Annotation
        records superseded by a later version of their Label Studio annotation only with ``superseded``:
        exports and validation see current answers."""
        table_name = {"candidate": "candidates", "annotation": "annotations"}[role]
        round_col = "round_id" if role == "annotation" else "NULL"
        lead_col = "lead_time" if role == "annotation" else "NULL"
        scores_col = "NULL" if role == "annotation" else "scores"
        current = "NOT superseded" if role == "annotation" and not superseded else "true"
        rows = self.stream(
            f"SELECT id, source_id, {round_col}, payload, provenance, {lead_col}, {scores_col} FROM {table_name} "
            f"WHERE (? IS NULL OR kind = ?) AND (? IS NULL OR {round_col} = ?) AND {current}",
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

    def final_answers(self, kind: str | None = None) -> Iterator[ExplanationRecord]:
        """Each item's final human answers, for aggregated gold: current annotation records, except those an
        adjudicator's answer replaced (an adjudicated item's final answer is the adjudicator's alone; control
        items never become records)."""
        overridden = self.studio.overridden_records()
        return (r for r in self.iter_explanations("annotation", kind) if r.id not in overridden)

    def workload(self) -> list[dict[str, Any]]:
        """Per annotator (or producer) and kind: annotations, median and total lead time in seconds."""
        rows = self.execute("SELECT agent_id, kind, count(*), median(lead_time), sum(lead_time) FROM annotations "
                            "WHERE NOT superseded GROUP BY agent_id, kind ORDER BY agent_id, kind")
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
        self.execute("INSERT INTO exports VALUES (?, ?, ?, ?, ?, ?)",
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

    def _set_identities(self, identities: Sequence[tuple[str, str]]) -> None:
        if identities:
            ids, values = zip(*identities, strict=True)
            self._update("sources", pa.table({"id": list(ids), "identity": list(values)}))

    def _update(self, table_name: str, table: pa.Table) -> None:
        """Set the columns of ``table`` on the rows whose ``id`` it names."""
        columns = ", ".join(f"{c} = _batch.{c}" for c in table.column_names if c != "id")
        self.execute_with(table, f"UPDATE {table_name} SET {columns} FROM _batch WHERE {table_name}.id = _batch.id")

    def insert_table(self, table_name: str, table: pa.Table, replace: bool = False) -> None:
        """Insert the rows of ``table`` in one statement; a row whose key is already stored is kept (or, with
        ``replace``, replaced)."""
        columns = ", ".join(table.column_names)
        conflict = "REPLACE" if replace else "IGNORE"
        self.execute_with(table, f"INSERT OR {conflict} INTO {table_name} ({columns}) SELECT {columns} FROM _batch")

    def _insert(self, table_name: str, table: pa.Table) -> int:
        """:meth:`insert_table`, returning how many rows were new."""
        with self.transaction():
            before = self.count(table_name)
            self.insert_table(table_name, table)
            return self.count(table_name) - before


def _now() -> datetime:
    return datetime.now(UTC)


def _source_from_row(row: tuple) -> SourceExample:
    sid, dataset, split, row_idx, fields, label, license_id, attribution, identity = row
    return SourceExample(
        id=sid, dataset=dataset, split=split, row=row_idx, fields=json.loads(fields),
        label=label, license=license_id, attribution=attribution, identity=identity,
    )


def _source_table(sources: Sequence[SourceExample]) -> pa.Table:
    return pa.table({
        "id": [s.id for s in sources],
        "dataset": [s.dataset for s in sources],
        "split": [s.split for s in sources],
        "row": pa.array([s.row for s in sources], pa.int64()),
        "fields": [json.dumps(s.fields, ensure_ascii=False) for s in sources],
        "label": pa.array([s.label for s in sources], pa.string()),
        "license": pa.array([s.license for s in sources], pa.string()),
        "attribution": pa.array([s.attribution for s in sources], pa.string()),
        "identity": pa.array([s.identity for s in sources], pa.string()),
        "imported_at": pa.array([_now()] * len(sources), pa.timestamp("us", tz="UTC")),
    })


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
