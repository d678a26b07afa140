# Collection Tracker: `make run` (set up everything and start) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: run test install migrate demo lint format bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

migrate: install
	$(PY) run.py db upgrade

demo: migrate
	$(PY) run.py demo

run: demo
	$(PY) run.py serve

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: lint
	$(VENV)/bin/pytest

bench: install
	$(PY) bench/payments_import.py
	$(PY) bench/uci_import.py
	$(PY) bench/console_pages.py

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache bench/out
