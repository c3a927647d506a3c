# syntax=docker/dockerfile:1
#
# One image for every process of the engine (see docker-compose.yml):
#   lifecycle api --host 0.0.0.0 --port 8000   (the default command)
#   lifecycle worker
#   lifecycle migrate
#   lifecycle temporal setup
#
# Build: docker build -t lifecycle-engine:local .

# ---- build: resolve the locked dependencies into /app/.venv with uv ----------------------
FROM python:3.11-slim-bookworm AS build

# uv pinned to the version scripts/tools.sh bootstraps, so the lock file format matches.
COPY --from=ghcr.io/astral-sh/uv:0.9.30 /uv /usr/local/bin/uv

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv

WORKDIR /app

# Dependencies first, from the lock file alone: this layer survives code changes.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --frozen --no-dev --no-install-project

# Then the project itself, which installs the `lifecycle` console script. The project is
# installed editable, so UV_COMPILE_BYTECODE leaves its own modules alone: compile them
# here, as the runtime (read-only, PYTHONDONTWRITEBYTECODE) never caches bytecode itself.
COPY . /app
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev \
    && /app/.venv/bin/python -m compileall -q -j 0 -x '/\.venv/' /app

# ---- runtime: the same Python, the virtualenv and the code; no uv, no build cache ---------
FROM python:3.11-slim-bookworm AS runtime

ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LIFECYCLE_CONFIG=/app/lifecycle.toml

RUN groupadd --system --gid 10001 lifecycle \
    && useradd --system --uid 10001 --gid lifecycle --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin lifecycle

WORKDIR /app
# Owned by root and read-only for the service user: the engine never writes to its code.
COPY --from=build /app /app

USER lifecycle:lifecycle
EXPOSE 8000

CMD ["lifecycle", "api", "--host", "0.0.0.0", "--port", "8000"]
