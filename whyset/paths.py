"""The one place that decides where whyset keeps things that are not the corpus store itself.

Nothing here depends on the current directory. With ``WHYSET_HOME`` set, everything lives under it (the
Makefile sets it to the repository's ``work/`` folder). Otherwise the Label Studio state of a corpus lives
next to its store (``<store folder>/.whyset/studio``), and what every corpus can share (converted models,
trained heads, the Label Studio server's own venv, the llama.cpp server's venv and state) lives in the user's
cache folder. Each can be overridden on its own: ``WHYSET_STUDIO_HOME`` (or ``--home``), ``WHYSET_MODEL_CACHE``,
``WHYSET_STUDIO_VENV``, ``WHYSET_LLM_VENV``, ``WHYSET_LLM_HOME``.
"""

from __future__ import annotations

import os
from pathlib import Path

LABEL_STUDIO_VERSION = "1.23.2"
LLAMA_CPP_VERSION = "0.3.36"  # llama-cpp-python, whose [server] extra serves GGUF models over the OpenAI API


def _home() -> Path | None:
    home = os.environ.get("WHYSET_HOME")
    return Path(home).expanduser().resolve() if home else None


def _cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser().resolve() / "whyset"


def _override(variable: str) -> Path | None:
    value = os.environ.get(variable)
    return Path(value).expanduser().resolve() if value else None


def studio_home(store: Path) -> Path:
    """Label Studio server state, accounts and data dir for the corpus in ``store``."""
    return _override("WHYSET_STUDIO_HOME") or ((_home() / "studio") if _home() else
                                               store.expanduser().resolve().parent / ".whyset" / "studio")


def model_cache() -> Path:
    """Converted generators, trained classifier heads, prepared WordNet: shared by every corpus."""
    return _override("WHYSET_MODEL_CACHE") or (_home() or _cache()) / "models"


def studio_venv() -> Path:
    """The Label Studio server's own virtual env (it pins libraries older than whyset's)."""
    return _override("WHYSET_STUDIO_VENV") or (_home() or _cache()) / f"label-studio-{LABEL_STUDIO_VERSION}"


def studio_template() -> Path:
    """A migrated Label Studio data dir that servers start from (migrating takes 35-170 s; a copy, seconds)."""
    return (_home() or _cache()) / f"label-studio-{LABEL_STUDIO_VERSION}-template"


def studio_postgres_templates() -> Path:
    """Owner-only record of the migrated template databases whyset made on PostgreSQL servers (name ->
    the admin token inside it: a clone's admin has the template's token until its first start resets it)."""
    return (_home() or _cache()) / f"label-studio-{LABEL_STUDIO_VERSION}-postgres-templates.json"


def llm_server_venv() -> Path:
    """The llama.cpp server's own virtual env (llama-cpp-python[server], built from its sdist with the machine's
    compiler; pip caches the built wheel, so only the first build is slow)."""
    return _override("WHYSET_LLM_VENV") or (_home() or _cache()) / f"llama-cpp-python-{LLAMA_CPP_VERSION}"


def llm_server_home() -> Path:
    """State of the local LLM server that ``whyset llm up`` started (PID, port, log): one per user, not per corpus."""
    return _override("WHYSET_LLM_HOME") or (_home() or _cache()) / "llm-server"
