"""Metric families: each module of this package registers one :class:`MetricFamily` with :data:`FAMILIES`,
saying how it computes its figures from the store, how its report section and plots look, and what it adds to
the dataset card. ``validate run``, the HTML report, gates (``--list-metrics`` and metric-name checks) and the
card are all derived from the registry.

A family's result is a dict; every number in it (at any depth, lists excluded) is a *figure* named
``<family>.<key>.<subkey>``, which is what gates name. A family that cannot compute (one annotator, nothing
pulled yet) raises :class:`Skipped` with the reason, which the report and the card show.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from whyset.corpora.kinds import KINDS, Rating
from whyset.corpora.schema import ExplanationRecord, SourceExample
from whyset.corpora.store import CorpusStore
from whyset.errors import WhysetError
from whyset.registry import Registry
from whyset.validators.ratings import Ratings

if TYPE_CHECKING:
    from whyset.corpora.store_builds import RejectedCandidate
    from whyset.validators.classifiers import Scorer


class Skipped(WhysetError):
    """A family has nothing to measure in this store; the message says why."""


@dataclass
class ValidationData:
    """What families read, taken from the store once per run (lazily: a family pays only for what it uses)."""

    store: CorpusStore
    n_boot: int = 1000
    seed: int = 0
    classifier: dict[str, Any] | None = None  # a classifier record that replaces the builds' (--recipe, --classifier)
    _scorers: dict[str, Scorer] = field(default_factory=dict, repr=False)

    def load(self) -> None:
        """Read the annotations and their sources from one view of the store (a pull writing meanwhile must
        not leave an annotation without its source); the file is held read-only for these reads only."""
        with self.store.reading():
            _ = self.human_annotations, self.sources  # cached for the families

    @cached_property
    def sources(self) -> dict[str, SourceExample]:
        return {s.id: s for s in self.store.iter_sources()}

    @cached_property
    def human_annotations(self) -> list[ExplanationRecord]:
        return [r for r in self.store.iter_explanations("annotation") if r.provenance.origin == "human"]

    @cached_property
    def adjudication_rounds(self) -> set[str]:
        """Rounds whose answers are adjudications (they win over the other answers of their item)."""
        return self.store.adjudication_rounds()

    rating_problems: dict[str, str] = field(default_factory=dict)

    @cached_property
    def ratings(self) -> dict[str, Ratings]:
        """Agreement tables per family name, fed by each kind's :attr:`KindSpec.ratings`."""
        tables: dict[str, Ratings] = {}
        for record in self.human_annotations:
            spec = KINDS.get(record.explanation.kind)
            rating: Rating
            for rating in spec.ratings(record.explanation, self.sources[record.source_id]):
                table = tables.setdefault(rating.family, Ratings(rating.family))  # type: ignore[arg-type]
                try:
                    table.add(rating.item, record.provenance.agent_id, rating.value, f"annotation {record.id}")
                except WhysetError as exc:
                    self.rating_problems.setdefault(rating.family, str(exc))
                if rating.text is not None:
                    table.texts[rating.item] = rating.text
        return tables


    @cached_property
    def candidates(self) -> dict[str, list[ExplanationRecord]]:
        """Candidates by builder (their provenance's agent id), in id order."""
        by_builder: dict[str, list[ExplanationRecord]] = defaultdict(list)
        for record in self.store.iter_explanations("candidate"):
            by_builder[record.provenance.agent_id].append(record)
        return dict(by_builder)

    @cached_property
    def rejected(self) -> dict[str, list[RejectedCandidate]]:
        """Candidates a builder's checks refused, by builder."""
        by_builder: dict[str, list[RejectedCandidate]] = defaultdict(list)
        for item in self.store.builds.rejected():
            by_builder[item.builder_id].append(item)
        return dict(by_builder)

    def builders_of(self, kind: str) -> dict[str, tuple[list[ExplanationRecord], list[RejectedCandidate]]]:
        """Every builder that produced candidates of ``kind`` or had them refused: (kept, refused)."""
        kept = {b: [r for r in rs if r.explanation.kind == kind] for b, rs in self.candidates.items()}
        refused = {b: [r for r in rs if r.kind == kind] for b, rs in self.rejected.items()}
        names = sorted(b for b in set(kept) | set(refused) if kept.get(b) or refused.get(b))
        return {b: (kept.get(b, []), refused.get(b, [])) for b in names}

    def classifier_record(self, builder: str) -> dict[str, Any]:
        """What scores ``builder``'s candidates: the override, the builder's own recorded classifier, else the
        latest one a build recorded (builders of one recipe share its classifier)."""
        if self.classifier is not None:
            return self.classifier
        records = self.store.builds.classifiers()
        own = [record for (builder_id, _), record in records.items() if builder_id == builder]
        chosen = own or list(records.values())
        if not chosen:
            raise Skipped("no build recorded its classifier (build with this version of whyset, or pass "
                          "--recipe/--classifier to score with another model)")
        return chosen[-1]

    def scorer(self, builder: str) -> Scorer:
        """The classifier for ``builder``'s candidates, loaded once per run (predictions memoized)."""
        return self._scorer(json.dumps(self.classifier_record(builder), sort_keys=True))

    def _scorer(self, key: str) -> Scorer:
        if key not in self._scorers:
            from whyset.validators.classifiers import load_scorer, memoized

            self._scorers[key] = memoized(load_scorer(self.store, json.loads(key)))
        return self._scorers[key]


