"""Registries for whyset's extension points (builders, explanation kinds, Label Studio views, metric families).

In the style of spaCy's registries (``catalogue``): a component registers itself with a decorator where it is
defined, and nothing else lists it. whyset's own components are found by importing every module of the
packages a registry names (so a new builder is one new file in ``builders/``); components of other packages
come from the ``whyset_<registry>`` entry-point group, or from any module imported before the lookup (a
recipe's ``plugins = ["my_package.builders"]``, or a test module that defines one).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from importlib.metadata import entry_points
from typing import Generic, TypeVar

import catalogue

from whyset.errors import BadInput

T = TypeVar("T")


class Registry(Generic[T]):
    """Named components of one kind. ``what`` words error messages ("builder type", "task kind", ...)."""

    def __init__(self, name: str, what: str, packages: Iterable[str]):
        self.name, self.what, self.packages = name, what, tuple(packages)
        # entry points are read once, in _load: catalogue's own lookup scans every installed distribution's
        # metadata on each get(), which made validating 30k stored records take a minute
        self._table = catalogue.create("whyset", name, entry_points=False)
        self._loaded = False
        # catalogue scans every installed distribution's entry points on each lookup (2 ms here): a record
        # validation looks up its kind, so an export of 30,000 records spent two minutes in that scan
        self._found: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register the decorated object under ``name``; a second, different one is refused."""

        def add(component: T) -> T:
            if name in self._table and self._table.get(name) is not component:
                existing = self._table.get(name)
                if getattr(existing, "__qualname__", None) != getattr(component, "__qualname__", None):
                    raise BadInput(f"{self.what} {name!r} is already registered by {existing!r}")
            self._table.register(name, func=component)
            self._found.pop(name, None)
            return component

        return add

    def get(self, name: str) -> T:
        if name in self._found:
            return self._found[name]
        self._load()
        if name not in self._table:
            raise BadInput(f"unknown {self.what} {name!r} (known: {', '.join(self.names()) or 'none'})")
        self._found[name] = self._table.get(name)
        return self._found[name]

    def names(self) -> list[str]:
        return list(self.all())

    def all(self) -> dict[str, T]:
        """Every component, bundled ones in module order first, then those of other packages."""
        self._load()
        return self._table.get_all()

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for package in self.packages:
            module = importlib.import_module(package)
            for info in pkgutil.iter_modules(getattr(module, "__path__", ()), prefix=f"{package}."):
                importlib.import_module(info.name)
        for entry in entry_points(group=f"whyset_{self.name}"):
            if entry.name not in self._table:
                self._table.register(entry.name, func=entry.load())


def import_plugins(modules: Iterable[str], where: str) -> None:
    """Import modules that register components (a recipe's ``plugins``); errors name the module."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise BadInput(f"{where}: plugin module {name!r} cannot be imported ({exc})") from None
