# usageflow — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TREE := build/package-tree
PYTEST := $(BIN)/pytest

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# Set-up output goes to stderr, so `make bench BENCH_ARGS="--format json" > out.json` stays JSON.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	@echo "creating $(VENV) (usageflow and its dev tools)" >&2
	@$(PYTHON) -m venv $(VENV) >&2
	@$(BIN)/pip install --quiet --upgrade pip >&2
	@$(BIN)/pip install --quiet -e '.[dev]' >&2
	@touch $(STAMP)

.PHONY: install
install: $(STAMP) ## Create .venv/ with the `usageflow` command and dev tools
	@echo "installed: $(BIN)/usageflow"

.PHONY: system-deps
system-deps: ## Install missing system packages (JDK 17, Maven, Chromium) with apt-get
	@bash scripts/system-deps.sh

.PHONY: run
run: $(STAMP) ## Demo: local Kafka, migrations, sample accounts and events, live view, invoices (Ctrl-C stops all)
	@bash scripts/system-deps.sh run
	$(BIN)/usageflow up

.PHONY: test
test: $(STAMP) system-deps ## Unit and integration tests (starts its own Kafka broker, embedded ClickHouse)
	$(PYTEST) -m "not faults" -q

.PHONY: test-unit
test-unit: $(STAMP) ## Unit tests only (no infrastructure)
	$(PYTEST) -m unit -q

.PHONY: wheel-check
wheel-check: $(STAMP) system-deps ## Build the wheel, install it in a fresh venv, run the quickstart outside the checkout
	@bash scripts/wheel-check.sh

.PHONY: test-faults
test-faults: $(STAMP) system-deps ## Long fault-injection suite (crashes, broker/warehouse outages)
	$(PYTEST) -m faults -q

BENCH_VENV := .venv-bench

$(BENCH_VENV)/.installed: pyproject.toml
	@echo "creating $(BENCH_VENV) (usageflow with Quix Streams and py-spy, for the bench's peer)" >&2
	@$(PYTHON) -m venv $(BENCH_VENV) >&2
	@$(BENCH_VENV)/bin/pip install --quiet --upgrade pip >&2
	@$(BENCH_VENV)/bin/pip install --quiet -e . quixstreams py-spy >&2
	@touch $@

.PHONY: bench
bench: $(STAMP) $(BENCH_VENV)/.installed system-deps ## Benchmarks: pipeline vs raw consume vs Quix Streams peer, alert and query latency
	@USAGEFLOW_BENCH_PEER_PYTHON=$(abspath $(BENCH_VENV))/bin/python $(BIN)/python -m benchmarks $(BENCH_ARGS)

.PHONY: lint
lint: $(STAMP) ## ruff, ruff format --check, mypy, the direction of imports (lint-imports)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@# mypy and import-linter read files, not the package-dir mapping: they check the package as installed
	@$(BIN)/python scripts/package_tree.py $(TREE) >/dev/null
	cd $(TREE) && $(abspath $(BIN))/mypy --config-file $(CURDIR)/pyproject.toml --cache-dir $(CURDIR)/.mypy_cache
	cd $(TREE) && $(abspath $(BIN))/lint-imports $(CURDIR)/pyproject.toml

.PHONY: format
format: $(STAMP) ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

.PHONY: schemas
schemas: $(STAMP) ## Regenerate the JSON Schema files in schemas/
	$(BIN)/python -m usageflow.schemas.generate

.PHONY: kafka-stop
kafka-stop: $(STAMP) ## Stop the local Kafka broker
	$(BIN)/usageflow kafka stop

.PHONY: clean
clean: ## Remove local state (.usageflow/) and caches, keep .venv/
	rm -rf .usageflow .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist
