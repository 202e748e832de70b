"""Krippendorff's alpha for many bootstrap resamples at once, from per-unit coincidence matrices.

Alpha depends on the units only through the sum of their coincidence matrices (Krippendorff 2011, "Computing
Krippendorff's Alpha-Reliability", section C): unit u with n_uc values of category c adds
``(n_uc n_uk - [c = k] n_uc) / (m_u - 1)`` to cell (c, k), m_u being its number of values. A bootstrap
resample of units is therefore a weight vector over units (how often each was drawn), and the coincidence
matrices of a block of resamples are one matrix product: weights (resamples x units) @ per-unit matrices
(units x V^2). That replaces one ``krippendorff.alpha`` call per resample (a minute on 100k units x 1000
resamples) by a second or so, and gives the same alphas for the same draws (``tests`` compares them).

Hand-written because the `krippendorff` package computes one alpha per call; the distance metrics are
Krippendorff's, as that package implements them (ordinal distances use the resample's own marginals).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

BLOCK = 64  # resamples per matrix product: BLOCK x units weights stay small (64 x 100k floats = 51 MB)


def resample_indices(units: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """The bootstrap draws, one array of ``units`` unit indices per resample (the same stream for the fast
    path and for any per-resample reference)."""
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        yield rng.integers(0, units, units)


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


def bootstrap_alphas(counts: np.ndarray, domain: np.ndarray, level: str, n_boot: int, seed: int = 0
                     ) -> np.ndarray:
    """Alpha of each of ``n_boot`` resamples of the pairable units (NaN for a resample with one value)."""
    per_unit = unit_coincidences(counts)
    units, size = len(per_unit), len(domain)
    if not units or size < 2 or not n_boot:
        return np.full(n_boot, np.nan)
    flat = per_unit.reshape(units, size * size)
    draws = resample_indices(units, n_boot, seed)
    out = []
    for start in range(0, n_boot, BLOCK):
        rows = min(BLOCK, n_boot - start)
        picked = np.stack([next(draws) for _ in range(rows)])
        offsets = (np.arange(rows)[:, None] * units + picked).ravel()
        weights = np.bincount(offsets, minlength=rows * units).reshape(rows, units).astype(float)
        out.append(alphas_from_coincidences((weights @ flat).reshape(rows, size, size), domain, level))
    return np.concatenate(out)
