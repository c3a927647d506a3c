#!/usr/bin/env bash
# The roles of docker-compose.yml's PostgreSQL, besides the owner `lifecycle`
# (POSTGRES_USER, which owns the engine's tables and runs `lifecycle migrate`):
#
#   lifecycle_app  what the API and the worker log in as (DATABASE_URL); `lifecycle migrate`
#                  grants it the app's privileges (LIFECYCLE_DATABASE_APP_ROLE), no more
#   temporal       Temporal's persistence and visibility; may create its two databases
#
# The postgres image runs this once, when it initialises an empty data directory. On a
# volume created before these roles existed, run it by hand:
#   docker compose exec postgres bash /docker-entrypoint-initdb.d/10-roles.sh
set -euo pipefail

: "${LIFECYCLE_APP_DB_PASSWORD:?set LIFECYCLE_APP_DB_PASSWORD}"
: "${TEMPORAL_DB_PASSWORD:?set TEMPORAL_DB_PASSWORD}"

# Passwords go in as psql variables (quoted by psql), never spliced into the SQL text.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v app_password="$LIFECYCLE_APP_DB_PASSWORD" \
  -v temporal_password="$TEMPORAL_DB_PASSWORD" <<'SQL'
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lifecycle_app') AS create_app \gset
\if :create_app
CREATE ROLE lifecycle_app LOGIN;
\endif
ALTER ROLE lifecycle_app PASSWORD :'app_password';

SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'temporal') AS create_temporal \gset
\if :create_temporal
CREATE ROLE temporal LOGIN CREATEDB;
\endif
ALTER ROLE temporal PASSWORD :'temporal_password';
SQL
