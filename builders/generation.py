"""What builders ask generators, what comes back, and the response cache between them.

A builder describes each completion it wants as a :class:`GenerationRequest` (messages, seed, decoding) and
asks :meth:`ResponseCache.generate`; only requests never answered before reach the generator, in one call,
so an endpoint generator can keep many of them in flight. Every answer is remembered under a key that hashes
what decides it (the generator's identity and revision, the prompt, the decoding parameters, the seed), and
the build writes new answers to the store's ``responses`` table: a re-run, or a re-build after a filter
threshold changed, sends nothing to the model twice. An answer is kept raw (text, finish reason, token usage),
whatever the builder's parser later makes of it, so a refused generation is never a silent ``None``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from whyset.corpora.store_responses import StoredResponse
from whyset.errors import WhysetError


@dataclass(frozen=True)
class GenerationRequest:
    """One chat completion to make."""

    messages: list[dict[str, str]]
    seed: int
    max_new_tokens: int
    temperature: float

    @property
    def decoding(self) -> dict[str, Any]:
        return {"max_new_tokens": self.max_new_tokens, "temperature": self.temperature}

    @property
    def prompt_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.messages, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Generation:
    """One answer, as the generator gave it."""

    text: str
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    seconds: float | None = None


class Generator(Protocol):
    """Chat-style text generation. ``key`` names the generator in the response cache (an endpoint's URL and
    model, or a local model's path); ``name`` and ``revision`` go into provenance."""

    name: str
    revision: str | None
    key: str

    def generate(self, requests: Sequence[GenerationRequest], concurrency: int = 1) -> list[Generation]: ...


class PartialGeneration(Exception):
    """A generator failed after answering some requests: the answers (by request index) are worth keeping."""

    def __init__(self, answered: Mapping[int, Generation], cause: WhysetError):
        super().__init__(str(cause))
        self.answered, self.cause = dict(answered), cause


def response_key(generator: Generator, request: GenerationRequest) -> str:
    parts = [generator.key, generator.revision, request.prompt_hash, request.decoding, request.seed]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


@dataclass
class ResponseCache:
    """Answers by key: those already stored (``known``, e.g. the store's ``responses.get``) and those this
    build got (``new``, written to the store with each batch by the build, or returned by a Ray worker)."""

    known: Callable[[Sequence[str]], Mapping[str, StoredResponse]] = lambda keys: {}
    new: dict[str, StoredResponse] = field(default_factory=dict)
    requested: int = 0  # requests that reached the generator
    reused: int = 0  # requests answered from the cache

    def generate(self, generator: Generator, requests: Sequence[GenerationRequest],
                 concurrency: int = 1) -> list[StoredResponse]:
        """An answer per request, in order: from the cache where there is one, else from the generator (each
        distinct request once). Answers received before a failure are kept, then the failure is raised."""
        keys = [response_key(generator, r) for r in requests]
        found = {k: self.new[k] for k in keys if k in self.new}
        found |= self.known([k for k in dict.fromkeys(keys) if k not in found])
        todo = {k: r for k, r in zip(keys, requests, strict=True) if k not in found}
        asked = list(todo.items())
        self.requested += len(asked)
        self.reused += len(keys) - len(asked)
        if not asked:  # all answered before: the generator (maybe a model still to load) is not touched
            return [found[k] for k in keys]
        try:
            answers = dict(enumerate(generator.generate([r for _, r in asked], concurrency)))
        except PartialGeneration as exc:
            self._remember(generator, asked, exc.answered)
            raise exc.cause from None
        found |= self._remember(generator, asked, answers)
        return [found[k] for k in keys]

    def _remember(self, generator: Generator, asked: list[tuple[str, GenerationRequest]],
                  answers: Mapping[int, Generation]) -> dict[str, StoredResponse]:
        stored = {}
        for i, answer in answers.items():
            key, request = asked[i]
            stored[key] = StoredResponse(key, generator.key, generator.revision, request.prompt_hash,
                                         request.messages, request.decoding, request.seed, answer.text,
                                         answer.finish_reason, answer.usage, answer.seconds)
        self.new |= stored
        return stored

    def take_new(self) -> list[StoredResponse]:
        """The answers got since the last call (for the build to store), forgetting them here."""
        taken, self.new = list(self.new.values()), {}
        return taken
