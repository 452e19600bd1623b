# camid: set-up, main job, tests and benchmarks. Everything runs from ./.venv, built here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP_VERSION := 26.3
SHELL := bash
.SHELLFLAGS := -eo pipefail -c
# this machine's pip config lists local indexes that may be absent: drop pip's warnings about them
QUIET_PIP := 2>&1 | (grep -v "^WARNING: Location '" || true)

# no analytics, update checks or telemetry from Prefect and albumentations, anywhere
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export NO_ALBUMENTATIONS_UPDATE := 1
# Prefect's ephemeral server starts slowly on a busy 2-core CI machine
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 180

.PHONY: setup demo test lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "pip==$(PIP_VERSION)" $(QUIET_PIP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]' $(QUIET_PIP)
	touch $@

demo: setup
	$(BIN)/camid demo

lint: setup
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/stats.py
	$(BIN)/python bench/curate.py
	$(BIN)/python bench/download.py
	$(BIN)/python bench/loader.py

clean:
	rm -rf $(VENV) camid-data bench-data
