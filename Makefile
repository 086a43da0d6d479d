# Two commands on a fresh machine: `make demo` and `make test`. Each sets itself up first.
SHELL := /bin/bash
VENV := .venv/bin

export AIRFLOW_HOME := $(CURDIR)/airflow_home
export AIRFLOW__CORE__LOAD_EXAMPLES := False

.PHONY: setup test lint demo up bench clean distributed crash-sweep

setup:
	@bash scripts/bootstrap.sh

lint: setup
	$(VENV)/ruff check .

test: lint
	$(VENV)/pytest

# umask 077: the demo's hub processes and what they write under var/ are the owner's only
demo: setup
	umask 077 && $(VENV)/python -m devtools.demo

bench: setup
	$(VENV)/python -m bench

clean:
	rm -rf var airflow_home .pytest_cache .ruff_cache bench/results.json

# credit_harvest for 100 applications on Celery: two workers, one SIGKILLed mid-run (~4 min)
distributed: setup
	$(VENV)/python -m devtools.distributed --applications 100 --workers 2 --kill-one

# a disbursement and an LOS posting killed at every crash point, 20 times each (~15 min)
crash-sweep: setup
	$(VENV)/python -m devtools.crash_sweep --trials 20

up: setup
	$(VENV)/loanhub sim up
	umask 077 && $(VENV)/python -m devtools.cluster --intake 30
