#!/usr/bin/env bash
# Runs attrib locally (API and worker in one process) against local Postgres and Redis.
# On first start it prints an admin API key for the walkthrough in README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/services.sh
cargo build --release --quiet
export ATTRIB_DATABASE_URL=${ATTRIB_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/attrib}
./target/release/attrib migrate >/dev/null
if [ "$(psql "$ATTRIB_DATABASE_URL" -Atqc "select count(*) from api_keys where scope = 'admin' and revoked_at is null")" = 0 ]; then
  echo "No admin API key yet; here is one (shown once, keep it):" >&2
  ./target/release/attrib keys create --name local-admin --scope admin
fi
exec ./target/release/attrib run
