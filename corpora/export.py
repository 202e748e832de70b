"""Export the store as a versioned Hugging Face dataset directory.

Layout (one config per table kind, one Parquet shard set per split)::

    OUT/README.md                       dataset card with YAML metadata (licence, configs, ...)
    OUT/data/<config>/<split>-00000-of-0000N.parquet
    OUT/provenance.json                 who/what produced every row, licence decision, file hashes
    OUT/CHANGELOG.md                    one entry per released version, from the store's export history
    OUT/croissant.json                  Croissant JSON-LD metadata

Data files depend only on the store's tables (rows in id order, fixed writer settings), so exporting the
same store state twice gives byte-identical Parquet files, and the version is reused when nothing changed.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from whyset import __version__
from whyset.corpora import licenses
from whyset.corpora.card import render_card, render_changelog
from whyset.corpora.croissant import croissant_jsonld
from whyset.corpora.schema import SourceExample
from whyset.corpora.store import CorpusStore
from whyset.corpora.tables import ConfigTable, build_tables
from whyset.errors import WhysetError

SHARD_ROWS = 100_000
MANAGED = ("data", "README.md", "CHANGELOG.md", "provenance.json", "croissant.json")
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")


@dataclass(frozen=True)
class ExportResult:
    out_dir: Path
    version: str
    fingerprint: str
    license: str
    counts: dict[str, int]
    new_version: bool


def export_dataset(
    store: CorpusStore,
    out_dir: Path,
    *,
    version: str | None = None,
    bump: str = "minor",
    license_id: str | None = None,
    override: str | None = None,
    include_candidates: bool = False,
    gates: dict[str, Any] | None = None,
    validation: dict[str, Any] | None = None,
    annotated_only: bool = False,
) -> ExportResult:
    """Write the dataset directory; refuses (WhysetError) on licence problems unless ``override`` says why.

    ``gates`` is the release's gate record and ``validation`` the validation run behind it (its figures go
    into the card's quality section). ``annotated_only`` keeps the source examples that have at least one
    human annotation: the corpus when the store also holds unannotated examples (e.g. the rest of a split,
    used to train a builder's head)."""
    if bump not in ("major", "minor", "patch"):
        raise WhysetError(f"--bump {bump!r}: choose major, minor or patch")
    sources = list(store.iter_sources())
    if annotated_only:
        annotated = store.annotated_source_ids()
        sources = [s for s in sources if s.id in annotated]
    if not sources:
        raise WhysetError(f"{store.path}: the store has no source examples to export")
    release = _check_licences(sources, license_id, override)
    tables = build_tables(store, sources, include_candidates)

    staging = out_dir.parent / f".{out_dir.name}.whyset-staging"
    shutil.rmtree(staging, ignore_errors=True)
    files = _write_parquet(tables, staging)
    fingerprint = _fingerprint(staging, files)
    history = store.exports()
    chosen, is_new = _choose_version(history, fingerprint, version, bump)
    counts = {table.name: table.num_rows for table in tables}
    entry = {"version": chosen, "fingerprint": fingerprint, "license": release, "override": override,
             "counts": counts, "created_at": datetime.now(UTC)}
    releases = history + [entry] if is_new else history
    published = next(r["created_at"] for r in releases if r["version"] == chosen).date()

    name = store.name
    provenance = _provenance_summary(store, sources, tables, files, staging, release, override, chosen, fingerprint)
    provenance["quality_gates"] = gates
    (staging / "provenance.json").write_text(json.dumps(provenance, indent=2, sort_keys=True) + "\n")
    (staging / "CHANGELOG.md").write_text(render_changelog(name, releases))
    (staging / "README.md").write_text(render_card(name, store.info, tables, provenance, validation))
    jsonld = croissant_jsonld(name, chosen, published, release, tables, provenance, store.info)
    (staging / "croissant.json").write_text(json.dumps(jsonld, indent=2) + "\n")

    _swap_into_place(staging, out_dir)
    if is_new:
        store.record_export(chosen, fingerprint, release, override, counts)
    return ExportResult(out_dir, chosen, fingerprint, release, counts, is_new)


# -- licences ---------------------------------------------------------------------------------------
def _check_licences(sources: Sequence[SourceExample], requested: str | None, override: str | None) -> str:
    missing = [s for s in sources if not s.license]
    if missing and not override:
        first = missing[0]
        raise WhysetError(
            f"{len(missing)} source example(s) have no licence, e.g. {first.dataset}:{first.split}:{first.row} "
            f"(id {first.id}), field 'license': set one at import, or pass --override-license REASON"
        )
    known = [licenses.canonical(s.license) for s in sources if s.license]
    if not known and not requested:
        raise WhysetError("no source has a licence: pass --license for the release")
    release = licenses.release_license(known, requested)
    problems = licenses.conflicts(release, known)
    if problems and not override:
        raise WhysetError(f"licence conflict: {'; '.join(problems)} (pass --override-license REASON to release anyway)")
    return release


def _write_parquet(tables: Sequence[ConfigTable], root: Path) -> list[str]:
    """Write every shard; returns the relative paths written, sorted."""
    written = []
    for table in tables:
        schema = table.features.arrow_schema
        for split, rows in sorted(table.rows_by_split.items()):
            shards = max(1, -(-len(rows) // SHARD_ROWS))
            for index in range(shards):
                relative = f"data/{table.name}/{split}-{index:05d}-of-{shards:05d}.parquet"
                path = root / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                chunk = rows[index * SHARD_ROWS : (index + 1) * SHARD_ROWS]
                pq.write_table(pa.Table.from_pylist(chunk, schema=schema), path, compression="zstd")
                written.append(relative)
    return sorted(written)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _fingerprint(root: Path, files: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for relative in files:
        digest.update(f"{relative}\0{file_sha256(root / relative)}\n".encode())
    return digest.hexdigest()


# -- versions ---------------------------------------------------------------------------------------
def _parse(version: str) -> tuple[int, int, int]:
    match = _SEMVER.match(version)
    if not match:
        raise WhysetError(f"version {version!r} is not semantic versioning MAJOR.MINOR.PATCH")
    return int(match[1]), int(match[2]), int(match[3])


def bump_version(current: str | None, part: str) -> str:
    if current is None:
        return "1.0.0"
    major, minor, patch = _parse(current)
    bumped = {"major": (major + 1, 0, 0), "minor": (major, minor + 1, 0), "patch": (major, minor, patch + 1)}
    if part not in bumped:
        raise WhysetError(f"--bump {part!r}: choose major, minor or patch")
    return ".".join(map(str, bumped[part]))


def _choose_version(history: list[dict[str, Any]], fingerprint: str, requested: str | None,
                    bump: str) -> tuple[str, bool]:
    """(version, is_new). Unchanged data keeps its version; changed data needs a higher one."""
    released = {entry["version"]: entry for entry in history}
    last = history[-1] if history else None
    if requested is None:
        if last and last["fingerprint"] == fingerprint:
            return last["version"], False
        return bump_version(last["version"] if last else None, bump), True
    _parse(requested)
    if requested in released:
        if released[requested]["fingerprint"] != fingerprint:
            raise WhysetError(f"version {requested} was already released with different data: choose a new version")
        return requested, False
    if last and _parse(requested) <= _parse(last["version"]):
        raise WhysetError(f"version {requested} is not greater than the last release {last['version']}")
    return requested, True


# -- provenance -------------------------------------------------------------------------------------
def _provenance_summary(store: CorpusStore, sources: Sequence[SourceExample], tables: Sequence[ConfigTable],
                        files: Sequence[str], root: Path, release: str, override: str | None, version: str,
                        fingerprint: str) -> dict[str, Any]:
    source_groups = Counter((s.dataset, s.split, s.license, s.attribution) for s in sources)
    producers: Counter[tuple] = Counter()
    for table in tables[1:]:
        for rows in table.rows_by_split.values():
            for row in rows:
                p = row["provenance"]
                producers[(table.name, row["record_type"], p["origin"], p["agent_id"], p["model_name"],
                           p["model_revision"], p["prompt_id"], p["prompt_hash"])] += 1
    return {
        "dataset_version": version,
        "data_fingerprint": fingerprint,
        "store_schema_version": store.schema_version,
        "exported_with": f"whyset {__version__}",
        "license": {"release": release, "sources": sorted({s.license or "NONE" for s in sources}),
                    "override": override},
        "sources": [
            {"dataset": d, "split": sp, "license": lic, "attribution": att, "examples": n}
            for (d, sp, lic, att), n in sorted(source_groups.items(), key=lambda kv: str(kv[0]))
        ],
        "producers": [
            dict(zip(("config", "record_type", "origin", "agent_id", "model_name", "model_revision", "prompt_id",
                      "prompt_hash"), key, strict=True)) | {"records": n}
            for key, n in sorted(producers.items(), key=lambda kv: str(kv[0]))
        ],
        "rounds": [{"id": r.id, "name": r.name, "kind": r.kind, "guideline_version": r.guideline_version}
                   for r in store.rounds()],
        "control_items": store.studio.control_accuracy(),  # known-answer items: never in the data, counted here
        "configs": {t.name: {split: len(rows) for split, rows in sorted(t.rows_by_split.items())} for t in tables},
        "files": {relative: f"sha256:{file_sha256(root / relative)}" for relative in files},
    }


def _swap_into_place(staging: Path, out_dir: Path) -> None:
    """Replace only whyset's own files in ``out_dir`` (a clone of a Hub repo keeps its .git)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in MANAGED:
        target = out_dir / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        shutil.move(str(staging / name), target)
    shutil.rmtree(staging)
