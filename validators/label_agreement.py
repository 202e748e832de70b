"""Agreement on labels, choices and ratings.

Krippendorff's alpha comes from the `krippendorff` package, Cohen's and Fleiss' kappa from `statsmodels`.
Gwet's AC1 and the multi-rater percent agreement are computed here (Gwet 2008, eq. for multiple raters
with missing ratings) because neither library has them; `irrCAC` does, but it is unmaintained since 2024
and pulls its own pandas pipeline for a ten-line formula.
"""

from __future__ import annotations

import math
from collections import Counter
from itertools import combinations
from typing import Any, Literal

import krippendorff
import numpy as np
from statsmodels.stats.inter_rater import cohens_kappa, fleiss_kappa

from whyset.errors import WhysetError
from whyset.validators.ratings import Ratings

Level = Literal["nominal", "ordinal", "interval", "ratio"]
LEVELS: tuple[Level, ...] = ("nominal", "ordinal", "interval", "ratio")
MAX_CATEGORIES = 200  # beyond this the values are free text or ids, and alpha's V x V arrays explode
_KAPPA_WEIGHTS = {"nominal": None, "ordinal": "linear", "interval": "quadratic", "ratio": "quadratic"}


def _finite(x: float) -> float | None:
    """JSON-friendly: undefined statistics (0/0) become None instead of NaN."""
    return None if x is None or not math.isfinite(x) else float(x)


def categories_of(ratings: Ratings, level: Level) -> list[Any]:
    """The value domain in order: numbers for non-nominal levels (their order and distances matter)."""
    values = {v for by in ratings.values.values() for v in by.values()}
    if level == "nominal" and len(values) > MAX_CATEGORIES:
        raise WhysetError(f"{len(values)} distinct labels: this looks like free text or ids, not a label set "
                          f"(use --kind text for explanations; at most {MAX_CATEGORIES} nominal categories)")
    if level != "nominal":
        bad = next((v for v in values if isinstance(v, str)), None)
        if bad is not None:
            raise WhysetError(f"level {level!r} needs numeric values; got {bad!r} (use --level nominal for labels)")
        return sorted(values)
    return sorted(values, key=lambda v: (isinstance(v, str), v))


def reliability_matrix(ratings: Ratings, categories: list[Any], items: list[str] | None = None) -> np.ndarray:
    """annotators x items; nominal values are coded by their index in ``categories``, missing is NaN."""
    items = ratings.items if items is None else items
    numeric = all(not isinstance(c, str) for c in categories)
    code = {c: (float(c) if numeric else float(i)) for i, c in enumerate(categories)}
    matrix = np.full((len(ratings.annotators), len(items)), np.nan)
    row_of = {a: r for r, a in enumerate(ratings.annotators)}
    for col, item in enumerate(items):
        for annotator, value in ratings.values[item].items():
            matrix[row_of[annotator], col] = code[value]
    return matrix


