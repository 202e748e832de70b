"""whyset: build explanation corpora whose every example carries a human-checked reason for its label.

The public API (:class:`Corpus`, :class:`Studio`, ...) is imported lazily, so ``import whyset`` stays cheap.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("whyset")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

_EXPORTS = {
    "Corpus": "whyset.corpus", "Studio": "whyset.annotation.studio", "Guideline": "whyset.annotation.push",
    "CorpusInfo": "whyset.corpora.info", "Engine": "whyset.builders.run",
    "Builder": "whyset.builders.base", "BuilderSettings": "whyset.builders.base",
    "register_builder": "whyset.builders.base", "KindSpec": "whyset.corpora.kinds",
    "register_kind": "whyset.corpora.kinds", "MetricFamily": "whyset.validators.families",
    "register_family": "whyset.validators.families", "WhysetError": "whyset.errors", "BadInput": "whyset.errors",
    "GateFailed": "whyset.errors", "ServerUnreachable": "whyset.errors", "StoreBusy": "whyset.errors",
}
__all__ = tuple(sorted(_EXPORTS))


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'whyset' has no attribute {name!r}")
