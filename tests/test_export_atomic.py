"""An interrupted export keeps the version promise (issue 16, item 7): killed at any stage, the output folder
holds exactly one whole version (its provenance.json's hashes match its data files), the next export finishes
the job, and no version number is ever released with two different data sets."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from whyset.corpora import export, release_folder
from whyset.corpora.esnli import import_esnli
from whyset.corpora.export import export_dataset
from whyset.corpora.kinds.qa import QATriple
from whyset.corpora.schema import ExplanationRecord, Provenance
from whyset.corpora.store import CorpusStore
from whyset.errors import WhysetError


class Killed(BaseException):
    """Stands in for SIGKILL in-process: no handler of whyset's catches it (the store's transaction rolls back,
    as a killed process's uncommitted transaction does)."""


def whole_version(out: Path) -> tuple[str, str]:
    """(version, fingerprint) of the folder, after checking that every file belongs to that one version."""
    provenance = json.loads((out / "provenance.json").read_text())
    data = sorted(str(p.relative_to(out)) for p in (out / "data").rglob("*") if p.is_file())
    assert data == sorted(provenance["files"]), "data files and provenance.json list different files"
    digest = hashlib.sha256()
    for relative in data:
        content = hashlib.sha256((out / relative).read_bytes()).hexdigest()
        assert provenance["files"][relative] == f"sha256:{content}", f"{relative} is not the file provenance.json hashed"
        digest.update(f"{relative}\0{content}\n".encode())
    version = provenance["dataset_version"]
    assert digest.hexdigest() == provenance["data_fingerprint"]
    assert yaml.safe_load((out / "README.md").read_text().split("---\n")[1])["version"] == version
    assert json.loads((out / "croissant.json").read_text())["version"] == version
    return version, provenance["data_fingerprint"]


def _more_data(store: CorpusStore, n: int) -> None:
    source = next(store.iter_sources())
    triple = QATriple(question="why?", answer=source.label, explanation=f"reason number {n}")
    store.add_explanations([ExplanationRecord(
        id=ExplanationRecord.make_id(source.id, "annotation", None, triple, "extra"), source_id=source.id,
        role="annotation", explanation=triple, provenance=Provenance(origin="human", agent_id="extra"))])


def _released(store: CorpusStore, seen: set[tuple[str, str]]) -> None:
    """No version number names two data sets: not in the store's history, not in any folder seen."""
    history = {(e["version"], e["fingerprint"]) for e in store.exports()}
    pairs = history | seen
    assert len({v for v, _ in pairs}) == len(pairs), sorted(pairs)
    assert len(history) == len(store.exports())


