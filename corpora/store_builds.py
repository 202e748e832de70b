"""Build bookkeeping: which (builder config, source) pairs are built (``build_log``, so ``whyset build``
resumes exactly), the candidates a builder's checks refused (``rejected_candidates``, kept with the reason,
never dropped), and what reloads the classifier a build used (``build_classifiers``, for ``validate run``)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from whyset.corpora.schema import ExplanationRecord, Provenance, content_id

if TYPE_CHECKING:
    from whyset.corpora.store import CorpusStore


@dataclass
class RejectedCandidate:
    """A candidate a builder's checks refused, kept with the reason (and its payload, if it parsed)."""

    source_id: str
    builder_id: str
    kind: str
    reason: str
    provenance: Provenance
    payload: dict[str, Any] | None = None
    scores: dict[str, Any] | None = None

    @property
    def id(self) -> str:
        return content_id("rejected", self.source_id, self.builder_id, self.kind, self.payload, self.reason,
                          self.provenance.seed)


class BuildTables:
    def __init__(self, store: CorpusStore):
        self.store = store

    def done(self, builder_id: str, config_hash: str) -> set[str]:
        """Source ids already built by this builder with these settings."""
        return {row[0] for row in self.store.execute(
            "SELECT source_id FROM build_log WHERE builder_id = ? AND config_hash = ?", [builder_id, config_hash])}

    def log(self, builder_id: str | None = None) -> list[dict[str, Any]]:
        rows = self.store.execute(
            "SELECT builder_id, config_hash, source_id, candidates, rejected FROM build_log "
            "WHERE ? IS NULL OR builder_id = ? ORDER BY builder_id, config_hash, source_id", [builder_id, builder_id])
        keys = ("builder_id", "config_hash", "source_id", "candidates", "rejected")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def record_batch(self, builder_id: str, config_hash: str, source_ids: Sequence[str],
                     kept: Sequence[ExplanationRecord], rejected: Sequence[RejectedCandidate]) -> None:
        """One builder batch in one transaction: its candidates, its refusals and its log rows."""
        kept_per = dict.fromkeys(source_ids, 0)
        rejected_per = dict.fromkeys(source_ids, 0)
        for record in kept:
            kept_per[record.source_id] += 1
        for item in rejected:
            rejected_per[item.source_id] += 1
        now = datetime.now(UTC)
        with self.store.transaction():
            if kept:
                self.store.add_explanations(kept)
            self.store.executemany(
                "INSERT OR IGNORE INTO rejected_candidates VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [[r.id, r.source_id, r.builder_id, r.kind, json.dumps(r.payload) if r.payload else None,
                  r.provenance.model_dump_json(), r.reason, json.dumps(r.scores) if r.scores else None]
                 for r in rejected])
            self.store.executemany(
                "INSERT OR IGNORE INTO build_log VALUES (?, ?, ?, ?, ?, ?)",
                [[builder_id, config_hash, sid, kept_per[sid], rejected_per[sid], now] for sid in source_ids])

    def rejected(self, builder_id: str | None = None) -> Iterator[RejectedCandidate]:
        rows = self.store.stream(
            "SELECT id, source_id, builder_id, kind, reason, provenance, payload, scores FROM rejected_candidates "
            "WHERE ? IS NULL OR builder_id = ?", [builder_id, builder_id])
        for _id, source_id, builder, kind, reason, provenance, payload, scores in rows:
            yield RejectedCandidate(source_id, builder, kind, reason, Provenance.model_validate_json(provenance),
                                    json.loads(payload) if payload else None, json.loads(scores) if scores else None)

    def record_classifier(self, builder_id: str, config_hash: str, classifier: dict[str, Any]) -> None:
        """What reloads the classifier this build used (replaces an earlier record of the same build)."""
        self.store.execute("INSERT OR REPLACE INTO build_classifiers VALUES (?, ?, ?, ?)",
                           [builder_id, config_hash, json.dumps(classifier, sort_keys=True), datetime.now(UTC)])

    def classifiers(self) -> dict[tuple[str, str], dict[str, Any]]:
        """(builder id, config hash) -> the recorded classifier, oldest record first."""
        rows = self.store.execute("SELECT builder_id, config_hash, classifier FROM build_classifiers "
                                  "ORDER BY recorded_at, builder_id")
        return {(builder, config): json.loads(record) for builder, config, record in rows}
