"""Generation through any OpenAI-compatible chat endpoint (vLLM, TGI, Ollama, llama.cpp's server, OpenAI).

A served model batches the requests it has in flight, so one request at a time leaves most of its throughput
unused: requests go out on a pool of ``concurrency`` threads (the openai client is thread-safe and shares one
connection pool; measured against a 0.25 s-latency server, threads reach the same rate as asyncio, see
README "Builders"). Each request is retried on what a busy or restarting server answers (429, 408, 409, 5xx,
a timeout, a dropped or refused connection) with exponential backoff and jitter, waiting at least what a
``Retry-After`` header asks; after ``max_retries`` retries the endpoint counts as down and the build stops
with one line (``ServerUnreachable``, exit 4), keeping the answers it got. Other 4xx answers are mistakes in
the recipe (a wrong model name, a bad parameter) and stop the build at once.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from whyset.builders.generation import Generation, GenerationRequest, PartialGeneration
from whyset.errors import BadInput, ServerUnreachable, WhysetError

RETRIED_STATUS = frozenset({408, 409, 429})


@dataclass(frozen=True)
class RetryPolicy:
    """How long one request may take and how a failed one is retried (``[models]`` in a recipe)."""

    timeout: float = 120.0
    max_retries: int = 6
    backoff: float = 1.0  # the first wait; each retry doubles it, up to max_backoff
    max_backoff: float = 30.0

    def wait(self, retry: int, retry_after: float | None, rng: random.Random) -> float:
        """Equal jitter (half fixed, half random) on the exponential step, so that requests refused together
        come back spread out; a server's Retry-After is a floor, stretched by up to 20% for the same reason."""
        step = min(self.max_backoff, self.backoff * 2 ** retry)
        jittered = step / 2 + rng.uniform(0, step / 2)
        return max(jittered, retry_after * rng.uniform(1.0, 1.2)) if retry_after is not None else jittered


class _Cancelled(Exception):
    """Another request of the same call failed for good: stop retrying this one."""


class OpenAIGenerator:
    """Chat completions from an endpoint, ``concurrency`` requests in flight at a time."""

    def __init__(self, name: str, base_url: str, api_key: str = "not-needed", revision: str | None = None,
                 policy: RetryPolicy = RetryPolicy()):
        import openai

        self.name, self.base_url, self.revision, self.policy = name, base_url.rstrip("/"), revision, policy
        self.key = f"{self.base_url} {name}"
        # retries are ours (the client's own would ignore the pool's stop signal and our Retry-After floor)
        self.client = openai.OpenAI(base_url=self.base_url, api_key=api_key, max_retries=0, timeout=policy.timeout)
        self._rng = random.Random()
        self._rng_lock = threading.Lock()

    def generate(self, requests: Sequence[GenerationRequest], concurrency: int = 16) -> list[Generation]:
        """One answer per request, in order. Raises on the first request that fails for good, after stopping
        the others; answers already received travel with the error (:class:`PartialGeneration`)."""
        if not requests:
            return []
        stop = threading.Event()
        pool = ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(requests))),
                                  thread_name_prefix="whyset-endpoint")
        try:
            futures = [pool.submit(self._complete, r, stop) for r in requests]
            wait(futures, return_when=FIRST_EXCEPTION)
        except BaseException:  # Ctrl-C: leave the requests in flight to finish on their own
            stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        stop.set()  # one request failed for good (or all are done): nothing starts or retries any more
        pool.shutdown(wait=True, cancel_futures=True)
        answered: dict[int, Generation] = {}
        failure: BaseException | None = None
        for i, future in enumerate(futures):
            if future.cancelled():
                continue
            if (exc := future.exception()) is None:
                answered[i] = future.result()
            elif failure is None and not isinstance(exc, _Cancelled):
                failure = exc
        if isinstance(failure, WhysetError):
            raise PartialGeneration(answered, failure)
        if failure is not None:
            raise failure
        return [answered[i] for i in range(len(requests))]

    def _complete(self, request: GenerationRequest, stop: threading.Event) -> Generation:
        try:
            return self._attempts(request, stop)
        except WhysetError:
            stop.set()  # at once, from this thread: the next queued request must not start
            raise

    def _attempts(self, request: GenerationRequest, stop: threading.Event) -> Generation:
        import openai

        started = time.monotonic()
        problem = "no attempt"
        for retry in range(self.policy.max_retries + 1):
            if stop.is_set():
                raise _Cancelled
            sent = time.perf_counter()
            retry_after = None
            try:
                answer = self.client.chat.completions.create(
                    model=self.name, messages=request.messages, seed=request.seed,  # type: ignore[arg-type]
                    max_tokens=request.max_new_tokens, temperature=request.temperature)
            except openai.APIStatusError as exc:
                status = exc.status_code
                if status in (401, 403):
                    raise ServerUnreachable(f"endpoint {self.base_url}: refused the credentials (HTTP {status}; "
                                            "set OPENAI_API_KEY)") from None
                if status not in RETRIED_STATUS and status < 500:
                    said = exc.body.get("message") if isinstance(exc.body, dict) else None
                    raise BadInput(f"endpoint {self.base_url} model {self.name!r}: HTTP {status}: "
                                   f"{_first_line(str(said or exc.message))}") from None
                problem, retry_after = f"HTTP {status}", _retry_after(exc.response.headers)
            except openai.APIConnectionError as exc:  # includes APITimeoutError
                problem = (f"no answer within {self.policy.timeout:g} s" if isinstance(exc, openai.APITimeoutError)
                           else _first_line(str(exc.__cause__ or exc)))
            else:
                return _generation(answer, time.perf_counter() - sent)
            if retry == self.policy.max_retries:
                break
            with self._rng_lock:
                pause = self.policy.wait(retry, retry_after, self._rng)
            if stop.wait(pause):
                raise _Cancelled
        attempts = self.policy.max_retries + 1
        raise ServerUnreachable(f"endpoint {self.base_url} (model {self.name!r}) stayed down: {attempts} "
                                f"attempt{'s' * (attempts > 1)} over {time.monotonic() - started:.0f} s, "
                                f"last: {problem}")


def _generation(answer: Any, seconds: float) -> Generation:
    choice = answer.choices[0] if answer.choices else None
    usage = answer.usage.model_dump() if getattr(answer, "usage", None) else None
    if choice is None:
        return Generation("", "no choices", usage, seconds)
    return Generation((choice.message.content or "").strip(), choice.finish_reason, usage, seconds)


def _retry_after(headers: Any) -> float | None:
    """Seconds a server asked to wait: ``retry-after-ms`` (OpenAI's), ``Retry-After`` as seconds or an HTTP
    date; capped at 10 minutes so that a confused server cannot park the build."""
    if (value := headers.get("retry-after-ms")) is not None:
        try:
            return min(float(value) / 1000, 600.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return min(max(float(value), 0.0), 600.0)
    except ValueError:
        try:
            return min(max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0), 600.0)
        except (TypeError, ValueError):
            return None


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or ["no message"])[0]
