"""The public Python API: a corpus project and every step of the loop as a method returning typed results.

::

    import whyset

    with whyset.Corpus.open("work/esnli.duckdb") as corpus:
        corpus.import_esnli("../shared/data/esnli-dev", explanations=False)
        corpus.build("examples/demo-recipe.toml")
        studio = whyset.Studio.open(corpus.studio_home)   # one Label Studio server per annotator
        corpus.push(studio, "rationale", "r1", ["alice", "bob"], k=2)
        ...                                    # annotators work in Label Studio
        corpus.pull(studio, "r1")
        corpus.adjudicate(studio, "r1", "dana")
        validation = corpus.validate(report="report.html")
        release = corpus.export("dataset", gates="gates.toml")

The ``whyset`` command line is a thin layer over these methods; the policy (gates, adjudication, licence
checks) lives in the library, so a notebook runs exactly what the CLI runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from whyset import paths
from whyset.corpora.info import CorpusInfo
from whyset.corpora.store import CorpusStore
from whyset.errors import BadInput

if TYPE_CHECKING:
    from whyset.annotation.campaign import ReassignReport
    from whyset.annotation.pull import PullReport
    from whyset.annotation.push import Guideline, PushReport
    from whyset.annotation.studio import Studio
    from whyset.builders.run import BuilderReport, Engine
    from whyset.corpora.export import ExportResult
    from whyset.corpora.store_sources import SourceChanges
    from whyset.validators.gates import GateRecord, GateResult
    from whyset.validators.round_status import RoundStatus


@dataclass(frozen=True)
class ImportReport:
    """What an import did. For sources: rows read, and how many were new, changed, unchanged, and gone (stored
    for the imported splits but not in the input; kept; None when the input was a slice, e.g. ``--limit``)."""

    read: int
    new: int
    new_annotations: int = 0
    changed: int = 0
    unchanged: int = 0
    gone: int | None = None

    @classmethod
    def of_sources(cls, changes: SourceChanges, new_annotations: int = 0) -> ImportReport:
        return cls(changes.new + changes.changed + changes.unchanged, changes.new, new_annotations, changes.changed,
                   changes.unchanged, changes.gone)

    def sources_line(self) -> str:
        """``3 new, 1 changed, 16 unchanged, 0 gone`` (gone left out for a slice)."""
        gone = "" if self.gone is None else f", {self.gone} gone"
        return f"{self.new} new, {self.changed} changed, {self.unchanged} unchanged{gone}"


@dataclass(frozen=True)
class Validation:
    """A validation run: every family's results (``results[family]``), its figures, and any gate results."""

    results: dict[str, Any]
    figures: dict[str, float | None]
    gates: list[GateResult] | None = None

    @property
    def run_id(self) -> str:
        return self.results["run_id"]


@dataclass(frozen=True)
class AdjudicationReport:
    round_id: str
    disagreeing: int
    created: int
    project_id: int | None
    link: str | None = None


@dataclass(frozen=True)
class Release:
    """An export, and the gate record it was released under (if gates were given)."""

    result: ExportResult
    gates: GateRecord | None = None


@dataclass(frozen=True)
class Summary:
    path: Path
    schema_version: int
    labels: list[str]
    counts: dict[str, int]
    releases: list[dict[str, Any]] = field(default_factory=list)