@pytest.fixture
def released(tmp_path: Path, esnli_dir: Path):
    """A store with a first release in ``ds`` (a Hub clone: it has a .git), and new data since."""
    with CorpusStore(tmp_path / "c.duckdb") as store:
        import_esnli(store, esnli_dir, limit=8)
        out = tmp_path / "ds"
        assert export_dataset(store, out).version == "1.0.0"
        (out / ".git").mkdir()
        (out / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
        _more_data(store, 1)
        yield store, out


def _interrupt_before(module: object, name: str) -> Callable[..., object]:
    def killed(*args: object, **kwargs: object) -> object:
        raise Killed(name)
    return killed


def _interrupt_after(module: object, name: str) -> Callable[..., object]:
    real = getattr(module, name)

    def killed(*args: object, **kwargs: object) -> object:
        real(*args, **kwargs)
        raise Killed(name)
    return killed


STAGES = {  # where the export dies, in the order it runs
    "writing the data files": (export, "write_parquet", _interrupt_after),
    "writing card and provenance": (export, "write_metadata", _interrupt_before),
    "before recording the version": (export, "record_release", _interrupt_before),
    "after recording the version": (export, "record_release", _interrupt_after),
    "after the folder exchange": (release_folder, "exchange", _interrupt_after),
}


@pytest.mark.parametrize("stage", STAGES)
def test_an_export_interrupted_at_any_stage_leaves_one_whole_version(released, monkeypatch, stage: str) -> None:
    store, out = released
    module, name, interrupt = STAGES[stage]
    seen = {whole_version(out)}
    with monkeypatch.context() as patch:
        patch.setattr(module, name, interrupt(module, name))
        with pytest.raises(Killed):
            export_dataset(store, out)
    seen.add(whole_version(out))  # the old version or the new one, whole either way
    assert whole_version(out)[0] in ("1.0.0", "1.1.0")
    _released(store, seen)

    again = export_dataset(store, out)  # finishes what the interrupted export started
    assert whole_version(out) == (again.version, again.fingerprint) == ("1.1.0", again.fingerprint)
    assert (out / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n"
    assert not release_folder.swap_folder(out).exists()
    seen.add(whole_version(out))
    _more_data(store, 2)
    assert export_dataset(store, out).version == "1.2.0"
    seen.add(whole_version(out))
    _released(store, seen)
    assert [e["version"] for e in store.exports()] == ["1.0.0", "1.1.0", "1.2.0"]


KILLER = """
import os, signal, sys
from pathlib import Path
from whyset.corpora import export, release_folder
from whyset.corpora.store import CorpusStore

module, name = (export, "record_release") if sys.argv[3] == "recorded" else (release_folder, "exchange")
real = getattr(module, name)

def then_die(*args, **kwargs):
    real(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)

setattr(module, name, then_die)
with CorpusStore(sys.argv[1]) as store:
    export.export_dataset(store, Path(sys.argv[2]))
"""


@pytest.mark.parametrize("moment", ["recorded", "exchanged"])
def test_an_export_killed_with_sigkill_keeps_the_promise(released, moment: str) -> None:
    store, out = released
    killed = subprocess.run([sys.executable, "-c", KILLER, str(store.path), str(out), moment],
                            capture_output=True, text=True, timeout=300, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    version, fingerprint = whole_version(out)
    assert version == ("1.0.0" if moment == "recorded" else "1.1.0")
    history = {e["version"]: e["fingerprint"] for e in store.exports()}
    assert history.keys() == {"1.0.0", "1.1.0"}  # recorded before the folder changed, and kept
    assert history[version] == fingerprint
    assert (out / ".git").exists() == (moment == "recorded")  # after the exchange it waits in the swap folder
    again = export_dataset(store, out)
    assert (again.version, again.new_version) == ("1.1.0", False) and history["1.1.0"] == again.fingerprint
    assert whole_version(out) == ("1.1.0", history["1.1.0"]) and (out / ".git" / "HEAD").exists()


def test_a_folder_version_the_store_never_recorded_is_not_released_again(tmp_path: Path, esnli_dir: Path) -> None:
    """What older whyset left when killed between its folder swap and its history write: the folder holds a
    version the store does not know. The next export takes it into the history and moves past it."""
    with CorpusStore(tmp_path / "a.duckdb") as first, CorpusStore(tmp_path / "b.duckdb") as other:
        import_esnli(first, esnli_dir, limit=4)
        import_esnli(other, esnli_dir, limit=5)
        left = export_dataset(first, tmp_path / "ds")
        result = export_dataset(other, tmp_path / "ds")
        assert [(e["version"], e["fingerprint"]) for e in other.exports()] == [
            ("1.0.0", left.fingerprint), ("1.1.0", result.fingerprint)]
        assert whole_version(tmp_path / "ds") == ("1.1.0", result.fingerprint)
        # a folder holding one of this store's version numbers with other data is another corpus's: refused
        _more_data(first, 1)
        assert export_dataset(first, tmp_path / "mine").version == "1.1.0"
        with pytest.raises(WhysetError, match=r"ds: holds version 1.1.0 of other data"):
            export_dataset(first, tmp_path / "ds")
        assert whole_version(tmp_path / "ds") == ("1.1.0", result.fingerprint)
