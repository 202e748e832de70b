"""Real Label Studio servers for integration tests, and the annotator actions tests perform through its API.

The server venv is shared (``$WHYSET_HOME/label-studio-<version>``, installed once by ``make test``); the data
dir is migrated once into ``work/test-studio-template`` under a file lock (pytest-xdist workers share it) and
copied per test, which turns a ~35-55 s first start into ~5 s. Tests never mock the server.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from filelock import FileLock

from whyset.annotation import server
from whyset.annotation.server import Connection

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "work" / "test-studio-template"


def migrated_template() -> Path:
    """A data dir that has been through Label Studio's first-start migrations (built once, then reused)."""
    done = TEMPLATE / "data" / ".whyset-template-ready"
    with FileLock(str(TEMPLATE) + ".lock"):
        if not done.exists():
            shutil.rmtree(TEMPLATE, ignore_errors=True)
            server.up(TEMPLATE, timeout=300)
            server.down(TEMPLATE)
            done.touch()
    return TEMPLATE / "data"


def start(home: Path) -> Connection:
    """A fresh server in ``home`` from a copy of the migrated template (or the data dir already there)."""
    return server.up(home, template=migrated_template())
