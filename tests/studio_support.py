"""Real Label Studio servers for integration tests, and the annotator actions tests perform through its API.

The server venv is shared (``work/studio/venv``, installed once by ``make test``); the data dir is migrated
once into ``work/test-studio-template`` under a file lock (pytest-xdist workers share it) and copied per test,
which turns a ~35-55 s first start into ~5 s. Tests never mock the server.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from filelock import FileLock

from whyset.annotation import server
from whyset.annotation.server import Connection

REPO = Path(__file__).resolve().parents[1]
SHARED_VENV = REPO / "work" / "studio" / "venv"
TEMPLATE = REPO / "work" / "test-studio-template"


def prepare_home(home: Path) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "venv").exists():
        server.install(SHARED_VENV.parent)
        (home / "venv").symlink_to(SHARED_VENV, target_is_directory=True)
    return home


def migrated_template() -> Path:
    """A data dir that has been through Label Studio's first-start migrations (built once, then reused)."""
    done = TEMPLATE / "data" / ".whyset-template-ready"
    with FileLock(str(TEMPLATE) + ".lock"):
        if not done.exists():
            shutil.rmtree(TEMPLATE, ignore_errors=True)
            home = prepare_home(TEMPLATE)
            server.up(home, timeout=300)
            server.down(home)
            done.touch()
    return TEMPLATE / "data"


def start(home: Path) -> Connection:
    """A fresh server in ``home`` from a copy of the migrated template (or the data dir already there)."""
    template = migrated_template()
    return server.up(prepare_home(home), template=template)
