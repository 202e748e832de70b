"""``whyset build <recipe>``: run a recipe's builders over the selected sources, batch by batch.

Each batch of one builder is written in one transaction together with its ``build_log`` rows and the
generator answers it used, so an interrupted build (Ctrl-C, a crash, a dead endpoint) leaves only whole
batches behind, and re-running skips exactly the (builder settings, source) pairs already logged; answers a
failed batch did receive are stored too, so its re-run asks the model only what it never answered.
``limit`` and ``batch_size`` are outside the settings' signature, so raising a builder's limit builds only
the new sources.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from whyset.builders.base import BUILDERS, BuilderSettings, signature_hash
from whyset.builders.context import BuildContext, BuildOutput, CorpusView
from whyset.builders.generation import ResponseCache
from whyset.builders.recipe import Recipe, load_recipe
from whyset.corpora.progress import progress
from whyset.corpora.schema import SourceExample
from whyset.corpora.store import CorpusStore


@dataclass
class BuilderReport:
    sources: int = 0
    skipped: int = 0
    kept: int = 0
    rejected: int = 0
    seconds: float = 0.0
    requests: int = 0  # generation requests that reached the generator (local engine)
    reused: int = 0  # generation requests answered from the response cache (local engine)
    responses: int = 0  # new answers stored
    extra: dict = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Sources built per second (skipped ones excluded)."""
        return (self.sources - self.skipped) / self.seconds if self.seconds else 0.0


def select_sources(store: CorpusStore, recipe: Recipe) -> list[SourceExample]:
    """The recipe's slice: sources in dataset/split/row order (so "the first 500 pairs" means what it says)."""
    selection = recipe.sources
    ids = store.source_ids_in_order(selection.dataset, selection.split, selection.limit)
    by_id = store.sources_by_id(ids)
    return [by_id[i] for i in ids]


@dataclass(frozen=True)
class Engine:
    """Where batches are built: ``local`` (this process) or ``ray`` (actors of a local or remote cluster)."""

    name: str = "local"
    workers: int = 2
    address: str | None = None


def build_hash(settings: BuilderSettings, recipe: Recipe) -> str:
    """What decides a builder's output: its signature and the models it uses (the classifier's settings for
    builders that score with it, the encoder or the generator), so that training the classifier on more pairs
    or pointing at another model rebuilds instead of keeping candidates the new setup would not make. A builder
    that needs no model keeps its settings' ``config_hash``."""
    needs, models = BUILDERS.get(settings.type).needs, recipe.models
    used: dict[str, object] = {}
    if "classifier" in needs:
        used |= {"classifier": recipe.classifier.model_dump(), "encoder": models.encoder}
    if "encoder" in needs:
        used["encoder"] = models.encoder
    if "generator" in needs:
        used["generator"] = [models.generator, models.endpoint, models.revision]
    if not used:
        return settings.config_hash
    return signature_hash({"settings": settings.signature(), "models": used})


def build(store: CorpusStore, recipe_path: Path, only: list[str] | None = None,
          engine: Engine = Engine()) -> dict[str, BuilderReport]:
    """Run every builder of the recipe (or those named in ``only``); returns a report per builder."""
    recipe = load_recipe(recipe_path)
    sources = select_sources(store, recipe)
    view = CorpusView.from_store(store, recipe, {s.id for s in sources})
    ctx = BuildContext(view, recipe, ResponseCache(store.responses.get))
    reports: dict[str, BuilderReport] = {}
    for settings in recipe.builder:
        if only and settings.id not in only:
            continue
        chosen = sources[: settings.limit] if settings.limit else sources
        key = build_hash(settings, recipe)
        done = store.builds.done(settings.id, key)
        todo = [s for s in chosen if s.id not in done]
        report = reports[settings.id] = BuilderReport(sources=len(chosen), skipped=len(chosen) - len(todo))
        start, classifier_loaded = time.perf_counter(), "classifier" in ctx.__dict__
        sent, reused = ctx.responses.requested, ctx.responses.reused
        try:
            for batch, output in progress(_batches(todo, settings, ctx, engine, store),
                                          f"{settings.id} ({settings.type})",
                                          total=-(-len(todo) // settings.batch_size)):
                answers = [*output.responses, *ctx.responses.new.values()]  # from Ray workers, or from here
                with store.transaction():  # the batch's answers with the batch: exactly what a resume needs
                    store.responses.add(answers)
                    store.builds.record_batch(settings.id, key, [s.id for s in batch],
                                              output.kept, output.rejected)
                ctx.responses.take_new()
                report.kept += len(output.kept)
                report.rejected += len(output.rejected)
                report.responses += len(answers)
        finally:  # answers a failed batch did get (kept by the cache until stored) are not asked for again
            store.responses.add(ctx.responses.take_new())
        report.seconds = time.perf_counter() - start
        if "classifier" in BUILDERS.get(settings.type).needs:  # so that validate run can reload it
            store.builds.record_classifier(settings.id, key, ctx.classifier_record())
        report.requests, report.reused = ctx.responses.requested - sent, ctx.responses.reused - reused
        if not classifier_loaded and ctx.classifier_report:  # report training once, where it happened
            report.extra["classifier"] = ctx.classifier_report
    if engine.name == "ray":
        from whyset.builders.ray_engine import disconnect

        disconnect()
    return reports


def _batches(todo: list[SourceExample], settings: BuilderSettings, ctx: BuildContext, engine: Engine,
             store: CorpusStore) -> Iterator[tuple[list[SourceExample], BuildOutput]]:
    if not todo:
        return
    builder_class = BUILDERS.get(settings.type)
    if engine.name == "ray":
        from whyset.builders.ray_engine import build_batches

        if "classifier" in builder_class.needs:  # train (and cache) classifiers once here, not in every actor
            for classifier in [ctx.recipe.classifier, *getattr(settings, "verify_with", ())]:
                ctx.classifier_for(classifier)
        known = store.responses.of_generator(ctx.generator.key) if "generator" in builder_class.needs else {}
        yield from build_batches(todo, ctx.view, ctx.recipe, settings.id, settings.batch_size, engine.workers,
                                 engine.address, known)
        return
    builder = builder_class(settings)
    for i in range(0, len(todo), settings.batch_size):
        batch = todo[i:i + settings.batch_size]
        yield batch, builder.build(batch, ctx)
