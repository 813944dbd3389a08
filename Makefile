# Dropdesk: the README's commands. A fresh Debian with Python 3.11, make and a C compiler is enough.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test bench lint venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

run: venv  ## migrate, seed demo data, start web + worker + cron on the embedded defaults
	$(BIN)/python scripts/run_console.py

test: venv  ## the whole suite: unit, integration (SQLite, and PostgreSQL when TEST_DATABASE_URL is set), browser, conformance
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: venv  ## benchmarks, printed as ratios against a baseline measured in the same run
	for script in tests/bench/bench_*.py; do PYTHONPATH=. $(BIN)/python $$script || exit 1; done

lint: venv
	$(BIN)/ruff check app workers tests scripts

clean:
	rm -rf $(VENV) .pytest_cache
