"""Validation runs: every figure of a ``validate run`` under its dotted name (what gates refer to), plus the
full result as JSON, so that reports, gates and cards can be reproduced from the store."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from whyset.corpora.store import CorpusStore

_FULL = "full_report"


class ValidationTables:
    def __init__(self, store: CorpusStore):
        self.store = store

    def save_run(self, run_id: str, figures: dict[str, float | None], full: dict[str, Any],
                 scoped: Sequence[tuple[str, str, float | None]] = ()) -> None:
        """Corpus figures, per-record figures (``scope`` = the candidate's id) and the full result."""
        now = datetime.now(UTC)
        rows = [[run_id, metric, "corpus", value, None, now] for metric, value in figures.items()]
        rows += [[run_id, metric, scope, value, None, now] for metric, scope, value in scoped]
        rows.append([run_id, _FULL, "corpus", None, json.dumps(full, default=str), now])
        with self.store.transaction():
            self.store.executemany("INSERT INTO validation_results VALUES (?, ?, ?, ?, ?, ?)", rows)

    def figures(self, run_id: str, scope: str = "corpus") -> dict[str, float | None]:
        """A run's figures of one scope: the corpus (default) or one record's id."""
        return dict(self.store.execute(
            "SELECT metric, value FROM validation_results WHERE run_id = ? AND scope = ? AND metric <> ? "
            "ORDER BY metric", [run_id, scope, _FULL]))

    def runs(self) -> list[str]:
        return [row[0] for row in self.store.execute(
            "SELECT DISTINCT run_id FROM validation_results ORDER BY run_id")]

    def full(self, run_id: str) -> dict[str, Any] | None:
        rows = self.store.execute("SELECT details FROM validation_results WHERE run_id = ? AND metric = ?",
                                  [run_id, _FULL])
        return json.loads(rows[0][0]) if rows else None
