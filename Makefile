# metricpipe: `make up` runs the pipeline, `make test` runs every test.
# Every target installs what is missing first and is safe to run again.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: setup up test fast lint docs grafana bench bench-quick bench-table down clean

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

# The sample config and the reference are generated from the config schema.
docs: $(STAMP)
	$(BIN)/metricpipe config sample > metricpipe.sample.toml
	{ echo '# Configuration reference'; echo; \
	  echo 'Generated from the config schema by `make docs`. Every key can be set in'; \
	  echo '`metricpipe.toml` or as `METRICPIPE_<SECTION>__<KEY>` in the environment.'; \
	  echo; $(BIN)/metricpipe config reference; } > docs/config.md

# Grafana provisioning (grafana/) is generated from the dashboard panel catalogue.
grafana: $(STAMP)
	$(BIN)/metricpipe dashboards generate --out grafana

# Benchmark: a full run (about 20 min), a smoke run, and the README table refreshed
# from the committed full run in docs/bench/.
bench: $(STAMP)
	$(BIN)/metricpipe bench

bench-quick: $(STAMP)
	$(BIN)/metricpipe bench --quick

bench-table: $(STAMP)
	$(BIN)/metricpipe bench --report docs/bench/results.json --readme README.md

down: $(STAMP)
	$(BIN)/metricpipe down

clean: down
	$(BIN)/metricpipe down --purge
