#!/usr/bin/env bash
# Worker ingest rate against a plain COPY of the same rows (see benches/ingest.rs).
# Usage: bash benches/ingest.sh            (INGEST_EVENTS=1000000 by default)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/services.sh
db=attrib_ingest_bench
psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"
psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $db"
trap 'psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT

INGEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db" \
INGEST_REDIS_URL="redis://127.0.0.1:6379" \
ATTRIB_LOG=warn \
  cargo bench --quiet --bench ingest
