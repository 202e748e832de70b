"""The tables of an export: the ``examples`` config and one config per explanation kind.

Every config keeps the source's text fields in one struct column, ``fields`` (``{"premise": ..., ...}``), never
as top-level columns: field names are the user's (``question``, ``answer``, ``label``, ``id``, ...) and would
otherwise clash with the columns whyset and the payloads define. Explanation rows repeat the fields and the
gold label so that every config is readable on its own (a rationale's offsets are meaningless without its
text: ``row["fields"][span["field"]][span["start"]:span["end"]] == span["text"]``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from datasets import Features, Value

from whyset.corpora.features import dump_row, model_features
from whyset.corpora.kinds import KINDS, KindSpec
from whyset.corpora.progress import progress
from whyset.corpora.schema import ExplanationRecord, Provenance, SourceExample
from whyset.corpora.store import CorpusStore
from whyset.errors import WhysetError

SPLIT_NAMES = {"dev": "validation", "val": "validation", "valid": "validation"}
FIELDS = "fields"  # the struct column of the source's text fields, in every config


@dataclass(frozen=True)
class ConfigTable:
    """One dataset config: its features and its rows grouped by split."""

    name: str
    features: Features
    rows_by_split: dict[str, list[dict[str, Any]]]

    @property
    def num_rows(self) -> int:
        return sum(len(rows) for rows in self.rows_by_split.values())


def _text_fields(sources: Sequence[SourceExample]) -> list[str]:
    seen: dict[str, None] = {}
    for source in sources:
        seen.update(dict.fromkeys(source.fields))
    return list(seen)


def _split_name(split: str) -> str:
    name = SPLIT_NAMES.get(split.lower(), split.lower())
    return re.sub(r"\W", "_", name)


def build_tables(store: CorpusStore, sources: Sequence[SourceExample], include_candidates: bool) -> list[ConfigTable]:
    """The ``examples`` config plus one config per explanation kind that has rows."""
    text_fields = _text_fields(sources)
    by_id = {s.id: s for s in sources}
    example_features = Features(
        {"id": Value("string"), "dataset": Value("string"), "source_split": Value("string"), "row": Value("int64"),
         FIELDS: {f: Value("string") for f in text_fields},
         "label": Value("string"), "license": Value("string"), "attribution": Value("string")}
    )
    examples: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in sources:
        examples[_split_name(s.split)].append(
            {"id": s.id, "dataset": s.dataset, "source_split": s.split, "row": s.row,
             FIELDS: {f: s.fields.get(f) for f in text_fields},
             "label": s.label, "license": s.license, "attribution": s.attribution}
        )
    tables = [ConfigTable("examples", example_features, dict(examples))]
    roles = ("annotation", "candidate") if include_candidates else ("annotation",)
    overridden = store.studio.overridden_records()
    for spec in KINDS.all().values():
        records = [r for role in roles for r in store.iter_explanations(role, spec.name) if r.source_id in by_id]
        if records:
            tables.append(_explanation_table(spec, sorted(records, key=lambda r: r.id), by_id, text_fields,
                                             overridden))
    from whyset.corpora.gold import gold_table  # (it imports ConfigTable from here)

    return tables + [gold for gold in [gold_table(store, sources, text_fields)] if gold is not None]


def _explanation_table(spec: KindSpec, records: Sequence[ExplanationRecord], sources: dict[str, SourceExample],
                       text_fields: list[str], overridden: set[str]) -> ConfigTable:
    """``final`` marks an item's final human answers: every annotation, except those an adjudicator's answer
    replaced (the adjudicated answer is then the item's one final answer; the others stay, marked)."""
    config, kind, payload_model = spec.config, spec.name, spec.payload
    common = {
        "id": Value("string"), "source_id": Value("string"), "record_type": Value("string"),
        "round_id": Value("string"), "origin": Value("string"), "agent_id": Value("string"),
        "lead_time": Value("float64"), "gold_label": Value("string"), "final": Value("bool"),
        FIELDS: {f: Value("string") for f in text_fields},
    }
    payload = model_features(payload_model, exclude=("kind",))
    clash = sorted((set(common) | {"provenance"}) & set(payload))
    if clash:  # a kind's own payload (code, not data): its definition must change
        raise WhysetError(f"explanation kind {kind!r}: payload field(s) {clash} clash with the export's columns")
    features = Features({**common, **payload, "provenance": model_features(Provenance)})
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in progress(records, f"exporting {config}"):
        source = sources[record.source_id]
        rows[_split_name(source.split)].append(
            {"id": record.id, "source_id": record.source_id, "record_type": record.role,
             "round_id": record.round_id, "origin": record.provenance.origin,
             "agent_id": record.provenance.agent_id, "lead_time": record.lead_time, "gold_label": source.label,
             "final": record.role == "annotation" and record.id not in overridden,
             FIELDS: {f: source.fields.get(f) for f in text_fields},
             **dump_row(record.explanation, exclude=("kind",)), "provenance": dump_row(record.provenance)}
        )
    return ConfigTable(config, features, dict(rows))
