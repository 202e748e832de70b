"""What builders share during one build: the store, the recipe's models (each loaded once, on first use),
and the helpers every builder needs to turn its output into provenance-carrying candidates."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from whyset.builders.base import BuilderSettings, GeneratorSettings
from whyset.builders.classifier import (
    EncoderClassifier,
    SequenceClassifier,
    linear_classifier,
    prototype_classifier,
)
from whyset.builders.cross_encoder import CrossEncoderTraining, cross_encoder_classifier
from whyset.builders.generation import GenerationRequest, Generator, ResponseCache
from whyset.builders.models import load_encoder, load_generator, resolve_device
from whyset.builders.recipe import ClassifierSettings, Models, Recipe
from whyset.corpora.schema import ExplanationRecord, Provenance, SourceExample
from whyset.corpora.store import CorpusStore
from whyset.corpora.store_builds import RejectedCandidate
from whyset.corpora.store_responses import StoredResponse
from whyset.errors import WhysetError

Classifier = EncoderClassifier | SequenceClassifier


@dataclass
class BuildOutput:
    kept: list[ExplanationRecord] = field(default_factory=list)
    rejected: list[RejectedCandidate] = field(default_factory=list)
    responses: list[StoredResponse] = field(default_factory=list)  # new generator answers, stored with the batch


def prompt_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass
class CorpusView:
    """What builders read from the corpus, taken from the store once, so that builders can also run away
    from it (in Ray workers; DuckDB has one writer, the driver). Sources being built are never used as
    training data or exemplars."""

    labels: list[str]
    fields: list[str]
    question: str
    train: list[tuple[str, dict[str, str], str]]
    exemplars: list[tuple[SourceExample, ExplanationRecord]]

    @classmethod
    def from_store(cls, store: CorpusStore, recipe: Recipe, build_ids: set[str]) -> CorpusView:
        first = next(store.iter_sources(), None)
        if first is None:
            raise WhysetError(f"{store.path}: no source examples to build from")
        trained = [c for c in classifiers_of(recipe) if c.model is None and c.head in ("linear", "cross_encoder")]
        most = max((c.train_limit for c in trained), default=0)
        train = [(s.id, s.fields, s.label) for s in store.iter_sources()
                 if trained and s.label is not None and s.id not in build_ids][:most]
        wants_shots = any(getattr(b, "shots", 0) for b in recipe.builder)
        records = accepted_exemplars(store, build_ids) if wants_shots else []
        sources = store.sources_by_id({r.source_id for r in records})
        return cls(store.labels, list(first.fields), store.freetext_question,
                   train, [(sources[r.source_id], r) for r in records])


def accepted_exemplars(store: CorpusStore, exclude: set[str], limit: int = 2000) -> list[ExplanationRecord]:
    """Human QA annotations on sources outside the build slice (the corpus's accepted explanations)."""
    found = []
    for record in store.iter_explanations("annotation", "qa"):
        if record.source_id not in exclude and record.provenance.origin == "human":
            found.append(record)
            if len(found) >= limit:
                break
    return found


def classifiers_of(recipe: Recipe) -> list[ClassifierSettings]:
    """The recipe's classifier and every builder's ``verify_with`` classifiers."""
    return [recipe.classifier, *(c for b in recipe.builder for c in getattr(b, "verify_with", ()))]


def load_classifier(models: Models, settings: ClassifierSettings, fields: list[str], labels: list[str],
                    train: Sequence[tuple[str, dict[str, str], str]], device: str = "cpu"
                    ) -> tuple[Classifier, dict[str, Any]]:
    """A classifier by its settings (and the trained heads' report): a fine-tuned model, the prototype head, or
    a head trained on the first ``train_limit`` of ``train`` (cached, so reloading it with the same ids trains
    nothing). ``validate run`` reloads a build's classifier through here from what the build recorded."""
    if settings.model:
        return SequenceClassifier(settings.model, fields, labels, models.offline, device), {}
    if settings.head == "prototype":
        if not settings.descriptions or len(fields) != 1:
            raise WhysetError("classifier.head = 'prototype' needs classifier.descriptions and one text field")
        unknown = set(settings.descriptions) - set(labels)
        if unknown or set(labels) - set(settings.descriptions):
            raise WhysetError(f"classifier.descriptions must describe exactly the labels {labels}")
        return prototype_classifier(models.encoder, fields[0], {label: settings.descriptions[label] for label in labels},
                                    models.offline, device), {}
    train = list(train)[: settings.train_limit]
    if settings.head == "cross_encoder":
        return cross_encoder_classifier(models.encoder, fields, labels, train,
                                        CrossEncoderTraining(settings.epochs, settings.held_out), models.offline,
                                        device)
    return linear_classifier(models.encoder, fields, labels, train, offline=models.offline, device=device)


class BuildContext:
    def __init__(self, view: CorpusView, recipe: Recipe, responses: ResponseCache | None = None):
        self.view, self.recipe = view, recipe
        self.labels, self.fields = view.labels, view.fields
        self.responses = responses or ResponseCache()
        self.classifier_report: dict[str, Any] = {}
        self._classifiers: dict[str, tuple[Classifier, dict[str, Any]]] = {}

    @cached_property
    def device(self) -> str:
        return resolve_device(self.recipe.models.device)

    @cached_property
    def classifier(self) -> Classifier:
        classifier, self.classifier_report = self._load_classifier(self.recipe.classifier)
        return classifier

    def classifier_for(self, settings: ClassifierSettings) -> Classifier:
        """A classifier by its settings (the recipe's, or a ``verify_with`` entry), loaded or trained once."""
        return self.classifier if settings == self.recipe.classifier else self._load_classifier(settings)[0]

    def _load_classifier(self, settings: ClassifierSettings) -> tuple[Classifier, dict[str, Any]]:
        key = settings.model_dump_json()
        if key not in self._classifiers:
            self._classifiers[key] = load_classifier(self.recipe.models, settings, self.fields, self.labels,
                                                     self.view.train, self.device)
        return self._classifiers[key]

    def classifier_record(self) -> dict[str, Any]:
        """What reloads this build's classifier later (``validate run`` scores faithfulness and flips with it):
        the recipe's models and classifier settings, and the ids a linear head is trained on."""
        return {"models": self.recipe.models.model_dump(), "classifier": self.recipe.classifier.model_dump(),
                "train_ids": [source_id for source_id, _, _ in self.view.train]}

    @cached_property
    def generator(self) -> Generator:
        models = self.recipe.models
        return load_generator(models.generator, models.endpoint, models.offline, self.device, models.revision,
                              models.retry_policy())

    def generate(self, settings: GeneratorSettings, prompts: Sequence[list[dict[str, str]]],
                 seeds: Sequence[int] | None = None) -> list[StoredResponse]:
        """An answer per prompt (``seeds``: one per prompt, default the builder's seed), through the response
        cache: only prompts never answered before reach the generator, ``concurrency`` at a time."""
        seeds = list(seeds) if seeds is not None else [settings.seed] * len(prompts)
        requests = [GenerationRequest(list(m), seed, settings.max_new_tokens, settings.temperature)
                    for m, seed in zip(prompts, seeds, strict=True)]
        return self.responses.generate(self.generator, requests, settings.concurrency)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-normalised sentence embeddings from the recipe's encoder (mean pooling, as MiniLM is trained)."""
        import torch

        tokenizer, model = load_encoder(self.recipe.models.encoder, self.recipe.models.offline, self.device)
        out = []
        with torch.no_grad():
            for start in range(0, len(texts), 64):
                batch = tokenizer(texts[start:start + 64], return_tensors="pt", padding=True,
                                  truncation=True).to(self.device)
                hidden = model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
                out.append(torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 1))

    def provenance(self, settings: BuilderSettings, origin: str, model: str | None, revision: str | None = None,
                   prompt: str | None = None, seed: int | None = None, **decoding: Any) -> Provenance:
        return Provenance(origin=origin, agent_id=settings.id, model_name=model, model_revision=revision,
                          prompt_id=f"{settings.type}@{settings.config_hash}" if prompt else None,
                          prompt_hash=prompt_hash(prompt) if prompt else None,
                          decoding={"builder": settings.signature(), **decoding}, seed=seed)

    def llm_provenance(self, settings: GeneratorSettings, prompt: str, seed: int, **extra: Any) -> Provenance:
        """Provenance of a candidate made from the generator's answer to ``prompt``."""
        return self.provenance(settings, "model", self.generator.name, self.generator.revision, prompt=prompt,
                               seed=seed, max_new_tokens=settings.max_new_tokens, temperature=settings.temperature,
                               **extra)

    @staticmethod
    def candidate(source: SourceExample, explanation: Any, provenance: Provenance,
                  scores: dict[str, Any] | None = None) -> ExplanationRecord:
        return ExplanationRecord(
            id=ExplanationRecord.make_id(source.id, "candidate", None, explanation,
                                         f"{provenance.agent_id}:{provenance.seed}"),
            source_id=source.id, role="candidate", explanation=explanation, provenance=provenance, scores=scores)

    def target_label(self, label: str | None, targets: dict[str, str] | None) -> str | None:
        """The label an edit should flip to: the recipe's map, else the other label of a binary task."""
        if label is None:
            return None
        if targets:
            return targets.get(label)
        others = [x for x in self.labels if x != label]
        return others[0] if len(others) == 1 else None
