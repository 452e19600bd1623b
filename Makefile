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

.PHONY: setup postgres chromium turbojpeg demo test lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "pip==$(PIP_VERSION)" $(QUIET_PIP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,postgres,dask,onnx]' $(QUIET_PIP)
	touch $@

demo: setup
	$(BIN)/camid demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

# $(call apt_install,PACKAGE,WHY,PRESENT,MISSING): unless the shell test PRESENT succeeds, install
# Debian's PACKAGE with apt-get (as root; refreshing the lists once if the first try fails), else
# stop with the message MISSING. The postgres, chromium and turbojpeg targets below use it.
define apt_install
	@if $(3); then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's $(1) ($(2))"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -q --no-install-recommends $(1) >/dev/null 2>&1 \
	    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $(1) >/dev/null; } \
	    || { echo "installing $(1) with apt-get failed (see above)" >&2; exit 1; }; \
	else echo "$(4)" >&2; \
	  exit 1; fi
endef

# The catalog tests also run on PostgreSQL: each run starts its own throwaway server on loopback
# from Debian's postgresql package (tests/pgserver.py), which this installs when it is missing.
postgres:
	$(call apt_install,postgresql,for the PostgreSQL catalog tests,ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null,PostgreSQL's server is missing: install Debian's postgresql (apt-get install postgresql))

# The dataset card's browser test renders report.html in headless Chromium (tests/chromium.py),
# from Debian's chromium package, which this installs when it is missing.
chromium:
	$(call apt_install,chromium,for the dataset card's browser test,command -v chromium >/dev/null || command -v chromium-browser >/dev/null,Chromium is missing: install Debian's chromium (apt-get install chromium))

# Training at scale reads lossless JPEG tiles (training/tilestore.py), cut by libjpeg-turbo's
# TurboJPEG library from Debian's libturbojpeg0, which this installs when it is missing.
turbojpeg:
	$(call apt_install,libturbojpeg0,for the lossless JPEG tile store,compgen -G '/usr/lib/*/libturbojpeg.so.0' >/dev/null || [ -e /usr/lib/libturbojpeg.so.0 ],libturbojpeg is missing: install Debian's libturbojpeg0 (apt-get install libturbojpeg0))

test: lint postgres chromium turbojpeg
	CAMID_REQUIRE_POSTGRES=1 CAMID_REQUIRE_CHROMIUM=1 CAMID_REQUIRE_ONNX=1 CAMID_REQUIRE_TURBOJPEG=1 \
	  $(BIN)/python -m pytest -q

# the fast lane: the same lint, then every test not marked slow (PostgreSQL cases run when its
# server binaries are installed, else skip); `make test` stays the whole suite, what CI runs
.PHONY: test-fast
test-fast: lint
	$(BIN)/python -m pytest -q -m "not slow"

bench: setup turbojpeg
	$(BIN)/python bench/stats.py
	$(BIN)/python bench/curate.py
	$(BIN)/python bench/download.py
	$(BIN)/python bench/loader.py
	$(BIN)/python bench/claims.py
	$(BIN)/python bench/startup.py

# clean removes only what set-up, tests and linters build: the virtualenv, the tools' caches, bytecode
# and the egg-info. It never deletes data: camid-data (the default data directory: your catalog,
# images, datasets and runs) and bench-data (the benchmarks' generated catalogs) stay; remove those
# by hand if you mean to. Bytecode is looked for in the code's folders only, not in a data directory.
clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
	find pipeline scrapers db flows training tests bench -type d -name __pycache__ -prune -exec rm -rf {} +
