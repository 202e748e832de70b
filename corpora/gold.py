"""The ``gold`` config of an export: one aggregated answer per annotated example (label, rationale, free-text
explanation), next to the per-annotator rows of the explanation configs. The aggregation (Dawid-Skene labels,
token posteriors, medoid explanations; adjudicated answers win) is :mod:`whyset.validators.aggregation`; the
method and its parameters go into the dataset card."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from datasets import Features, List, Value

from whyset.corpora.schema import SourceExample
from whyset.corpora.store import CorpusStore
from whyset.corpora.tables import FIELDS, ConfigTable, _split_name

_SPAN = {"field": Value("string"), "start": Value("int64"), "end": Value("int64"), "text": Value("string"),
         "posterior": Value("float64")}


def gold_table(store: CorpusStore, sources: Sequence[SourceExample], text_fields: list[str]) -> ConfigTable | None:
    """The ``gold`` config for the exported sources, or None when none has a human annotation."""
    from whyset.validators.aggregation import THRESHOLD, aggregate_gold

    by_id = {s.id: s for s in sources}
    records = [r for r in store.final_answers() if r.source_id in by_id]
    items = aggregate_gold(records, by_id, store.adjudication_rounds())
    if not items:
        return None
    features = Features({
        "source_id": Value("string"), FIELDS: {f: Value("string") for f in text_fields}, "gold_label": Value("string"),
        "annotators": List(Value("string")), "label": Value("string"), "label_method": Value("string"),
        "label_confidence": Value("float64"), "majority_label": Value("string"), "rationale": List(_SPAN),
        "rationale_method": Value("string"), "rationale_threshold": Value("float64"),
        "explanation": Value("string"), "explanation_annotator": Value("string"),
        "explanation_method": Value("string")})
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        source = by_id[item.source_id]
        row = asdict(item)
        row["rationale_threshold"] = THRESHOLD if item.rationale_method else None
        rows[_split_name(source.split)].append(
            {**row, FIELDS: {f: source.fields.get(f) for f in text_fields}, "gold_label": source.label})
    return ConfigTable("gold", features, dict(rows))
