"""The endpoint path against a real OpenAI-compatible server: llama.cpp's, from llama-cpp-python[server] in a
venv of its own, serving the bundled SmolLM2-135M GGUF on loopback, started and stopped here by PID.

`make test` always builds that venv, so a missing one is a failure that says how to build it, not a skip.
The server answers one request at a time (~1-2 s each here), so these tests ask for few, short answers.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from tests.openai_server import OpenAIStub
from tests.test_cli import run
from whyset.builders import llm_server
from whyset.builders.run import build
from whyset.corpora.esnli import import_esnli
from whyset.corpora.store import CorpusStore
from whyset.corpora.store_builds import BuildTables
from whyset.paths import llm_server_venv
from whyset.processes import free_port

RECIPE = """
[sources]
limit = 6
[models]
endpoint = "{url}"
generator = "smollm2"
max_retries = {retries}
backoff = 0.2
[classifier]
train_limit = 40
{builders}
"""
EXPLAIN = """
[[builder]]
id = "explain"
type = "llm_explanation"
limit = {limit}
samples = 1
shots = 0
max_new_tokens = 24
batch_size = {batch}
"""
OTHERS = """
[[builder]]
id = "quotes"
type = "llm_rationale"
limit = 3
max_new_tokens = 24
[[builder]]
id = "rewrite"
type = "llm_counterfactual"
field = "hypothesis"
limit = 3
max_new_tokens = 24
[builder.targets]
entailment = "contradiction"
contradiction = "entailment"
neutral = "contradiction"
"""


def _require_venv() -> None:
    if not llm_server.installed():
        pytest.fail(f"the llama.cpp server venv is missing at {llm_server_venv()}: `make test` builds it "
                    "(alone: `make llm-server` or `whyset llm install`)")


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory):
    _require_venv()
    server = llm_server.start(tmp_path_factory.mktemp("llama") / "server.log")
    yield server
    llm_server.stop(server)


@pytest.fixture
def corpus(tmp_path: Path, esnli_dir: Path) -> Path:
    path = tmp_path / "c.duckdb"
    with CorpusStore(path) as db:
        import_esnli(db, esnli_dir, limit=60, explanations=False)
    return path


def _recipe(path: Path, url: str, builders: str, retries: int = 6) -> Path:
    path.write_text(RECIPE.format(url=url, retries=retries, builders=builders))
    return path


def test_endpoint_builders_make_candidates_from_the_real_server(llama, corpus: Path, tmp_path: Path) -> None:
    recipe = _recipe(tmp_path / "r.toml", llama.url, EXPLAIN.format(limit=4, batch=4) + OTHERS)
    with CorpusStore(corpus) as db:
        reports = build(db, recipe)
        assert {k: r.sources - r.skipped for k, r in reports.items()} == {"explain": 4, "quotes": 3, "rewrite": 3}
        assert sum(r.requests for r in reports.values()) == db.count("responses") == 10
        made = list(db.iter_explanations("candidate")) + list(db.builds.rejected())
        assert made and {m.provenance.model_name for m in made} == {"smollm2"}
        assert sum(r.kept for r in reports.values()) >= 1
        for item in db.builds.rejected():  # every refusal of model output keeps the raw answer
            assert item.payload["raw"] == db.responses.get([item.payload["response"]])[item.payload["response"]].text
        answers = db.responses.of_generator(f"{llama.url} smollm2")
        assert len(answers) == 10 and all(a.usage["completion_tokens"] <= 24 for a in answers.values())


def test_server_killed_mid_build_one_line_error_then_exact_resume(corpus: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _require_venv()
    home, port = tmp_path / "llm", free_port()
    started = run("llm", "up", "--port", str(port), "--home", str(home), cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    server = llm_server.current(home)
    assert server is not None and f"endpoint = \"{server.url}\"" in started.stdout
    recipe = _recipe(tmp_path / "r.toml", server.url, EXPLAIN.format(limit=6, batch=2), retries=1)
    original = BuildTables.record_batch

    def record_then_kill(self, *args, **kwargs):
        original(self, *args, **kwargs)
        if self.store.count("build_log") == 2:  # after the first batch: SIGKILL while the next one is asked
            threading.Timer(0.3, os.kill, (server.pid, signal.SIGKILL)).start()

    monkeypatch.setattr(BuildTables, "record_batch", record_then_kill)
    failed = run("build", str(recipe), "--store", str(corpus), cwd=tmp_path)
    monkeypatch.setattr(BuildTables, "record_batch", original)
    assert failed.returncode == 4
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: endpoint {server.url} (model 'smollm2') stayed down: ")
    assert run("llm", "status", "--home", str(home), cwd=tmp_path).returncode == 4  # it is gone
    with CorpusStore(corpus) as db:
        assert db.count("build_log") == 2
    assert run("llm", "up", "--port", str(port), "--home", str(home), cwd=tmp_path).returncode == 0
    try:
        with CorpusStore(corpus) as db:
            report = build(db, recipe)["explain"]
            log = db.builds.log("explain")
            made = [c.source_id for c in db.iter_explanations("candidate")] + \
                [r.source_id for r in db.builds.rejected()]
        assert (report.skipped, report.sources - report.skipped) == (2, 4)
        assert len(log) == 6 and len({row["source_id"] for row in log}) == 6
        assert sorted(made) == sorted(row["source_id"] for row in log)  # one answer per pair, none twice
    finally:
        assert run("llm", "down", "--home", str(home), cwd=tmp_path).stdout.startswith("stopped ")
    assert llm_server.current(home) is None


def test_a_429_storm_in_front_of_the_real_server_is_survived(llama, corpus: Path, tmp_path: Path) -> None:
    with OpenAIStub(latency=0.0, refusals=[429] * 6 + [503] * 2, retry_after=0.5, upstream=llama.url) as storm:
        recipe = _recipe(tmp_path / "r.toml", storm.url, EXPLAIN.format(limit=3, batch=3))
        with CorpusStore(corpus) as db:
            report = build(db, recipe)["explain"]
            assert report.sources - report.skipped == 3 and db.count("build_log") == 3
            texts = [a.text for a in db.responses.of_generator(f"{storm.url} smollm2").values()]
    assert [a.status for a in storm.arrivals[:8]] == [429] * 6 + [503] * 2 and storm.served == 3
    assert len(texts) == 3 and all(texts)  # SmolLM2's answers, through the storm


def test_makefile_builds_the_pinned_portable_server() -> None:
    """The Makefile builds the server venv itself (beside .venv); its pin and flags must be whyset's."""
    from tests.conftest import REPO
    from whyset.paths import LLAMA_CPP_VERSION

    makefile = (REPO / "Makefile").read_text()
    assert f"LLAMA_CPP := {LLAMA_CPP_VERSION}\n" in makefile
    assert "LLM_VENV := work/llama-cpp-python-$(LLAMA_CPP)\n" in makefile
    assert llm_server_venv() == REPO / "work" / f"llama-cpp-python-{LLAMA_CPP_VERSION}"  # where whyset looks
    assert f'CMAKE_ARGS="{llm_server.CMAKE_ARGS}"' in makefile
    assert "$(MAKE) -j4 $(LLM) $(STAMP) $(STUDIO) debs-test" in makefile  # test builds it, beside the rest
