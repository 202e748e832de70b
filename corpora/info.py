"""Typed corpus metadata (in the spirit of ``datasets.DatasetInfo``): set with ``whyset init`` or by an
importer that knows its data, kept in the store, and rendered into the dataset card and Croissant file.

Nothing is assumed: a card names a language or a task category only when someone said so.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

_LANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")  # BCP-47-like, as the Hub's card expects
_TASK = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_CODES = {"languages": (_LANGUAGE, "a language code (e.g. en, de, pt-BR)"),
          "task_categories": (_TASK, "a Hub task id (e.g. text-classification)")}


class CorpusInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, description="short machine name, used for exports and the changelog")
    pretty_name: str | None = None
    description: str | None = None
    languages: list[str] = Field(default_factory=list, description="language codes, e.g. en, de, pt-BR")
    task_categories: list[str] = Field(default_factory=list, description="Hub task ids, e.g. text-classification")
    citation: str | None = Field(default=None, description="BibTeX of the corpus, shown in the card")
    homepage: str | None = None

    @field_validator("languages", "task_categories")
    @classmethod
    def _codes(cls, values: list[str], info: ValidationInfo) -> list[str]:
        pattern, what = _CODES[info.field_name]
        for value in values:
            if not pattern.match(value):
                raise ValueError(f"{value!r} is not {what}")
        return values

    def merged(self, other: CorpusInfo) -> CorpusInfo:
        """This info with every field ``other`` sets replacing it (``whyset init`` may be run again)."""
        return self.model_copy(update=other.model_dump(exclude_defaults=True))

    def filled_from(self, defaults: CorpusInfo) -> CorpusInfo:
        """This info with its empty fields taken from ``defaults`` (what an importer knows about its data)."""
        return defaults.merged(self)
