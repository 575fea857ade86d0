# Two commands do all setup on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: install system-deps js-deps run test lint bench reliability clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip setuptools wheel
	$(PIP) install -e '.[test,dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests need: PostgreSQL binaries (throwaway clusters) and Chromium.
system-deps:
	@missing=""; \
	test -x /usr/lib/postgresql/15/bin/initdb || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium chromium-driver"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "warning: missing Debian packages:$$missing (not root; related tests will skip loudly)"; fi; \
	fi

# axe-core for the accessibility checks in Chromium (npm registry; no browser download).
js-deps:
	@test -f node_modules/axe-core/axe.min.js || npm install --no-save --no-audit --no-fund --silent axe-core@4

run: install
	$(BIN)/postbox demo
	$(BIN)/postbox serve

lint: install
	$(BIN)/lint-imports

test: install system-deps js-deps lint
	$(BIN)/python -m pytest

# The fault and hostile-input suites at full strength (make test runs them in a fast mode).
reliability: install system-deps
	POSTBOX_RELIABILITY=full $(BIN)/python -m pytest tests/reliability tests/security tests/hostile tests/scale

bench: install
	$(BIN)/python bench/crypto.py
	$(BIN)/python bench/storage.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis
