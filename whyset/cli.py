"""The ``whyset`` command line (corpus side). Each command parses its options, calls one
:class:`whyset.Corpus` method and prints the result; the Label Studio commands are in ``studio_cli``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from whyset._app import (
    DEFAULT_STORE,
    StoreOption,
    app,
    console,
    import_app,
    open_corpus,
    run,
    validate_app,
    warn,
)
from whyset.errors import BadInput
from whyset.llm_cli import llm_app  # noqa: F401  (registers the local LLM server commands on `app`)
from whyset.studio_cli import studio_app  # noqa: F401  (registers the Label Studio commands on `app`)


def main(argv: list[str] | None = None) -> None:
    """The ``whyset`` entry point."""
    run(argv)


def _split(values: str | None) -> list[str]:
    return [item.strip() for item in (values or "").split(",") if item.strip()]


@app.command()
def init(
    labels: Annotated[str | None, typer.Option(help="Comma-separated label set, e.g. entailment,neutral")] = None,
    name: Annotated[str | None, typer.Option(help="Dataset name used in exports.")] = None,
    pretty_name: Annotated[str | None, typer.Option(help="Human-readable title of the dataset card.")] = None,
    description: Annotated[str | None, typer.Option(help="One-paragraph description for the card.")] = None,
    language: Annotated[list[str] | None, typer.Option("--language", help="Language code (repeatable).")] = None,
    task_category: Annotated[list[str] | None, typer.Option(
        "--task-category", help="Hub task id, e.g. text-classification (repeatable).")] = None,
    citation: Annotated[Path | None, typer.Option(help="File with the corpus's BibTeX entry.")] = None,
    homepage: Annotated[str | None, typer.Option(help="Homepage URL.")] = None,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Create (or extend) a corpus store: its label set and the metadata its dataset card shows."""
    from pydantic import ValidationError

    from whyset.corpora.importers import one_line
    from whyset.corpora.info import CorpusInfo
    from whyset.corpora.text_files import read_text

    fields = {"name": name, "pretty_name": pretty_name, "description": description, "languages": language,
              "task_categories": task_category, "homepage": homepage,
              "citation": read_text(citation, "citation file") if citation else None}
    try:
        info = CorpusInfo(**{k: v for k, v in fields.items() if v})
    except ValidationError as exc:
        raise BadInput(f"whyset init: {one_line(exc)}") from None
    with open_corpus(store) as corpus:
        merged = corpus.init(_split(labels), info)
        console.print(f"{store}: labels {', '.join(corpus.store.labels) or 'none'}; "
                      f"name {merged.name or corpus.store.name}")


