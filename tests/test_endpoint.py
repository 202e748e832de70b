"""The endpoint path against a real HTTP server speaking the OpenAI protocol (tests/openai_server.py): requests
in flight at once, retries that honour Retry-After, one-line errors when the endpoint stays down or refuses,
exact resume, and the response cache (a changed filter re-builds from stored answers, asking nothing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.openai_server import OpenAIStub
from whyset.builders.endpoint import OpenAIGenerator, RetryPolicy
from whyset.builders.generation import GenerationRequest, ResponseCache
from whyset.builders.qa import LLMExplanation
from whyset.builders.run import build
from whyset.corpora.esnli import import_esnli
from whyset.corpora.store import CorpusStore
from whyset.errors import BadInput, ServerUnreachable

WHYSET = Path(sys.executable).with_name("whyset")
RECIPE = """
[sources]
limit = {limit}
[models]
endpoint = "{url}"
generator = "stub-model"
max_retries = {retries}
backoff = 0.05
[[builder]]
id = "explain"
type = "llm_explanation"
samples = {samples}
shots = 0
max_input_similarity = {similarity}
{extra}
"""


def _recipe(path: Path, url: str, limit: int = 48, samples: int = 1, similarity: float = 0.9, retries: int = 6,
            extra: str = "") -> Path:
    path.write_text(RECIPE.format(url=url, limit=limit, samples=samples, similarity=similarity, retries=retries,
                                  extra=extra))
    return path


def _requests(n: int, seed: int = 0) -> list[GenerationRequest]:
    return [GenerationRequest([{"role": "user", "content": f"question {i}"}], seed, 16, 0.7) for i in range(n)]


def test_48_explanations_through_429s_with_requests_in_flight(tmp_path: Path, esnli_dir: Path) -> None:
    """The issue's acceptance: 0.25 s per request, 429 (Retry-After: 1) to the first three, `whyset build`
    of 48 llm_explanation items logs all 48 as built with 8 or more requests in flight at once."""
    store = tmp_path / "c.duckdb"
    with CorpusStore(store) as db:
        import_esnli(db, esnli_dir, limit=60, explanations=False)
    with OpenAIStub(latency=0.25, refusals=[429, 429, 429], retry_after=1.0) as stub:
        recipe = _recipe(tmp_path / "r.toml", stub.url)
        done = subprocess.run([str(WHYSET), "build", str(recipe), "--store", str(store)], capture_output=True,
                              text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("explain: ")
        assert "48 generation requests, 0 answered from the cache" in done.stdout
    assert [a.status for a in stub.arrivals[:3]] == [429] * 3 and stub.served == 48
    assert stub.max_in_flight >= 8
    refused_at = [a.at for a in stub.arrivals[:3]]
    retried = [a for a in stub.arrivals[3:] if a.prompt in {x.prompt for x in stub.arrivals[:3]}]
    assert len(retried) == 3 and all(r.at - min(refused_at) >= 1.0 for r in retried)  # Retry-After honoured
    with CorpusStore(store) as db:
        log = db.builds.log("explain")
        assert len(log) == 48 and len({row["source_id"] for row in log}) == 48
        assert db.count("responses") == 48
        assert sum(r["candidates"] + r["rejected"] for r in log) == 48  # every answer kept or kept aside


def test_changed_filter_rebuilds_from_cached_answers_without_requests(tmp_path: Path, esnli_dir: Path) -> None:
    with CorpusStore(tmp_path / "c.duckdb") as db:
        import_esnli(db, esnli_dir, limit=12, explanations=False)
        with OpenAIStub(latency=0.05) as stub:
            url = stub.url
            first = build(db, _recipe(tmp_path / "r.toml", url, limit=12, samples=2))["explain"]
            asked = len(stub.arrivals)
            assert (first.requests, first.reused) == (asked, 0) and asked == db.count("responses") > 0
            similarities = sorted(c.scores["max_input_similarity"] for c in db.iter_explanations("candidate", "qa"))
            threshold = similarities[len(similarities) // 2]  # a threshold that refuses about half of them
            again = build(db, _recipe(tmp_path / "r.toml", url, limit=12, samples=2,
                                      similarity=threshold))["explain"]
            assert len(stub.arrivals) == asked  # not one request more
        assert (again.skipped, again.requests, again.reused) == (0, 0, 24)  # a new signature: all 12 rebuilt
        assert len({row["config_hash"] for row in db.builds.log("explain")}) == 2
        stricter = [r for r in db.builds.rejected("explain") if r.reason.startswith("restates the input")
                    and r.provenance.decoding["builder"]["max_input_similarity"] == threshold]
        assert len(stricter) >= len(similarities) // 3  # the new threshold decided on the same answers
        # the server is gone now: a third threshold still builds, from the store alone
        third = build(db, _recipe(tmp_path / "r.toml", url, limit=12, samples=2, similarity=0.7))["explain"]
        assert (third.requests, third.reused, third.sources - third.skipped) == (0, 24, 12)


def test_retries_honour_retry_after_and_answer_in_order() -> None:
    with OpenAIStub(latency=0.05, refusals=[429, 503, 500], retry_after=0.5, gather=6) as stub:  # 6 at once
        generator = OpenAIGenerator("m", stub.url, policy=RetryPolicy(timeout=10, max_retries=3, backoff=0.05))
        answers = generator.generate(_requests(6), concurrency=6)
    assert [a.text for a in answers] == [stub.reply({"messages": r.messages, "seed": 0}) for r in _requests(6)]
    assert stub.max_in_flight == 6 and stub.served == 6 and len(stub.arrivals) == 9
    first = {a.prompt: a.at for a in stub.arrivals[:3]}
    for late in stub.arrivals[3:]:
        if late.prompt in first:
            assert late.at - first[late.prompt] >= 0.5  # waited at least Retry-After


def test_timeouts_are_retried_then_the_endpoint_counts_as_down() -> None:
    with OpenAIStub(latency=1.0) as stub:
        generator = OpenAIGenerator("m", stub.url, policy=RetryPolicy(timeout=0.2, max_retries=2, backoff=0.05))
        with pytest.raises(ServerUnreachable, match=r"stayed down: 3 attempts over \d+ s, last: no answer within "
                                                    r"0.2 s$"):
            ResponseCache().generate(generator, _requests(1))
    assert len(stub.arrivals) == 3


def test_a_recipe_mistake_stops_at_once() -> None:
    with OpenAIStub(latency=0.0, refusals=[404]) as stub:
        generator = OpenAIGenerator("no-such-model", stub.url, policy=RetryPolicy(max_retries=5))
        with pytest.raises(BadInput, match=r"model 'no-such-model': HTTP 404: planned refusal 404"):
            ResponseCache().generate(generator, _requests(3), concurrency=1)
    assert len(stub.arrivals) == 1  # not retried, and the other requests never started


def test_endpoint_down_is_one_line_exit_4_and_keeps_what_it_answered(tmp_path: Path, esnli_dir: Path) -> None:
    from tests.test_cli import run

    store = tmp_path / "c.duckdb"
    with CorpusStore(store) as db:
        import_esnli(db, esnli_dir, limit=8, explanations=False)
    # answers 5 requests, then refuses everything: the batch of 8 is never written, the 5 answers are kept
    with OpenAIStub(latency=0.02, refusals=[200] * 5 + [503] * 100, retry_after=None) as stub:
        url = stub.url
        recipe = _recipe(tmp_path / "r.toml", url, limit=8, retries=1, extra="batch_size = 8\nconcurrency = 1")
        done = run("build", str(recipe), "--store", str(store), cwd=tmp_path)
    assert done.returncode == 4
    assert done.stderr.strip().splitlines() == [
        f"error: endpoint {url} (model 'stub-model') stayed down: 2 attempts over 0 s, last: HTTP 503"]
    with CorpusStore(store) as db:
        assert (db.count("build_log"), db.count("candidates"), db.count("responses")) == (0, 0, 5)
    # nothing listens there any more: connection refused, same one line
    done = run("build", str(_recipe(tmp_path / "r.toml", url, limit=8, retries=0)), "--store", str(store),
               cwd=tmp_path)
    assert done.returncode == 4
    assert done.stderr.strip().splitlines() == [
        f"error: endpoint {url} (model 'stub-model') stayed down: 1 attempt over 0 s, last: [Errno 111] Connection refused"]


def test_resume_after_a_failed_batch_asks_only_what_was_never_answered(tmp_path: Path, esnli_dir: Path) -> None:
    with CorpusStore(tmp_path / "c.duckdb") as db:
        import_esnli(db, esnli_dir, limit=8, explanations=False)
        with OpenAIStub(latency=0.02, refusals=[200] * 5 + [503] * 100, retry_after=None) as stub:
            recipe = _recipe(tmp_path / "r.toml", stub.url, limit=8, retries=0,
                             extra="batch_size = 8\nconcurrency = 1")
            with pytest.raises(ServerUnreachable):
                build(db, recipe)
            stub.refusals.clear()
            report = build(db, recipe)["explain"]
        assert (report.requests, report.reused, report.sources - report.skipped) == (3, 5, 8)
        answered_twice = [p for p in {a.prompt for a in stub.arrivals}
                          if sum(a.prompt == p and a.status == 200 for a in stub.arrivals) > 1]
        assert answered_twice == [] and db.count("build_log") == 8


def test_a_refused_generation_keeps_its_raw_output_and_the_reason(tmp_path: Path, esnli_dir: Path) -> None:
    with CorpusStore(tmp_path / "c.duckdb") as db, OpenAIStub(latency=0.0) as stub:
        import_esnli(db, esnli_dir, limit=3, explanations=False)
        build(db, _recipe(tmp_path / "r.toml", stub.url, limit=3, extra='mode = "passage_qa"'))
        rejected = list(db.builds.rejected("explain"))
        answers = db.responses.get(r.payload["response"] for r in rejected)
    assert len(rejected) == 3 and {r.reason for r in rejected} == {"output lacks a Question/Answer/Explanation line"}
    for item in rejected:
        assert item.payload["raw"] == answers[item.payload["response"]].text != ""
        assert answers[item.payload["response"]].finish_reason == "stop"


def test_concurrency_is_scheduling_not_content() -> None:
    few = LLMExplanation(id="x", type="llm_explanation", concurrency=2)
    many = LLMExplanation(id="x", type="llm_explanation", concurrency=64)
    assert few.config_hash == many.config_hash and "concurrency" not in few.signature()


def test_requests_go_out_together_and_come_back_in_order() -> None:
    # the server holds each request until 16 are in flight (10 s at most), so a busy box cannot make the
    # first answers come back before the last requests went out
    with OpenAIStub(latency=0.05, gather=16) as stub:
        generator = OpenAIGenerator("m", stub.url)
        answers = generator.generate(_requests(16), concurrency=16)
    assert stub.max_in_flight == 16
    assert [a.text for a in answers] == [stub.reply({"messages": r.messages, "seed": 0}) for r in _requests(16)]
