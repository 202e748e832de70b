"""The ``whyset`` command line. Each command is a thin shell over a library function."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from whyset.errors import WhysetError

app = typer.Typer(help="Build explanation corpora with human-checked reasons.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
import_app = typer.Typer(help="Bring source examples and explanations into the store.", no_args_is_help=True)
app.add_typer(import_app, name="import")
validate_app = typer.Typer(help="Agreement, explanation quality and corpus reports.", no_args_is_help=True)
app.add_typer(validate_app, name="validate")
# User data (paths, ids like "toy:train:0") must print verbatim: no markup, emoji codes or highlighting.
console = Console(soft_wrap=True, highlight=False, markup=False, emoji=False)
err_console = Console(stderr=True, soft_wrap=True, highlight=False, emoji=False)

StoreOption = Annotated[Path, typer.Option("--store", "-s", envvar="WHYSET_STORE",
                                           help="DuckDB file of the corpus project.")]
DEFAULT_STORE = Path("whyset.duckdb")


def _open(store: Path):
    from whyset.corpora.store import CorpusStore

    return CorpusStore(store)


@app.command()
def init(
    labels: Annotated[str, typer.Option(help="Comma-separated label set, e.g. entailment,neutral,contradiction")],
    name: Annotated[str | None, typer.Option(help="Dataset name used in exports.")] = None,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Create (or extend) a corpus store with its label set."""
    with _open(store) as db, db.transaction():
        db.declare_labels([label.strip() for label in labels.split(",") if label.strip()])
        if name:
            db.set_setting("name", name)
        console.print(f"{store}: labels {', '.join(db.labels)}")


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
    from whyset.corpora.esnli import import_esnli

    with _open(store) as db:
        new = import_esnli(db, folder, split, limit, explanations)
        if db.get_setting("name") is None:
            db.set_setting("name", "esnli-explanations")
        console.print(f"{store}: {new['sources']} new source examples, {new['annotations']} new annotations "
                      f"({db.count('sources')} / {db.count('annotations')} in store)")


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
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Import a table of source examples through a column mapping."""
    from whyset.corpora.importers import ColumnMapping, import_sources
    from whyset.corpora.licenses import canonical

    mapping = ColumnMapping.parse(field, label=label, license=canonical(license_id) if license_id else None,
                                  license_column=license_column, attribution=attribution)
    declared = [item.strip() for item in (labels or "").split(",") if item.strip()]
    with _open(store) as db:
        read, new = import_sources(db, path, fmt or _guess_format(path), mapping, dataset, split, declared)
        console.print(f"{path}: {read} rows read, {new} new source examples ({db.count('sources')} in store)")


def _guess_format(path: Path) -> str:
    if path.is_dir():
        return "hf-disk"
    suffix = path.suffix.lower().lstrip(".")
    return {"jsonl": "jsonl", "ndjson": "jsonl", "csv": "csv", "parquet": "parquet"}.get(suffix, suffix)


@import_app.command("explanations")
def import_explanations_cmd(
    path: Annotated[Path, typer.Argument(help="JSONL of explanation records (see README).")],
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Import rationales, counterfactuals or QA-explanation triples as candidates or annotations."""
    from whyset.corpora.importers import import_explanations

    with _open(store) as db:
        read, new = import_explanations(db, path)
        console.print(f"{path}: {read} records read, {new} new")


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
    from whyset.corpora.export import export_dataset

    with _open(store) as db:
        gate_record = _check_gates(db, gates, override_gates) if gates else None
        result = export_dataset(db, out, version=version, bump=bump, license_id=license_id,
                                override=override_license, include_candidates=include_candidates,
                                annotated_only=annotated_only,
                                gates=gate_record)
    state = "new version" if result.new_version else "unchanged data, same version"
    console.print(f"{out}: version {result.version} ({state}), licence {result.license}, "
                  + ", ".join(f"{k} {v}" for k, v in result.counts.items()))


