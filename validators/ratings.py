"""Annotation tables for agreement: (item, annotator, value) triples, from any JSONL export or the store.

The JSONL format is deliberately tool-neutral so the agreement command works on exports of any
annotation tool: one object per line, ``{"item": ..., "annotator": ..., "value": ...}`` where value is a
label, a number, a list of ``[start, end]`` character spans, or a string. Span lines may add ``"text"``
(the item's text) so that agreement is computed over its tokens rather than over marked characters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from whyset.corpora.importers import read_rows
from whyset.errors import WhysetError

Kind = Literal["label", "span", "text"]


@dataclass
class Ratings:
    """Values by item, then annotator. Items keep first-seen order; annotators are sorted."""

    kind: Kind
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)

    @property
    def annotators(self) -> list[str]:
        return sorted({a for by_annotator in self.values.values() for a in by_annotator})

    @property
    def items(self) -> list[str]:
        return list(self.values)

    def add(self, item: str, annotator: str, value: Any, where: str) -> None:
        by_annotator = self.values.setdefault(item, {})
        if annotator in by_annotator and by_annotator[annotator] != value:
            raise WhysetError(f"{where}: annotator {annotator!r} gave item {item!r} two different values")
        by_annotator[annotator] = value

    def pairable_items(self) -> list[str]:
        """Items with at least two annotations: the only ones that carry agreement information."""
        return [item for item, by in self.values.items() if len(by) >= 2]

    def check_usable(self) -> list[str]:
        """Raise if no agreement can be computed; return warnings for what will be ignored."""
        if len(self.annotators) < 2:
            raise WhysetError(f"agreement needs at least 2 annotators; found {len(self.annotators)} "
                              f"({', '.join(self.annotators) or 'none'})")
        pairable = self.pairable_items()
        if not pairable:
            raise WhysetError("no item has annotations from 2 or more annotators, so agreement is undefined")
        single = len(self.values) - len(pairable)
        return [f"{single} item(s) with a single annotation carry no agreement information and are ignored"] if single else []


def _check_value(kind: Kind, value: Any, where: str) -> Any:
    if kind == "label":
        if isinstance(value, bool) or not isinstance(value, (str, int, float)) or (
                isinstance(value, float) and math.isnan(value)):
            raise WhysetError(f"{where}: field 'value': a label must be a string or a number, got {value!r}")
        return value
    if kind == "text":
        if not isinstance(value, str):
            raise WhysetError(f"{where}: field 'value': free text must be a string, got {type(value).__name__}")
        return value
    if not isinstance(value, list) or not all(
            isinstance(s, list) and len(s) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in s)
            for s in value):
        raise WhysetError(f"{where}: field 'value': spans must be a list of [start, end] integer pairs")
    for start, end in value:
        if not 0 <= start < end:
            raise WhysetError(f"{where}: field 'value': span [{start}, {end}] is empty or negative")
    return [tuple(s) for s in value]


def read_ratings(path: Path, kind: Kind) -> Ratings:
    """Parse and validate a ratings JSONL file; errors name the file, line and field."""
    ratings = Ratings(kind)
    for where, _split, row in read_rows(path, "jsonl"):
        for key in ("item", "annotator", "value"):
            if key not in row:
                raise WhysetError(f"{where}: field {key!r}: missing")
        value = _check_value(kind, row["value"], where)
        if kind == "span" and "text" in row:
            text = row["text"]
            for start, end in value:
                if end > len(text):
                    raise WhysetError(f"{where}: field 'value': span [{start}, {end}] is outside the text "
                                      f"(length {len(text)})")
            ratings.texts[str(row["item"])] = text
        ratings.add(str(row["item"]), str(row["annotator"]), value, where)
    if not ratings.values:
        raise WhysetError(f"{path}: no ratings found")
    return ratings


def ratings_from_rows(kind: Kind, rows: list[tuple[str, str, Any]]) -> Ratings:
    """Build from (item, annotator, value) tuples already validated elsewhere (e.g. read from the store)."""
    ratings = Ratings(kind)
    for item, annotator, value in rows:
        ratings.add(item, annotator, value, f"item {item}")
    return ratings

