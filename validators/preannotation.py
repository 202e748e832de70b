"""Pre-annotation effects: did an annotator submit the model's pre-annotation as it was, edit it, or replace it?

A Label Studio result is compared with a prediction on the controls the prediction fills (the rest of the
task, e.g. a review's verdicts, is the annotator's own). Both become *units*: each highlighted word
(``labels`` results, split with :mod:`whyset.corpora.tokens`), each chosen option or rating, and the words of
each text area. The edit distance is the number of units added or removed (word-level Levenshtein within
a text area). An annotation is

* **unchanged** when the distance is 0,
* **replaced** when it keeps no unit of the prediction (nothing highlighted, chosen or written in common),
* **edited** otherwise.

**Anchoring flag.** An annotator whose unchanged share stands far above the others' may be accepting the
model's answer rather than judging it. "Far" here: at least :data:`MIN_ANNOTATIONS` pre-annotated
submissions, an unchanged share at least :data:`MARGIN` above the other annotators' pooled share, and a
two-proportion z statistic of at least :data:`Z` (one-sided p < 0.025), so that a small sample or a small gap
is not flagged.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz.distance import LCSseq, Levenshtein

from whyset.corpora.tokens import tokens

MIN_ANNOTATIONS, MARGIN, Z = 10, 0.2, 2.0
Unit = tuple


@dataclass(frozen=True)
class Units:
    atoms: frozenset[Unit]
    texts: dict[str, tuple[str, ...]]


def units(result: Iterable[dict], controls: set[str] | None = None) -> Units:
    """The comparable units of a result, restricted to ``controls`` (from_name values) when given."""
    atoms: set[Unit] = set()
    texts: dict[str, tuple[str, ...]] = {}
    for item in result:
        name, value = item.get("from_name"), item.get("value", {})
        if controls is not None and name not in controls:
            continue
        if "start" in value and "text" in value:
            atoms |= {(name, value["start"] + s, value["start"] + e) for s, e in tokens(value["text"])}
        elif "choices" in value:
            atoms |= {(name, choice) for choice in value["choices"]}
        elif "rating" in value:
            atoms.add((name, value["rating"]))
        elif "text" in value:
            texts[name] = tuple(" ".join(value["text"]).split())
    return Units(frozenset(atoms), texts)


def controls_of(result: Iterable[dict]) -> set[str]:
    return {item["from_name"] for item in result if "from_name" in item}


def compare(annotation: Units, prediction: Units) -> tuple[str, int]:
    """(unchanged | edited | replaced, edit distance) of an annotation against one prediction."""
    names = set(annotation.texts) | set(prediction.texts)
    distance = len(annotation.atoms ^ prediction.atoms) + sum(
        Levenshtein.distance(annotation.texts.get(n, ()), prediction.texts.get(n, ())) for n in names)
    kept = len(annotation.atoms & prediction.atoms) + sum(
        LCSseq.similarity(annotation.texts.get(n, ()), prediction.texts.get(n, ())) for n in names)
    if distance == 0:
        return "unchanged", 0
    return ("edited" if kept else "replaced"), distance


def tally(outcomes: Iterable[tuple[str, int]]) -> dict[str, float | int | None]:
    """Counts, shares and mean edit distance of (category, distance) outcomes."""
    outcomes = list(outcomes)
    counts = Counter(category for category, _ in outcomes)
    n = len(outcomes)
    out: dict[str, float | int | None] = {"submitted": n}
    for category in ("unchanged", "edited", "replaced"):
        out[category] = counts[category]
        out[f"{category}_rate"] = counts[category] / n if n else None
    out["mean_edit_distance"] = sum(d for _, d in outcomes) / n if n else None
    return out


def anchoring(unchanged: dict[str, tuple[int, int]]) -> dict[str, float | None]:
    """Annotator -> z statistic of their unchanged share against the others' pooled share, for the annotators
    flagged by the rule above (an empty dict when nobody is)."""
    flagged: dict[str, float | None] = {}
    for annotator, (same, total) in unchanged.items():
        rest_same = sum(s for a, (s, _) in unchanged.items() if a != annotator)
        rest_total = sum(t for a, (_, t) in unchanged.items() if a != annotator)
        if total < MIN_ANNOTATIONS or not rest_total:
            continue
        mine, theirs = same / total, rest_same / rest_total
        pooled = (same + rest_same) / (total + rest_total)
        spread = math.sqrt(pooled * (1 - pooled) * (1 / total + 1 / rest_total))
        z = (mine - theirs) / spread if spread else math.inf
        if mine - theirs >= MARGIN and z >= Z:
            flagged[annotator] = z if math.isfinite(z) else None
    return flagged
