# The README's commands: `make demo` (portal with demo data on SQLite, eager Celery) and `make test`.
# PYTHON=/path/to/python3.12 overrides the interpreter search.

SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

# A Python 3.12+ interpreter: $(PYTHON), then python3.13, python3.12, python3, then pyenv's installed versions.
FIND_PYTHON = for candidate in "$(PYTHON)" python3.13 python3.12 python3 \
	  $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -rV); do \
	  [ -n "$$candidate" ] || continue; \
	  if "$$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then \
	    command -v "$$candidate" 2>/dev/null || echo "$$candidate"; exit 0; fi; \
	done; exit 1

.PHONY: demo serve test test-smoke lint format bench clean messages system-deps help

help:
	@echo "make demo   - install, migrate SQLite, load demo data and serve on http://$(HOST):$(PORT)"
	@echo "make test   - install dev requirements and run the test suite (DATABASE_URL selects PostgreSQL)"
	@echo "make lint   - ruff, formatting and migrations check"
	@echo "make bench  - run the benchmarks in bench/ (PostgreSQL)"

$(BIN)/python:
	@py=$$($(FIND_PYTHON)) || { echo "Python 3.12 or newer is needed (Django 6). Install it (Debian 13: python3; Ubuntu 24.04: python3.12) or pass PYTHON=/path/to/python3.12." >&2; exit 1; }; \
	echo "Using $$py ($$($$py --version))"; \
	"$$py" -m venv $(VENV) || { echo "Could not create a virtualenv: install the venv module (Debian/Ubuntu: apt-get install python3-venv)." >&2; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $@ $(VENV)/.runtime

# WeasyPrint needs Pango (and HarfBuzz) from the system. Installed with apt when we are root, else explained.
system-deps:
	@$(BIN)/python -c "import ctypes.util as u, sys; sys.exit(0 if all(u.find_library(n) for n in ('pango-1.0', 'pangoft2-1.0', 'harfbuzz-subset')) else 1)" || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get install -y -q libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 || { apt-get update -q && apt-get install -y -q libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0; }; \
	  else echo "PDFs need Pango: sudo apt-get install libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0" >&2; exit 1; fi; }

demo: $(VENV)/.runtime system-deps
	DEBUG=1 $(BIN)/python manage.py migrate --no-input -v0
	DEBUG=1 $(BIN)/python manage.py seed_demo
	@echo "Serving the portal on http://$(HOST):$(PORT)/ (Ctrl-C stops it)"
	DEBUG=1 $(BIN)/python manage.py runserver $(HOST):$(PORT)

serve: $(VENV)/.runtime
	DEBUG=1 $(BIN)/python manage.py runserver $(HOST):$(PORT)

test: $(VENV)/.dev system-deps
	@if [ -n "$$DATABASE_URL" ]; then echo "Tests on $${DATABASE_URL%%://*} (DATABASE_URL)"; else echo "Tests on SQLite (set DATABASE_URL=postgres://... to run the PostgreSQL-only tests too)"; fi
	$(BIN)/python -m pytest -n 2 -rs $(PYTEST_ARGS)

test-smoke: $(VENV)/.dev system-deps
	$(BIN)/python -m pytest -m smoke $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

messages: $(VENV)/.dev
	DEBUG=1 $(BIN)/python manage.py makemessages -l ja --no-obsolete --ignore=.venv --ignore=bench
	DEBUG=1 $(BIN)/python manage.py compilemessages -l ja --ignore=.venv

bench: $(VENV)/.dev
	$(BIN)/python -m bench.lists
	$(BIN)/python -m bench.ingest --rows 1000000
	$(BIN)/python -m bench.reports

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
