"""Shared fixtures. Real data comes from ../shared/data/esnli-dev beside the repository."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from whyset.corpora.esnli import import_esnli
from whyset.corpora.store import CorpusStore

REPO = Path(__file__).resolve().parents[1]
ESNLI_DIR = REPO.parent / "shared" / "data" / "esnli-dev"
# What the Makefile sets: one model cache for every test and worker (the SmolLM2 conversion and WordNet copy
# happen once) and the Label Studio venv `make test` installed, both under the repository's work/.
os.environ.setdefault("WHYSET_HOME", str(REPO / "work"))


@pytest.fixture(scope="session")
def esnli_dir() -> Path:
    if not ESNLI_DIR.exists():
        pytest.fail(f"{ESNLI_DIR} is missing: the repository must sit beside ../shared")
    return ESNLI_DIR


def load_export(out: Path, config: str | None = None, cache: Path | None = None):
    """``datasets.load_dataset`` on an export folder with a cache of its own: datasets 5.2 keys the cache
    of a local folder by folder name and config only, so two exports named alike would share it."""
    import datasets

    return datasets.load_dataset(str(out), config, cache_dir=str(cache or out.parent / ".hf-cache"))


@pytest.fixture
def studio(tmp_path: Path):
    """A studio home of the test's own; every server it started is stopped afterwards (by PID)."""
    from whyset.annotation.studio import Studio

    studio = Studio.open(tmp_path / "studio")
    yield studio
    Studio.open(tmp_path / "studio").down()


PG_ROLE, PG_PASSWORD = "whyset", "whyset-test-pw"


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL 15 cluster of this test session (loopback, password auth, a role that may create
    databases), copied from a cached cluster that already holds whyset's migrated Label Studio template
    database: the first session on a machine builds it (Label Studio's migrations, about a minute), later
    ones copy it (under a second)."""
    from tests.pgcluster import PgCluster, cached_cluster
    from whyset.annotation import server

    def prepare(cluster: PgCluster) -> None:
        cluster.create_role(PG_ROLE, PG_PASSWORD)
        server.migrated_template_database(cluster.url(PG_ROLE, PG_PASSWORD, "whyset"))

    cluster = cached_cluster(Path(os.environ["WHYSET_HOME"]) / "postgresql-15-cluster", prepare)
    yield cluster
    cluster.remove()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_studio(request, tmp_path: Path):
    """The ``studio`` fixture on either database: PostgreSQL gives each annotator's server a database of its
    own in the session's cluster, named after a database of this test."""
    from whyset.annotation.studio import Studio

    database = None
    if request.param == "postgresql":
        cluster = request.getfixturevalue("postgres")
        database = cluster.url(PG_ROLE, PG_PASSWORD, f"t{uuid.uuid4().hex[:10]}")
    studio = Studio.open(tmp_path / "studio", database)
    yield studio
    Studio.open(tmp_path / "studio").down()


@pytest.fixture
def store(tmp_path: Path):
    with CorpusStore(tmp_path / "corpus.duckdb") as db:
        yield db


@pytest.fixture
def esnli_store(store: CorpusStore, esnli_dir: Path) -> CorpusStore:
    """A store with the first 60 e-SNLI dev pairs and their 180 human explanations."""
    import_esnli(store, esnli_dir, limit=60)
    return store
