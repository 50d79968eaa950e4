# diffmarket: every target creates its own virtual environment, so a fresh clone needs nothing by hand.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Single-threaded BLAS keeps the 2-core machines responsive and results reproducible.
export OMP_NUM_THREADS ?= 2
export MPLBACKEND ?= Agg
export PYTHONHASHSEED ?= 0

.PHONY: demo test lab bench notebooks sync-check clean help

help:
	@echo "make demo   - install into .venv and run the main job on the shipped data (writes runs/demo/)"
	@echo "make test   - install dev tools, check notebooks/library are in sync and clean, run nbdev_test and pytest"
	@echo "make lab    - JupyterLab on the notebooks"
	@echo "make bench  - speed and quality benchmarks (prints tables with goals)"
	@echo "make notebooks - re-execute every notebook in place (outputs and figures committed; slow cells included)"

$(STAMP): settings.ini setup.py constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel
	$(BIN)/pip install -q -c constraints.txt --config-settings editable_mode=compat -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/diffmarket-demo --out runs/demo

# Notebooks are the source of truth: exporting and cleaning them must not change a tracked byte.
sync-check: $(STAMP)
	@snap() { find diffmarket nbs -type f \( -name '*.py' -o -name '*.ipynb' \) -not -path '*/.ipynb_checkpoints/*' | sort | xargs md5sum; }; \
	before="$$(snap)"; \
	$(BIN)/nbdev_export && $(BIN)/nbdev_clean; \
	after="$$(snap)"; \
	if [ "$$before" != "$$after" ]; then \
	  echo "notebooks and library were out of sync or notebooks were not clean; nbdev_export/nbdev_clean changed:"; \
	  diff <(echo "$$before") <(echo "$$after") | grep '^>' ; exit 1; \
	fi; echo "sync-check: notebooks, library and cleaning agree"

test: $(STAMP) sync-check
	$(BIN)/python tools/make_readme.py --check
	$(BIN)/nbdev_test --n_workers 2 --timing
	$(BIN)/python -m pytest -q tests

# Notebooks are committed with their outputs so a reader on a code host sees every figure. This re-executes them
# (inline figures need the default backend, not the Agg the other targets use), then cleans their metadata.
NOTEBOOKS ?= nbs/*.ipynb nbs/tutorials/*.ipynb
notebooks: $(STAMP)
	env -u MPLBACKEND PATH="$(abspath $(BIN)):$$PATH" $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	  --ExecutePreprocessor.timeout=3600 --ExecutePreprocessor.kernel_name=python3 $(NOTEBOOKS)
	$(BIN)/nbdev_clean

lab: $(STAMP)
	$(BIN)/jupyter lab nbs

bench: $(STAMP)
	$(BIN)/pip install -q -c constraints.txt -r benchmarks/requirements.txt
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) runs _proc _docs *.egg-info
