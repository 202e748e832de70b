"""Explanation kinds: one module per kind in this package, each defining its payload model and registering
one :class:`KindSpec` with :data:`KINDS` (nothing else lists the kinds).

A spec says everything the rest of whyset needs to know about a kind: its payload model (checks against the
source text and asserted labels live on it), its export config, which agreement families its human
annotations feed, what one "item" is when annotators are compared, and the content rule that, beyond their
categorical decision, tells when annotators disagree (used alike by ``validate run`` and ``adjudicate``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from whyset.corpora.schema import Payload, SourceExample
from whyset.errors import WhysetError
from whyset.registry import Registry

if TYPE_CHECKING:
    from whyset.validators.disagreement import ContentRule


class Rating(NamedTuple):
    """One value an annotation contributes to an agreement family (``label``, ``span``, ``text``, ...)."""

    family: str
    item: str
    value: Any
    text: str | None = None  # the item's text, for span families (units are its tokens)


@dataclass(frozen=True)
class KindSpec:
    name: str
    payload: type[Payload]
    config: str  # name of the export config (dataset subset)
    item: Callable[[Payload, SourceExample], str]  # what annotators are compared on
    ratings: Callable[[Payload, SourceExample], Iterable[Rating]]
    content_rule: ContentRule | None = None


KINDS: Registry[KindSpec] = Registry("kinds", "explanation kind", ["whyset.corpora.kinds"])


def register_kind(spec: KindSpec) -> KindSpec:
    return KINDS.register(spec.name)(spec)


def check_offsets(where: str, field: str, start: int, end: int, source: SourceExample,
                  allow_empty: bool = False) -> None:
    """Offsets ``[start, end)`` must lie inside the named field of the source (shared by span-like kinds)."""
    text = source.fields.get(field)
    if text is None:
        raise WhysetError(f"field '{where}.field': source has no text field {field!r} (has {sorted(source.fields)})")
    if end > len(text) or start > end or (start == end and not allow_empty):
        raise WhysetError(f"field '{where}': offsets {start}..{end} are outside {field!r} (length {len(text)})")
