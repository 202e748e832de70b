"""Benchmark: Krippendorff's alpha with a 1000-resample bootstrap CI on 100k items x 5 annotators.

Run with `make bench`. Labels are drawn from 5 categories with 80% agreement with a latent truth and
20% of ratings missing; prints wall time and peak resident memory for each step. The bootstrap resamples
per-unit coincidence matrices in block matrix products (validators/alpha_bootstrap.py); ``--reference``
also times the per-resample ``krippendorff.alpha`` loop it replaces, on the same draws, and checks that both
give the same interval.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from whyset.validators.alpha_bootstrap import resample_indices
from whyset.validators.label_agreement import bootstrap_alpha_ci, krippendorff_alpha, value_counts


def synthetic(items: int, annotators: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, 6, size=items)
    data = np.where(rng.random((annotators, items)) < 0.8, truth, rng.integers(1, 6, size=(annotators, items)))
    data = data.astype(float)
    data[rng.random(data.shape) < 0.2] = np.nan
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--annotators", type=int, default=5)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--reference", action="store_true", help="also time krippendorff.alpha per resample")
    args = parser.parse_args()
    matrix = synthetic(args.items, args.annotators)
    print(f"| step ({args.items:,} items x {args.annotators} annotators) | wall s | peak RSS MB |")
    print("|---|---|---|")
    for level in ("nominal", "interval"):
        start = time.perf_counter()
        alpha = krippendorff_alpha(matrix, level)
        point = time.perf_counter() - start
        start = time.perf_counter()
        low, high = bootstrap_alpha_ci(matrix, level, n_boot=args.bootstrap)
        boot = time.perf_counter() - start
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"| alpha {level} = {alpha:.4f} | {point:.2f} | {rss:.0f} |")
        print(f"| 95% CI [{low:.4f}, {high:.4f}], {args.bootstrap} resamples | {boot:.2f} | {rss:.0f} |")
        if args.reference:
            start = time.perf_counter()
            ref_low, ref_high = reference_ci(matrix, level, args.bootstrap)
            print(f"| same CI by krippendorff.alpha per resample [{ref_low:.4f}, {ref_high:.4f}] | "
                  f"{time.perf_counter() - start:.1f} | {rss:.0f} |")


def reference_ci(matrix: np.ndarray, level: str, n_boot: int) -> tuple[float, float]:
    import krippendorff

    counts, domain = value_counts(matrix)
    pairable = counts[counts.sum(axis=1) >= 2]
    draws = [krippendorff.alpha(value_counts=pairable[idx], value_domain=domain, level_of_measurement=level)
             for idx in resample_indices(len(pairable), n_boot, seed=0)]
    low, high = np.percentile(draws, [2.5, 97.5])
    return float(low), float(high)


if __name__ == "__main__":
    main()
