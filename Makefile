# Everyday commands. `make run` and `make test` work on a fresh Ubuntu/Debian
# machine with python3; `sudo make test-deps` adds what the full suite uses.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
# Set to run the database tests a second time on MariaDB, e.g.
# TEST_MARIADB_URL=mysql+pymysql://root@127.0.0.1/test make test
TEST_MARIADB_URL ?=
PYTEST_ARGS ?=
# Parallel pytest processes (pytest-xdist) for the tests that can share a machine.
TEST_WORKERS ?= auto

.PHONY: help run test test-fast test-deps serve-apache bench bench-search lint pins clean

help:
	@echo "make run        serve the app on http://$(HOST):$(PORT) (SQLite in instance/)"
	@echo "make test       run the test suite (SQLite; MariaDB too if TEST_MARIADB_URL is set)"
	@echo "make test-fast  the quick loop: all but the slow, Apache and browser tests, in parallel"
	@echo "make test-deps  install system packages and start services the full suite uses (root)"
	@echo "make serve-apache  the app under a private Apache + mod_wsgi over HTTPS (root)"
	@echo "make bench      each route's cost under Apache, gunicorn and a minimal app (root, wrk)"
	@echo "make bench-search  a search through the full-text index against a LIKE scan, in process"
	@echo "make lint       ruff and mypy"
	@echo "make pins       re-pin requirements.txt and requirements-dev.txt"

# The virtual environment, made only once python3 and its venv module are there.
$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) is missing: install it with: sudo apt-get install python3 python3-venv"; exit 1; }
	@$(PYTHON) -c 'import venv, ensurepip' >/dev/null 2>&1 || { echo "The venv module is missing: install it with: sudo apt-get install python3-venv"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/flask db upgrade
	$(BIN)/flask run --host $(HOST) --port $(PORT)

# Three passes. The tests that share a machine safely run in parallel. The slow
# ones (outage drills with timing bounds, subprocesses) and the Apache and
# browser suites (a private Apache on fixed ports) run one at a time. The
# MariaDB pass is serial too: every test there empties the one shared database.
# pytest exits with 5 when it selects no test: a PYTEST_ARGS naming tests of one
# pass only leaves the other passes empty, which is no failure.
test: $(VENV)/.installed-dev
	@echo "== In parallel: all but the slow, Apache and browser tests"
	$(BIN)/python -m pytest -m "not slow and not apache and not browser" -n $(TEST_WORKERS) $(PYTEST_ARGS) || [ $$? -eq 5 ]
	@echo "== One at a time: the slow, Apache and browser tests"
	$(BIN)/python -m pytest -m "slow or apache or browser" $(PYTEST_ARGS) || [ $$? -eq 5 ]
	@if [ -n "$(TEST_MARIADB_URL)" ]; then \
		echo "== The database tests again, on MariaDB: $(TEST_MARIADB_URL)"; \
		TEST_DATABASE_URL="$(TEST_MARIADB_URL)" $(BIN)/python -m pytest -m db $(PYTEST_ARGS) || [ $$? -eq 5 ]; \
	else \
		echo "== MariaDB suite skipped: TEST_MARIADB_URL is not set (e.g. mysql+pymysql://root@127.0.0.1/test)"; \
	fi

# The quick loop while coding: SQLite only, whatever TEST_DATABASE_URL says.
test-fast: $(VENV)/.installed-dev
	env -u TEST_DATABASE_URL $(BIN)/python -m pytest -m "not slow and not apache and not browser" -n $(TEST_WORKERS) $(PYTEST_ARGS)

test-deps:
	@[ "$$(id -u)" = 0 ] || { echo "make test-deps installs system packages: run it as root (sudo make test-deps)"; exit 1; }
	bash scripts/install-test-deps.sh

# The same private Apache instance the tests use, by hand; MOUNT=/app for the mixed vhost.
serve-apache: $(VENV)/.installed
	@[ "$$(id -u)" = 0 ] || { echo "make serve-apache starts Apache: run it as root (sudo make serve-apache)"; exit 1; }
	MOUNT=$(MOUNT) $(BIN)/python scripts/private_apache.py

# Not a test and never in CI: a few minutes of load on this machine, then one
# table (README, "Performance"). Options: BENCH_ARGS="--posts 100000 --rounds 5".
BENCH_ARGS ?=
bench: $(VENV)/.installed-dev
	@[ "$$(id -u)" = 0 ] || { echo "make bench starts private Apache instances: run it as root (sudo make bench)"; exit 1; }
	@command -v wrk >/dev/null 2>&1 || { echo "make bench needs wrk: install it with: sudo apt-get install wrk"; exit 1; }
	$(BIN)/python scripts/bench.py $(BENCH_ARGS)

# Not a test either: seeds 100,000 posts on MariaDB and on SQLite (a few
# minutes), times searches in process against LIKE (README, "Search").
# Options: BENCH_SEARCH_ARGS="--posts 100000 --rounds 7 --databases mariadb".
BENCH_SEARCH_ARGS ?=
bench-search: $(VENV)/.installed-dev
	$(BIN)/python scripts/bench_search.py $(BENCH_SEARCH_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

pins: | $(BIN)/python
	$(BIN)/python -m pip install --quiet uv
	UV_CUSTOM_COMPILE_COMMAND="make pins" $(BIN)/uv pip compile --python-version 3.11 --no-emit-index-url --no-emit-find-links requirements.in -o requirements.txt
	UV_CUSTOM_COMPILE_COMMAND="make pins" $(BIN)/uv pip compile --python-version 3.11 --no-emit-index-url --no-emit-find-links requirements.in requirements-dev.in -o requirements-dev.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .schemathesis
