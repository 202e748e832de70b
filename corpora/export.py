"""Export the store as a versioned Hugging Face dataset directory.

Layout (one config per table kind, one Parquet shard set per split)::

    OUT/README.md                       dataset card with YAML metadata (licence, configs, ...)
    OUT/data/<config>/<split>-00000-of-0000N.parquet
    OUT/provenance.json                 who/what produced every row, licence decision, file hashes
    OUT/CHANGELOG.md                    one entry per released version, from the store's export history
    OUT/croissant.json                  Croissant JSON-LD metadata

Data files depend only on the store's tables (rows in id order, fixed writer settings), so exporting the
same store state twice gives byte-identical Parquet files, and the version is reused when nothing changed.

A release is one step (the version promise: a folder always holds one whole version, and a version number
never names two data sets): the store reads one view of its tables; the new version is written beside the
folder; the store records the version with the data's fingerprint *before* the folder changes; then one atomic
exchange puts the new folder in place (:mod:`whyset.corpora.release_folder`). Killed before the record, the
folder holds the old version and nothing was released; killed after it, the same data exports as that version
again (a version whose folder never appeared is reused for the same data, skipped for other data). A folder
holding a version the store never recorded (older whyset recorded it after the swap, and could be killed in
between) is reconciled first: its version joins the history, so it is never released again with other data.
"""

from __future__ import annotations

import hashlib
import json
import re
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
from whyset.corpora.info import CorpusInfo
from whyset.corpora.release_folder import check_target, put_in_place, recover, swap_folder
from whyset.corpora.schema import SourceExample
from whyset.corpora.store import CorpusStore, Round
from whyset.corpora.tables import ConfigTable, build_tables
from whyset.errors import BadInput, WhysetError

SHARD_ROWS = 100_000
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")


@dataclass(frozen=True)
class ExportResult:
    out_dir: Path
    version: str
    fingerprint: str
    license: str
    counts: dict[str, int]
    new_version: bool


@dataclass(frozen=True)
class _Snapshot:
    """Everything an export reads from the store, read from one view of it."""

    name: str
    info: CorpusInfo
    sources: list[SourceExample]
    tables: list[ConfigTable]
    rounds: list[Round]
    control_items: dict[str, dict[str, dict[str, Any]]]  # known-answer accuracy per round and annotator
    schema_version: int
    history: list[dict[str, Any]]


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
    check_target(out_dir)
    recover(out_dir)
    snapshot = _read(store, include_candidates, annotated_only)
    release = _check_licences(snapshot.sources, license_id, override)
    history = _reconcile(store, out_dir, snapshot.history)

    staging = swap_folder(out_dir)
    files = write_parquet(snapshot.tables, staging)
    fingerprint = _fingerprint(staging, files)
    chosen, is_new = _choose_version(history, fingerprint, version, bump)
    counts = {table.name: table.num_rows for table in snapshot.tables}
    entry = {"version": chosen, "fingerprint": fingerprint, "license": release, "override": override,
             "counts": counts, "created_at": datetime.now(UTC)}
    releases = history + [entry] if is_new else history
    published = next(r["created_at"] for r in releases if r["version"] == chosen).date()
    provenance = _provenance_summary(snapshot, files, staging, release, override, chosen, fingerprint)
    provenance["quality_gates"] = gates
    write_metadata(snapshot, staging, provenance, releases, published, release, validation)

    if is_new:
        record_release(store, entry)
    put_in_place(staging, out_dir)
    return ExportResult(out_dir, chosen, fingerprint, release, counts, is_new)


def _read(store: CorpusStore, include_candidates: bool, annotated_only: bool) -> _Snapshot:
    with store.reading():
        sources = list(store.iter_sources())
        if annotated_only:
            annotated = store.annotated_source_ids()
            sources = [s for s in sources if s.id in annotated]
        if not sources:
            raise WhysetError(f"{store.path}: the store has no source examples to export")
        return _Snapshot(store.name, store.info, sources, build_tables(store, sources, include_candidates),
                         store.rounds(), store.studio.control_accuracy(), store.schema_version, store.exports())


