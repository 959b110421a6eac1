# Two entry points: `make run` (set up, migrate, serve on http://127.0.0.1:8000) and `make test`
# (set up, lint, type-check, test). Both build the virtualenv themselves so a fresh clone needs only
# Python, pip and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

CHROMIUM ?= /usr/bin/chromium
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint setup demo clean

$(STAMP): pyproject.toml
	@# Debian ships venv's ensurepip separately; install it when we may, else fall back to virtualenv.
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) 2>/dev/null || \
	  { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && \
	    rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); } || \
	  { $(PYTHON) -m pip install -q --user virtualenv && $(PYTHON) -m virtualenv -q $(VENV); }
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/afterglow serve

demo: $(STAMP)
	$(BIN)/afterglow demo

lint: $(STAMP)
	$(BIN)/ruff check server tests
	$(BIN)/ruff format --check server tests
	$(BIN)/mypy

# Browser tests drive Debian's Chromium through Playwright (no browser download).
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null

test: lint $(CHROMIUM)
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache

# Benchmarks (issue 7), on demand only: wrk against the real server, ratios to a bare route and raw
# SQLite commits measured in the same run, written to tests/bench/results.md.
.PHONY: bench
bench: $(STAMP)
	@command -v wrk >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq wrk >/dev/null; }
	$(BIN)/pip install -q -e '.[dev,bench]'
	$(BIN)/python -m tests.bench.run
