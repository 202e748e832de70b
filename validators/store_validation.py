"""Validate a whyset store: every registered metric family over its human annotations and candidates,
saved as one validation run (figures by dotted name, per-candidate scores scoped to their candidate, plus the
full result) that reports, gates and cards are made from."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from whyset.corpora.store import CorpusStore
from whyset.errors import WhysetError
from whyset.validators.families import ValidationData, families, flat_figures


def run_validation(store: CorpusStore, n_boot: int = 1000, seed: int = 0, save: bool = True,
                   classifier: dict[str, Any] | None = None) -> dict[str, Any]:
    """Compute every family's figures, save them as a validation run (unless ``save`` is False), return them.

    A family that cannot compute in this store is listed under ``skipped`` with the reason (nothing pulled yet,
    one annotator, one value in the domain...); a store with neither human annotations nor candidates is an
    error, since no figure would describe the corpus. ``classifier`` (a classifier record, see
    :mod:`whyset.validators.classifiers`) replaces the builds' own for candidate quality."""
    data = ValidationData(store, n_boot=n_boot, seed=seed, classifier=classifier)
    data.load()
    if not data.human_annotations and not data.candidates:
        raise WhysetError(f"{store.path}: nothing to validate (no human annotations and no candidates)")
    results: dict[str, Any] = {"run_id": datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ"), "skipped": {}}
    for family in families():
        try:
            results[family.name] = family.compute(data)
        except WhysetError as exc:  # Skipped, or e.g. a single annotator: report why, keep the rest
            results["skipped"][family.name] = str(exc)
    for family_name, problem in data.rating_problems.items():  # values left out of a family's table
        if family_name in results:
            results[family_name].setdefault("warnings", []).append(problem)
    if save:
        store.validation.save_run(results["run_id"], flat_figures(results), results, per_record(results))
    return results


def per_record(results: dict[str, Any]) -> list[tuple[str, str, float]]:
    """(metric, record id, value) for every per-candidate score a family lists under ``per_candidate``."""
    rows = []
    for family, result in results.items():
        for group in (result.values() if isinstance(result, dict) else ()):
            for entry in group.get("per_candidate", []) if isinstance(group, dict) else []:
                rows += [(f"{family}.{key}", entry["id"], value) for key, value in entry.items() if key != "id"]
    return rows
