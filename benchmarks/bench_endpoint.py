"""Benchmark: generation requests/s through whyset's endpoint client at concurrency 1, 4 and 16.

Two servers: the 0.25 s-latency OpenAI-protocol test server of the test suite (it answers requests in
parallel, as vLLM or TGI batch them: the concurrency win), and the real llama.cpp server from the
llama-cpp-python[server] venv with the bundled SmolLM2-135M (it runs one sequence at a time, so concurrency
cannot raise its rate: reported as measured). Beside the thread pool whyset uses, the same requests through
openai's AsyncOpenAI with a semaphore, for the choice between the two. Peak memory: the client's RSS, and the
llama.cpp server's VmHWM. Run with `make bench-endpoint`.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the test server lives in tests/

from tests.openai_server import OpenAIStub
from whyset.builders import llm_server
from whyset.builders.endpoint import OpenAIGenerator, RetryPolicy
from whyset.builders.generation import GenerationRequest


def requests(n: int, max_tokens: int) -> list[GenerationRequest]:
    return [GenerationRequest([{"role": "user", "content": f"Name a colour that starts with letter {i % 26}."}],
                              i, max_tokens, 0.8) for i in range(n)]


def threads(url: str, model: str, batch: list[GenerationRequest], concurrency: int) -> tuple[float, float, int]:
    generator = OpenAIGenerator(model, url, policy=RetryPolicy(timeout=600, max_retries=0))
    start = time.perf_counter()
    answers = generator.generate(batch, concurrency)
    seconds = time.perf_counter() - start
    tokens = sum((a.usage or {}).get("completion_tokens", 0) for a in answers)
    return len(batch) / seconds, statistics.median(a.seconds for a in answers), tokens


def with_asyncio(url: str, model: str, batch: list[GenerationRequest], concurrency: int) -> float:
    import openai

    async def run() -> float:
        client = openai.AsyncOpenAI(base_url=url, api_key="unused", max_retries=0, timeout=600)
        gate = asyncio.Semaphore(concurrency)

        async def one(r: GenerationRequest) -> None:
            async with gate:
                await client.chat.completions.create(model=model, messages=r.messages, seed=r.seed,
                                                     max_tokens=r.max_new_tokens, temperature=r.temperature)

        start = time.perf_counter()
        try:
            await asyncio.gather(*(one(r) for r in batch))
            return len(batch) / (time.perf_counter() - start)
        finally:
            await client.close()  # inside the loop: closing it after asyncio.run ends raises

    return asyncio.run(run())


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stub-requests", type=int, default=96)
    parser.add_argument("--llama-requests", type=int, default=24)
    parser.add_argument("--max-tokens", type=int, default=24)
    args = parser.parse_args()
    print("| server | concurrency | requests | req/s | median latency s | tokens/s | asyncio req/s |")
    print("|---|---|---|---|---|---|---|", flush=True)
    with OpenAIStub(latency=0.25) as stub:
        for concurrency in (1, 4, 16, 64):
            batch = requests(args.stub_requests, args.max_tokens)
            rate, median, _ = threads(stub.url, "stub", batch, concurrency)
            other = with_asyncio(stub.url, "stub", batch, concurrency)
            print(f"| test server, 0.25 s latency | {concurrency} | {len(batch)} | {rate:.1f} | {median:.2f} | | "
                  f"{other:.1f} |", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        server = llm_server.start(Path(tmp) / "server.log")
        try:
            threads(server.url, server.alias, requests(2, args.max_tokens), 1)  # warm-up
            for concurrency in (1, 4, 16):
                batch = requests(args.llama_requests, args.max_tokens)
                rate, median, tokens = threads(server.url, server.alias, batch, concurrency)
                seconds = len(batch) / rate
                print(f"| llama.cpp server, SmolLM2-135M Q4_1, 1 thread | {concurrency} | {len(batch)} | "
                      f"{rate:.2f} | {median:.2f} | {tokens / seconds:.1f} | |", flush=True)
            server_peak = vm_hwm_mb(server.pid)
        finally:
            llm_server.stop(server)
    client_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS: client {client_peak:.0f} MB, llama.cpp server {server_peak:.0f} MB "
          f"(max_tokens {args.max_tokens})")


if __name__ == "__main__":
    main()
