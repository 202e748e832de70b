"""Validate a whyset store: every registered metric family over its human annotations and candidates,
saved as one validation run (figures by dotted name, plus the full result) that reports, gates and cards
are made from."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from whyset.corpora.store import CorpusStore
from whyset.errors import WhysetError
from whyset.validators.families import ValidationData, families, flat_figures


def run_validation(store: CorpusStore, n_boot: int = 1000, seed: int = 0, save: bool = True) -> dict[str, Any]:
    """Compute every family's figures, save them as a validation run (unless ``save`` is False), return them.

    A family that cannot compute in this store is listed under ``skipped`` with the reason; validation of a
    store with no human annotation at all is an error, since no figure would describe the corpus."""
    data = ValidationData(store, n_boot=n_boot, seed=seed)
    data.load()
    if not data.human_annotations:
        raise WhysetError(f"{store.path}: no human annotations to validate")
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
        store.validation.save_run(results["run_id"], flat_figures(results), results)
    return results
