"""One entry point over the three agreement kinds, shared by the CLI and the store validation."""

from __future__ import annotations

from typing import Any

from whyset.validators.label_agreement import Level, label_agreement
from whyset.validators.ratings import Ratings
from whyset.validators.span_agreement import span_agreement
from whyset.validators.text_agreement import Embed, text_agreement


def agreement(ratings: Ratings, level: Level = "nominal", n_boot: int = 1000, seed: int = 0,
              embed: Embed | None = None) -> dict[str, Any]:
    if ratings.kind == "label":
        return label_agreement(ratings, level, n_boot=n_boot, seed=seed)
    if ratings.kind == "span":
        return span_agreement(ratings, n_boot=n_boot, seed=seed)
    return text_agreement(ratings, embed=embed)