def write_metadata(snapshot: _Snapshot, staging: Path, provenance: dict[str, Any], releases: list[dict[str, Any]],
                   published: Any, release: str, validation: dict[str, Any] | None) -> None:
    """The card, changelog, provenance and Croissant files of the staged version."""
    name, version = snapshot.name, provenance["dataset_version"]
    (staging / "provenance.json").write_text(json.dumps(provenance, indent=2, sort_keys=True) + "\n")
    (staging / "CHANGELOG.md").write_text(render_changelog(name, releases))
    (staging / "README.md").write_text(render_card(name, snapshot.info, snapshot.tables, provenance, validation))
    jsonld = croissant_jsonld(name, version, published, release, snapshot.tables, provenance, snapshot.info)
    (staging / "croissant.json").write_text(json.dumps(jsonld, indent=2) + "\n")


def record_release(store: CorpusStore, entry: dict[str, Any]) -> None:
    """The version and its fingerprint go into the store's history before the folder changes."""
    store.record_export(entry["version"], entry["fingerprint"], entry["license"], entry["override"], entry["counts"])


def _reconcile(store: CorpusStore, out_dir: Path, history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The history, with the folder's version added if the store never recorded it. A folder holding one of
    this store's versions with other data is another corpus's export, and is refused."""
    found = folder_release(out_dir)
    if found is None:
        return history
    known = {entry["version"]: entry for entry in history}
    if found["version"] in known:
        if known[found["version"]]["fingerprint"] != found["fingerprint"]:
            raise BadInput(f"{out_dir}: holds version {found['version']} of other data than this store released "
                           "under that number (another corpus's export?); export into another folder")
        return history
    record_release(store, found)
    return store.exports()


def folder_release(out_dir: Path) -> dict[str, Any] | None:
    """The release an export folder holds, from its provenance.json (None: not an export)."""
    path = out_dir / "provenance.json"
    try:
        provenance = json.loads(path.read_text(encoding="utf-8"))
        counts = {config: sum(splits.values()) for config, splits in provenance["configs"].items()}
        return {"version": provenance["dataset_version"], "fingerprint": provenance["data_fingerprint"],
                "license": provenance["license"]["release"], "override": provenance["license"]["override"],
                "counts": counts}
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BadInput(f"{path}: not a whyset provenance file ({exc!r}); export into another folder") from None


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


def write_parquet(tables: Sequence[ConfigTable], root: Path) -> list[str]:
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
def _provenance_summary(snapshot: _Snapshot, files: Sequence[str], root: Path, release: str, override: str | None,
                        version: str, fingerprint: str) -> dict[str, Any]:
    sources, tables = snapshot.sources, snapshot.tables
    source_groups = Counter((s.dataset, s.split, s.license, s.attribution) for s in sources)
    producers: Counter[tuple] = Counter()
    for table in tables[1:]:
        if "provenance" not in table.features:  # the gold config aggregates; its producers are the annotators
            continue
        for rows in table.rows_by_split.values():
            for row in rows:
                p = row["provenance"]
                producers[(table.name, row["record_type"], p["origin"], p["agent_id"], p["model_name"],
                           p["model_revision"], p["prompt_id"], p["prompt_hash"])] += 1
    return {
        "dataset_version": version,
        "data_fingerprint": fingerprint,
        "store_schema_version": snapshot.schema_version,
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
                   for r in snapshot.rounds],
        "control_items": snapshot.control_items,  # known-answer items: never in the data, counted here
        "configs": {t.name: {split: len(rows) for split, rows in sorted(t.rows_by_split.items())} for t in tables},
        "files": {relative: f"sha256:{file_sha256(root / relative)}" for relative in files},
    }
