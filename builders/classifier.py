"""The differentiable classifier behind attribution rationales and counterfactual scoring.

No fine-tuned NLI or sentiment classifier ships offline, so the default is a frozen sentence encoder
(all-MiniLM-L6-v2) with a small head, differentiable from the input embeddings so gradients reach words:

- ``prototype`` head: logits = scale x cosine(text embedding, mean embedding of each label's description
  sentences). Needs no training data; right for single-text tasks whose labels can be described.
- ``linear`` head: logistic regression on bi-encoder features ([u, v, |u-v|, u*v] for text pairs, as in
  Sentence-BERT's NLI setup), trained on labelled source examples from the store (not the ones being built)
  and cached by a hash of encoder, labels and training ids.

A user's fine-tuned ``AutoModelForSequenceClassification`` drops in through :class:`SequenceClassifier`.
Both expose the same three methods the builders use: ``encode`` (token ids + offsets per field),
``logits_from_embeddings`` (the differentiable forward) and ``predict_proba``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from whyset.builders.models import load_encoder
from whyset.errors import WhysetError
from whyset.paths import model_cache


@dataclass
class Encoded:
    """One example as one or more token segments (one per field for the bi-encoder, one shared segment for a
    cross-encoder): ids and masks [1, n], and per token its field (None for special tokens) and char offsets."""

    input_ids: list[torch.Tensor]
    attention_mask: list[torch.Tensor]
    token_fields: list[list[str | None]]
    offsets: list[list[tuple[int, int]]]


class EncoderClassifier(nn.Module):
    """Frozen mean-pooled encoder + head. Each text field is encoded separately (bi-encoder)."""

    def __init__(self, encoder_name: str, fields: Sequence[str], labels: Sequence[str], head: nn.Module,
                 head_kind: str, offline: bool = True):
        super().__init__()
        self.tokenizer, self.encoder = load_encoder(encoder_name, offline)
        self.encoder_name, self.fields, self.labels = encoder_name, list(fields), list(labels)
        self.head, self.head_kind = head, head_kind
        self.encoder.requires_grad_(False)

    @property
    def name(self) -> str:
        return f"{self.encoder_name}+{self.head_kind}-head"

    def encode(self, fields: dict[str, str]) -> Encoded:
        encoded = Encoded([], [], [], [])
        for name in self.fields:
            batch = self.tokenizer(fields[name], return_tensors="pt", return_offsets_mapping=True,
                                   return_special_tokens_mask=True, truncation=True)
            special = batch["special_tokens_mask"][0].tolist() if "special_tokens_mask" in batch else None
            offsets = [tuple(o) for o in batch["offset_mapping"][0].tolist()]
            encoded.input_ids.append(batch["input_ids"])
            encoded.attention_mask.append(batch["attention_mask"])
            encoded.offsets.append(offsets)
            encoded.token_fields.append([None if (special and special[i]) or o == (0, 0) else name
                                         for i, o in enumerate(offsets)])
        return encoded

    def _pool(self, embeds: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)
        return nn.functional.normalize(pooled, dim=-1)

    def features(self, embeds: Sequence[torch.Tensor], masks: Sequence[torch.Tensor]) -> torch.Tensor:
        pooled = [self._pool(e, m.expand(e.shape[0], -1)) for e, m in zip(embeds, masks, strict=True)]
        if len(pooled) == 1:
            return pooled[0]
        if len(pooled) == 2:
            u, v = pooled
            return torch.cat([u, v, (u - v).abs(), u * v], dim=-1)
        raise WhysetError(f"the default classifier handles one or two text fields, not {len(pooled)}")

    def logits_from_embeddings(self, embeds: Sequence[torch.Tensor], masks: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.head(self.features(embeds, masks))

    @torch.no_grad()
    def sentence_features(self, examples: Sequence[dict[str, str]], batch_size: int = 64) -> torch.Tensor:
        """Pooled features of many examples, batched with padding (for training and fast prediction)."""
        out = []
        for start in range(0, len(examples), batch_size):
            chunk = examples[start:start + batch_size]
            embeds, masks = [], []
            for name in self.fields:
                batch = self.tokenizer([e[name] for e in chunk], return_tensors="pt", padding=True, truncation=True)
                embeds.append(self.encoder.get_input_embeddings()(batch["input_ids"]))
                masks.append(batch["attention_mask"])
            pooled = [self._pool(e, m) for e, m in zip(embeds, masks, strict=True)]
            out.append(pooled[0] if len(pooled) == 1 else torch.cat(
                [pooled[0], pooled[1], (pooled[0] - pooled[1]).abs(), pooled[0] * pooled[1]], dim=-1))
        return torch.cat(out)

    @torch.no_grad()
    def predict_proba(self, examples: Sequence[dict[str, str]]) -> np.ndarray:
        return torch.softmax(self.head(self.sentence_features(examples)), dim=-1).numpy()


def embeddings(model: Any, encoded: Encoded) -> list[torch.Tensor]:
    table = model.get_input_embeddings()
    return [table(ids) for ids in encoded.input_ids]


def baseline(model: Any, tokenizer: Any, encoded: Encoded) -> list[torch.Tensor]:
    """[PAD] embeddings in place of every field token (special tokens kept): the usual IG baseline."""
    table = model.get_input_embeddings()
    out = []
    for ids, owners in zip(encoded.input_ids, encoded.token_fields, strict=True):
        replaced = ids.clone()
        replaced[0, [i for i, owner in enumerate(owners) if owner is not None]] = tokenizer.pad_token_id
        out.append(table(replaced))
    return out


class SequenceClassifier(nn.Module):
    """A user's fine-tuned ``AutoModelForSequenceClassification`` (any id or path), fields cross-encoded as
    one (text, text_pair) sequence. Its ``id2label`` must name the corpus labels."""

    def __init__(self, model_name: str, fields: Sequence[str], labels: Sequence[str], offline: bool = True):
        super().__init__()
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        if not 1 <= len(fields) <= 2:
            raise WhysetError(f"classifier {model_name!r}: one or two text fields, not {len(fields)}")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model_name, local_files_only=offline)
            self.model = AutoModelForSequenceClassification.from_pretrained(model_name,
                                                                            local_files_only=offline).eval()
        except OSError as exc:
            raise WhysetError(f"classifier {model_name!r}: cannot load it offline ({str(exc).splitlines()[0]})") from None
        names = [self.model.config.id2label[i].lower() for i in range(self.model.config.num_labels)]
        missing = [label for label in labels if label.lower() not in names]
        if missing:
            raise WhysetError(f"classifier {model_name!r}: its labels {names} lack {missing}")
        self.order = [names.index(label.lower()) for label in labels]
        self.name, self.fields, self.labels = model_name, list(fields), list(labels)
        self.encoder = self.model

    def encode(self, fields: dict[str, str]) -> Encoded:
        texts = [fields[name] for name in self.fields]
        batch = self.tokenizer(*texts, return_tensors="pt", return_offsets_mapping=True, truncation=True)
        sequence_ids = batch.sequence_ids(0)
        owners = [None if s is None else self.fields[s] for s in sequence_ids]
        return Encoded([batch["input_ids"]], [batch["attention_mask"]], [owners],
                       [[tuple(o) for o in batch["offset_mapping"][0].tolist()]])

    def logits_from_embeddings(self, embeds: Sequence[torch.Tensor], masks: Sequence[torch.Tensor]) -> torch.Tensor:
        mask = masks[0].expand(embeds[0].shape[0], -1)
        return self.model(inputs_embeds=embeds[0], attention_mask=mask).logits[:, self.order]

    @torch.no_grad()
    def predict_proba(self, examples: Sequence[dict[str, str]], batch_size: int = 32) -> np.ndarray:
        out = []
        for start in range(0, len(examples), batch_size):
            chunk = examples[start:start + batch_size]
            batch = self.tokenizer(*[[e[n] for e in chunk] for n in self.fields], return_tensors="pt",
                                   padding=True, truncation=True)
            out.append(torch.softmax(self.model(**batch).logits[:, self.order], dim=-1))
        return torch.cat(out).numpy()


class PrototypeHead(nn.Module):
    def __init__(self, prototypes: torch.Tensor, scale: float = 20.0):
        super().__init__()
        self.register_buffer("prototypes", nn.functional.normalize(prototypes, dim=-1))
        self.scale = scale

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.scale * features @ self.prototypes.T


def prototype_classifier(encoder: str, field: str, descriptions: dict[str, list[str]],
                         offline: bool = True) -> EncoderClassifier:
    """Single-field classifier whose label prototypes are the mean embeddings of description sentences."""
    labels = list(descriptions)
    classifier = EncoderClassifier(encoder, [field], labels, nn.Identity(), "prototype", offline)
    prototypes = torch.stack([classifier.sentence_features([{field: s} for s in descriptions[label]]).mean(0)
                              for label in labels])
    classifier.head = PrototypeHead(prototypes)
    return classifier


def linear_classifier(encoder: str, fields: Sequence[str], labels: Sequence[str],
                      train: Sequence[tuple[str, dict[str, str], str]], epochs: int = 300,
                      seed: int = 0, offline: bool = True) -> tuple[EncoderClassifier, dict[str, Any]]:
    """Train (or load from cache) a logistic-regression head on frozen features of ``train``
    (id, fields, label) triples; returns the classifier and its training report (accuracy, sizes)."""
    if len(train) < 2 * len(labels):
        raise WhysetError(f"linear head: need at least {2 * len(labels)} labelled examples, got {len(train)}")
    classifier = EncoderClassifier(encoder, fields, labels, nn.Identity(), "linear", offline)
    key = hashlib.sha256(json.dumps([encoder, list(fields), list(labels), [t[0] for t in train], epochs, seed])
                         .encode()).hexdigest()[:16]
    path = model_cache() / f"linear-head-{key}.pt"
    torch.manual_seed(seed)
    dim = classifier.sentence_features([train[0][1]]).shape[-1]
    head = nn.Linear(dim, len(labels))
    if path.exists():
        saved = torch.load(path)
        head.load_state_dict(saved["state"])
        report = saved["report"]
    else:
        order = np.random.default_rng(seed).permutation(len(train))
        held = set(order[: max(len(train) // 5, 1)].tolist())
        x = classifier.sentence_features([t[1] for t in train])
        y = torch.tensor([labels.index(t[2]) for t in train])
        fit = torch.tensor([i not in held for i in range(len(train))])
        optimizer = torch.optim.Adam(head.parameters(), lr=0.01, weight_decay=1e-4)
        for _ in range(epochs):
            optimizer.zero_grad()
            nn.functional.cross_entropy(head(x[fit]), y[fit]).backward()
            optimizer.step()
        with torch.no_grad():
            accuracy = float((head(x[~fit]).argmax(-1) == y[~fit]).float().mean())
        report = {"train": int(fit.sum()), "held_out": int((~fit).sum()), "held_out_accuracy": round(accuracy, 4)}
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"state": head.state_dict(), "report": report}, path)
    classifier.head = head.eval()
    return classifier, report
