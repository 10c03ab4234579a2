# interlock — every target installs what it needs; `make test` works from a clean clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
AIRFLOW_VENV := .venv-airflow
AIRFLOW_VERSION := 3.3.2
# Airflow 2.11 (REST v1): Cloud Composer's default image in both generations. Its own venv too.
AIRFLOW2_VENV := .venv-airflow2
AIRFLOW2_VERSION := 2.11.2
# The Composer (gcp) variant of the DAG needs Google's provider: parsed and rendered by tests/dags
# in a venv of its own (~2 GB: the provider brings every Google Cloud client).
AIRFLOW_GCP_VENV := .venv-airflow-gcp
AIRFLOW_GCP_PROVIDER := 22.8.0
# Which Airflow `make demo` runs: 3 (default) or 2 (`make demo AIRFLOW=2`).
AIRFLOW ?= 3
AIRFLOW_ENV = INTERLOCK_AIRFLOW_VENV=$(CURDIR)/$(AIRFLOW_VENV) INTERLOCK_AIRFLOW2_VENV=$(CURDIR)/$(AIRFLOW2_VENV) \
  INTERLOCK_AIRFLOW_GCP_VENV=$(CURDIR)/$(AIRFLOW_GCP_VENV)
PIP_FLAGS := --quiet --disable-pip-version-check

.PHONY: help install install-airflow install-airflow2 install-airflow-gcp install-chromium lint schemas unit test bench reliability conformance demo clean

help:
	@echo "make test        lint + type-check + every test suite (installs what it needs)"
	@echo "make unit        the pure core's table tests with branch coverage"
	@echo "make schemas     regenerate events/schemas and the catalogue tables from the core types"
	@echo "make bench       the performance table: cold start, decision path, path latency, exactly-once cost"
	@echo "                 and a 10,000-object burst, one run per object vs batched windows"
	@echo "make demo        the whole loop on this machine (data → DAG → canary → rollback);"
	@echo "                 AIRFLOW=2 runs it on Airflow 2.11 instead of Airflow 3"
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

# From PyPI without a constraints file: apache-airflow 2.11.2 itself bounds what breaks it unpinned
# (SQLAlchemy < 2, connexion < 3, Flask-AppBuilder 4.5.4 via providers-fab), so its version is the one pin.
$(AIRFLOW2_VENV)/.installed:
	$(PYTHON) -m venv $(AIRFLOW2_VENV)
	$(AIRFLOW2_VENV)/bin/pip install $(PIP_FLAGS) --upgrade pip
	$(AIRFLOW2_VENV)/bin/pip install $(PIP_FLAGS) 'apache-airflow==$(AIRFLOW2_VERSION)' 'scikit-learn>=1.4'
	touch $@

install-airflow2: $(AIRFLOW2_VENV)/.installed

$(AIRFLOW_GCP_VENV)/.installed:
	$(PYTHON) -m venv $(AIRFLOW_GCP_VENV)
	$(AIRFLOW_GCP_VENV)/bin/pip install $(PIP_FLAGS) --upgrade pip
	$(AIRFLOW_GCP_VENV)/bin/pip install $(PIP_FLAGS) 'apache-airflow==$(AIRFLOW_VERSION)' \
	  'apache-airflow-providers-google==$(AIRFLOW_GCP_PROVIDER)' 'scikit-learn>=1.4'
	touch $@

install-airflow-gcp: $(AIRFLOW_GCP_VENV)/.installed

lint: install
	$(BIN)/ruff check functions devstack tests benchmarks dags
	$(BIN)/ruff format --check functions devstack tests benchmarks dags
	$(BIN)/mypy
	$(BIN)/python -m interlock_dev.schemas --check events/schemas --readme events/README.md

schemas: install
	$(BIN)/python -m interlock_dev.schemas --write events/schemas --readme events/README.md

unit: install
	$(BIN)/pytest tests/unit -q --cov=interlock.core --cov-branch --cov-report=term-missing:skip-covered --cov-fail-under=95

# Headless Chromium renders `interlock report` pages in tests/report (Debian's package).
install-chromium:
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium; }

# Two lanes side by side (tests/run_lanes.py): the whole-stack tests mostly wait, so they share
# the two cores with the component tests; each lane on its own port range.
test: install install-airflow install-airflow2 install-airflow-gcp install-chromium lint unit
	$(AIRFLOW_ENV) $(BIN)/python tests/run_lanes.py

bench: install install-airflow
	$(AIRFLOW_ENV) $(BIN)/python benchmarks/suite.py
	$(BIN)/python benchmarks/burst.py

demo: install $(if $(filter 2,$(AIRFLOW)),install-airflow2,install-airflow)
	$(AIRFLOW_ENV) $(BIN)/interlock demo --airflow $(AIRFLOW)

# Full size: 52 crash-and-redeliver rounds, 195 generated poison messages (make test runs 1/13).
reliability: install install-airflow
	$(AIRFLOW_ENV) INTERLOCK_RELIABILITY_SCALE=13 \
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
	rm -rf $(VENV) $(AIRFLOW_VENV) $(AIRFLOW2_VENV) $(AIRFLOW_GCP_VENV) .pytest_cache .mypy_cache .ruff_cache .coverage .interlock
