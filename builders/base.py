"""What a builder is, and the registry builders add themselves to (in the style of distilabel's steps and
spaCy's factories).

A builder is a class with a settings model declared beside it, registered with::

    @register_builder("rule_counterfactual", settings=RuleCounterfactual, kind="counterfactual",
                      needs=("classifier",))
    class RuleCounterfactualBuilder(Builder): ...

Everything else is derived from the registry: the recipe's ``[[builder]]`` tables are validated with the
settings model their ``type`` names, unknown types are refused with the list of known ones, the build looks
the class up by type, and the Ray engine warms up what ``needs`` names (the classifier head) once on the
driver. Builders of other packages register the same way, from a module named in a recipe's ``plugins`` or
through the ``whyset_builders`` entry-point group.

The build signature (the settings hash that makes ``whyset build`` resumable) is every setting except those
in ``not_in_signature``: settings that change how work is scheduled, not what is built.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from whyset.registry import Registry

if TYPE_CHECKING:
    from whyset.builders.context import BuildContext, BuildOutput
    from whyset.corpora.schema import SourceExample

NEEDS = frozenset({"classifier", "encoder", "generator"})


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BuilderSettings(Strict):
    """Settings every builder has; a builder's own settings model subclasses this."""

    not_in_signature: ClassVar[frozenset[str]] = frozenset({"id", "batch_size", "limit"})

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    type: str
    batch_size: int = Field(default=16, ge=1)
    limit: int | None = Field(default=None, ge=1, description="build only for the first N selected sources")

    def signature(self) -> dict[str, Any]:
        """The settings that decide what is built: recorded in provenance and hashed into ``config_hash``."""
        return self.model_dump(exclude=set(self.not_in_signature))

    @property
    def config_hash(self) -> str:
        return signature_hash(self.signature())


def signature_hash(signature: dict[str, Any]) -> str:
    """The short hash a build is logged under: of its signature, as canonical JSON."""
    return hashlib.sha256(json.dumps(signature, sort_keys=True, default=str).encode()).hexdigest()[:12]


class GeneratorSettings(BuilderSettings):
    """Settings of builders that prompt the recipe's generator. ``concurrency`` (requests in flight at an
    endpoint) schedules work without changing it, so it stays out of the signature."""

    not_in_signature: ClassVar[frozenset[str]] = BuilderSettings.not_in_signature | {"concurrency"}

    concurrency: int = Field(default=16, ge=1, description="endpoint requests in flight at a time")
    max_new_tokens: int = Field(default=48, ge=1)
    temperature: float = Field(default=0.7, ge=0)
    seed: int = 0


class Builder:
    """Turns a batch of sources into candidates (kept) and refusals (kept aside with a reason)."""

    type_name: ClassVar[str]
    settings_model: ClassVar[type[BuilderSettings]]
    kind: ClassVar[str]  # the explanation kind of its candidates
    needs: ClassVar[frozenset[str]]

    def __init__(self, settings: BuilderSettings):
        self.settings = settings

    def build(self, sources: list[SourceExample], ctx: BuildContext) -> BuildOutput:
        raise NotImplementedError


BUILDERS: Registry[type[Builder]] = Registry("builders", "builder type", ["whyset.builders"])


def register_builder(type_name: str, *, settings: type[BuilderSettings], kind: str,
                     needs: Iterable[str] = ()) -> Callable[[type[Builder]], type[Builder]]:
    """Class decorator: declare the builder's type name, settings model, output kind and needs."""
    needs = frozenset(needs)
    unknown = needs - NEEDS
    if unknown:
        raise ValueError(f"builder {type_name!r}: unknown needs {sorted(unknown)} (choose from {sorted(NEEDS)})")

    def add(cls: type[Builder]) -> type[Builder]:
        cls.type_name, cls.settings_model, cls.kind, cls.needs = type_name, settings, kind, needs
        return BUILDERS.register(type_name)(cls)

    return add