@import_app.command("esnli")
def import_esnli_cmd(
    folder: Annotated[Path, typer.Argument(help="Folder with s1/s2/labels/preproc1_expl_{1,2,3} files.")],
    split: Annotated[str, typer.Option(help="Split suffix of the files (dev, train, test).")] = "dev",
    limit: Annotated[int | None, typer.Option(help="Import only the first N pairs.")] = None,
    explanations: Annotated[bool, typer.Option(help="Also import the human explanations (round esnli-original).")
                            ] = True,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Import e-SNLI: pairs as sources, the three explanations as annotators a1, a2, a3."""
    with open_corpus(store) as corpus:
        report = corpus.import_esnli(folder, split, limit, explanations)
        console.print(f"{store}: {report.read} pairs read: {report.sources_line()}; {report.new_annotations} new "
                      f"annotations ({corpus.store.count('sources')} / {corpus.store.count('annotations')} in store)")


@import_app.command("sources")
def import_sources_cmd(
    path: Annotated[Path, typer.Argument(help="JSONL, CSV or Parquet file, or a `datasets` save_to_disk folder.")],
    field: Annotated[list[str], typer.Option("--field", "-f", help="NAME=COLUMN text field mapping (repeatable).")],
    dataset: Annotated[str, typer.Option(help="Source dataset name recorded with each example.")],
    fmt: Annotated[str | None, typer.Option("--format", help="jsonl|csv|parquet|hf-disk (default: from the path).")] = None,
    split: Annotated[str, typer.Option(help="Split name when the file has none.")] = "train",
    label: Annotated[str | None, typer.Option(help="Column holding the gold label.")] = None,
    labels: Annotated[str | None, typer.Option(help="Comma-separated label set to declare.")] = None,
    license_id: Annotated[str | None, typer.Option("--license", help="SPDX licence id of the whole file.")] = None,
    license_column: Annotated[str | None, typer.Option(help="Column with a per-row SPDX licence id.")] = None,
    attribution: Annotated[str | None, typer.Option(help="Attribution / citation text.")] = None,
    id_column: Annotated[str | None, typer.Option(
        help="Column holding each row's own key: re-imports match rows by it (default: by their content).")] = None,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Import a table of source examples through a column mapping; re-importing a refreshed file adds only what
    is new, and says what is new, changed and gone."""
    with open_corpus(store) as corpus:
        report = corpus.import_sources(path, field, dataset, fmt=fmt, split=split, label=label,
                                       labels=_split(labels), license=license_id, license_column=license_column,
                                       attribution=attribution, id_column=id_column)
        console.print(f"{path}: {report.read} rows read: {report.sources_line()} "
                      f"({corpus.store.count('sources')} in store)")


@import_app.command("explanations")
def import_explanations_cmd(
    path: Annotated[Path, typer.Argument(help="JSONL of explanation records (see README).")],
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Import rationales, counterfactuals or QA-explanation triples as candidates or annotations."""
    with open_corpus(store) as corpus:
        report = corpus.import_explanations(path)
    console.print(f"{path}: {report.read} records read, {report.new} new")


@app.command()
def export(
    out: Annotated[Path, typer.Argument(help="Dataset directory to write (created or updated).")],
    version: Annotated[str | None, typer.Option(help="Semantic version; default: bump if data changed.")] = None,
    bump: Annotated[str, typer.Option(help="major|minor|patch when no --version is given.")] = "minor",
    license_id: Annotated[str | None, typer.Option("--license", help="Release licence (SPDX id).")] = None,
    override_license: Annotated[str | None, typer.Option(
        help="Release despite missing/incompatible licences; the REASON goes into the dataset card.")] = None,
    include_candidates: Annotated[bool, typer.Option(help="Also export unreviewed model candidates.")] = False,
    annotated_only: Annotated[bool, typer.Option(help="Only source examples with a human annotation.")] = False,
    gates: Annotated[Path | None, typer.Option(help="Gate file (TOML) that validation must pass.")] = None,
    override_gates: Annotated[str | None, typer.Option(
        help="Release despite failed gates; the REASON goes into the dataset card.")] = None,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Export a versioned Hugging Face dataset (Parquet + card + provenance + CHANGELOG + Croissant)."""
    from whyset.validators.gates import failure_message

    with open_corpus(store) as corpus:
        release = corpus.export(out, version=version, bump=bump, license=license_id,
                                override_license=override_license, include_candidates=include_candidates,
                                annotated_only=annotated_only, gates=gates, override_gates=override_gates)
    if release.gates and not release.gates.passed:
        warn(f"{failure_message(release.gates.results, {})}; overridden")
    result = release.result
    state = "new version" if result.new_version else "unchanged data, same version"
    console.print(f"{out}: version {result.version} ({state}), licence {result.license}, "
                  + ", ".join(f"{k} {v}" for k, v in result.counts.items()))


@app.command()
def build(
    recipe: Annotated[Path, typer.Argument(help="Recipe (TOML or YAML) naming sources, models and builders.")],
    only: Annotated[list[str] | None, typer.Option("--only", help="Run only this builder id (repeatable).")] = None,
    engine: Annotated[str, typer.Option(help="local | ray (Ray Data actors; a local cluster unless --ray-address)")
                      ] = "local",
    workers: Annotated[int, typer.Option(help="Ray actors per builder.")] = 2,
    ray_address: Annotated[str | None, typer.Option(envvar="RAY_ADDRESS", help="Existing Ray cluster to join.")
                           ] = None,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Generate candidates (rationales, counterfactuals, QA triples) with full provenance; resumable."""
    from whyset.builders.run import Engine

    if engine not in ("local", "ray"):
        raise BadInput(f"--engine {engine!r}: choose local or ray")
    with open_corpus(store) as corpus:
        reports = corpus.build(recipe, only, Engine(engine, workers, ray_address))
    for builder_id, r in reports.items():
        console.print(f"{builder_id}: {r.kept} kept, {r.rejected} rejected, {r.skipped} of {r.sources} sources "
                      f"already built ({r.rate:.1f} sources/s)"
                      + (f"; {r.requests} generation requests, {r.reused} answered from the cache"
                         if r.requests or r.reused else "")
                      + (f"; classifier {r.extra['classifier']}" if "classifier" in r.extra else ""))


@app.command()
def publish(
    out: Annotated[Path, typer.Argument(help="A directory written by `whyset export`.")],
    repo_id: Annotated[str, typer.Option(help="Hub dataset repo, e.g. my-org/my-corpus.")],
    private: Annotated[bool, typer.Option(help="Create the repo as private.")] = False,
) -> None:
    """Upload an export to the Hugging Face Hub and tag it v<version> (token from HF_TOKEN or login)."""
    from whyset.corpus import Corpus

    tag = Corpus.publish(out, repo_id, private=private)
    console.print(f"{repo_id}: uploaded {out}, tagged {tag}")


@app.command()
def info(store: StoreOption = DEFAULT_STORE) -> None:
    """Counts per table, label set, schema version and release history."""
    with open_corpus(store) as corpus:
        summary = corpus.summary()
    console.print(f"store {store} (schema v{summary.schema_version}), labels: {', '.join(summary.labels) or 'none'}")
    for table, n in summary.counts.items():
        console.print(f"  {table}: {n}")
    for entry in summary.releases:
        console.print(f"  release {entry['version']} ({entry['created_at']:%Y-%m-%d}, {entry['license']})")


@validate_app.command("agreement")
def validate_agreement(
    path: Annotated[Path, typer.Argument(help='JSONL lines {"item": ..., "annotator": ..., "value": ...}.')],
    kind: Annotated[str, typer.Option(help="label | span | text")] = "label",
    level: Annotated[str, typer.Option(help="nominal | ordinal | interval | ratio (labels only)")] = "nominal",
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for alpha's 95% interval (0: none).")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object with every figure.")] = False,
) -> None:
    """Inter-annotator agreement on any annotation export, not only whyset stores."""
    from whyset.validators.agreement import agreement
    from whyset.validators.ratings import read_ratings

    if kind not in ("label", "span", "text"):
        raise BadInput(f"--kind {kind!r}: choose label, span or text")
    result = agreement(read_ratings(path, kind), level, n_boot=bootstrap, seed=seed)  # type: ignore[arg-type]
    for warning in result["warnings"]:
        warn(warning)
    if as_json:
        print(json.dumps(result, sort_keys=True))
        return
    skip = {"pairs", "confusion", "per_annotator", "majority_rationale", "warnings"}
    for key, value in result.items():
        if key not in skip:
            console.print(f"{key}: {_fmt(value)}")


@validate_app.command("run")
def validate_run(
    report: Annotated[Path, typer.Option(help="Where to write the HTML report.")] = Path("validation-report.html"),
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for alpha's 95% interval (0: none).")] = 1000,
    gates: Annotated[Path | None, typer.Option(help="Gate file (TOML) to evaluate and show.")] = None,
    list_metrics: Annotated[bool, typer.Option(
        help="Print every figure's dotted name: those each metric family declares, then this run's.")] = False,
    recipe: Annotated[Path | None, typer.Option(
        help="Score candidates with this recipe's [models]/[classifier] instead of the builds' own.")] = None,
    classifier: Annotated[str | None, typer.Option(
        help="Score candidates with this fine-tuned sequence classifier (id or path) instead.")] = None,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Every metric family's figures over the store, saved in the store and as an HTML report."""
    from whyset.validators.families import declared_figures

    if list_metrics:
        for family, names in declared_figures().items():
            console.print(f"{family}: {', '.join(names)}")
    with open_corpus(store) as corpus:
        validation = corpus.validate(n_boot=bootstrap, report=report, gates=gates, recipe=recipe,
                                     classifier=classifier)
    for family, why in validation.results["skipped"].items():
        warn(f"{family} skipped: {why}")
    shown = validation.figures if list_metrics else {k: v for k, v in validation.figures.items()
                                                     if k.count(".") == 1}
    for metric, value in shown.items():
        console.print(f"{metric} = {_fmt(value)}")
    for row in validation.gates or []:
        console.print(f"gate {row.metric} {row.rule}: {'pass' if row.passed else 'FAIL'}")
    console.print(f"report: {report.resolve()}")


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)
