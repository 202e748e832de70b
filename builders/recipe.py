"""Build recipes (TOML or YAML): which sources, which models, which builders with which settings.

Every table is a pydantic model with unknown keys forbidden, so a typo (``fraction`` spelt ``fracton``)
stops the build with the recipe file, the builder and the key named, instead of silently using a default.
Each builder's settings hash into its ``config_hash``: changing a setting makes a new build, while re-running
the same recipe skips items already built.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from whyset.builders.models import DEFAULT_ENCODER, DEFAULT_GENERATOR
from whyset.errors import WhysetError


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceSelection(Strict):
    limit: int | None = Field(default=None, ge=1, description="first N sources in dataset/split/row order")
    dataset: str | None = None
    split: str | None = None


class Models(Strict):
    encoder: str = DEFAULT_ENCODER
    generator: str = DEFAULT_GENERATOR
    endpoint: str | None = Field(default=None, description="OpenAI-compatible base URL; generator = model name")


class ClassifierSettings(Strict):
    head: Literal["linear", "prototype"] = "linear"
    model: str | None = Field(default=None, description="a fine-tuned sequence classifier id/path instead")
    train_limit: int = Field(default=1500, ge=1, description="labelled sources outside the build slice")
    descriptions: dict[str, list[str]] | None = Field(default=None, description="prototype head: label -> sentences")


class BuilderBase(Strict):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    batch_size: int = Field(default=16, ge=1)
    limit: int | None = Field(default=None, ge=1, description="build only for the first N selected sources")

    @property
    def config_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.model_dump(exclude={"batch_size"}), sort_keys=True).encode()
                              ).hexdigest()[:12]


class AttributionRationale(BuilderBase):
    type: Literal["attribution_rationale"]
    method: Literal["integrated_gradients", "gradient_x_input", "occlusion"] = "integrated_gradients"
    steps: int = Field(default=32, ge=2)
    select: Literal["top_fraction", "threshold"] = "top_fraction"
    fraction: float = Field(default=0.2, gt=0, le=1)
    threshold: float = Field(default=0.5, gt=0, le=1)
    granularity: Literal["token", "sentence"] = "token"


class GeneratorSettings(BuilderBase):
    max_new_tokens: int = Field(default=48, ge=1)
    temperature: float = Field(default=0.7, ge=0)
    seed: int = 0


class LLMRationale(GeneratorSettings):
    type: Literal["llm_rationale"]


class RuleCounterfactual(BuilderBase):
    type: Literal["rule_counterfactual"]
    field: str | None = Field(default=None, description="text field to edit (default: the last one)")
    edits: list[Literal["negation", "antonym", "quantifier", "entity"]] = ["negation", "antonym", "quantifier",
                                                                           "entity"]
    targets: dict[str, str] | None = Field(default=None, description="original label -> target label")


class LLMCounterfactual(GeneratorSettings):
    type: Literal["llm_counterfactual"]
    field: str | None = None
    targets: dict[str, str] | None = None


class LLMExplanation(GeneratorSettings):
    type: Literal["llm_explanation"]
    mode: Literal["explain_label", "passage_qa"] = "explain_label"
    samples: int = Field(default=2, ge=1, description="candidates per item, one seed each")
    shots: int = Field(default=3, ge=0, description="few-shot exemplars chosen by MMR from accepted annotations")
    mmr_lambda: float = Field(default=0.7, ge=0, le=1)
    max_input_similarity: float = Field(default=0.9, gt=0, le=1, description="reject restatements of the input")
    max_duplicate_similarity: float = Field(default=0.95, gt=0, le=1, description="reject near-duplicates")


BuilderSettings = Annotated[AttributionRationale | LLMRationale | RuleCounterfactual | LLMCounterfactual
                            | LLMExplanation, Field(discriminator="type")]


class Recipe(Strict):
    name: str = "recipe"
    sources: SourceSelection = SourceSelection()
    models: Models = Models()
    classifier: ClassifierSettings = ClassifierSettings()
    builder: list[BuilderSettings] = Field(min_length=1)


def load_recipe(path: Path) -> Recipe:
    """Parse and validate a recipe; errors name the file, the builder (by id) and the key."""
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except FileNotFoundError:
        raise WhysetError(f"{path}: recipe not found") from None
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise WhysetError(f"{path}: not valid {path.suffix.lstrip('.').upper()} ({str(exc).splitlines()[0]})") from None
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = _where(raw, error["loc"])
        problem = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
        raise WhysetError(f"{path}: {where}: {problem}") from None
    ids = [b.id for b in recipe.builder]
    if len(set(ids)) != len(ids):
        raise WhysetError(f"{path}: builder ids must be unique, got {ids}")
    return recipe


def _where(raw: object, loc: tuple) -> str:
    parts: list[str] = []
    node = raw
    for step in loc:
        if isinstance(step, int) and isinstance(node, list):
            node = node[step] if step < len(node) else {}
            name = node.get("id") if isinstance(node, dict) else None
            parts[-1] += f"[{step}]" + (f" ({name})" if name else "")
            continue
        if parts and isinstance(node, dict) and step in {"attribution_rationale", "llm_rationale",
                                                          "rule_counterfactual", "llm_counterfactual",
                                                          "llm_explanation"}:
            continue  # pydantic's discriminator step, not a key of the file
        parts.append(str(step))
        node = node.get(step, {}) if isinstance(node, dict) else {}
    return "key '" + ".".join(parts) + "'"
