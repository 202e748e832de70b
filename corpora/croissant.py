"""Croissant JSON-LD metadata for an export, built with the `mlcroissant` object model.

Each config becomes a FileSet (its Parquet shards, read relative to the metadata file) and a RecordSet
whose fields mirror the dataset features; nested features become sub-fields, lists become arrays.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import mlcroissant as mlc
from datasets import List, Value

from whyset.corpora.info import CorpusInfo
from whyset.corpora.tables import ConfigTable

_DATA_TYPES = {"string": mlc.DataType.TEXT, "int64": mlc.DataType.INTEGER, "float64": mlc.DataType.FLOAT,
               "bool": mlc.DataType.BOOL}
_SPDX_URL = "https://spdx.org/licenses/{}.html"


def _field(record_set: str, file_set: str, name: str, feature: Any, path: str) -> mlc.Field:
    """A Croissant field for one feature; ``path`` is the column or the JSON path inside a nested column."""
    field_id = f"{record_set}/{path.replace('.', '/')}"
    if isinstance(feature, List):
        inner = _field(record_set, file_set, name, feature.feature, path)
        inner.is_array, inner.array_shape = True, "-1"
        return inner
    column, _, json_path = path.partition(".")
    # a sub-field reads its top-level struct column, then the JSON path inside it (a transform: Croissant
    # refuses an extract with both); so readers get ``fields/question`` from the ``fields`` struct
    source = mlc.Source(file_set=file_set, extract=mlc.Extract(column=column),
                        transforms=[mlc.Transform(json_path=json_path)] if json_path else [])
    if isinstance(feature, dict):
        return mlc.Field(
            id=field_id, name=name, data_types=[], source=source,
            sub_fields=[_field(record_set, file_set, key, sub, f"{path}.{key}") for key, sub in feature.items()],
        )
    assert isinstance(feature, Value), f"unexpected feature {feature!r}"
    return mlc.Field(id=field_id, name=name, data_types=[_DATA_TYPES[feature.dtype]], source=source)


def croissant_jsonld(name: str, version: str, published: date, release_license: str, tables: list[ConfigTable],
                     provenance: dict[str, Any], info: CorpusInfo) -> dict[str, Any]:
    """The Croissant document as a JSON-LD dict."""
    distribution: list[mlc.FileObject | mlc.FileSet] = []
    record_sets = []
    for table in tables:
        file_set = f"parquet-{table.name}"
        distribution.append(mlc.FileSet(
            id=file_set, name=file_set, encoding_formats=[mlc.EncodingFormat.PARQUET],
            includes=[f"data/{table.name}/*.parquet"],
        ))
        record_sets.append(mlc.RecordSet(
            id=table.name, name=table.name,
            fields=[_field(table.name, file_set, column, feature, column) for column, feature in table.features.items()],
        ))
    metadata = mlc.Metadata(
        name=name,
        description=info.description or f"{name}: an explanation corpus exported by whyset (configs: "
                                          f"{', '.join(t.name for t in tables)}).",
        url=info.homepage,
        in_language=info.languages or None,
        license=[_SPDX_URL.format(release_license)],
        version=version,
        date_published=datetime.combine(published, time(), tzinfo=UTC),
        cite_as=info.citation or "; ".join(sorted({s["attribution"] for s in provenance["sources"]
                                                   if s["attribution"]})) or None,
        distribution=distribution,
        record_sets=record_sets,
    )
    return metadata.to_json()
