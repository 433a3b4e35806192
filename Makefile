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
# study size for the paper figures: quick (minutes on a laptop) or paper
PRESET ?= quick
export PRESET

.PHONY: venv demo test test-fast lint bench datasets figures figure-studies clean \
	fig-ct fig-traffic fig-groundwater fig-hadronization \
	fig-convergence fig-loss-variability fig-sensitivity fig-lr-sweep fig-timeline

venv: $(STAMP)

# torch is installed first from its exact version so pip takes the local CPU wheel;
# the extras' range (<2.14) is then already satisfied and pulls nothing more.
$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[template,hadronization,ct,traffic,groundwater,tf,dask,plot,bench,dev]"
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
	$(BIN)/python -m uqhpo.apps.ct.data --out datasets/ct/sinograms.h5
	$(BIN)/python -m uqhpo.apps.traffic.data --out datasets/traffic/traffic.h5
	$(BIN)/python -m uqhpo.apps.groundwater.data --out datasets/groundwater/basin.h5

figures: $(STAMP)
	$(BIN)/python paper_figures/make_all.py --preset $(PRESET)

figure-studies: $(STAMP)
	$(BIN)/python paper_figures/_studies.py --preset $(PRESET)

fig-convergence fig-loss-variability fig-sensitivity fig-lr-sweep fig-timeline: $(STAMP)
	$(BIN)/python paper_figures/fig_$(subst -,_,$(@:fig-%=%)).py --preset $(PRESET)

fig-ct: $(STAMP)
	$(BIN)/python paper_figures/make_all.py --preset $(PRESET) --only ct_reconstruction

fig-traffic: $(STAMP)
	$(BIN)/python paper_figures/make_all.py --preset $(PRESET) --only traffic_forecast

fig-groundwater: $(STAMP)
	$(BIN)/python paper_figures/make_all.py --preset $(PRESET) --only groundwater_drought

fig-hadronization: $(STAMP)
	$(BIN)/python paper_figures/make_all.py --preset $(PRESET) --only hadronization_angles
	$(BIN)/python paper_figures/make_all.py --preset $(PRESET) --only hadronization_spread

clean:
	rm -rf runs build *.egg-info .pytest_cache
