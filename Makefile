# uqhpo: the two set-up commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Two OpenMP threads on two shared cores made torch 7-25x slower: keep one per process.
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1
export MPLBACKEND ?= Agg
PYTEST_ARGS ?=

.PHONY: venv demo test test-fast lint bench datasets figures clean

venv: $(STAMP)

# torch is installed first from its exact version so pip takes the local CPU wheel;
# the extras' range (<2.14) is then already satisfied and pulls nothing more.
$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[template,hadronization,dask,bench,dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m uqhpo.apps.template.data --out datasets/template/regression.h5
	$(BIN)/uqhpo run apps/template/configs/demo.yaml

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not gpu" $(PYTEST_ARGS) tests

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not gpu and not slow" $(PYTEST_ARGS) tests

# style, import order and pyflakes over the whole tree; types over the package core
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy core

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

datasets: $(STAMP)
	$(BIN)/python -m uqhpo.apps.template.data --out datasets/template/regression.h5
	$(BIN)/python -m uqhpo.apps.hadronization.data --out datasets/hadronization/clusters.h5

figures: $(STAMP)
	$(BIN)/python paper_figures/make_all.py

clean:
	rm -rf runs build *.egg-info .pytest_cache
