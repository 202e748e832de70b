"""How far a Label Studio round is, read from the store as of the round's last pull (``pull`` is incremental,
so pulling before looking is cheap): done / skipped / remaining and median lead time per annotator, agreement
so far (the validators' own label, span and text families, run on the round's current answers), and accuracy
on the control items. Only the store is read, so validation and ``whyset status`` never load the Label
Studio SDK for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from whyset.corpora.schema import ExplanationRecord
from whyset.corpora.store import CorpusStore
from whyset.errors import BadInput, WhysetError
from whyset.validators.families import FAMILIES, Skipped, ValidationData

# per agreement family: the round's headline figure, and where its per-annotator figure is in the result
AGREEMENT = {"label": ("krippendorff_alpha", ("per_annotator", "agreement_with_majority_of_rest")),
             "span": ("krippendorff_alpha", None), "text": ("rouge_l_loo_mean", ("rouge_l_loo",))}


@dataclass
class RoundStatus:
    round_id: str
    kind: str
    as_of: datetime | None  # the round's last pull
    annotators: dict[str, dict[str, Any]]  # handle -> assigned, done, skipped, remaining, median lead time, ...
    agreement: dict[str, float | None] = field(default_factory=dict)  # "<family>.<figure>" -> value
    left: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"round": self.round_id, "kind": self.kind, "as_of": self.as_of.isoformat() if self.as_of else None,
                "annotators": self.annotators, "agreement": self.agreement, "left": self.left}


class _RoundData(ValidationData):
    """The validators' inputs restricted to one round's current human answers."""

    round_id: str = ""

    @cached_property
    def human_annotations(self) -> list[ExplanationRecord]:
        return [r for r in self.store.iter_explanations("annotation", round_id=self.round_id)
                if r.provenance.origin == "human"]


def round_status(store: CorpusStore, round_id: str) -> RoundStatus:
    """Per annotator: tasks assigned, done, skipped, remaining, median lead time, agreement with the others
    and control accuracy; for the round: agreement so far."""
    round_ = store.round(round_id)
    kinds = store.studio.kinds(round_id)
    if not kinds:
        raise BadInput(f"round {round_id!r} has no Label Studio projects")
    per_annotator = store.studio.progress(round_id)
    controls = store.studio.control_accuracy(round_id).get(round_id, {})
    data = _RoundData(store, n_boot=0)
    data.round_id = round_id
    agreement: dict[str, float | None] = {}
    for family, (headline, per_person) in AGREEMENT.items():
        try:
            result = FAMILIES.get(family)().compute(data)
        except Skipped:  # nothing of this kind in the round
            continue
        except WhysetError:  # e.g. no item answered by two annotators yet: agreement is not defined so far
            agreement[f"{family}.{headline}"] = None
            continue
        agreement[f"{family}.{headline}"] = result.get(headline)
        for annotator, figures in per_annotator.items():
            figures[f"{family}_agreement"] = _dig(result, per_person, annotator) if per_person else None
    for annotator, figures in per_annotator.items():
        figures["controls"] = controls.get(annotator, {"controls": 0, "answered": 0, "correct": 0, "accuracy": None})
    return RoundStatus(round_id, kinds.pop(), store.studio.last_pull(round_id), per_annotator, agreement,
                       list(round_.details.get("left", [])))


def _dig(result: dict[str, Any], path: tuple[str, ...], annotator: str) -> float | None:
    """``result[path[0]][annotator][path[1:]...]``, or None where the annotator has no figure."""
    value: Any = result.get(path[0], {}).get(annotator)
    for part in path[1:]:
        value = value.get(part) if isinstance(value, dict) else None
    return value if isinstance(value, (int, float)) else None
