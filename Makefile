# metricpipe: `make up` runs the pipeline, `make test` runs every test.
# Every target installs what is missing first and is safe to run again.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: setup up test fast lint down clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)
	$(BIN)/metricpipe setup

up: setup
	$(BIN)/metricpipe up

test: setup
	$(BIN)/pytest $(PYTEST_ARGS)

fast: $(STAMP)
	$(BIN)/pytest -m fast $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src
	$(BIN)/ruff format --check src
	$(BIN)/mypy

down: $(STAMP)
	$(BIN)/metricpipe down

clean: down
	$(BIN)/metricpipe down --purge
