"""Dataset card (README.md with YAML metadata, via huggingface_hub) and CHANGELOG for an export."""

from __future__ import annotations

from typing import Any

from huggingface_hub import DatasetCard, DatasetCardData

from whyset.corpora.licenses import hub_license_id
from whyset.corpora.store import CorpusStore
from whyset.corpora.tables import ConfigTable

_SIZE_BOUNDS = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")]
_CREATORS = {"model": "machine-generated", "rule": "machine-generated"}


def size_category(n: int) -> str:
    """The Hub's size bucket for ``n`` examples."""
    return next((label for bound, label in _SIZE_BOUNDS if n < bound), "n>100M")


def card_data(name: str, tables: list[ConfigTable], provenance: dict[str, Any], store: CorpusStore) -> DatasetCardData:
    """YAML metadata: licence, language, task categories, annotation creators, sources, size, configs."""
    origins = sorted({p["origin"] for p in provenance["producers"]})
    human_kind = store.get_setting("human_annotators", "crowdsourced")
    creators = sorted({_CREATORS.get(origin, human_kind) for origin in origins}) or ["no-annotation"]
    configs = [
        {"config_name": table.name,
         "data_files": [{"split": split, "path": f"data/{table.name}/{split}-*.parquet"}
                        for split in sorted(table.rows_by_split)],
         **({"default": True} if table.name == "examples" else {})}
        for table in tables
    ]
    return DatasetCardData(
        pretty_name=store.get_setting("pretty_name", name),
        license=hub_license_id(provenance["license"]["release"]),
        language=store.get_setting("language", ["en"]),
        task_categories=store.get_setting("task_categories", ["text-classification"]),
        annotations_creators=creators,
        source_datasets=sorted({f"extended|{s['dataset']}" for s in provenance["sources"]}),
        size_categories=[size_category(tables[0].num_rows)],
        tags=["explanations", "rationales", "whyset"],
        configs=configs,
        version=provenance["dataset_version"],
    )


def render_card(name: str, tables: list[ConfigTable], provenance: dict[str, Any], store: CorpusStore) -> str:
    """The full README.md: YAML header plus a human-readable description of data, licence and provenance."""
    lic = provenance["license"]
    lines = [
        f"# {store.get_setting('pretty_name', name)} (version {provenance['dataset_version']})",
        "",
        "An explanation corpus built with whyset: each example carries reasons for its",
        "label (rationales, counterfactuals, question-answer-explanation triples) with full provenance.",
        "",
        "## Configs",
        "",
        "| config | split | rows |",
        "|---|---|---|",
        *(f"| {t.name} | {split} | {len(rows)} |" for t in tables for split, rows in sorted(t.rows_by_split.items())),
        "",
        "```python",
        "from datasets import load_dataset",
        f'ds = load_dataset("<this repo or folder>", "{tables[-1].name}")',
        "```",
        "",
        "## Licence",
        "",
        f"Released under **{lic['release']}**. Source licences: {', '.join(lic['sources'])}.",
    ]
    if lic["override"]:
        lines += ["", f"**Licence check overridden by the publisher.** Reason given: {lic['override']}"]
    gates = provenance.get("quality_gates")
    if gates:
        lines += ["", "## Quality gates", "", f"Checked with `{gates['file']}` (validation run {gates['run_id']}):", "",
                  "| metric | value | rule | result |", "|---|---|---|---|"]
        lines += [f"| {g['metric']} | {'n/a' if g['value'] is None else format(g['value'], '.4g')} | {g['rule']} | "
                  f"{'pass' if g['passed'] else 'FAIL'} |" for g in gates["results"]]
        if gates["override"]:
            lines += ["", f"**Failed gates overridden by the publisher.** Reason given: {gates['override']}"]
    lines += ["", "## Sources and attribution", ""]
    lines += [f"- {s['dataset']} ({s['split']}, {s['examples']} examples, {s['license'] or 'no licence'}): "
              f"{s['attribution'] or 'no attribution given'}" for s in provenance["sources"]]
    lines += ["", "## Provenance", "", "| config | type | origin | agent | model | prompt | records |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {p['config']} | {p['record_type']} | {p['origin']} | {p['agent_id']} | "
              f"{p['model_name'] or '-'}{'@' + p['model_revision'] if p['model_revision'] else ''} | "
              f"{p['prompt_id'] or '-'} | {p['records']} |" for p in provenance["producers"]]
    lines += ["", "Annotation rounds: " + (", ".join(f"{r['id']} ({r['kind']}, guidelines "
                                                      f"{r['guideline_version'] or 'n/a'})"
                                                      for r in provenance["rounds"]) or "none") + ".",
              "", "Per-row provenance is in each explanation config's `provenance` column; `provenance.json`",
              "summarises it with file hashes, and `croissant.json` carries Croissant metadata.", ""]
    data = card_data(name, tables, provenance, store)
    return str(DatasetCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines)))


def render_changelog(name: str, releases: list[dict[str, Any]]) -> str:
    """CHANGELOG.md from the store's export history, newest first, with row-count changes."""
    lines = [f"# Changelog: {name}", "", "Versions follow semantic versioning: MAJOR for schema changes, MINOR for",
             "added or changed data, PATCH for fixes.", ""]
    previous: dict[str, int] = {}
    entries = []
    for release in releases:
        when = release["created_at"].date()
        changes = ", ".join(
            f"{config}: {n} rows ({n - previous.get(config, 0):+d})" for config, n in sorted(release["counts"].items())
        )
        entry = [f"## [{release['version']}] - {when.isoformat()}", "", f"- {changes}",
                 f"- licence: {release['license']}", f"- data fingerprint: sha256:{release['fingerprint']}"]
        if release["override"]:
            entry.append(f"- licence check overridden: {release['override']}")
        entries.append("\n".join(entry) + "\n")
        previous = release["counts"]
    return "\n".join(lines) + "\n" + "\n".join(reversed(entries))
