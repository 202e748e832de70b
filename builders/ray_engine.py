"""``whyset build --engine ray``: the same builders as batch functions over a Ray Dataset.

For users who outgrow one machine. The driver reads everything builders need from the store once (a
:class:`CorpusView`), Ray actors (each loading the recipe's models once) build batches of sources, and the
driver writes each finished batch with its ``build_log`` rows in one transaction, exactly as the local
engine does: DuckDB has a single writer, and resuming works the same way.

Locally ``ray.init()`` starts a one-machine cluster; with ``--ray-address`` (or ``RAY_ADDRESS``) the build
joins an existing cluster. The candidates are the same as the local engine's (same ids), because every
builder is deterministic given its settings and seed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from whyset.builders.base import BUILDERS
from whyset.builders.context import BuildContext, BuildOutput, CorpusView
from whyset.builders.generation import ResponseCache
from whyset.builders.recipe import Recipe
from whyset.corpora.schema import ExplanationRecord, Provenance, SourceExample
from whyset.corpora.store_builds import RejectedCandidate
from whyset.corpora.store_responses import StoredResponse
from whyset.registry import import_plugins


class BatchBuilder:
    """A Ray actor: builds one batch of sources with one builder; models load once per actor. Generator
    answers are looked up in ``known`` (the driver's stored answers of this generator) and new ones travel
    back with the batch, for the driver to store."""

    def __init__(self, view: CorpusView, recipe_json: str, builder_id: str, known: dict[str, StoredResponse]):
        import_plugins(json.loads(recipe_json)["plugins"], "recipe")  # register the recipe's own builders here too
        recipe = Recipe.model_validate_json(recipe_json)
        settings = next(b for b in recipe.builder if b.id == builder_id)
        self.ctx = BuildContext(view, recipe, ResponseCache(lambda keys: {k: known[k] for k in keys if k in known}))
        self.builder = BUILDERS.get(settings.type)(settings)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        sources = [SourceExample.model_validate_json(s) for s in batch["source"]]
        output = self.builder.build(sources, self.ctx)
        kept = {s.id: [] for s in sources}
        rejected = {s.id: [] for s in sources}
        for record in output.kept:
            kept[record.source_id].append(record.model_dump(mode="json"))
        for item in output.rejected:
            rejected[item.source_id].append(asdict(item) | {"provenance": item.provenance.model_dump(mode="json")})
        answers = [asdict(r) for r in self.ctx.responses.take_new()]  # a column needs a value per row: on the first
        return {"source": list(batch["source"]), "kept": [json.dumps(kept[s.id]) for s in sources],
                "rejected": [json.dumps(rejected[s.id]) for s in sources],
                "responses": [json.dumps(answers if i == 0 else []) for i in range(len(sources))]}


def build_batches(sources: list[SourceExample], view: CorpusView, recipe: Recipe, builder_id: str,
                  batch_size: int, workers: int, address: str | None = None,
                  known: dict[str, StoredResponse] | None = None) -> Iterator[tuple[list[SourceExample], BuildOutput]]:
    """Yield (sources, output) per finished batch, built by ``workers`` Ray actors."""
    import ray

    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    dataset = ray.data.from_items([{"source": s.model_dump_json()} for s in sources])
    built = dataset.map_batches(BatchBuilder, batch_size=batch_size, concurrency=workers, batch_format="numpy",
                                fn_constructor_kwargs={"view": view, "recipe_json": recipe.model_dump_json(),
                                                       "builder_id": builder_id, "known": known or {}})
    for batch in built.iter_batches(batch_size=batch_size, batch_format="numpy"):
        chunk = [SourceExample.model_validate_json(s) for s in batch["source"]]
        output = BuildOutput()
        for kept, rejected, answers in zip(batch["kept"], batch["rejected"], batch["responses"], strict=True):
            output.kept += [ExplanationRecord.model_validate(r) for r in json.loads(kept)]
            output.rejected += [RejectedCandidate(**(r | {"provenance": Provenance.model_validate(r["provenance"])}))
                                for r in json.loads(rejected)]
            output.responses += [StoredResponse(**r) for r in json.loads(answers)]
        yield chunk, output


def disconnect() -> None:
    """Stop the local cluster this process started (or just leave a remote one)."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
