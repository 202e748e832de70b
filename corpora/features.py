"""Derive Hugging Face ``Features`` and Arrow-ready rows from the pydantic schema.

The schema in :mod:`whyset.corpora.schema` is the one typed description of a record; deriving the
dataset features from it (instead of writing them a second time) keeps the Parquet columns, the card and
the Croissant metadata from drifting apart. Free-form dicts (decoding parameters) become canonical JSON
strings, because Arrow needs one type per column.
"""

from __future__ import annotations

import json
import types
from datetime import datetime
from typing import Any, Literal, Union, get_args, get_origin

from datasets import List, Value
from pydantic import BaseModel

_SCALARS = {str: "string", int: "int64", float: "float64", bool: "bool", datetime: "string"}


def _strip_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def feature_for(annotation: Any) -> Any:
    """The ``datasets`` feature for one pydantic field annotation."""
    annotation = _strip_optional(annotation)
    origin = get_origin(annotation)
    if annotation in _SCALARS:
        return Value(_SCALARS[annotation])
    if origin is Literal:
        return Value("string")
    if origin is list:
        return List(feature_for(get_args(annotation)[0]))
    if origin is dict:
        return Value("string")
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return model_features(annotation)
    raise TypeError(f"no dataset feature for annotation {annotation!r}")


def model_features(model: type[BaseModel], exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """Features of every field of ``model`` except ``exclude``, in declaration order."""
    return {name: feature_for(info.annotation) for name, info in model.model_fields.items() if name not in exclude}


def dump_row(instance: BaseModel, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """``instance`` as plain values matching :func:`model_features` (nested models stay dicts)."""
    return {
        name: _dump_value(getattr(instance, name), info.annotation)
        for name, info in type(instance).model_fields.items()
        if name not in exclude
    }


def _dump_value(value: Any, annotation: Any) -> Any:
    if value is None:
        return None
    annotation = _strip_optional(annotation)
    origin = get_origin(annotation)
    if origin is dict:
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    if origin is list:
        item = get_args(annotation)[0]
        return [_dump_value(v, item) for v in value]
    if isinstance(value, BaseModel):
        return dump_row(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value