class MetricFamily:
    """Subclass, set the class attributes, implement :meth:`compute`, decorate with :func:`register_family`."""

    name: ClassVar[str]
    title: ClassVar[str]
    order: ClassVar[int] = 50  # position in the report and card (lower first)
    figures: ClassVar[tuple[str, ...]] = ()  # figure names it can produce; <placeholders> match any name part
    template: ClassVar[str] = ""  # Jinja fragment; sees r (this result), plots, fmt

    def compute(self, data: ValidationData) -> dict[str, Any]:
        raise NotImplementedError

    def plots(self, result: dict[str, Any]) -> dict[str, str]:
        """Base64 PNGs by name, for the template."""
        return {}

    def card_lines(self, result: dict[str, Any]) -> list[str]:
        """Markdown lines for the dataset card's quality section."""
        return []

    @staticmethod
    def builders(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The per-builder entries of a candidate-quality result (figures ``<family>.<builder>.<figure>``)."""
        return {key: value for key, value in result.items() if isinstance(value, dict)}


FAMILIES: Registry[type[MetricFamily]] = Registry("metric_families", "metric family", ["whyset.validators.families"])


def register_family(cls: type[MetricFamily]) -> type[MetricFamily]:
    return FAMILIES.register(cls.name)(cls)


def number(value: float | None, digits: int = 3) -> str:
    """A figure for the card's prose: fixed digits, "n/a" for an undefined one."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def families() -> list[MetricFamily]:
    """One instance of every registered family, in report order."""
    return sorted((cls() for cls in FAMILIES.all().values()), key=lambda f: (f.order, f.name))


def flat_figures(results: dict[str, Any]) -> dict[str, float | None]:
    """Every figure of a run under its dotted name (``text.bleu_loo.a1``): the names gates refer to."""
    flat: dict[str, float | None] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, bool):
            return
        if isinstance(value, (int, float)):
            flat[prefix] = float(value)
        elif isinstance(value, dict):  # lists (hot spots, confusion matrices, spans) are not figures
            for key, sub in value.items():
                walk(f"{prefix}.{key}", sub)

    for family in families():
        if family.name in results:
            walk(family.name, results[family.name])
    return flat


def known_figure(name: str) -> bool:
    """Whether some registered family declares a figure of this name (placeholders match any part)."""
    for family in families():
        for pattern in family.figures:
            if re.fullmatch(re.sub(r"<[a-z_]+>", ".+", re.escape(f"{family.name}.{pattern}")), name):
                return True
    return False


def declared_figures() -> dict[str, list[str]]:
    """Figure names by family, as declared (for ``--list-metrics``)."""
    return {family.name: [f"{family.name}.{p}" for p in family.figures] for family in families()}

