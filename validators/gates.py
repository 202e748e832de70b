"""Corpus gates: thresholds on validation figures that must hold before ``whyset export`` releases.

A gate file is TOML with one table per gate, naming a figure by its dotted name (see
``whyset validate run --list-metrics``)::

    [[gate]]
    metric = "text.bleu_loo_mean"
    min = 15.0

    [[gate]]
    metric = "label.krippendorff_alpha"
    min = 0.667
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from whyset.errors import WhysetError
from whyset.validators.store_validation import flat_metrics


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


def load_gates(path: Path) -> list[Gate]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WhysetError(f"{path}: no such gate file") from None
    except tomllib.TOMLDecodeError as exc:
        raise WhysetError(f"{path}: invalid TOML ({exc})") from None
    gates = []
    for i, entry in enumerate(data.get("gate", [])):
        unknown = set(entry) - {"metric", "min", "max"}
        if unknown or "metric" not in entry or ("min" not in entry and "max" not in entry):
            raise WhysetError(f"{path}: gate[{i}]: needs 'metric' and 'min' and/or 'max' "
                              f"(unknown keys: {sorted(unknown) or 'none'})")
        gates.append(Gate(entry["metric"], entry.get("min"), entry.get("max")))
    if not gates:
        raise WhysetError(f"{path}: no [[gate]] entries")
    return gates


def evaluate(gates: list[Gate], results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per gate: metric, value, rule, passed (a figure that was not computed fails)."""
    figures = flat_metrics(results)
    rows = []
    for gate in gates:
        value = figures.get(gate.metric)
        passed = value is not None and (gate.min is None or value >= gate.min) and (
            gate.max is None or value <= gate.max)
        rows.append({"metric": gate.metric, "value": value, "rule": gate.rule, "passed": passed})
    return rows


def failure_message(rows: list[dict[str, Any]], results: dict[str, Any]) -> str:
    """One line naming each failed figure and the items most in dispute."""
    failed = [f"{r['metric']} = {'not computed' if r['value'] is None else format(r['value'], '.4g')} "
              f"(needs {r['rule']})" for r in rows if not r["passed"]]
    items = [h["item"] for kind in ("label", "text") if kind in results for h in results[kind].get("hotspots", [])[:5]]
    hint = f"; most disputed items: {', '.join(items)}" if items else ""
    return f"{len(failed)} gate(s) failed: {'; '.join(failed)}{hint} (pass --override-gates REASON to release anyway)"
