# newsbot: `make run` and `make test` are all a fresh machine with Python 3.11 needs.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install run test test-long lint bench postgres clean train

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

run: install
	$(BIN)/newsbot db upgrade
	$(BIN)/newsbot seed
	exec $(BIN)/newsbot run

# PostgreSQL server binaries for the throwaway test server; installed from Debian where missing.
postgres:
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing PostgreSQL server (Debian package postgresql)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null; }

lint: install
	$(BIN)/ruff check bot adapters tests benchmarks tools
	$(BIN)/mypy

test: install postgres lint
	$(BIN)/pytest

test-long: install postgres
	$(BIN)/pytest -m long

# Re-learn the attribution weights (bot/statements/attribution_weights.json and its provenance)
# from PolNeAR train, kept outside the repository; pure Python, a few minutes on one core.
POLNEAR ?= ../shared/polnear
train: install
	$(BIN)/python tools/train_attribution.py --corpus $(POLNEAR)

bench: install postgres
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) data .mypy_cache .ruff_cache