def value_counts(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(units x domain counts, domain): the form in which bootstrap resampling of units is cheap."""
    domain = np.unique(matrix[~np.isnan(matrix)])
    counts = np.stack([(matrix == v).sum(axis=0) for v in domain], axis=1)
    return counts, domain


def krippendorff_alpha(matrix: np.ndarray, level: Level) -> float:
    """Alpha of a reliability matrix; NaN (undefined) while fewer than two values occur, e.g. early in a round
    when every answer so far has the same label (the package raises then)."""
    counts, domain = value_counts(matrix)
    if len(domain) < 2:
        return float("nan")
    return float(krippendorff.alpha(value_counts=counts, value_domain=domain, level_of_measurement=level))


def bootstrap_alpha_ci(matrix: np.ndarray, level: Level, n_boot: int = 1000, confidence: float = 0.95,
                       seed: int = 0) -> tuple[float | None, float | None]:
    """Percentile bootstrap over units (items resampled with replacement)."""
    counts, domain = value_counts(matrix)
    counts = counts[counts.sum(axis=1) >= 2]  # single-coded units carry no information
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        sample = counts[rng.integers(0, len(counts), len(counts))]
        if len(np.nonzero(sample.sum(axis=0))[0]) < 2:
            continue  # a resample with a single value has undefined alpha
        draws.append(krippendorff.alpha(value_counts=sample, value_domain=domain, level_of_measurement=level))
    if not draws:
        return None, None
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(low), float(high)


def category_counts(ratings: Ratings, categories: list[Any], items: list[str]) -> np.ndarray:
    """items x categories: how many annotators chose each category for each item."""
    index = {c: i for i, c in enumerate(categories)}
    counts = np.zeros((len(items), len(categories)))
    for row, item in enumerate(items):
        for value in ratings.values[item].values():
            counts[row, index[value]] += 1
    return counts


def percent_agreement(counts: np.ndarray) -> float:
    """Share of agreeing annotator pairs per item, averaged over items with 2+ ratings."""
    n = counts.sum(axis=1)
    keep = n >= 2
    pairs = (counts[keep] * (counts[keep] - 1)).sum(axis=1) / (n[keep] * (n[keep] - 1))
    return float(pairs.mean())


def gwet_ac1(counts: np.ndarray) -> float:
    """Gwet's AC1 for several raters with missing ratings (Gwet 2008; Handbook of IRR, ch. 4)."""
    q = counts.shape[1]
    if q < 2:
        return float("nan")
    n = counts.sum(axis=1)
    rated = n >= 1
    pi = (counts[rated] / n[rated, None]).mean(axis=0)
    chance = (pi * (1 - pi)).sum() / (q - 1)
    return (percent_agreement(counts) - chance) / (1 - chance)


def fleiss(counts: np.ndarray) -> tuple[float, int]:
    """Fleiss' kappa over the items rated by the most common number of raters (it needs equal counts)."""
    n = counts.sum(axis=1).astype(int)
    usable = n[n >= 2]
    modal = int(np.bincount(usable).argmax())
    chosen = counts[n == modal]
    return float(fleiss_kappa(chosen, method="fleiss")), len(chosen)


def cohen(ratings: Ratings, a: str, b: str, categories: list[Any], level: Level) -> tuple[float | None, np.ndarray, int]:
    """(kappa, confusion matrix a x b, items both rated) for one annotator pair."""
    shared = [item for item, by in ratings.values.items() if a in by and b in by]
    index = {c: i for i, c in enumerate(categories)}
    table = np.zeros((len(categories), len(categories)))
    for item in shared:
        table[index[ratings.values[item][a]], index[ratings.values[item][b]]] += 1
    if len(shared) < 2:
        return None, table, len(shared)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = cohens_kappa(table, wt=_KAPPA_WEIGHTS[level], return_results=False)
    return _finite(float(kappa)), table, len(shared)


def _majority_of_rest(by_annotator: dict[str, Any], annotator: str) -> Any | None:
    top = Counter(v for a, v in by_annotator.items() if a != annotator).most_common(2)
    if not top:
        return None
    return None if len(top) > 1 and top[0][1] == top[1][1] else top[0][0]


def label_agreement(ratings: Ratings, level: Level = "nominal", n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Every label statistic for one question, overall, per annotator pair and per annotator."""
    if level not in LEVELS:
        raise WhysetError(f"--level {level!r}: choose one of {', '.join(LEVELS)}")
    warnings = ratings.check_usable()
    categories = categories_of(ratings, level)
    items = ratings.pairable_items()
    matrix = reliability_matrix(ratings, categories, items)
    counts = category_counts(ratings, categories, items)
    fleiss_value, fleiss_items = fleiss(counts)
    low, high = bootstrap_alpha_ci(matrix, level, n_boot=n_boot, seed=seed) if n_boot else (None, None)
    annotators = ratings.annotators
    pairs, confusion = {}, {}
    for a, b in combinations(annotators, 2):
        kappa, table, shared = cohen(ratings, a, b, categories, level)
        pairs[f"{a}|{b}"] = {"cohen_kappa": kappa, "items": shared}
        confusion[f"{a}|{b}"] = table.astype(int).tolist()
    per_annotator = {}
    for annotator in annotators:
        agree = total = 0
        for by in ratings.values.values():
            if annotator in by and (majority := _majority_of_rest(by, annotator)) is not None:
                total += 1
                agree += by[annotator] == majority
        kappas = [p["cohen_kappa"] for key, p in pairs.items() if annotator in key.split("|")
                  and p["cohen_kappa"] is not None]
        per_annotator[annotator] = {
            "items": sum(annotator in by for by in ratings.values.values()),
            "agreement_with_majority_of_rest": agree / total if total else None,
            "mean_cohen_kappa": float(np.mean(kappas)) if kappas else None,
        }
    return {
        "kind": "label", "level": level, "annotators": len(annotators), "items": len(ratings.values),
        "items_pairable": len(items), "categories": [str(c) for c in categories],
        "krippendorff_alpha": _finite(krippendorff_alpha(matrix, level)),
        "krippendorff_alpha_ci95": [_finite(low), _finite(high)] if low is not None else None,
        "fleiss_kappa": _finite(fleiss_value), "fleiss_items": fleiss_items,
        "gwet_ac1": _finite(gwet_ac1(counts)), "percent_agreement": _finite(percent_agreement(counts)),
        "pairs": pairs, "confusion": confusion, "per_annotator": per_annotator, "warnings": warnings,
    }
