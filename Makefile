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

.PHONY: demo test lab dashboards screenshots bench notebooks sync-check clean help

help:
	@echo "make demo   - install into .venv and run the main job on the shipped data (writes runs/demo/)"
	@echo "make test   - install dev tools, check notebooks/library are in sync and clean, run nbdev_test and pytest"
	@echo "make lab    - JupyterLab on the notebooks"
	@echo "make dashboards - the dashboards (backtest, simulation, equilibrium, live monitor) as a Voila app on 127.0.0.1:$(DASHBOARDS_PORT)"
	@echo "make screenshots - re-take the README's dashboard screenshots (docs/screenshots/) with the browser tests"
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

# The whole suite's time is printed at the end (the goal: at most 20 minutes on 2 cores from a clean clone).
test: $(STAMP) sync-check
	@start=$$(date +%s); \
	$(BIN)/python tools/make_readme.py --check && \
	$(BIN)/nbdev_test --n_workers 2 --timing && \
	$(BIN)/python -m pytest -q tests; rc=$$?; \
	echo "make test: notebooks and pytest took $$(( $$(date +%s) - start )) s"; exit $$rc

# Notebooks are committed with their outputs so a reader on a code host sees every figure. This re-executes them
# (inline figures need the default backend, not the Agg the other targets use), then cleans their metadata.
NOTEBOOKS ?= nbs/*.ipynb nbs/tutorials/*.ipynb
notebooks: $(STAMP)
	env -u MPLBACKEND PATH="$(abspath $(BIN)):$$PATH" $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	  --ExecutePreprocessor.timeout=3600 --ExecutePreprocessor.kernel_name=python3 $(NOTEBOOKS)
	$(BIN)/nbdev_clean

lab: $(STAMP)
	$(BIN)/jupyter lab nbs

# The dashboards for people who want no code: the notebooks in dashboards/ rendered by Voila, on this machine only.
# DIFFMARKET_MODEL=checkpoints/best_model.pt adds a trained policy to the backtest; DIFFMARKET_JOURNAL=<journal.sqlite or
# a live session's --out folder> points the live monitor at a session.
DASHBOARDS_PORT ?= 8866
dashboards: $(STAMP)
	cd dashboards && ../$(BIN)/voila --no-browser --Voila.ip=127.0.0.1 --port=$(DASHBOARDS_PORT) .

# The README's pictures are taken by the browser tests themselves (needs chromium: apt-get install chromium fonts-dejavu-core).
screenshots: $(STAMP)
	DIFFMARKET_SCREENSHOTS=docs/screenshots DIFFMARKET_BROWSER_TESTS=required $(BIN)/python -m pytest -q tests/test_browser.py

bench: $(STAMP)
	$(BIN)/pip install -q -c constraints.txt -r benchmarks/requirements.txt
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) runs _proc _docs *.egg-info
