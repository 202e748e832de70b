"""Importers: tabular sources (JSONL/CSV/Parquet/`datasets` on disk) with a column mapping, and
explanation records in whyset's own JSONL format.

Every importer parses and validates the whole input before writing, then writes in one transaction:
a bad line anywhere means nothing from that file is stored.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from whyset.corpora.licenses import canonical
from whyset.corpora.progress import progress
from whyset.corpora.schema import (
    FIELD_NAME,
    FIELD_NAME_RULE,
    ContentIdentities,
    ExplanationRecord,
    SourceExample,
    key_identity,
)
from whyset.corpora.store import CorpusStore
from whyset.corpora.store_sources import SourceChanges
from whyset.corpora.text_files import read_text, text_lines
from whyset.errors import BadInput, WhysetError

FORMATS = ("jsonl", "csv", "parquet", "hf-disk")


@dataclass(frozen=True)
class ColumnMapping:
    """How a table's columns become a source example.

    ``fields`` maps whyset text-field names to column names (e.g. premise -> sentence1). Licence and
    attribution are either constants for the whole file or read from a column. ``id_column`` names the data's
    own key, which then identifies a row across re-imports (else its content does).
    """

    fields: Mapping[str, str]
    label: str | None = None
    license: str | None = None
    license_column: str | None = None
    attribution: str | None = None
    label_map: Mapping[str, str] = field(default_factory=dict)
    id_column: str | None = None

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
    """Yield (where, split, row) for each input row; ``where`` is ``file:line`` (JSONL, CSV) or
    ``file:row N`` (Parquet, ``file:split:row N`` for a ``datasets`` folder), 1-based."""
    if not path.exists():
        raise WhysetError(f"{path}: no such file or directory")
    if fmt == "jsonl":
        # Read line by line rather than with pandas.read_json(lines=True): a malformed line must be
        # reported with its line number, which pandas does not give.
        for number, line in text_lines(path):
            if line.strip():
                yield f"{path}:{number}", "", _json_object(line, f"{path}:{number}")
    elif fmt == "csv":
        yield from _csv_rows(path)
    elif fmt == "parquet":
        yield from _parquet_rows(path)
    elif fmt == "hf-disk":
        import datasets

        try:
            loaded = datasets.load_from_disk(str(path))
        except (FileNotFoundError, ValueError) as exc:
            raise WhysetError(f"{path}: not a dataset saved with save_to_disk ({exc})") from None
        splits = loaded.items() if isinstance(loaded, datasets.DatasetDict) else [("", loaded)]
        for split, dataset in splits:
            for number, row in enumerate(dataset, start=1):
                yield f"{path}:{split or 'data'}:row {number}", split, row
    else:
        raise WhysetError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")


def _csv_rows(path: Path) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Rows of a CSV file with a header line, each named by the file line it starts on (quoted cells may
    span lines). A row whose cell count differs from the header's is an error, not a silent shift."""
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise BadInput(f"{path}: empty CSV file (expected a header line)")
        start = reader.line_num + 1
        for cells in reader:
            where, start = f"{path}:{start}", reader.line_num + 1
            if not cells:
                continue
            if len(cells) != len(header):
                raise BadInput(f"{where}: {len(cells)} cells, but the header has {len(header)}")
            yield where, "", dict(zip(header, cells, strict=True))
    except csv.Error as exc:
        raise BadInput(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None


def _parquet_rows(path: Path) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Rows as Arrow gives them (a null stays None: pandas would turn a null text into NaN, then "nan")."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
        number = 0
        for batch in parquet.iter_batches(batch_size=10_000):
            for row in batch.to_pylist():
                number += 1
                yield f"{path}:row {number}", "", row
    except (pa.ArrowException, OSError) as exc:
        raise BadInput(f"{path}: cannot read as parquet ({str(exc).splitlines()[0]})") from None


def _json_object(line: str, where: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        raise WhysetError(f"{where}: invalid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(value, dict):
        raise WhysetError(f"{where}: expected a JSON object, got {type(value).__name__}")
    return value


@dataclass
class _Identities:
    """Each row's identity: its key (unique within its dataset split) or its content and occurrence."""

    id_column: str | None
    by_content: ContentIdentities = field(default_factory=ContentIdentities)
    keys: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def __call__(self, row: Mapping[str, Any], where: str, dataset: str, split: str, fields: dict[str, str],
                 label: str | None) -> str:
        if self.id_column is None:
            return self.by_content(dataset, split, fields, label)
        key = _text(row, self.id_column, where)
        first = self.keys.setdefault((dataset, split, key), where)
        if first != where:
            raise BadInput(f"{where}: field {self.id_column!r}: key {key!r} again (first at {first}); a key column "
                           "names each row once")
        return key_identity(key)


def source_from_row(row: Mapping[str, Any], where: str, mapping: ColumnMapping, dataset: str,
                    split: str, index: int, identities: _Identities) -> SourceExample:
    """Apply the column mapping to one row; errors name the place and the column."""
    fields = {name: _text(row, column, where) for name, column in mapping.fields.items()}
    label = None
    if mapping.label is not None:
        raw = _text(row, mapping.label, where)
        label = mapping.label_map.get(raw, raw)
    licence = mapping.license
    if mapping.license_column:
        try:
            licence = canonical(_text(row, mapping.license_column, where))
        except WhysetError as exc:
            raise BadInput(f"{where}: field {mapping.license_column!r}: {exc}") from None
    identity = identities(row, where, dataset, split, fields, label)
    try:
        return SourceExample(
            id=SourceExample.make_id(dataset, split, identity), dataset=dataset, split=split, row=index,
            fields=fields, label=label, license=licence, attribution=mapping.attribution, identity=identity,
        )
    except ValidationError as exc:
        raise WhysetError(f"{where}: {one_line(exc)}") from None


def _text(row: Mapping[str, Any], column: str, where: str) -> str:
    """A cell as text: a string with something in it, or a number. Empty and null cells are refused (a CSV
    reader gives "" and pandas gives NaN for them, and either would be stored as if it were the text)."""
    if column not in row:
        raise WhysetError(f"{where}: field {column!r}: missing (row has {', '.join(map(str, row))})")
    value = row[column]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise BadInput(f"{where}: field {column!r}: empty (null)")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise BadInput(f"{where}: field {column!r}: expected text, got {type(value).__name__}")
    text = str(value)
    if not text.strip():
        raise BadInput(f"{where}: field {column!r}: empty text")
    return text


def one_line(exc: ValidationError) -> str:
    """The first pydantic error as ``field 'a.b': message``."""
    first = exc.errors()[0]
    loc = ".".join(str(part) for part in first["loc"]) or "record"
    return f"field '{loc}': {first['msg']}"


def import_sources(store: CorpusStore, path: Path, fmt: str, mapping: ColumnMapping, dataset: str,
                   split: str, labels: Sequence[str] = ()) -> tuple[int, SourceChanges]:
    """Import a tabular file as source examples. Returns (rows read, what changed in the store)."""
    for name in mapping.fields:
        if not FIELD_NAME.match(name):
            raise BadInput(f"{path}: field {name!r}: a field name uses {FIELD_NAME_RULE}")
    identities = _Identities(mapping.id_column)
    sources, places = [], []
    rows_per_split: dict[str, int] = {}
    for where, row_split, row in progress(read_rows(path, fmt), f"reading {path.name}"):
        index = rows_per_split.get(row_split, 0)
        rows_per_split[row_split] = index + 1
        sources.append(source_from_row(row, where, mapping, dataset, row_split or split, index, identities))
        places.append(where)
    with store.transaction():
        store.declare_labels(labels)
        changes = store.add_sources(sources, places, complete=True)
    return len(sources), changes


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
