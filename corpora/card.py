"""Dataset card (README.md with YAML metadata, via huggingface_hub) and CHANGELOG for an export.

The card is rendered from typed inputs only: the corpus metadata (:class:`~whyset.corpora.info.CorpusInfo`),
the export's tables and provenance summary, and the validation run behind the release (each metric family
writes its own lines). Text that users typed (names, attribution, descriptions) is escaped, so it reads as
written and cannot inject markup into the card.
"""

from __future__ import annotations

import html
import re
from collections import defaultdict
from typing import Any

from huggingface_hub import DatasetCard, DatasetCardData

from whyset.corpora.info import CorpusInfo
from whyset.corpora.licenses import hub_license_id
from whyset.corpora.tables import ConfigTable

_SIZE_BOUNDS = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")]
_CREATORS = {"model": "machine-generated", "rule": "machine-generated"}
_MARKDOWN = re.compile(r"([\\`*_\[\]|])")  # what changes meaning mid-line (user text never starts a line)


def md(text: str) -> str:
    """User text as literal Markdown: HTML escaped, Markdown punctuation backslash-escaped, one line."""
    return _MARKDOWN.sub(r"\\\1", html.escape(" ".join(str(text).split()), quote=False))


def size_category(n: int) -> str:
    """The Hub's size bucket for ``n`` examples."""
    return next((label for bound, label in _SIZE_BOUNDS if n < bound), "n>100M")


def card_data(name: str, info: CorpusInfo, tables: list[ConfigTable], provenance: dict[str, Any]) -> DatasetCardData:
    """YAML metadata: licence, languages and task categories when set, annotation creators, sources, size."""
    origins = sorted({p["origin"] for p in provenance["producers"]})
    creators = sorted({_CREATORS.get(origin, "crowdsourced") for origin in origins}) or ["no-annotation"]
    configs = [
        {"config_name": table.name,
         "data_files": [{"split": split, "path": f"data/{table.name}/{split}-*.parquet"}
                        for split in sorted(table.rows_by_split)],
         **({"default": True} if table.name == "examples" else {})}
        for table in tables
    ]
    return DatasetCardData(
        pretty_name=info.pretty_name or name,
        license=hub_license_id(provenance["license"]["release"]),
        language=info.languages or None,
        task_categories=info.task_categories or None,
        annotations_creators=creators,
        source_datasets=sorted({f"extended|{s['dataset']}" for s in provenance["sources"]}),
        size_categories=[size_category(tables[0].num_rows)],
        tags=["explanations", "rationales", "whyset"],
        configs=configs,
        version=provenance["dataset_version"],
    )


def render_card(name: str, info: CorpusInfo, tables: list[ConfigTable], provenance: dict[str, Any],
                validation: dict[str, Any] | None = None) -> str:
    """The full README.md: YAML header plus a human-readable description of data, quality, licence and
    provenance."""
    lic = provenance["license"]
    lines = [f"# {md(info.pretty_name or name)} (version {provenance['dataset_version']})", ""]
    lines += [md(info.description), ""] if info.description else [
        "An explanation corpus built with whyset: each example carries reasons for its label (rationales,",
        "counterfactuals, question-answer-explanation triples) with full provenance.", ""]
    if info.homepage:
        lines += [f"Homepage: <{html.escape(info.homepage)}>", ""]
    lines += ["## Configs", "", "| config | split | rows |", "|---|---|---|",
              *(f"| {t.name} | {split} | {len(rows)} |" for t in tables
                for split, rows in sorted(t.rows_by_split.items())),
              "", "```python", "from datasets import load_dataset",
              f'ds = load_dataset("<this repo or folder>", "{tables[-1].name}")', "```", ""]
    lines += _quality(validation)
    lines += _limitations(validation)
    lines += ["## Licence", "", f"Released under **{lic['release']}**. Source licences: {', '.join(lic['sources'])}."]
    if lic["override"]:
        lines += ["", f"**Licence check overridden by the publisher.** Reason given: {md(lic['override'])}"]
    lines += _gates(provenance.get("quality_gates"))
    lines += ["", "## Sources and attribution", ""]
    lines += [f"- {md(s['dataset'])} ({md(s['split'])}, {s['examples']} examples, {s['license'] or 'no licence'}): "
              f"{md(s['attribution']) if s['attribution'] else 'no attribution given'}" for s in provenance["sources"]]
    lines += _producers(provenance["producers"])
    lines += ["", "Annotation rounds: " + (", ".join(f"{md(r['id'])} ({r['kind']}, guidelines "
                                                      f"{md(r['guideline_version'] or 'n/a')})"
                                                      for r in provenance["rounds"]) or "none") + ".",
              *_controls(provenance.get("control_items") or {}),
              "", "Per-row provenance is in each explanation config's `provenance` column; `provenance.json`",
              "summarises it with file hashes, and `croissant.json` carries Croissant metadata.", ""]
    if info.citation:
        lines += ["## Citation", "", "```bibtex", info.citation.replace("```", "'''"), "```", ""]
    data = card_data(name, info, tables, provenance)
    return str(DatasetCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines)))


