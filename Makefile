# Collection Tracker: `make run` (set up everything and start) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYBABEL := $(VENV)/bin/pybabel
# The console's translations: the .po files are the source (in git); the .mo files they compile
# to are built by `make install` (and so by run and test), never committed.
TRANSLATIONS := console/translations
PO_FILES := $(wildcard $(TRANSLATIONS)/*/LC_MESSAGES/messages.po)
MO_FILES := $(PO_FILES:.po=.mo)

.PHONY: run test install migrate demo lint format bench clean translations fonts

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed $(MO_FILES)

$(TRANSLATIONS)/%/LC_MESSAGES/messages.mo: $(TRANSLATIONS)/%/LC_MESSAGES/messages.po | $(VENV)/.installed
	$(PYBABEL) compile --statistics -i $< -o $@

# After changing the console's messages: re-extract them (babel.cfg) into the template and merge
# it into every language's .po; then translate the new entries (empty msgstr) and `make install`.
translations: $(VENV)/.installed
	$(PYBABEL) extract -F babel.cfg -c TRANSLATORS: --add-location=file --sort-output \
		--project="Collection Tracker" -o $(TRANSLATIONS)/messages.pot .
	$(PYBABEL) update -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) \
		--no-fuzzy-matching --ignore-pot-creation-date
	$(MAKE) --no-print-directory install

migrate: install
	$(PY) run.py db upgrade

demo: migrate
	$(PY) run.py demo
	$(PY) run.py rules publish-defaults
	$(PY) run.py rules run --once
	$(PY) run.py rules treat
	$(PY) run.py snapshot

run: demo fonts
	$(PY) run.py serve

# The dashboard's charts print Chinese: a CJK font (Debian's fonts-noto-cjk) is installed when
# none is there and we may (root with apt-get); otherwise a warning, and Chinese shows as boxes.
fonts:
	@fc-list :lang=zh 2>/dev/null | grep -q . || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y fonts-noto-cjk || { apt-get update && \
	      DEBIAN_FRONTEND=noninteractive apt-get install -y fonts-noto-cjk; }; \
	  else echo "warning: no CJK font: charts show Chinese as boxes (install fonts-noto-cjk)"; fi; }

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
	$(PY) bench/rules_throughput.py
	$(PY) bench/rules_reevaluation.py
	$(PY) bench/rules_latency.py
	$(PY) bench/rules_simulation.py
	$(PY) bench/treatment_run.py
	$(PY) bench/propensity_scoring.py
	$(PY) bench/dashboard_queries.py
	$(PY) bench/report_export.py

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache bench/out $(MO_FILES) $(TRANSLATIONS)/messages.pot
