# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo demo-cli ui chromium audio-tools test test-fast lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Every demo dataset refreshed through Airflow (in-process dag.test on SQLite), local store, no servers.
demo: install
	$(BIN)/python scripts/airflow_demo.py

## The same runs without Airflow: `augment demo`.
demo-cli: install
	$(BIN)/augment demo

## The Airflow UI (scheduler included) and an MLflow server on the demo's stores, on 127.0.0.1.
## Ports: AIRFLOW_UI_PORT (8080), MLFLOW_UI_PORT (5000). Ctrl-C stops both.
ui: install
	$(BIN)/python scripts/ui.py

## Headless Chromium for the browser test (Debian packages; skipped quietly where apt cannot install).
chromium:
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
	  (apt-get install -y -q chromium >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && \
	   apt-get install -y -q chromium >/dev/null 2>&1)); } || \
	  echo "chromium is not installed and could not be: the browser test (tests/ui) will be skipped"

## Real audio for tests/realdata: Debian's espeak-ng (speech), sox (noise), alsa-utils and
## sound-theme-freedesktop (recordings shipped in packages). The tests skip quietly without them.
audio-tools:
	@command -v espeak-ng >/dev/null 2>&1 && command -v sox >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
	  (apt-get install -y -q espeak-ng sox alsa-utils sound-theme-freedesktop >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null 2>&1 && \
	    apt-get install -y -q espeak-ng sox alsa-utils sound-theme-freedesktop >/dev/null 2>&1)); } || \
	  echo "espeak-ng/sox are not installed and could not be: the real-audio tests (tests/realdata) will be skipped"

## Lint (ruff, and the package's layers with import-linter), then the whole suite (unit, integration
## with moto / PostgreSQL / Redis, Airflow end to end, the UIs in headless Chromium, every benchmark at
## a tiny size), on two pytest-xdist workers (tests sharing one Redis database stay on one worker).
test: install chromium audio-tools
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest -m "not gpu" -p no:cacheprovider -n 2 --dist loadgroup

## The fast suite: no servers (no moto, PostgreSQL, Redis), no slow trainings; local store in tmp folders
## (the tabular engine end to end included: tests/unit/tabular).
test-fast: install
	$(BIN)/pytest -m "not gpu and not integration and not slow" -p no:cacheprovider -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf .augment-store .airflow mlruns
