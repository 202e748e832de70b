"""What a word is, once for all of whyset: attribution, span agreement, faithfulness and adjudication count
rationales in these units, so the same rationale always has the same size.

A token is a run of word characters (with an inner apostrophe: "don't", "man's") or one punctuation mark,
with its character offsets into the text. Punctuation tokens exist (they are part of the text a model reads)
but are not *content*: a highlight is judged by the content words it covers, so "guitar" and "guitar." are
the same evidence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

Offsets = tuple[int, int]
_TOKEN = re.compile(r"\w+(?:'\w+)?|[^\w\s]")


def tokens(text: str) -> list[Offsets]:
    """Every token of ``text`` as ``(start, end)`` character offsets, in order."""
    return [m.span() for m in _TOKEN.finditer(text)]


def is_content(text: str, offsets: Offsets) -> bool:
    return any(c.isalnum() for c in text[offsets[0]:offsets[1]])


def content_tokens(text: str) -> list[Offsets]:
    """The tokens that can be evidence: those with a letter or digit."""
    return [t for t in tokens(text) if is_content(text, t)]


def covered(units: Sequence[Offsets], spans: Iterable[Offsets]) -> list[bool]:
    """For each unit, whether any ``[start, end)`` span overlaps it."""
    spans = sorted(spans)
    return [any(s < end and start < e for s, e in spans) for start, end in units]


def keep_tokens(text: str, units: Sequence[Offsets], keep: Sequence[bool]) -> str:
    """The text with only the kept tokens, joined by single spaces (for deletion-based faithfulness)."""
    return " ".join(text[s:e] for (s, e), k in zip(units, keep, strict=True) if k)
