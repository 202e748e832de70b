# The two commands a new user needs: `make demo` (main job on the bundled e-SNLI dev data) and
# `make test`. Both create the virtual env at .venv first; constraints.txt pins every package.
PYTHON ?= python3
SHARED ?= ../shared
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := work/demo

.PHONY: venv demo test bench lint clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

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

test: $(STAMP)
	$(BIN)/pytest -q -n 2

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_import_export.py --esnli $(SHARED)/data/esnli-dev
	$(BIN)/python benchmarks/bench_agreement.py

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) work
