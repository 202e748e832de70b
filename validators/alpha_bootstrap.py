"""Krippendorff's alpha for many bootstrap resamples at once, from per-unit coincidence matrices.

Alpha depends on the units only through the sum of their coincidence matrices (Krippendorff 2011, "Computing
Krippendorff's Alpha-Reliability", section C): unit u with n_uc values of category c adds
``(n_uc n_uk - [c = k] n_uc) / (m_u - 1)`` to cell (c, k), m_u being its number of values. A bootstrap
resample of units is therefore a weight vector over units (how often each was drawn), and the coincidence
matrices of all resamples are one matrix product: weights (resamples x unit patterns) @ the patterns'
matrices (patterns x V^2). That replaces one ``krippendorff.alpha`` call per resample (a minute on
100k units x 1000 resamples) by about a second, and gives the same alphas for the same draws (``tests``
compare them).

Hand-written because the `krippendorff` package computes one alpha per call; the distance metrics are
Krippendorff's, as that package implements them (ordinal distances use the resample's own marginals).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def resample_indices(units: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """The bootstrap draws, one array of ``units`` unit indices per resample (the same stream for the fast
    path and for any per-resample reference)."""
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        yield rng.integers(0, units, units, dtype=np.int32 if units < 2**31 else np.int64)


def unit_coincidences(counts: np.ndarray) -> np.ndarray:
    """(pairable units) x V x V coincidence matrices, from units x V value counts (units with one value
    carry no pairs and are dropped)."""
    m = counts.sum(axis=1)
    kept = counts[m >= 2].astype(float)
    m = m[m >= 2].astype(float)
    outer = kept[:, :, None] * kept[:, None, :]
    outer[:, np.arange(counts.shape[1]), np.arange(counts.shape[1])] -= kept
    return outer / (m - 1)[:, None, None]


def distances(totals: np.ndarray, domain: np.ndarray, level: str) -> np.ndarray:
    """Squared distances delta^2(c, k) for each resample's coincidence matrix (resamples x V x V)."""
    v = domain.astype(float)
    if level == "nominal":
        delta = 1.0 - np.eye(len(v))
    elif level == "interval":
        delta = (v[:, None] - v[None, :]) ** 2
    elif level == "ratio":
        total = v[:, None] + v[None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            delta = np.where(total == 0, 0.0, ((v[:, None] - v[None, :]) / total) ** 2)
    else:  # ordinal: sum of the marginals between c and k, less half of both ends
        n_v = totals.sum(axis=2)
        cum = np.concatenate([np.zeros((len(totals), 1)), np.cumsum(n_v, axis=1)], axis=1)
        low = np.minimum.outer(np.arange(len(v)), np.arange(len(v)))
        high = np.maximum.outer(np.arange(len(v)), np.arange(len(v)))
        between = cum[:, high + 1] - cum[:, low]
        return (between - (n_v[:, low] + n_v[:, high]) / 2) ** 2
    return np.broadcast_to(delta, totals.shape)


def alphas_from_coincidences(totals: np.ndarray, domain: np.ndarray, level: str) -> np.ndarray:
    """Alpha for each coincidence matrix (resamples x V x V); NaN where expected disagreement is 0."""
    delta = distances(totals, domain, level)
    n_v = totals.sum(axis=2)
    n = n_v.sum(axis=1)
    observed = (totals * delta).sum(axis=(1, 2))
    expected = (n_v[:, :, None] * n_v[:, None, :] * delta).sum(axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(expected > 0, 1 - (n - 1) * observed / expected, np.nan)


def _patterns(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct count rows, each unit's row index); rows are encoded as integers when they fit, which
    sorts far faster than ``np.unique(axis=0)``."""
    base = int(counts.max()) + 1
    if base ** counts.shape[1] < 2**62:
        keys = counts.astype(np.int64) @ (base ** np.arange(counts.shape[1], dtype=np.int64))
        _, first, pattern_of = np.unique(keys, return_index=True, return_inverse=True)
        return counts[first], pattern_of.astype(np.int32)
    patterns, pattern_of = np.unique(counts, axis=0, return_inverse=True)
    return patterns, pattern_of.ravel()


def bootstrap_alphas(counts: np.ndarray, domain: np.ndarray, level: str, n_boot: int, seed: int = 0
                     ) -> np.ndarray:
    """Alpha of each of ``n_boot`` resamples of the pairable units (NaN for a resample with one value).

    Units with the same value counts have the same coincidence matrix, and there are few such patterns
    (at most 246 for 5 categories and up to 5 values per unit), so a resample is summarised by how often it
    drew each pattern (one small histogram per resample), and all resamples are one matrix product."""
    pairable = counts[counts.sum(axis=1) >= 2]
    size = len(domain)
    if not len(pairable) or size < 2 or not n_boot:
        return np.full(n_boot, np.nan)
    patterns, pattern_of = _patterns(pairable)
    flat = unit_coincidences(patterns).reshape(len(patterns), size * size)
    weights = np.stack([np.bincount(pattern_of[idx], minlength=len(patterns))
                        for idx in resample_indices(len(pairable), n_boot, seed)])
    return alphas_from_coincidences((weights @ flat).reshape(n_boot, size, size), domain, level)
