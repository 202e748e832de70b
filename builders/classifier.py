"""The differentiable classifier behind attribution rationales and counterfactual scoring.

No fine-tuned NLI or sentiment classifier ships offline, so the default is a frozen sentence encoder
(all-MiniLM-L6-v2) with a small head, differentiable from the input embeddings so gradients reach words:

- ``prototype`` head: logits = scale x cosine(text embedding, mean embedding of each label's description
  sentences). Needs no training data; right for single-text tasks whose labels can be described.
- ``linear`` head: logistic regression on bi-encoder features ([u, v, |u-v|, u*v] for text pairs, as in
  Sentence-BERT's NLI setup), trained on labelled source examples from the store (not the ones being built)
  and cached by a hash of encoder, labels and training ids. Fast (a minute) but weak on NLI (0.61 on e-SNLI).
- ``cross_encoder`` head (:mod:`whyset.builders.cross_encoder`): the encoder itself fine-tuned on the pairs
  read together, the stronger classifier, trained once and cached the same way.

A user's fine-tuned ``AutoModelForSequenceClassification`` drops in through :class:`SequenceClassifier`
(which also serves the trained cross-encoder). Both expose the same three methods the builders use:
``encode`` (a padded batch of token ids + offsets per field), ``logits_from_embeddings`` (the differentiable
forward) and ``predict_proba``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from whyset.builders.models import build_once, load_encoder
from whyset.errors import WhysetError
from whyset.paths import model_cache


@dataclass
class Encoded:
    """A batch of examples as token segments (one per field for the bi-encoder, one shared segment for a
    cross-encoder): per segment, padded ids, attention mask and token type ids [batch, tokens]; per segment,
    example and token, its field (None for special and padding tokens) and its character offsets."""

    input_ids: list[torch.Tensor]
    attention_mask: list[torch.Tensor]
    token_type_ids: list[torch.Tensor]
    token_fields: list[list[list[str | None]]]
    offsets: list[list[list[tuple[int, int]]]]

    def __len__(self) -> int:
        return int(self.input_ids[0].shape[0])

    def to(self, device: str | torch.device) -> Encoded:
        return Encoded([t.to(device) for t in self.input_ids], [t.to(device) for t in self.attention_mask],
                       [t.to(device) for t in self.token_type_ids], self.token_fields, self.offsets)


def _segment(batch: Any, owners: list[list[str | None]], encoded: Encoded) -> None:
    """Add one tokenized segment (a tokenizer output with offsets) whose tokens belong to ``owners``."""
    ids = batch["input_ids"]
    encoded.input_ids.append(ids)
    encoded.attention_mask.append(batch["attention_mask"])
    encoded.token_type_ids.append(batch.get("token_type_ids", torch.zeros_like(ids)))
    lengths = batch["attention_mask"].sum(-1).tolist()
    offsets = batch["offset_mapping"].tolist()
    encoded.token_fields.append([row[:n] for row, n in zip(owners, lengths, strict=True)])
    encoded.offsets.append([[tuple(o) for o in row[:n]] for row, n in zip(offsets, lengths, strict=True)])


class EncoderClassifier(nn.Module):
    """Frozen mean-pooled encoder + head. Each text field is encoded separately (bi-encoder)."""

    def __init__(self, encoder_name: str, fields: Sequence[str], labels: Sequence[str], head: nn.Module,
                 head_kind: str, offline: bool = True, device: str = "cpu"):
        super().__init__()
        self.tokenizer, self.encoder = load_encoder(encoder_name, offline, device)
        self.encoder_name, self.fields, self.labels = encoder_name, list(fields), list(labels)
        self.head, self.head_kind, self.device = head.to(device), head_kind, device
        self.encoder.requires_grad_(False)

    @property
    def name(self) -> str:
        return f"{self.encoder_name}+{self.head_kind}-head"

    def encode(self, examples: Sequence[dict[str, str]]) -> Encoded:
        encoded = Encoded([], [], [], [], [])
        for name in self.fields:
            batch = self.tokenizer([e[name] for e in examples], return_tensors="pt", padding=True,
                                   return_offsets_mapping=True, return_special_tokens_mask=True, truncation=True)
            special = batch["special_tokens_mask"].tolist()
            offsets = batch["offset_mapping"].tolist()
            owners = [[None if s or tuple(o) == (0, 0) else name for s, o in zip(row_s, row_o, strict=True)]
                      for row_s, row_o in zip(special, offsets, strict=True)]
            _segment(batch, owners, encoded)
        return encoded

    def _pool(self, embeds: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)
        return nn.functional.normalize(pooled, dim=-1)

    def _combine(self, pooled: list[torch.Tensor]) -> torch.Tensor:
        if len(pooled) == 1:
            return pooled[0]
        if len(pooled) == 2:
            u, v = pooled
            return torch.cat([u, v, (u - v).abs(), u * v], dim=-1)
        raise WhysetError(f"the default classifier handles one or two text fields, not {len(pooled)}")

    def logits_from_embeddings(self, embeds: Sequence[torch.Tensor], masks: Sequence[torch.Tensor],
                               token_types: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """The differentiable forward: segment embeddings [batch, tokens, dim] and masks -> logits."""
        return self.head(self._combine([self._pool(e, m) for e, m in zip(embeds, masks, strict=True)]))

    @torch.no_grad()
    def sentence_features(self, examples: Sequence[dict[str, str]], batch_size: int = 64) -> torch.Tensor:
        """Pooled features of many examples, batched with padding (for training and fast prediction)."""
        out = []
        for start in range(0, len(examples), batch_size):
            chunk = examples[start:start + batch_size]
            pooled = []
            for name in self.fields:
                batch = self.tokenizer([e[name] for e in chunk], return_tensors="pt", padding=True,
                                       truncation=True).to(self.device)
                pooled.append(self._pool(self.encoder.get_input_embeddings()(batch["input_ids"]),
                                         batch["attention_mask"]))
            out.append(self._combine(pooled))
        return torch.cat(out)

    @torch.no_grad()
    def predict_proba(self, examples: Sequence[dict[str, str]]) -> np.ndarray:
        return torch.softmax(self.head(self.sentence_features(examples)), dim=-1).cpu().numpy()


def embeddings(model: Any, encoded: Encoded) -> list[torch.Tensor]:
    table = model.get_input_embeddings()
    return [table(ids) for ids in encoded.input_ids]


def baseline(model: Any, tokenizer: Any, encoded: Encoded) -> list[torch.Tensor]:
    """[PAD] embeddings in place of every field token (special tokens kept, padding is [PAD] already): the
    usual IG baseline."""
    table = model.get_input_embeddings()
    out = []
    for ids, owners in zip(encoded.input_ids, encoded.token_fields, strict=True):
        replaced = ids.clone()
        for row, tokens in enumerate(owners):
            replaced[row, [i for i, owner in enumerate(tokens) if owner is not None]] = tokenizer.pad_token_id
        out.append(table(replaced))
    return out


class SequenceClassifier(nn.Module):
    """A fine-tuned ``AutoModelForSequenceClassification`` (a user's, or whyset's cross-encoder), fields
    cross-encoded as one (text, text_pair) sequence. Its ``id2label`` must name the corpus labels."""

    def __init__(self, model_name: str, fields: Sequence[str], labels: Sequence[str], offline: bool = True,
                 device: str = "cpu", display_name: str | None = None):
        super().__init__()
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        if not 1 <= len(fields) <= 2:
            raise WhysetError(f"classifier {model_name!r}: one or two text fields, not {len(fields)}")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model_name, local_files_only=offline)
            self.model = AutoModelForSequenceClassification.from_pretrained(
                model_name, local_files_only=offline).eval().to(device)
        except OSError as exc:
            raise WhysetError(f"classifier {model_name!r}: cannot load it offline ({str(exc).splitlines()[0]})") from None
        names = [self.model.config.id2label[i].lower() for i in range(self.model.config.num_labels)]
        missing = [label for label in labels if label.lower() not in names]
        if missing:
            raise WhysetError(f"classifier {model_name!r}: its labels {names} lack {missing}")
        self.order = [names.index(label.lower()) for label in labels]
        self.name, self.fields, self.labels = display_name or model_name, list(fields), list(labels)
        self.encoder, self.device = self.model, device
        self.model.requires_grad_(False)

    def encode(self, examples: Sequence[dict[str, str]]) -> Encoded:
        texts = [[e[name] for e in examples] for name in self.fields]
        batch = self.tokenizer(*texts, return_tensors="pt", padding=True, return_offsets_mapping=True,
                               truncation=True)
        owners = [[None if s is None else self.fields[s] for s in batch.sequence_ids(row)]
                  for row in range(len(examples))]
        encoded = Encoded([], [], [], [], [])
        _segment(batch, owners, encoded)
        return encoded

    def logits_from_embeddings(self, embeds: Sequence[torch.Tensor], masks: Sequence[torch.Tensor],
                               token_types: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        types = token_types[0] if token_types else None
        return self.model(inputs_embeds=embeds[0], attention_mask=masks[0], token_type_ids=types).logits[:, self.order]

    @torch.no_grad()
    def predict_proba(self, examples: Sequence[dict[str, str]], batch_size: int = 32) -> np.ndarray:
        out = []
        for start in range(0, len(examples), batch_size):
            chunk = examples[start:start + batch_size]
            batch = self.tokenizer(*[[e[n] for e in chunk] for n in self.fields], return_tensors="pt",
                                   padding=True, truncation=True).to(self.device)
            out.append(torch.softmax(self.model(**batch).logits[:, self.order], dim=-1))
        return torch.cat(out).cpu().numpy()


class PrototypeHead(nn.Module):
    def __init__(self, prototypes: torch.Tensor, scale: float = 20.0):
        super().__init__()
        self.register_buffer("prototypes", nn.functional.normalize(prototypes, dim=-1))
        self.scale = scale

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.scale * features @ self.prototypes.T


def prototype_classifier(encoder: str, field: str, descriptions: dict[str, list[str]],
                         offline: bool = True, device: str = "cpu") -> EncoderClassifier:
    """Single-field classifier whose label prototypes are the mean embeddings of description sentences."""
    labels = list(descriptions)
    classifier = EncoderClassifier(encoder, [field], labels, nn.Identity(), "prototype", offline, device)
    prototypes = torch.stack([classifier.sentence_features([{field: s} for s in descriptions[label]]).mean(0)
                              for label in labels])
    classifier.head = PrototypeHead(prototypes)
    return classifier


def linear_classifier(encoder: str, fields: Sequence[str], labels: Sequence[str],
                      train: Sequence[tuple[str, dict[str, str], str]], epochs: int = 300,
                      seed: int = 0, offline: bool = True, device: str = "cpu"
                      ) -> tuple[EncoderClassifier, dict[str, Any]]:
    """Train (or load from cache) a logistic-regression head on frozen features of ``train``
    (id, fields, label) triples; returns the classifier and its training report (accuracy, sizes)."""
    if len(train) < 2 * len(labels):
        raise WhysetError(f"linear head: need at least {2 * len(labels)} labelled examples, got {len(train)}")
    classifier = EncoderClassifier(encoder, fields, labels, nn.Identity(), "linear", offline, device)
    key = hashlib.sha256(json.dumps([encoder, list(fields), list(labels), [t[0] for t in train], epochs, seed])
                         .encode()).hexdigest()[:16]
    torch.manual_seed(seed)
    dim = classifier.sentence_features([train[0][1]]).shape[-1]
    head = nn.Linear(dim, len(labels)).to(device)
    path = build_once(model_cache() / f"linear-head-{key}.pt",
                      lambda partial: _train_linear(classifier, head, labels, train, epochs, seed, partial))
    saved = torch.load(path, map_location=device)
    head.load_state_dict(saved["state"])
    classifier.head = head.eval()
    return classifier, saved["report"]


def _train_linear(classifier: EncoderClassifier, head: nn.Linear, labels: Sequence[str],
                  train: Sequence[tuple[str, dict[str, str], str]], epochs: int, seed: int, path: Path) -> None:
    """Fit the head on 80% of ``train`` and measure it on the other 20%; saved to ``path`` with its report."""
    order = np.random.default_rng(seed).permutation(len(train))
    held = set(order[: max(len(train) // 5, 1)].tolist())
    x = classifier.sentence_features([t[1] for t in train])
    y = torch.tensor([labels.index(t[2]) for t in train], device=x.device)
    fit = torch.tensor([i not in held for i in range(len(train))], device=x.device)
    optimizer = torch.optim.Adam(head.parameters(), lr=0.01, weight_decay=1e-4)
    for _ in range(epochs):
        optimizer.zero_grad()
        nn.functional.cross_entropy(head(x[fit]), y[fit]).backward()
        optimizer.step()
    with torch.no_grad():
        accuracy = float((head(x[~fit]).argmax(-1) == y[~fit]).float().mean())
    report = {"train": int(fit.sum()), "held_out": int((~fit).sum()), "held_out_accuracy": round(accuracy, 4)}
    torch.save({"state": head.state_dict(), "report": report}, path)
