"""Build recipes (TOML or YAML): which sources, which models, which builders with which settings.

Every table is a pydantic model with unknown keys forbidden, so a typo (``fraction`` spelt ``fracton``)
stops the build with the recipe file, the builder and the key named, instead of silently using a default.
A ``[[builder]]`` table is validated with the settings model of the builder its ``type`` names in the
builder registry (:mod:`whyset.builders.base`); ``plugins`` names modules to import first, for builders
defined outside whyset.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, SerializeAsAny, ValidationError, field_validator

from whyset.builders.base import BUILDERS, BuilderSettings, Strict
from whyset.builders.endpoint import RetryPolicy
from whyset.builders.models import DEFAULT_ENCODER, DEFAULT_GENERATOR
from whyset.corpora.text_files import read_text
from whyset.errors import BadInput
from whyset.registry import import_plugins


class SourceSelection(Strict):
    limit: int | None = Field(default=None, ge=1, description="first N sources in dataset/split/row order")
    dataset: str | None = None
    split: str | None = None


class Models(Strict):
    encoder: str = DEFAULT_ENCODER
    generator: str = DEFAULT_GENERATOR
    endpoint: str | None = Field(default=None, description="OpenAI-compatible base URL; generator = model name")
    revision: str | None = Field(default=None, description="the served model's revision (provenance, cache key)")
    offline: bool = Field(default=True, description="load models from local files only (no hub downloads)")
    device: Literal["auto", "cpu", "cuda"] = Field(default="auto", description="auto: a GPU when torch sees one")
    request_timeout: float = Field(default=120.0, gt=0, description="endpoint: seconds one request may take")
    max_retries: int = Field(default=6, ge=0, description="endpoint: retries of a request before it counts as down")
    backoff: float = Field(default=1.0, gt=0, description="endpoint: first retry wait in seconds, doubled each time")

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(self.request_timeout, self.max_retries, self.backoff)


class ClassifierSettings(Strict):
    """The classifier behind attribution and flip checks (``[classifier]``, or one entry of ``verify_with``)."""

    head: Literal["linear", "prototype", "cross_encoder"] = "linear"
    model: str | None = Field(default=None, description="a fine-tuned sequence classifier id/path instead")
    train_limit: int = Field(default=1500, ge=1, description="labelled sources outside the build slice")
    descriptions: dict[str, list[str]] | None = Field(default=None, description="prototype head: label -> sentences")
    epochs: int = Field(default=2, ge=1, description="cross_encoder: passes over the training pairs")
    held_out: int = Field(default=500, ge=1, description="cross_encoder: labelled pairs kept out to measure it")


class Recipe(Strict):
    name: str = "recipe"
    plugins: list[str] = Field(default_factory=list, description="modules that register builders")
    sources: SourceSelection = SourceSelection()
    models: Models = Models()
    classifier: ClassifierSettings = ClassifierSettings()
    builder: list[SerializeAsAny[BuilderSettings]] = Field(min_length=1)

    @field_validator("builder", mode="before")
    @classmethod
    def _settings_of_their_type(cls, entries: Any) -> Any:
        """Each table becomes the settings model of its builder type (a recipe round-tripped through JSON,
        as the Ray engine sends it, comes back typed)."""
        if not isinstance(entries, list):
            return entries
        return [entry if isinstance(entry, BuilderSettings) else builder_settings(entry) for entry in entries]


def builder_settings(entry: Any) -> BuilderSettings:
    if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
        raise ValueError("a builder table needs a 'type'")  # noqa: TRY004  (pydantic reports ValueErrors)
    return BUILDERS.get(entry["type"]).settings_model.model_validate(entry)


def load_recipe(path: Path) -> Recipe:
    """Parse and validate a recipe; errors name the file, the builder (by id) and the key."""
    text = read_text(path, "recipe")
    try:
        raw = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise BadInput(f"{path}: not valid {path.suffix.lstrip('.').upper()} ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise BadInput(f"{path}: a recipe is a table of settings")
    import_plugins(raw.get("plugins", []) if isinstance(raw.get("plugins"), list) else [], str(path))
    entries = raw.get("builder")
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        name = f"builder[{i}]" + (f" ({entry['id']})" if isinstance(entry, dict) and "id" in entry else "")
        try:
            builder_settings(entry)
        except ValidationError as exc:
            raise BadInput(f"{path}: {_where(name, exc)}") from None
        except (BadInput, ValueError) as exc:
            raise BadInput(f"{path}: key '{name}.type': {exc}") from None
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as exc:
        raise BadInput(f"{path}: {_where(None, exc)}") from None
    ids = [b.id for b in recipe.builder]
    if len(set(ids)) != len(ids):
        raise BadInput(f"{path}: builder ids must be unique, got {ids}")
    return recipe


def _where(prefix: str | None, exc: ValidationError) -> str:
    error = exc.errors()[0]
    key = ".".join(str(part) for part in ((prefix,) if prefix else ()) + tuple(error["loc"]))
    problem = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
    return f"key '{key}': {problem}"
