"""A local OpenAI-compatible LLM server, so the endpoint path runs offline: llama.cpp's server from
``llama-cpp-python[server]``, serving a GGUF model (the bundled SmolLM2-135M-Instruct by default) on loopback.

It lives in a venv of its own (:func:`whyset.paths.llm_server_venv`), built from the PyPI sdist with the
machine's compiler. pip caches the built wheel keyed by the sdist alone, whatever ``CMAKE_ARGS`` said, so the
build is portable on purpose: ``-DGGML_NATIVE=OFF`` compiles for AVX2/FMA/F16C (x86-64-v3) instead of this
very CPU, and a cache restored on another machine of a CI pool cannot crash with SIGILL (its speed against
a native build was not compared here). Note that a wheel pip cached before, from a native build, is reused
as it is.

Facts relied on (measured on llama-cpp-python 0.3.36 while writing this module): the server serializes requests (one sequence at a time), never answers
429, is deterministic given a request ``seed``, starts in 3-5 s and holds ~250-300 MB; ``/v1/models`` waits
behind a running generation, ``/openapi.json`` does not (so it is the health check); environment variables
named like its settings (``HOST``, ``PORT``, ``API_KEY``, ``MODEL``, ...) override its command line, so they
are removed from its environment. A server's PID is trusted only while it is the same process (start time
and command line), so a stale state file never makes whyset signal an unrelated process.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

import psutil

from whyset.builders.models import smollm2_gguf
from whyset.errors import BadInput, ServerUnreachable
from whyset.paths import LLAMA_CPP_VERSION, llm_server_home, llm_server_venv
from whyset.processes import free_port, install_venv, same_process, terminate, wait_until_up

CMAKE_ARGS = "-DGGML_NATIVE=OFF"
STATE = "server.json"
# llama_cpp.server reads its settings from same-named environment variables (no prefix, any case)
_SETTINGS_ENV = frozenset({
    "api_key", "cache", "cache_size", "cache_type", "chat_format", "chat_template_kwargs", "clip_model_path",
    "config_file", "disable_ping_events", "draft_model", "draft_model_num_pred_tokens", "embedding",
    "flash_attn", "hf_model_repo_id", "hf_pretrained_model_name_or_path", "hf_tokenizer_config_path", "host",
    "interrupt_requests", "kv_overrides", "last_n_tokens_size", "logits_all", "lora_base", "lora_path",
    "main_gpu", "model", "model_alias", "mul_mat_q", "n_batch", "n_ctx", "n_gpu_layers", "n_threads",
    "n_threads_batch", "n_ubatch", "numa", "offload_kqv", "port", "root_path", "rope_freq_base",
    "rope_freq_scale", "rope_scaling_type", "rpc_servers", "seed", "split_mode", "ssl_certfile", "ssl_keyfile",
    "tensor_split", "type_k", "type_v", "use_mlock", "use_mmap", "verbose", "vocab_only", "yarn_attn_factor",
    "yarn_beta_fast", "yarn_beta_slow", "yarn_ext_factor", "yarn_orig_ctx",
})


@dataclass(frozen=True)
class LLMServer:
    """A running server: ``url`` is the OpenAI base URL (``.../v1``), ``alias`` the model name to request."""

    url: str
    port: int
    pid: int
    started: float
    model: str
    alias: str
    log: str

    @property
    def recipe(self) -> str:
        return f'[models]\nendpoint = "{self.url}"\ngenerator = "{self.alias}"'


def venv_python(venv: Path | None = None) -> Path:
    return (venv or llm_server_venv()) / "bin" / "python"


def _stamp(venv: Path) -> Path:
    return venv / f".llama-cpp-python-{LLAMA_CPP_VERSION}"


def installed(venv: Path | None = None) -> bool:
    venv = venv or llm_server_venv()
    return _stamp(venv).exists() and venv_python(venv).exists()


def install(venv: Path | None = None) -> Path:
    """Create the server's venv (idempotent; the same two steps as the Makefile's target). The first build on
    a machine compiles llama.cpp (10-20 min on 2 cores); later ones reuse pip's cached wheel (seconds)."""
    venv = venv or llm_server_venv()
    install_venv(venv, f"llama-cpp-python[server]=={LLAMA_CPP_VERSION}", _stamp(venv), venv_python(venv),
                 os.environ | {"CMAKE_ARGS": CMAKE_ARGS})
    return venv


