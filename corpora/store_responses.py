"""Generator responses (``responses``): the raw answer to every generation request a builder made, keyed by
what decides the answer, so a re-run or a re-build with changed filters asks the model nothing it was asked
before, and the raw text of every answer stays available whatever a parser later made of it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from whyset.corpora.store import CorpusStore

_COLUMNS = "key, generator, revision, prompt_hash, messages, decoding, seed, text, finish_reason, usage, seconds"


@dataclass(frozen=True)
class StoredResponse:
    """One answer: ``key`` hashes (generator, revision, prompt hash, decoding, seed); ``generator`` is the
    endpoint URL and model name, or the local model; ``seconds`` is how long the request took."""

    key: str
    generator: str
    revision: str | None
    prompt_hash: str
    messages: list[dict[str, str]]
    decoding: dict[str, Any]
    seed: int
    text: str
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    seconds: float | None = None

    @property
    def raw(self) -> dict[str, str]:
        """What a refused candidate keeps of the answer: its raw text and its key here."""
        return {"raw": self.text, "response": self.key}


class ResponseTables:
    def __init__(self, store: CorpusStore):
        self.store = store

    def get(self, keys: Iterable[str]) -> dict[str, StoredResponse]:
        """The stored answers among ``keys`` (missing keys are simply absent)."""
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        rows = self.store.execute(f"SELECT {_COLUMNS} FROM responses WHERE list_contains(?, key)", [wanted])
        return {row[0]: _response(row) for row in rows}

    def of_generator(self, generator: str) -> dict[str, StoredResponse]:
        """Every stored answer of one generator (what a Ray worker, away from the store, looks answers up in)."""
        rows = self.store.stream(f"SELECT {_COLUMNS} FROM responses WHERE generator = ?", [generator], key="key")
        return {row[0]: _response(row) for row in rows}

    def add(self, responses: Sequence[StoredResponse]) -> None:
        """Idempotent: an answer already stored under its key is kept (the first answer is the cached one)."""
        now = datetime.now(UTC)
        self.store.executemany(
            "INSERT OR IGNORE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [[r.key, r.generator, r.revision, r.prompt_hash, json.dumps(r.messages), json.dumps(r.decoding,
              sort_keys=True), r.seed, r.text, r.finish_reason, json.dumps(r.usage) if r.usage else None,
              r.seconds, now] for r in responses])


def _response(row: tuple) -> StoredResponse:
    key, generator, revision, prompt_hash, messages, decoding, seed, text, finish, usage, seconds = row
    return StoredResponse(key, generator, revision, prompt_hash, json.loads(messages), json.loads(decoding), seed,
                          text, finish, json.loads(usage) if usage else None, seconds)
