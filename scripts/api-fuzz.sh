#!/usr/bin/env bash
# Holds the server to its own API description with an outside fuzzer: schemathesis reads
# GET /openapi.json and sends every operation generated requests, valid and invalid, then
# checks each answer against the description (status, headers, content type, schema), that
# invalid input is refused with a 4xx, that authentication is enforced, and that nothing
# gives a 5xx. Exits non-zero on any failure.
#
#   bash scripts/api-fuzz.sh             (FUZZ_EXAMPLES=25 per operation by default)
#
# Checks: all but `use_after_free` (a deleted link stays readable by design: deleting
# disables it and keeps its history) and `positive_data_acceptance` (business rules
# refuse some bodies the schema allows: an end before a start, an unknown campaign id).
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${FUZZ_PORT:-18095}
EXAMPLES=${FUZZ_EXAMPLES:-25}
SCHEMATHESIS_VERSION=4.32.5
DB=attrib_fuzz
DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB"
PREFIX="attrib_fuzz_$$:"
BASE="http://127.0.0.1:$PORT"
KEY="atk_$(head -c 4096 /dev/urandom | tr -dc 'A-Za-z0-9' | head -c 40)"
WORK=$(mktemp -d /tmp/attrib-fuzz.XXXXXX)
VENV=${FUZZ_VENV:-$HOME/.cache/attrib/schemathesis-$SCHEMATHESIS_VERSION}
ATTRIB_PID=

cleanup() {
  if [ -n "$ATTRIB_PID" ] && kill -0 "$ATTRIB_PID" 2>/dev/null; then
    kill "$ATTRIB_PID"
    wait "$ATTRIB_PID" 2>/dev/null || true
  fi
  redis-cli -h 127.0.0.1 --scan --pattern "$PREFIX*" | xargs -r redis-cli -h 127.0.0.1 del >/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

bash scripts/services.sh

if [ ! -x "$VENV/bin/st" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

cargo build --quiet --bin attrib

psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $DB"

ATTRIB_DATABASE_URL="$DATABASE_URL" ATTRIB_LISTEN="127.0.0.1:$PORT" ATTRIB_PUBLIC_URL="$BASE" \
ATTRIB_REDIS_PREFIX="$PREFIX" ATTRIB_SPOOL_DIR="$WORK/spool" ATTRIB_BOOTSTRAP_ADMIN_KEY="$KEY" \
ATTRIB_LOG=warn target/debug/attrib run >"$WORK/attrib.log" 2>&1 &
ATTRIB_PID=$!
for _ in $(seq 1 200); do
  curl -sf "$BASE/healthz" >/dev/null && break
  sleep 0.1
done
if ! curl -sf "$BASE/healthz" >/dev/null; then
  echo "attrib did not start:" >&2
  cat "$WORK/attrib.log" >&2
  exit 1
fi

# A little of everything, so generated ids and slugs sometimes name something that exists.
api() {
  curl -sf -X "$1" "$BASE$2" -H "Authorization: Bearer $KEY" -H 'content-type: application/json' \
    ${3:+-d "$3"}
}
id_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
campaign=$(api POST /v1/campaigns '{"name":"Fuzz","slug":"fuzz","currency":"EUR","starts_at":"2026-01-01T00:00:00Z"}' | id_of)
influencer=$(api POST /v1/influencers '{"handle":"fuzzer"}' | id_of)
api POST "/v1/campaigns/$campaign/enrollments" "{\"influencer_id\":\"$influencer\",\"cpa_minor\":100}" >/dev/null
api POST /v1/links "{\"campaign_id\":\"$campaign\",\"influencer_id\":\"$influencer\",\"slug\":\"fuzz\",\"destination\":\"https://shop.example.com/\"}" >/dev/null
api POST /v1/codes "{\"code\":\"FUZZ10\",\"campaign_id\":\"$campaign\",\"influencer_id\":\"$influencer\",\"discount_kind\":\"percent\",\"discount_value\":1000}" >/dev/null

set +e
"$VENV/bin/st" run "$BASE/openapi.json" \
  --checks all \
  --exclude-checks use_after_free,positive_data_acceptance \
  --header "Authorization: Bearer $KEY" \
  --max-examples "$EXAMPLES" \
  --max-redirects 0 \
  --request-timeout 10 \
  --workers 1 \
  --seed "${FUZZ_SEED:-20261203}" \
  --no-color \
  --report junit --report-dir "$WORK/report"
status=$?
set -e

if grep -qE ' (ERROR|WARN) |panicked' "$WORK/attrib.log"; then
  echo "service log (warnings and errors):"
  grep -E ' (ERROR|WARN) |panicked' "$WORK/attrib.log" | head -n 20
fi
exit $status
