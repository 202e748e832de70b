"""Corpus gates: thresholds on validation figures that must hold before ``whyset export`` releases.

A gate file is TOML with one table per gate, naming a figure by its dotted name (see
``whyset validate run --list-metrics``)::

    [[gate]]
    metric = "text.bleu_loo_mean"
    min = 15.0

    [[gate]]
    metric = "label.krippendorff_alpha"
    min = 0.667

The release policy lives here, not in the CLI: :func:`check_release` validates the store, evaluates the gates
and refuses (:class:`~whyset.errors.GateFailed`) unless an override reason is given; the record it returns
goes into the dataset card and ``provenance.json``.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from whyset.corpora.store import CorpusStore
from whyset.corpora.text_files import read_text
from whyset.errors import BadInput, GateFailed
from whyset.validators.families import flat_figures, known_figure
from whyset.validators.store_validation import run_validation


@dataclass(frozen=True)
class Gate:
    metric: str
    min: float | None = None
    max: float | None = None

    @property
    def rule(self) -> str:
        parts = ([f">= {self.min:g}"] if self.min is not None else []) + (
            [f"<= {self.max:g}"] if self.max is not None else [])
        return " and ".join(parts)


@dataclass(frozen=True)
class GateResult:
    metric: str
    value: float | None
    rule: str
    passed: bool


@dataclass(frozen=True)
class GateRecord:
    """What a release records about its gates: the file, the validation run, each result, any override."""

    file: str
    run_id: str
    results: list[GateResult]
    override: str | None

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_gates(path: Path) -> list[Gate]:
    """Parse a gate file; every problem is named with the file and the gate's index."""
    try:
        data = tomllib.loads(read_text(path, "gate file"))
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{path}: invalid TOML ({exc})") from None
    entries = data.get("gate", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise BadInput(f"{path}: 'gate' must be a list of [[gate]] tables")
    gates = [_gate(path, i, entry) for i, entry in enumerate(entries)]
    if not gates:
        raise BadInput(f"{path}: no [[gate]] entries")
    return gates


def _gate(path: Path, index: int, entry: dict[str, Any]) -> Gate:
    where = f"{path}: gate[{index}]"
    unknown = set(entry) - {"metric", "min", "max"}
    if unknown or "metric" not in entry or ("min" not in entry and "max" not in entry):
        raise BadInput(f"{where}: needs 'metric' and 'min' and/or 'max' (unknown keys: {sorted(unknown) or 'none'})")
    if not isinstance(entry["metric"], str) or not known_figure(entry["metric"]):
        raise BadInput(f"{where}: field 'metric': {entry['metric']!r} is not a figure any metric family computes "
                       "(see `whyset validate run --list-metrics`)")
    for bound in ("min", "max"):
        value = entry.get(bound)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise BadInput(f"{where}: field {bound!r}: expected a number, got {value!r}")
    return Gate(entry["metric"], entry.get("min"), entry.get("max"))


def evaluate(gates: list[Gate], results: dict[str, Any]) -> list[GateResult]:
    """One result per gate (a figure that was not computed fails)."""
    figures = flat_figures(results)
    out = []
    for gate in gates:
        value = figures.get(gate.metric)
        passed = value is not None and (gate.min is None or value >= gate.min) and (
            gate.max is None or value <= gate.max)
        out.append(GateResult(gate.metric, value, gate.rule, passed))
    return out


def failure_message(rows: list[GateResult], results: dict[str, Any]) -> str:
    """One line naming each failed figure and the items most in dispute."""
    failed = [f"{r.metric} = {'not computed' if r.value is None else format(r.value, '.4g')} (needs {r.rule})"
              for r in rows if not r.passed]
    items = [h["item"] for h in results.get("disagreements", {}).get("hotspots", [])[:5]]
    hint = f"; most disputed items: {', '.join(items)}" if items else ""
    return f"{len(failed)} gate(s) failed: {'; '.join(failed)}{hint} (pass --override-gates REASON to release anyway)"


def check_release(store: CorpusStore, gate_file: Path, override: str | None = None,
                  n_boot: int = 200) -> tuple[GateRecord, dict[str, Any]]:
    """Validate the store and evaluate the gate file: the record for the release, and the validation results.

    The gate file is read first, so a bad one leaves the store as it was. Failed gates raise GateFailed unless
    ``override`` gives the publisher's reason, which the record keeps."""
    gates = load_gates(gate_file)
    results = run_validation(store, n_boot=n_boot)
    rows = evaluate(gates, results)
    record = GateRecord(gate_file.name, results["run_id"], rows, override)
    if not record.passed and not override:
        raise GateFailed(failure_message(rows, results))
    return record, results
