#!/usr/bin/env bash
# Runs the whole test suite against local Postgres and Redis (started or installed as
# needed). Every test makes its own database and Redis key prefix, so tests run in parallel.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/services.sh

# Leftovers of earlier runs: test databases are cheap to make and not worth keeping.
for db in $(psql -h 127.0.0.1 -U postgres -d postgres -Atqc \
    "select datname from pg_database where datname like 'attrib_test_%'"); do
  psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" || true
done

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --no-fail-fast "$@"
else
  cargo test --no-fail-fast "$@"
fi