def _check_gates(db, gates: Path, override: str | None) -> dict:
    """Validate the store, evaluate the gates, refuse on failure unless overridden; returns the record."""
    from whyset.validators.gates import evaluate, failure_message, load_gates
    from whyset.validators.store_validation import run_validation

    rules = load_gates(gates)
    results = run_validation(db, n_boot=200)
    rows = evaluate(rules, results)
    if not all(r["passed"] for r in rows):
        if not override:
            raise WhysetError(failure_message(rows, results))
        err_console.print(f"warning: {escape(failure_message(rows, results))}; overridden")
    return {"file": gates.name, "run_id": results["run_id"], "results": rows, "override": override}


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
    from whyset.builders.run import build as run_build

    if engine not in ("local", "ray"):
        raise WhysetError(f"--engine {engine!r}: choose local or ray")
    with _open(store) as db:
        reports = run_build(db, recipe, only, Engine(engine, workers, ray_address))
    for builder_id, r in reports.items():
        rate = (r.sources - r.skipped) / r.seconds if r.seconds else 0.0
        console.print(f"{builder_id}: {r.kept} kept, {r.rejected} rejected, {r.skipped} of {r.sources} sources "
                      f"already built ({rate:.1f} sources/s)" + (f"; classifier {r.extra['classifier']}"
                                                                 if r.extra else ""))


@app.command()
def publish(
    out: Annotated[Path, typer.Argument(help="A directory written by `whyset export`.")],
    repo_id: Annotated[str, typer.Option(help="Hub dataset repo, e.g. my-org/my-corpus.")],
    private: Annotated[bool, typer.Option(help="Create the repo as private.")] = False,
) -> None:
    """Upload an export to the Hugging Face Hub and tag it v<version> (token from HF_TOKEN or login)."""
    from whyset.corpora.hub import publish as publish_to_hub

    tag = publish_to_hub(out, repo_id, private=private)
    console.print(f"{repo_id}: uploaded {out}, tagged {tag}")


@app.command()
def info(store: StoreOption = DEFAULT_STORE) -> None:
    """Counts per table, label set, schema version and release history."""
    with _open(store) as db:
        console.print(f"store {store} (schema v{db.schema_version}), labels: {', '.join(db.labels) or 'none'}")
        for table in ("sources", "candidates", "rounds", "annotations", "validation_results"):
            console.print(f"  {table}: {db.count(table)}")
        for entry in db.exports():
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
        raise WhysetError(f"--kind {kind!r}: choose label, span or text")
    result = agreement(read_ratings(path, kind), level, n_boot=bootstrap, seed=seed)  # type: ignore[arg-type]
    for warning in result["warnings"]:
        err_console.print(f"warning: {escape(warning)}")
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
    list_metrics: Annotated[bool, typer.Option(help="Print every figure's dotted name (for gate files).")] = False,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Agreement and corpus statistics of the store's annotations, saved in the store and as an HTML report."""
    from whyset.validators.gates import evaluate, load_gates
    from whyset.validators.report import write_report
    from whyset.validators.store_validation import flat_metrics, run_validation

    rules = load_gates(gates) if gates else []
    with _open(store) as db:
        results = run_validation(db, n_boot=bootstrap)
        name = db.get_setting("name", db.path.stem)
    rows = evaluate(rules, results) if rules else None
    write_report(results, report, name, rows)
    for kind, why in results["skipped"].items():
        err_console.print(f"warning: {kind} agreement skipped: {escape(why)}")
    figures = flat_metrics(results)
    shown = figures if list_metrics else {k: v for k, v in figures.items() if k.count(".") == 1}
    for metric, value in shown.items():
        console.print(f"{metric} = {value:.4f}")
    for row in rows or []:
        console.print(f"gate {row['metric']} {row['rule']}: {'pass' if row['passed'] else 'FAIL'}")
    console.print(f"report: {report.resolve()}")


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


import whyset.studio_cli  # noqa: F401  (registers studio/push/pull/adjudicate on `app`)


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one line on stderr and exit status 1."""
    try:
        app(args=argv, prog_name="whyset")
    except WhysetError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}")
        sys.exit(1)
