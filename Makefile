# The two commands a newcomer needs: `make run` and `make test`.
# Tools Python cannot provide are cached under ~/.cache/lifecycle-engine (pinned versions).

SHELL := /bin/bash
LIFECYCLE_TOOLS_CACHE ?= $(HOME)/.cache/lifecycle-engine
export LIFECYCLE_TOOLS_CACHE
TOOLS_CACHE := $(LIFECYCLE_TOOLS_CACHE)
UV := $(TOOLS_CACHE)/bin/uv
export PATH := $(TOOLS_CACHE)/bin:$(PATH)
export UV_PYTHON ?= python3
# The Python environment lives in the clone; uv's download cache is shared.
export UV_LINK_MODE ?= copy

.PHONY: run test lint typecheck format pytest tools env postgres browser clean bench-usage

run: env
	@scripts/tools.sh temporal
	$(UV) run --frozen lifecycle dev

test: tools env postgres browser lint typecheck pytest

tools:
	@scripts/tools.sh all

env:
	@scripts/tools.sh uv
	@$(UV) sync --frozen --quiet

postgres:
	@scripts/postgres.sh >/dev/null

browser:
	@scripts/browser.sh

lint: env
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .

typecheck: env
	$(UV) run --frozen mypy .

pytest: env
	$(UV) run --frozen pytest

# Usage metering throughput against the local PostgreSQL (a throw-away database).
bench-usage: env postgres
	$(UV) run --frozen python scripts/bench_usage.py

format: env
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

clean:
	rm -rf .lifecycle .pytest_cache .mypy_cache .ruff_cache test-artifacts