class Corpus:
    """One corpus project: its DuckDB store and the Label Studio home beside it."""

    def __init__(self, store: CorpusStore):
        self.store = store

    @classmethod
    def open(cls, path: str | Path) -> Corpus:
        """Open (or create) the corpus stored at ``path``."""
        return cls(CorpusStore(path))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()

    @property
    def path(self) -> Path:
        return self.store.path

    @property
    def studio_home(self) -> Path:
        """Where this corpus's Label Studio lives unless told otherwise (:func:`whyset.paths.studio_home`)."""
        return paths.studio_home(self.path)

    # -- set-up and import --------------------------------------------------------------------------
    def init(self, labels: Sequence[str] = (), info: CorpusInfo | None = None) -> CorpusInfo:
        """Declare labels (they may grow, never shrink) and set corpus metadata; returns the metadata."""
        with self.store.transaction():
            self.store.declare_labels([label.strip() for label in labels if label.strip()])
            return self.store.update_info(info or CorpusInfo())

    def import_esnli(self, folder: str | Path, split: str = "dev", limit: int | None = None,
                     explanations: bool = True) -> ImportReport:
        from whyset.corpora.esnli import import_esnli

        changes, new_annotations = import_esnli(self.store, Path(folder), split, limit, explanations)
        return ImportReport.of_sources(changes, new_annotations)

    def import_sources(self, path: str | Path, fields: Mapping[str, str] | Sequence[str], dataset: str, *,
                       fmt: str | None = None, split: str = "train", label: str | None = None,
                       labels: Sequence[str] = (), license: str | None = None, license_column: str | None = None,
                       attribution: str | None = None, id_column: str | None = None) -> ImportReport:
        """Import a table of source examples; ``fields`` maps text-field names to columns (or ``NAME=COLUMN``).

        ``id_column`` names the data's own key: a re-imported row is then the same source when its key is,
        and an edited row counts as changed; without one, a row is identified by its content."""
        from whyset.corpora.importers import ColumnMapping, guess_format, import_sources
        from whyset.corpora.licenses import canonical

        specs = [f"{k}={v}" for k, v in fields.items()] if isinstance(fields, Mapping) else list(fields)
        mapping = ColumnMapping.parse(specs, label=label, license=canonical(license) if license else None,
                                      license_column=license_column, attribution=attribution, id_column=id_column)
        path = Path(path)
        _read, changes = import_sources(self.store, path, fmt or guess_format(path), mapping, dataset, split, labels)
        return ImportReport.of_sources(changes)

    def import_explanations(self, path: str | Path) -> ImportReport:
        from whyset.corpora.importers import import_explanations

        read, new = import_explanations(self.store, Path(path))
        return ImportReport(read, new)

    # -- candidates ---------------------------------------------------------------------------------
    def build(self, recipe: str | Path, only: Sequence[str] | None = None,
              engine: Engine | None = None) -> dict[str, BuilderReport]:
        """Run a recipe's builders (resumable); one report per builder."""
        from whyset.builders.run import Engine, build

        return build(self.store, Path(recipe), list(only) if only else None, engine or Engine())

    # -- Label Studio -------------------------------------------------------------------------------
    def push(self, studio: Studio, kind: str, round_id: str, annotators: Sequence[str], k: int = 1,
             guideline: Guideline | None = None, limit: int | None = None, batch_size: int | None = None,
             controls: float = 0.0) -> PushReport:
        """Push items (with candidates as pre-annotations) to k of the annotators each, blind, with a share
        ``controls`` of each queue being known-answer items."""
        from whyset.annotation.push import BATCH_SIZE, Guideline, items_for, push
        from whyset.annotation.views import make_view

        if not annotators:
            raise BadInput("--annotators: give at least one annotator handle")
        guideline = guideline or Guideline(f"Annotate the {kind} task; see the corpus README.", "v1")
        view = make_view(self.store, kind)
        items = items_for(self.store, view, limit)
        if studio.blind:
            studio.up(annotators)  # each annotator's own server, started together
        studio.accounts(annotators)
        return push(self.store, studio, round_id, view, items, annotators, k, guideline,
                    batch_size=batch_size or BATCH_SIZE, controls=controls)

    def pull(self, studio: Studio, round_id: str) -> PullReport:
        """Pull the round's annotations; invalid ones are kept aside with the reason."""
        from whyset.annotation.pull import pull

        return pull(self.store, studio, round_id)

    def status(self, round_id: str) -> RoundStatus:
        """How far a round is, per annotator, as of its last pull (done / skipped / remaining, lead time,
        agreement so far, control accuracy)."""
        from whyset.validators.round_status import round_status

        return round_status(self.store, round_id)

    def reassign(self, studio: Studio, round_id: str, leave: Sequence[str] = (),
                 join: Sequence[str] = ()) -> ReassignReport:
        """Annotators leave or join a running round: unstarted work is dealt again, blind, k per item."""
        from whyset.annotation.campaign import reassign

        return reassign(self.store, studio, round_id, leave, join)

    def replay_esnli(self, studio: Studio, folder: str | Path, round_id: str, split: str = "dev",
                     limit: int | None = None) -> dict[str, int]:
        """Submit e-SNLI's three human explanations per pair as annotators a1, a2, a3 (each with their token)."""
        from whyset.annotation.replay import replay
        from whyset.corpora.esnli import ANNOTATORS, read_esnli

        _, records = read_esnli(Path(folder), split, limit)
        return replay(self.store, studio, round_id, [r for r in records if r.provenance.agent_id in ANNOTATORS])

    def adjudicate(self, studio: Studio, round_id: str, adjudicator: str,
                   threshold: float | None = None) -> AdjudicationReport:
        """Send the round's disagreeing items (the rule ``validate`` reports) to the adjudicator's project."""
        from whyset.annotation.adjudication import adjudication_items
        from whyset.annotation.push import Guideline, items_for, push
        from whyset.annotation.views import VIEWS, make_view
        from whyset.validators.disagreement import round_disagreements

        kinds = self.store.studio.kinds(round_id)
        if len(kinds) != 1:
            raise BadInput(f"round {round_id!r}: expected one pushed task kind, found {len(kinds)}")
        kind = kinds.pop()
        conflicts = round_disagreements(self.store, round_id, VIEWS.get(kind).explanation_kind, threshold)
        if not conflicts:
            return AdjudicationReport(round_id, 0, 0, None)
        view = make_view(self.store, kind, adjudication=True)
        items = {item.key: item for item in items_for(self.store, view)}
        round_ = self.store.round(round_id)
        guideline = Guideline(round_.details.get("guideline", ""), f"{round_.guideline_version}+adjudication")
        studio.accounts([adjudicator])
        report = push(self.store, studio, f"{round_id}-adjudication", view, adjudication_items(items, conflicts),
                      [adjudicator], 1, guideline, round_kind="adjudication", details={"adjudicates": round_id})
        return AdjudicationReport(round_id, len(conflicts), report.created, report.projects[adjudicator],
                                  report.links[adjudicator])

    # -- validation and release ---------------------------------------------------------------------
    def validate(self, n_boot: int = 1000, seed: int = 0, report: str | Path | None = None,
                 gates: str | Path | None = None, recipe: str | Path | None = None,
                 classifier: str | None = None) -> Validation:
        """Every metric family's figures, saved as a run; optionally an HTML report and gate results.

        Candidate quality is scored with the classifier each build recorded, or with ``recipe``'s
        ``[models]``/``[classifier]`` or the fine-tuned ``classifier`` (an id or path) when given."""
        from whyset.validators.classifiers import record_for_model, record_from_recipe
        from whyset.validators.families import flat_figures
        from whyset.validators.gates import evaluate, load_gates
        from whyset.validators.report import write_report
        from whyset.validators.store_validation import run_validation

        if recipe and classifier:
            raise BadInput("--recipe and --classifier: give one model to score candidates with, not both")
        rules = load_gates(Path(gates)) if gates else None  # a bad gate file fails before anything is stored
        override = None
        if recipe:
            built = {r.source_id for r in self.store.iter_explanations("candidate")}
            override = record_from_recipe(self.store, str(recipe), built)
        elif classifier:
            override = record_for_model(classifier)
        results = run_validation(self.store, n_boot=n_boot, seed=seed, classifier=override)
        rows = evaluate(rules, results) if rules else None
        if report:
            write_report(results, Path(report), self.store.name, rows)
        return Validation(results, flat_figures(results), rows)

    def export(self, out: str | Path, *, version: str | None = None, bump: str = "minor",
               license: str | None = None, override_license: str | None = None, include_candidates: bool = False,
               annotated_only: bool = False, gates: str | Path | None = None,
               override_gates: str | None = None) -> Release:
        """Export a versioned Hugging Face dataset; with ``gates``, only if they pass (or are overridden)."""
        from whyset.corpora.export import export_dataset
        from whyset.validators.gates import check_release

        record, validation = check_release(self.store, Path(gates), override_gates) if gates else (None, None)
        if validation is None and (runs := self.store.validation.runs()):
            validation = self.store.validation.full(runs[-1])  # the card's quality section: the latest run
        result = export_dataset(self.store, Path(out), version=version, bump=bump, license_id=license,
                                override=override_license, include_candidates=include_candidates,
                                annotated_only=annotated_only, gates=record.as_dict() if record else None,
                                validation=validation)
        return Release(result, record)

    @staticmethod
    def publish(out: str | Path, repo_id: str, private: bool = False) -> str:
        """Upload an export to the Hugging Face Hub and tag it ``v<version>``; returns the tag."""
        from whyset.corpora.hub import publish

        return publish(Path(out), repo_id, private=private)

    def summary(self) -> Summary:
        tables = ("sources", "candidates", "rounds", "annotations", "validation_results")
        with self.store.reading():  # one view, and one short read-only hold of the file
            return Summary(self.path, self.store.schema_version, self.store.labels,
                           {t: self.store.count(t) for t in tables}, self.store.exports())