def start(log: Path, port: int | None = None, model: Path | None = None, alias: str = "smollm2",
          threads: int = 1, venv: Path | None = None, timeout: float = 120.0) -> LLMServer:
    """Start a server on ``127.0.0.1:port`` (a free port by default) and wait until it answers.

    ``threads`` is both llama.cpp's generation and prompt-batch threads: on a busy 2-core machine, more than
    one prompt thread stalled prompt evaluation for seconds (measured), and the server runs one sequence at a
    time whatever the thread count."""
    if not installed(venv):
        raise BadInput(f"the llama.cpp server is not installed at {venv or llm_server_venv()}: run "
                       "`whyset llm install` (or `make llm-server`; the first build compiles for 10-20 min)")
    model = model or smollm2_gguf()
    if not model.is_file():
        raise BadInput(f"{model}: no such GGUF model file")
    port = port or free_port()
    command = [str(venv_python(venv)), "-m", "llama_cpp.server", "--model", str(model), "--model_alias", alias,
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", str(threads),
               "--n_threads_batch", str(threads), "--interrupt_requests", "False", "--verbose", "False"]
    env = {k: v for k, v in os.environ.items() if k.lower() not in _SETTINGS_ENV}
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    server = LLMServer(f"http://127.0.0.1:{port}/v1", port, process.pid, psutil.Process(process.pid).create_time(),
                       str(model), alias, str(log))
    try:
        wait_until_up(process, lambda: answers(server), "the llama.cpp server", server.url, timeout, log, poll=0.2)
    except ServerUnreachable:
        stop(server)
        raise
    return server


def answers(server: LLMServer, timeout: float = 2.0) -> bool:
    """Whether the server's HTTP side answers (``/openapi.json`` does not wait behind a generation)."""
    try:
        with urlopen(f"http://127.0.0.1:{server.port}/openapi.json", timeout=timeout) as response:
            return response.status == 200
    except (URLError, OSError):
        return False


def is_running(server: LLMServer) -> bool:
    """Whether the recorded PID is still that server: same start time and a llama_cpp.server command line."""
    return same_process(server.pid, server.started, "llama_cpp.server")


def stop(server: LLMServer, grace: float = 10.0) -> bool:
    """SIGTERM, then SIGKILL after ``grace`` seconds; returns whether it was running."""
    try:  # a server this process started and someone killed: reap it (a no-op for any other PID)
        os.waitpid(server.pid, os.WNOHANG)
    except ChildProcessError:
        pass
    if not is_running(server):
        return False
    terminate(server.pid, grace)
    return True


# -- the one server `whyset llm up` keeps for the user ---------------------------------------------------
def _state(home: Path) -> Path:
    return home / STATE


def current(home: Path | None = None) -> LLMServer | None:
    """The server ``whyset llm up`` started from ``home``, if it still runs."""
    path = _state(home or llm_server_home())
    if not path.exists():
        return None
    server = LLMServer(**json.loads(path.read_text()))
    return server if is_running(server) else None


def up(home: Path | None = None, port: int | None = None, model: Path | None = None, alias: str = "smollm2",
       threads: int = 1) -> LLMServer:
    """Start the user's server (or return the one running) and record it in ``home``."""
    home = home or llm_server_home()
    if (running := current(home)) is not None:
        return running
    server = start(home / "server.log", port, model, alias, threads)
    home.mkdir(parents=True, exist_ok=True)
    _state(home).write_text(json.dumps(asdict(server), indent=2))
    return server


def down(home: Path | None = None) -> LLMServer | None:
    """Stop the user's server (by its verified PID) and forget it; returns it if it ran."""
    home = home or llm_server_home()
    server = current(home)
    if server is not None:
        stop(server)
    _state(home).unlink(missing_ok=True)
    return server
