"""The models candidate quality is measured with: the classifier a build used, reloaded from what the build
recorded (``store.builds.classifiers()``), another recipe's or a fine-tuned model's when asked, and a second
opinion for counterfactual flips.

The recorded linear head is trained on recorded source ids and cached by a hash of encoder, fields, labels
and those ids, so reloading it reads the cache (or, on a machine without it, trains the same head again).
The *second opinion* is a linear head on the same frozen encoder trained on other labelled sources (none of
the first head's training ids, none of the candidates' sources) with another seed: a flip both heads agree on
does not hang on one training sample. It is a weak form of "check the flip on several models"; pass a recipe
with another encoder or a fine-tuned classifier for a truly different one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from whyset.corpora.store import CorpusStore
from whyset.errors import BadInput, WhysetError

SECOND_OPINION_TRAIN = 600  # labelled pairs for the second head (a few seconds of encoding, then cached)


@dataclass(frozen=True)
class Scorer:
    """A loaded classifier as the validators use it: a name, its labels and ``predict`` over inputs."""

    name: str
    labels: list[str]
    predict: Callable[[Sequence[dict[str, str]]], np.ndarray]


def _fields(store: CorpusStore) -> list[str]:
    first = next(store.iter_sources(), None)
    if first is None:
        raise WhysetError(f"{store.path}: no source examples")
    return list(first.fields)


def _training(store: CorpusStore, ids: Sequence[str]) -> list[tuple[str, dict[str, str], str]]:
    by_id = store.sources_by_id(ids)
    return [(i, by_id[i].fields, by_id[i].label) for i in ids if i in by_id and by_id[i].label is not None]


def load_scorer(store: CorpusStore, record: dict[str, Any]) -> Scorer:
    """The classifier a build recorded (``BuildContext.classifier_record``), loaded for scoring."""
    from whyset.builders.context import load_classifier
    from whyset.builders.models import resolve_device
    from whyset.builders.recipe import ClassifierSettings, Models

    models, settings = Models(**record["models"]), ClassifierSettings(**record["classifier"])
    train = _training(store, record.get("train_ids", []))
    classifier, _ = load_classifier(models, settings, _fields(store), store.labels, train,
                                    resolve_device(models.device))
    return Scorer(classifier.name, list(classifier.labels), classifier.predict_proba)


def second_opinion(store: CorpusStore, record: dict[str, Any], exclude: set[str]) -> Scorer | None:
    """A second linear head on the recorded encoder, trained on labelled sources the first head and the
    candidates do not use (None when the store has too few)."""
    from whyset.builders.classifier import linear_classifier
    from whyset.builders.recipe import Models

    models = Models(**record["models"])
    taken = set(record.get("train_ids", [])) | exclude
    ids = [s.id for s in store.iter_sources() if s.label is not None and s.id not in taken][:SECOND_OPINION_TRAIN]
    if len(ids) < 10 * max(len(store.labels), 1):
        return None
    classifier, _ = linear_classifier(models.encoder, _fields(store), store.labels, _training(store, ids), seed=1,
                                      offline=models.offline)
    return Scorer(f"{classifier.name} (second head, {len(ids)} other pairs)", list(classifier.labels),
                  classifier.predict_proba)


def record_from_recipe(store: CorpusStore, path: str, exclude: set[str]) -> dict[str, Any]:
    """A classifier record from another recipe's ``[models]`` and ``[classifier]`` (``validate run --recipe``):
    a linear head trains on labelled sources outside ``exclude`` (the candidates' sources), as a build would."""
    from pathlib import Path

    from whyset.builders.recipe import load_recipe

    recipe = load_recipe(Path(path))
    needs_head = recipe.classifier.model is None and recipe.classifier.head == "linear"
    ids = [s.id for s in store.iter_sources() if needs_head and s.label is not None and s.id not in exclude]
    return {"models": recipe.models.model_dump(), "classifier": recipe.classifier.model_dump(),
            "train_ids": ids[: recipe.classifier.train_limit]}


def record_for_model(model: str) -> dict[str, Any]:
    """A classifier record for a fine-tuned sequence classifier id or path (``validate run --classifier``)."""
    from whyset.builders.recipe import ClassifierSettings, Models

    if not model.strip():
        raise BadInput("--classifier: give a model id or path")
    return {"models": Models().model_dump(), "classifier": ClassifierSettings(model=model).model_dump(),
            "train_ids": []}


def memoized(scorer: Scorer) -> Scorer:
    """The same scorer, predicting each distinct input once (faithfulness asks for the full example in every
    bin, and bins of the same size on short texts ask for the same inputs), in batches sorted by length."""
    seen: dict[tuple[tuple[str, str], ...], np.ndarray] = {}

    def predict(inputs: Sequence[dict[str, str]]) -> np.ndarray:
        keys = [tuple(sorted(x.items())) for x in inputs]
        todo = list(dict.fromkeys(k for k in keys if k not in seen))
        todo.sort(key=lambda k: sum(len(text) for _, text in k))  # similar lengths batch with little padding
        if todo:
            for key, row in zip(todo, scorer.predict([dict(k) for k in todo]), strict=True):
                seen[key] = row
        return np.stack([seen[k] for k in keys]) if keys else np.zeros((0, len(scorer.labels)))

    return Scorer(scorer.name, scorer.labels, predict)
