"""Typed records of an explanation corpus.

A *source example* is the thing being explained (e.g. an NLI pair with its gold label). An *explanation*
is a :class:`Payload` of one registered kind (rationale, counterfactual and QA-explanation triple are
bundled, each in its own module of ``corpora/kinds/``) and is stored either as a model/rule *candidate* or as
a human *annotation*; both carry full provenance so that every row of a released dataset can be traced to
who or what produced it, with which model, prompt and decoding settings.

Checks that need only the record itself live in the models (pydantic validators); checks that need the
source text (span offsets, edit offsets) live in :meth:`Payload.check_against`, because the store calls it
with the stored source at insert time.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, field_validator

from whyset import __version__

Origin = Literal["human", "model", "rule"]
INT64 = (-(2**63), 2**63 - 1)  # what an exported integer column holds
# A text field names a Label Studio object in every task (``<Text name="premise" value="$premise"/>``), so a
# field name is what Label Studio accepts as an object name: checked at import, not at the first push.
FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
FIELD_NAME_RULE = "letters, digits and _, not starting with a digit (Label Studio names its objects after fields)"


class Record(BaseModel):
    """Base for all records: unknown keys are errors (a typo in a column mapping must not pass silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def content_id(*parts: Any) -> str:
    """A stable 16-hex-digit id from canonical JSON, so re-imports map to the same rows (idempotency)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


class Provenance(Record):
    """Who or what produced a record, and how, in enough detail to reproduce or audit it."""

    origin: Origin
    agent_id: str = Field(min_length=1, description="annotator id (human) or generator id (model/rule)")
    model_name: str | None = None
    model_revision: str | None = None
    prompt_id: str | None = None
    prompt_hash: str | None = None
    decoding: dict[str, Any] | None = None
    seed: int | None = Field(default=None, ge=INT64[0], le=INT64[1])
    guideline_version: str | None = Field(default=None, description="annotation guideline a human worked under")
    tool_version: str = __version__
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class SourceExample(Record):
    """An item to be explained. ``fields`` maps text-field names (premise, hypothesis, text, ...) to text.

    ``identity`` is what makes two imports of a row the same source: the value of the data's key column
    (``key:...``), or its content and the occurrence number of that content in its dataset split
    (``content:...#n``; see :class:`ContentIdentities`). ``row`` is only where the row was in its file."""

    id: str
    dataset: str = Field(min_length=1)
    split: str = Field(min_length=1)
    row: int = Field(ge=0, le=INT64[1])
    fields: dict[str, str]
    label: str | None
    license: str | None = Field(default=None, description="SPDX licence id of the source data")
    attribution: str | None = None
    identity: str | None = Field(default=None, description="key:<value> or content:<hash>#<occurrence>")

    @field_validator("fields")
    @classmethod
    def _field_names(cls, fields: dict[str, str]) -> dict[str, str]:
        for name in fields:
            if not FIELD_NAME.match(name):
                raise ValueError(f"field name {name!r}: use {FIELD_NAME_RULE}")
        return fields

    @staticmethod
    def make_id(dataset: str, split: str, identity: str) -> str:
        """The id of a source of this identity: re-importing a refreshed file finds the same ids."""
        return content_id("source", dataset, split, identity)


def key_identity(key: str) -> str:
    """The identity of a row whose data has a key column."""
    return f"key:{key}"


class ContentIdentities:
    """Identities from content, for data without a key column: a hash of the text fields and label, plus the
    occurrence number of that content among the identical rows of its dataset split, in file order. So a row
    inserted anywhere changes no other row's identity, while identical rows stay apart (e-SNLI dev has two
    pairs twice, whose explanations differ)."""

    def __init__(self) -> None:
        self._seen: Counter[tuple[str, str, str]] = Counter()

    def __call__(self, dataset: str, split: str, fields: dict[str, str], label: str | None) -> str:
        digest = content_id("content", fields, label)
        occurrence = self._seen[dataset, split, digest]
        self._seen[dataset, split, digest] += 1
        return f"content:{digest}#{occurrence}"


class Payload(Record):
    """The explanation proper. Each kind (``corpora/kinds/``) subclasses it with a ``Literal`` ``kind`` and
    says what the record asserts and how it must agree with its source text."""

    kind: str

    def check_against(self, source: SourceExample) -> None:
        """Raise WhysetError naming the offending field when offsets or texts disagree with the source."""

    def asserted_labels(self) -> list[tuple[str, str]]:
        """(field name, label) pairs this explanation asserts, checked against the corpus label set."""
        return []

    def decision(self) -> str | None:
        """The categorical answer annotators can disagree on (a rationale's label), if the kind has one."""
        return None


class ExplanationRecord(Record):
    """A stored explanation: a *candidate* (model/rule output awaiting review) or a human *annotation*."""

    id: str
    source_id: str
    role: Literal["candidate", "annotation"]
    round_id: str | None = None
    explanation: SerializeAsAny[Payload]
    provenance: Provenance
    lead_time: float | None = Field(default=None, ge=0, description="seconds the annotator spent")
    scores: dict[str, Any] | None = Field(default=None, description="a builder's automatic scores of a candidate")

    @field_validator("explanation", mode="wrap")
    @classmethod
    def _payload_of_its_kind(cls, value: Any, handler: Any) -> Payload:
        """Validate against the payload model its ``kind`` names in the kinds registry (nested errors keep
        their field path, e.g. ``explanation.spans.0.end``)."""
        if isinstance(value, Payload):
            return value
        from whyset.corpora.kinds import KINDS

        if not isinstance(value, dict) or not isinstance(value.get("kind"), str):
            raise ValueError(  # noqa: TRY004  (pydantic reports ValueErrors)
                f"an explanation is an object with a 'kind' (one of {', '.join(KINDS.names())})")
        return KINDS.get(value["kind"]).payload.model_validate(value)

    @staticmethod
    def make_id(source_id: str, role: str, round_id: str | None, explanation: Record, agent_id: str) -> str:
        """Same content from the same agent in the same round is the same record: retries are idempotent."""
        return content_id("explanation", source_id, role, round_id, agent_id, explanation.model_dump(mode="json"))
