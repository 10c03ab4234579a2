# interlock — every target installs what it needs; `make test` works from a clean clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
AIRFLOW_VENV := .venv-airflow
AIRFLOW_VERSION := 3.3.2
PIP_FLAGS := --quiet --disable-pip-version-check

.PHONY: help install install-airflow lint schemas unit test bench reliability conformance demo clean

help:
	@echo "make test        lint + type-check + every test suite (installs what it needs)"
	@echo "make unit        the pure core's table tests with branch coverage"
	@echo "make schemas     regenerate events/schemas and the catalogue tables from the core types"
	@echo "make bench       cold-start benchmarks, as ratios to a hello-world function"
	@echo "make demo        the whole loop on this machine (data → DAG → canary → rollback)"
	@echo "make reliability the fault and bad-input suite at full size, with its figures"
	@echo "make conformance the contract suites against a real Google Cloud project (see docs/operations.md)"
	@echo "make clean       remove venvs and local state"

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_FLAGS) --upgrade pip
	$(BIN)/pip install $(PIP_FLAGS) -e '.[dev]'
	touch $@

install: $(BIN)/.installed

# Airflow's pins clash with ours, so it gets its own venv; tests and the local stack find it here.
$(AIRFLOW_VENV)/.installed:
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/pip install $(PIP_FLAGS) --upgrade pip
	$(AIRFLOW_VENV)/bin/pip install $(PIP_FLAGS) 'apache-airflow==$(AIRFLOW_VERSION)' 'scikit-learn>=1.4'
	touch $@

install-airflow: $(AIRFLOW_VENV)/.installed

lint: install
	$(BIN)/ruff check functions devstack tests benchmarks dags
	$(BIN)/ruff format --check functions devstack tests benchmarks dags
	$(BIN)/mypy
	$(BIN)/python -m interlock_dev.schemas --check events/schemas --readme events/README.md

schemas: install
	$(BIN)/python -m interlock_dev.schemas --write events/schemas --readme events/README.md

unit: install
	$(BIN)/pytest tests/unit -q --cov=interlock.core --cov-branch --cov-report=term-missing:skip-covered --cov-fail-under=95

test: install install-airflow lint unit
	INTERLOCK_AIRFLOW_VENV=$(CURDIR)/$(AIRFLOW_VENV) $(BIN)/pytest tests -q --ignore=tests/unit

bench: install install-airflow
	INTERLOCK_AIRFLOW_VENV=$(CURDIR)/$(AIRFLOW_VENV) $(BIN)/python benchmarks/cold_start.py

demo: install install-airflow
	INTERLOCK_AIRFLOW_VENV=$(CURDIR)/$(AIRFLOW_VENV) $(BIN)/interlock demo

# Full size: 52 crash-and-redeliver rounds, 195 generated poison messages (make test runs 1/13).
reliability: install install-airflow
	INTERLOCK_AIRFLOW_VENV=$(CURDIR)/$(AIRFLOW_VENV) INTERLOCK_RELIABILITY_SCALE=13 \
		$(BIN)/pytest tests/reliability -q

# Real Cloud Run and Vertex AI, on throw-away resources in INTERLOCK_CONFORMANCE_PROJECT (with
# application-default credentials); without a project it says so and succeeds.
conformance:
	@if [ -z "$$INTERLOCK_CONFORMANCE_PROJECT" ]; then \
		echo "conformance: not run — INTERLOCK_CONFORMANCE_PROJECT is not set (a Google Cloud project for throw-away resources; see docs/operations.md, Conformance)"; \
	else \
		$(MAKE) --no-print-directory install && \
		$(BIN)/pytest tests/conformance -v -s -rA -p no:cacheprovider; \
	fi

clean:
	rm -rf $(VENV) $(AIRFLOW_VENV) .pytest_cache .mypy_cache .ruff_cache .coverage .interlock
