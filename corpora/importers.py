"""Importers: tabular sources (JSONL/CSV/Parquet/`datasets` on disk) with a column mapping, and
explanation records in whyset's own JSONL format.

Every importer parses and validates the whole input before writing, then writes in one transaction:
a bad line anywhere means nothing from that file is stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from whyset.corpora.progress import progress
from whyset.corpora.schema import ExplanationRecord, SourceExample
from whyset.corpora.store import CorpusStore
from whyset.errors import WhysetError

FORMATS = ("jsonl", "csv", "parquet", "hf-disk")


@dataclass(frozen=True)
class ColumnMapping:
    """How a table's columns become a source example.

    ``fields`` maps whyset text-field names to column names (e.g. premise -> sentence1). Licence and
    attribution are either constants for the whole file or read from a column.
    """

    fields: Mapping[str, str]
    label: str | None = None
    license: str | None = None
    license_column: str | None = None
    attribution: str | None = None
    label_map: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, field_specs: Sequence[str], **kwargs: Any) -> ColumnMapping:
        """Build from CLI-style ``name=column`` strings (``name`` alone means the column has that name)."""
        fields = {}
        for spec in field_specs:
            name, _, column = spec.partition("=")
            if not name:
                raise WhysetError(f"--field {spec!r}: expected NAME=COLUMN")
            fields[name] = column or name
        if not fields:
            raise WhysetError("no text fields mapped: pass at least one --field NAME=COLUMN")
        return cls(fields=fields, **kwargs)


def guess_format(path: Path) -> str:
    """The input format from the path: a folder is a ``datasets`` save, else the file extension."""
    if path.is_dir():
        return "hf-disk"
    suffix = path.suffix.lower().lstrip(".")
    return {"jsonl": "jsonl", "ndjson": "jsonl", "csv": "csv", "parquet": "parquet"}.get(suffix, suffix)


def read_rows(path: Path, fmt: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Yield (where, split, row) for each input row; ``where`` is ``file:line`` or ``file:split:row``."""
    if not path.exists():
        raise WhysetError(f"{path}: no such file or directory")
    if fmt == "jsonl":
        # Read line by line rather than with pandas.read_json(lines=True): a malformed line must be
        # reported with its line number, which pandas does not give.
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                yield f"{path}:{number}", "", _json_object(line, f"{path}:{number}")
    elif fmt in ("csv", "parquet"):
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False) if fmt == "csv" else pd.read_parquet(path)
        except (ValueError, OSError, pd.errors.ParserError) as exc:
            raise WhysetError(f"{path}: cannot read as {fmt} ({exc})") from None
        offset = 2 if fmt == "csv" else 0  # CSV: report the 1-based file line, after the header
        for number, row in enumerate(frame.to_dict(orient="records")):
            yield f"{path}:{number + offset}", "", row
    elif fmt == "hf-disk":
        import datasets

        try:
            loaded = datasets.load_from_disk(str(path))
        except (FileNotFoundError, ValueError) as exc:
            raise WhysetError(f"{path}: not a dataset saved with save_to_disk ({exc})") from None
        splits = loaded.items() if isinstance(loaded, datasets.DatasetDict) else [("", loaded)]
        for split, dataset in splits:
            for number, row in enumerate(dataset):
                yield f"{path}:{split or 'data'}:{number}", split, row
    else:
        raise WhysetError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")


def _json_object(line: str, where: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        raise WhysetError(f"{where}: invalid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(value, dict):
        raise WhysetError(f"{where}: expected a JSON object, got {type(value).__name__}")
    return value


def source_from_row(row: Mapping[str, Any], where: str, mapping: ColumnMapping, dataset: str,
                    split: str, index: int) -> SourceExample:
    """Apply the column mapping to one row; errors name the place and the column."""
    fields = {name: _text(row, column, where) for name, column in mapping.fields.items()}
    label = None
    if mapping.label is not None:
        raw = _text(row, mapping.label, where)
        label = mapping.label_map.get(raw, raw)
    licence = _text(row, mapping.license_column, where) if mapping.license_column else mapping.license
    try:
        return SourceExample(
            id=SourceExample.make_id(dataset, split, index, fields, label), dataset=dataset, split=split,
            row=index, fields=fields, label=label, license=licence or None, attribution=mapping.attribution,
        )
    except ValidationError as exc:
        raise WhysetError(f"{where}: {one_line(exc)}") from None


def _text(row: Mapping[str, Any], column: str, where: str) -> str:
    if column not in row:
        raise WhysetError(f"{where}: field {column!r}: missing (row has {', '.join(map(str, row))})")
    value = row[column]
    if value is None or isinstance(value, (dict, list)):
        raise WhysetError(f"{where}: field {column!r}: expected text, got {type(value).__name__}")
    return str(value)


def one_line(exc: ValidationError) -> str:
    """The first pydantic error as ``field 'a.b': message``."""
    first = exc.errors()[0]
    loc = ".".join(str(part) for part in first["loc"]) or "record"
    return f"field '{loc}': {first['msg']}"


def import_sources(store: CorpusStore, path: Path, fmt: str, mapping: ColumnMapping, dataset: str,
                   split: str, labels: Sequence[str] = ()) -> tuple[int, int]:
    """Import a tabular file as source examples. Returns (rows read, rows new in the store)."""
    sources, places = [], []
    for index, (where, row_split, row) in enumerate(progress(read_rows(path, fmt), f"reading {path.name}")):
        sources.append(source_from_row(row, where, mapping, dataset, row_split or split, index))
        places.append(where)
    with store.transaction():
        store.declare_labels(labels)
        new = store.add_sources(sources, places)
    return len(sources), new


def import_explanations(store: CorpusStore, path: Path) -> tuple[int, int]:
    """Import explanation records, one JSON object per line::

        {"source_id": "...", "role": "annotation", "round_id": null,
         "explanation": {"kind": "rationale", "label": "...", "spans": [...]},
         "provenance": {"origin": "human", "agent_id": "a1"}, "lead_time": 12.5}

    The record id is computed from the content, so importing the same file twice adds nothing.
    """
    records, places = [], []
    for where, _split, row in progress(read_rows(path, "jsonl"), f"reading {path.name}"):
        try:
            record = ExplanationRecord.model_validate({**row, "id": "pending"})
        except ValidationError as exc:
            raise WhysetError(f"{where}: {one_line(exc)}") from None
        record_id = ExplanationRecord.make_id(
            record.source_id, record.role, record.round_id, record.explanation, record.provenance.agent_id
        )
        records.append(record.model_copy(update={"id": record_id}))
        places.append(where)
    with store.transaction():
        new = store.add_explanations(records, places)
    return len(records), new
