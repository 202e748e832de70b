"""Readers are not locked out by a writer: the store holds its file only while it works, so another process's
command runs between a writer's transactions, and during one it waits briefly, then says who holds the store
(exit 5), never with DuckDB's traceback. The writers are separate processes: file locks are per process."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.test_cli import WHYSET, run
from whyset.corpora import store_file
from whyset.corpora.store import CorpusStore

HOLDER = """
import sys
from whyset.corpora.store import CorpusStore
with CorpusStore(sys.argv[1]) as store, store.transaction():
    store.declare_labels(["held"])
    print("holding", flush=True)
    sys.stdin.readline()
"""

LOOP = """
import sys, time
from pathlib import Path
from whyset.corpora.store import CorpusStore
with CorpusStore(sys.argv[1]) as store:
    print("writing", flush=True)
    batches = 0
    while not Path(sys.argv[2]).exists() or batches < 3:
        with store.transaction():
            store.set_setting("batches", batches + 1)
            time.sleep(0.05)  # a batch being written
        batches += 1
        time.sleep(0.05)      # between batches (a model computing, a server answering)
"""


def _start(code: str, *args: str) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", code, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.strip() in ("holding", "writing"), process.stderr.read() if process.stderr else first
    return process


def test_a_reader_during_a_write_transaction_waits_then_names_the_holder(tmp_path: Path, monkeypatch) -> None:
    store = tmp_path / "c.duckdb"
    CorpusStore(store).close()
    holder = _start(HOLDER, str(store))
    try:
        monkeypatch.setattr(store_file, "BUSY_TIMEOUT_S", 0.5)
        started = time.monotonic()
        done = run("info", "--store", str(store), cwd=tmp_path)
        waited = time.monotonic() - started
        assert done.returncode == 5
        assert done.stderr.splitlines() == [
            (f"error: {store}: the store is in use by another process ({Path(sys.executable).resolve()}, "
             f"PID {holder.pid}), still after 0.5 s; wait for it to finish, or stop it, then retry")]
        assert 0.5 <= waited < 5  # it retried for the timeout, then gave up
    finally:
        holder.communicate("\n", timeout=60)
    assert holder.returncode == 0
    after = run("info", "--store", str(store), cwd=tmp_path)
    assert after.returncode == 0 and "labels: held" in after.stdout  # the holder's transaction committed


def test_readers_and_writers_take_turns_between_transactions(tmp_path: Path) -> None:
    store, stop = tmp_path / "c.duckdb", tmp_path / "stop"
    CorpusStore(store).close()
    writer = _start(LOOP, str(store), str(stop))
    try:
        readers = [run("info", "--store", str(store), cwd=tmp_path) for _ in range(3)]
        imported = run("init", "--labels", "a,b", "--store", str(store), cwd=tmp_path)  # a second writer gets in too
        assert writer.poll() is None, "the writer stopped before the others ran: the test would prove nothing"
    finally:
        stop.touch()
        writer.communicate(timeout=120)
    assert [(r.returncode, r.stderr) for r in readers] == [(0, "")] * 3
    assert all("sources: 0" in r.stdout for r in readers)
    assert imported.returncode == 0, imported.stderr
    assert writer.returncode == 0
    with CorpusStore(store) as done:
        assert done.labels == ["a", "b"] and done.get_setting("batches") >= 3


def test_an_open_store_holds_nothing_between_its_reads(tmp_path: Path) -> None:
    store = tmp_path / "c.duckdb"

    def whyset(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(WHYSET), *args, "--store", str(store)], capture_output=True, text=True,
                              timeout=120, check=False)

    with CorpusStore(store) as db:
        db.declare_labels(["x"])
        assert whyset("init", "--labels", "y").returncode == 0  # another process writes while this one is open
        with db.reading():  # a read-only hold: other readers are welcome
            assert db.labels == ["x", "y"]
            info = whyset("info")
            assert info.returncode == 0 and "labels: x, y" in info.stdout, info.stderr
