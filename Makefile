# One-command set-up: `make run` starts the app, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Test processes: unit, AppTest and browser tests are shared out over them (pytest-xdist, work
# stealing); each starts its own stand-in server, shared app and browser. Four on the 2-core CI:
# browser tests wait on their app and servers, and the other processes fill the gaps (pytest on
# this machine, before browser tabs were reused: 640 s with three, 547 s with four).
TEST_WORKERS ?= 4

.PHONY: install install-dev browser run test bench lint i18n clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)

# uv installs the pinned requirements in parallel: 19 s instead of pip's 94 s on a fresh 2-core machine.
$(BIN)/uv: | $(BIN)/python
	$(BIN)/python -m pip install --quiet uv==0.13.9

# --compile-bytecode as pip does: otherwise every process started at once compiles the same imports.
UV_INSTALL := $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python

$(VENV)/.installed: requirements.txt | $(BIN)/uv
	$(UV_INSTALL) -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/uv
	$(UV_INSTALL) -r requirements.txt -r requirements-dev.txt
	touch $(VENV)/.installed $@

## install: the virtual environment with the app's requirements
install: $(VENV)/.installed

## install-dev: plus test tools and Debian's chromium for the browser tests
install-dev: $(VENV)/.installed-dev browser

browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "Installing Debian chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	else echo "chromium is missing: run 'sudo apt-get install -y chromium fonts-noto-cjk'" >&2; exit 1; fi

# Compiled catalogs (git-ignored): rebuilt whenever their .po changes.
CATALOGS := $(patsubst %.po,%.mo,$(wildcard locales/*/LC_MESSAGES/messages.po))
locales/%/LC_MESSAGES/messages.mo: locales/%/LC_MESSAGES/messages.po $(VENV)/.installed
	$(BIN)/pybabel compile --statistics -i $< -o $@

## i18n: extract the app's strings into locales/messages.pot and merge them into each language's .po
i18n: install-dev
	PYTHONPATH=. $(BIN)/pybabel extract -F babel.cfg -k _n:1,2 --no-location --sort-output \
		--project "Qwen3-Embedding Playground" -o locales/messages.pot .
	$(BIN)/pybabel update -i locales/messages.pot -d locales -D messages --no-fuzzy-matching --ignore-obsolete \
		--init-missing -l zh
	@echo "Now translate the new entries (empty msgstr) in locales/*/LC_MESSAGES/messages.po"

## run: start the app (local in-process model unless EMBEDDING_BASE_URL is set)
run: install $(CATALOGS)
	$(BIN)/streamlit run app.py

## test: lint, the layer contracts and every test (unit, AppTest, browser) in TEST_WORKERS processes
test: install-dev $(CATALOGS)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal

## bench: every benchmark script in bench/, printing figures
bench: install-dev
	@for script in bench/[!_]*.py; do mod=$$(basename $$script .py); echo "== bench.$$mod"; \
		$(BIN)/python -m bench.$$mod || exit 1; done

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache $(CATALOGS)
