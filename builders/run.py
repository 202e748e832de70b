"""``whyset build <recipe>``: run a recipe's builders over the selected sources, batch by batch.

Each batch of one builder is written in one transaction together with its ``build_log`` rows, so an
interrupted build (Ctrl-C, a crash, a dead endpoint) leaves only whole batches behind, and re-running
skips exactly the (builder config, source) pairs already logged.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from whyset.builders.context import BuildContext, BuildOutput, CorpusView
from whyset.builders.counterfactuals import LLMCounterfactualBuilder, RuleCounterfactualBuilder
from whyset.builders.qa import LLMExplanationBuilder
from whyset.builders.rationales import AttributionRationaleBuilder, LLMRationaleBuilder
from whyset.builders.recipe import BuilderSettings, Recipe, load_recipe
from whyset.corpora.progress import progress
from whyset.corpora.schema import SourceExample
from whyset.corpora.store import CorpusStore

BUILDERS = {"attribution_rationale": AttributionRationaleBuilder, "llm_rationale": LLMRationaleBuilder,
            "rule_counterfactual": RuleCounterfactualBuilder, "llm_counterfactual": LLMCounterfactualBuilder,
            "llm_explanation": LLMExplanationBuilder}


@dataclass
class BuilderReport:
    sources: int = 0
    skipped: int = 0
    kept: int = 0
    rejected: int = 0
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def select_sources(store: CorpusStore, recipe: Recipe) -> list[SourceExample]:
    """The recipe's slice: sources in dataset/split/row order (so "the first 500 pairs" means what it says)."""
    selection = recipe.sources
    rows = store.con.execute(
        "SELECT id FROM sources WHERE (? IS NULL OR dataset = ?) AND (? IS NULL OR split = ?) "
        "ORDER BY dataset, split, row LIMIT ?",
        [selection.dataset, selection.dataset, selection.split, selection.split, selection.limit or 2**62]).fetchall()
    by_id = store.sources_by_id([r[0] for r in rows])
    return [by_id[r[0]] for r in rows]


@dataclass(frozen=True)
class Engine:
    """Where batches are built: ``local`` (this process) or ``ray`` (actors of a local or remote cluster)."""

    name: str = "local"
    workers: int = 2
    address: str | None = None


def build(store: CorpusStore, recipe_path: Path, only: list[str] | None = None,
          engine: Engine = Engine()) -> dict[str, BuilderReport]:
    """Run every builder of the recipe (or those named in ``only``); returns a report per builder."""
    recipe = load_recipe(recipe_path)
    sources = select_sources(store, recipe)
    view = CorpusView.from_store(store, recipe, {s.id for s in sources})
    ctx = BuildContext(view, recipe)
    reports: dict[str, BuilderReport] = {}
    for settings in recipe.builder:
        if only and settings.id not in only:
            continue
        chosen = sources[: settings.limit] if settings.limit else sources
        done = {r[0] for r in store.con.execute(
            "SELECT source_id FROM build_log WHERE builder_id = ? AND config_hash = ?",
            [settings.id, settings.config_hash]).fetchall()}
        todo = [s for s in chosen if s.id not in done]
        report = reports[settings.id] = BuilderReport(sources=len(chosen), skipped=len(chosen) - len(todo))
        start, classifier_loaded = time.perf_counter(), "classifier" in ctx.__dict__
        for batch, output in progress(_batches(todo, settings, ctx, engine), f"{settings.id} ({settings.type})",
                                      total=-(-len(todo) // settings.batch_size)):
            _write(store, settings.id, settings.config_hash, batch, output)
            report.kept += len(output.kept)
            report.rejected += len(output.rejected)
        report.seconds = time.perf_counter() - start
        if not classifier_loaded and ctx.classifier_report:  # report training once, where it happened
            report.extra["classifier"] = ctx.classifier_report
    if engine.name == "ray":
        from whyset.builders.ray_engine import disconnect

        disconnect()
    return reports


def _batches(todo: list[SourceExample], settings: BuilderSettings, ctx: BuildContext, engine: Engine
             ) -> Iterator[tuple[list[SourceExample], BuildOutput]]:
    if not todo:
        return
    if engine.name == "ray":
        from whyset.builders.ray_engine import build_batches

        if settings.type in ("attribution_rationale", "rule_counterfactual"):
            _ = ctx.classifier  # train (and cache) the head once here, not in every actor
        yield from build_batches(todo, ctx.view, ctx.recipe, settings.id, settings.batch_size, engine.workers,
                                 engine.address)
        return
    builder = BUILDERS[settings.type](settings)
    for i in range(0, len(todo), settings.batch_size):
        batch = todo[i:i + settings.batch_size]
        yield batch, builder.build(batch, ctx)


def _write(store: CorpusStore, builder_id: str, config_hash: str, batch: list[SourceExample],
           output: BuildOutput) -> None:
    now = datetime.now(UTC)
    kept = {s.id: 0 for s in batch}
    rejected = {s.id: 0 for s in batch}
    for record in output.kept:
        kept[record.source_id] += 1
    for item in output.rejected:
        rejected[item.source_id] += 1
    with store.transaction():
        if output.kept:
            store.add_explanations(output.kept)
        if output.rejected:
            store.con.executemany(
                "INSERT OR IGNORE INTO rejected_candidates VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [[r.id, r.source_id, r.builder_id, r.kind, json.dumps(r.payload) if r.payload else None,
                  r.provenance.model_dump_json(), r.reason, json.dumps(r.scores) if r.scores else None]
                 for r in output.rejected])
        store.con.executemany(
            "INSERT OR IGNORE INTO build_log VALUES (?, ?, ?, ?, ?, ?)",
            [[builder_id, config_hash, s.id, kept[s.id], rejected[s.id], now] for s in batch])
