# The two user commands: `make demo` and `make test`. See `make help`.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

# Python >= 3.11 for the virtualenv (scripts/venv.sh checks the version).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV_STAMP := .venv/.installed-from-setup.py

.PHONY: help venv test test-fast demo dev lint format clean pg-start pg-stop pg-status

help:
	@echo "make demo   - set up, start PostgreSQL + the Odoo simulator (always a new Odoo, kept in .local/simulator/),"
	@echo "              sync everything, print a summary (KEEP=1 keeps PostgreSQL running)"
	@echo "make test   - set up, run the whole test suite against a fresh local test database"
	@echo "make test-fast - the inner loop (~1 min): without the tests marked slow in sync_pipeline_tests/conftest.py"
	@echo "make dev    - PostgreSQL + simulator + Dagster UI on http://127.0.0.1:3000 (Ctrl-C stops all);"
	@echo "              the simulator serves the Odoo kept in .local/simulator/ (the demo's); FRESH=1 generates a new one"
	@echo "make lint   - ruff check + ruff format --check"
	@echo "make format - ruff format + ruff check --fix"
	@echo "make clean  - stop the local PostgreSQL and remove .local/"
	@echo "make pg-start | pg-stop | pg-status - the project-local PostgreSQL alone"

# Re-installs only when setup.py changes.
venv: $(VENV_STAMP)
$(VENV_STAMP): setup.py
	scripts/venv.sh "$(PYTHON)"
	touch $@

test: venv
	scripts/test.sh $(PYTEST_ARGS)

# PYTEST_ARGS adds options here (e.g. --durations=15), not paths.
test-fast: venv
	scripts/test.sh -m "not slow" sync_pipeline_tests $(PYTEST_ARGS)

demo: venv
	scripts/demo.sh

dev: venv
	scripts/dev.sh

lint: venv
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format: venv
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

pg-start: venv
	.venv/bin/sync-pipeline db start

pg-stop:
	if [[ -x .venv/bin/sync-pipeline ]]; then .venv/bin/sync-pipeline db stop; fi

pg-status: venv
	.venv/bin/sync-pipeline db status || true

clean: pg-stop
	rm -rf .local
