#!/usr/bin/env bash
# Makes sure a local PostgreSQL is installed and running, with a role the test suite
# and benchmarks use to create their own throw-away databases.
# Installs Debian's `postgresql` package when missing (needs root or sudo).
set -euo pipefail

PGROLE="${LIFECYCLE_PG_ROLE:-lifecycle}"
PGPASS="${LIFECYCLE_PG_PASSWORD:-lifecycle}"
PGPORT="${LIFECYCLE_PG_PORT:-5432}"

log() { echo "[postgres] $*" >&2; }
as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
as_postgres() { as_root runuser -u postgres -- "$@"; }

if ! command -v pg_lsclusters >/dev/null 2>&1 || [[ -z "$(ls /usr/lib/postgresql 2>/dev/null)" ]]; then
  log "installing Debian's postgresql package"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

version="$(ls /usr/lib/postgresql | sort -V | tail -1)"
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -q "^$version main$"; then
  log "creating cluster $version/main"
  as_root pg_createcluster "$version" main --port "$PGPORT" >/dev/null
fi

if ! pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $4}' | grep -q online; then
  log "starting cluster $version/main"
  as_root pg_ctlcluster "$version" main start
fi

port="$(pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $3}')"
for _ in $(seq 1 50); do
  pg_isready -q -h 127.0.0.1 -p "$port" && break
  sleep 0.2
done
pg_isready -q -h 127.0.0.1 -p "$port" || { log "PostgreSQL did not become ready on port $port"; exit 1; }

# Idempotent: a role that may create databases, with a password for TCP logins.
as_postgres psql -q -p "$port" -v ON_ERROR_STOP=1 >/dev/null <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PGROLE') THEN
    CREATE ROLE "$PGROLE" LOGIN CREATEDB CREATEROLE PASSWORD '$PGPASS';
  ELSE
    ALTER ROLE "$PGROLE" LOGIN CREATEDB CREATEROLE PASSWORD '$PGPASS';
  END IF;
END
\$\$;
SQL
echo "postgresql+asyncpg://$PGROLE:$PGPASS@127.0.0.1:$port/postgres"
