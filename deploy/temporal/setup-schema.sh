#!/bin/sh
# One-shot: creates (if needed) and migrates Temporal's two PostgreSQL databases with the
# admin tools of the server's release: persistence (`temporal`) and visibility
# (`temporal_visibility`). Safe to run on every `docker compose up`: setup-schema and
# update-schema only apply what a database lacks. The server image does none of this
# (unlike the deprecated auto-setup image); run this job before each server upgrade.
set -eu

: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"
PORT="${DB_PORT:-5432}"
PLUGIN="${DB:-postgres12}"
SCHEMA="${TEMPORAL_SCHEMA_DIR:-/etc/temporal/schema/postgresql/v12}"

until nc -z -w 5 "$POSTGRES_SEEDS" "$PORT"; do
  echo "waiting for PostgreSQL at $POSTGRES_SEEDS:$PORT"
  sleep 2
done

tool() {
  temporal-sql-tool --plugin "$PLUGIN" --ep "$POSTGRES_SEEDS" -p "$PORT" -u "$POSTGRES_USER" "$@"
}

for pair in "${DBNAME:-temporal}:temporal" "${VISIBILITY_DBNAME:-temporal_visibility}:visibility"; do
  db="${pair%%:*}"
  kind="${pair##*:}"
  # `create` fails when the database exists (a second run); setup-schema right after
  # fails on anything real (no server, wrong password).
  tool --db "$db" create || echo "database $db exists"
  tool --db "$db" setup-schema -v 0.0
  tool --db "$db" update-schema -d "$SCHEMA/$kind/versioned"
done
echo "Temporal schema is up to date"