def _quality(validation: dict[str, Any] | None) -> list[str]:
    """Each metric family's summary of the validation run behind this release, and what was not measured."""
    if validation is None:
        return []
    from whyset.validators.families import families

    lines = ["## Quality", "", f"Measured by `whyset validate run` (run {validation['run_id']}):", ""]
    for family in families():
        if family.name in validation:
            lines += family.card_lines(validation[family.name])
        elif family.name in validation["skipped"]:
            lines.append(f"- {family.title}: not measured ({md(validation['skipped'][family.name])}).")
    return lines + [""]


def _limitations(validation: dict[str, Any] | None) -> list[str]:
    """What the figures cannot tell, in general and from this validation run's own warnings."""
    lines = ["## Limitations", "",
             ("- Model candidates are released as the builders produced them; the quality figures describe them per "
             "builder, not row by row, and a candidate no round reviewed carries no human judgement."),
             ("- Faithfulness and flip rates are measured with the classifier that built the candidates (and a "
             "second head on other examples): they show how well candidates explain that model, not the task."),
             ("- Agreement covers the items two or more annotators answered; the gold answer of an item with one "
             "annotator is that annotator's answer.")]
    if validation is not None:
        from whyset.validators.families import families

        lines += [f"- {family.title}: {md(warning)}" for family in families() if family.name in validation
                  for warning in validation[family.name].get("warnings", [])]
    return lines + [""]


def _gates(gates: dict[str, Any] | None) -> list[str]:
    if not gates:
        return []
    lines = ["", "## Quality gates", "", f"Checked with `{md(gates['file'])}` (validation run {gates['run_id']}):", "",
             "| metric | value | rule | result |", "|---|---|---|---|"]
    lines += [f"| {g['metric']} | {'n/a' if g['value'] is None else format(g['value'], '.4g')} | {g['rule']} | "
              f"{'pass' if g['passed'] else 'FAIL'} |" for g in gates["results"]]
    if gates["override"]:
        lines += ["", f"**Failed gates overridden by the publisher.** Reason given: {md(gates['override'])}"]
    return lines


def _controls(controls: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """Accuracy on control items (known answers mixed into annotators' queues, left out of the data)."""
    lines = [f"- {md(round_id)}, {md(annotator)}: {v['correct']} of {v['answered']} correct"
             + (f" ({v['accuracy']:.2f})" if v["accuracy"] is not None else "") + f", {v['controls']} pushed"
             for round_id, per in sorted(controls.items()) for annotator, v in sorted(per.items())]
    return ["", "Control items (known answers mixed blind into annotators' queues; not part of the data):",
            *lines] if lines else []


def _producers(producers: list[dict[str, Any]]) -> list[str]:
    """One row per producer (config, origin, agent, model, prompt template), with how many prompts it used."""
    grouped: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for p in producers:
        model = f"{p['model_name'] or '-'}{'@' + p['model_revision'] if p['model_revision'] else ''}"
        row = grouped[(p["config"], p["record_type"], p["origin"], p["agent_id"], model, p["prompt_id"] or "-")]
        row[0] += p["records"]
        row[1] += p["prompt_hash"] is not None
    lines = ["", "## Provenance", "", "| config | type | origin | agent | model | prompt template | prompts | records |",
             "|---|---|---|---|---|---|---|---|"]
    return lines + [f"| {c} | {t} | {o} | {md(a)} | {md(m)} | {md(pid)} | {n_prompts} | {records} |"
                    for (c, t, o, a, m, pid), (records, n_prompts) in sorted(grouped.items())]


def render_changelog(name: str, releases: list[dict[str, Any]]) -> str:
    """CHANGELOG.md from the store's export history, newest first, with row-count changes."""
    lines = [f"# Changelog: {md(name)}", "", "Versions follow semantic versioning: MAJOR for schema changes, MINOR for",
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
            entry.append(f"- licence check overridden: {md(release['override'])}")
        entries.append("\n".join(entry) + "\n")
        previous = release["counts"]
    return "\n".join(lines) + "\n" + "\n".join(reversed(entries))
