#!/usr/bin/env bash
# Redemption throughput and latency (see benches/checkout.rs and benches/README.md).
# Usage: bash benches/checkout.sh        (DURATION=15 CLIENTS=256 RATE=1000 by default)
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${CHECKOUT_PORT:-18093}
DB=attrib_checkout_bench
DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB"
KEY="atk_$(head -c 4096 /dev/urandom | tr -dc 'A-Za-z0-9' | head -c 40)"
WORK=$(mktemp -d /tmp/attrib-checkout-bench.XXXXXX)
ATTRIB_PID=

cleanup() {
  if [ -n "$ATTRIB_PID" ] && kill -0 "$ATTRIB_PID" 2>/dev/null; then
    kill "$ATTRIB_PID"; wait "$ATTRIB_PID" 2>/dev/null || true
  fi
  redis-cli -h 127.0.0.1 --scan --pattern 'attrib_checkout_bench:*' | xargs -r redis-cli -h 127.0.0.1 del >/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

bash scripts/services.sh
cargo build --release --quiet
cargo bench --no-run --quiet --bench checkout

psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $DB"
ATTRIB_DATABASE_URL="$DATABASE_URL" target/release/attrib migrate
psql "$DATABASE_URL" -q <<'SQL'
INSERT INTO campaigns (name, slug, currency, starts_at) VALUES ('bench', 'bench', 'EUR', now() - interval '1 day');
INSERT INTO influencers (handle, display_name) VALUES ('bench', 'bench');
INSERT INTO enrollments (campaign_id, influencer_id) SELECT c.id, i.id FROM campaigns c, influencers i;
INSERT INTO promo_codes (code, campaign_id, influencer_id, discount_kind, discount_value)
  SELECT 'S' || g, c.id, i.id, 'percent', 1000 FROM campaigns c, influencers i, generate_series(1, 10000) g;
-- The hot code's limit is far above what a run can ask for, so every request may succeed
-- and the counter must still equal the rows.
INSERT INTO promo_codes (code, campaign_id, influencer_id, discount_kind, discount_value, max_redemptions)
  SELECT 'HOTCODE', c.id, i.id, 'fixed', 500, 100000000 FROM campaigns c, influencers i;
SQL

ATTRIB_DATABASE_URL="$DATABASE_URL" ATTRIB_LISTEN="127.0.0.1:$PORT" \
ATTRIB_REDIS_PREFIX="attrib_checkout_bench:" ATTRIB_SPOOL_DIR="$WORK/spool" \
ATTRIB_BOOTSTRAP_ADMIN_KEY="$KEY" ATTRIB_LOG=warn ATTRIB_DATABASE_MAX_CONNECTIONS="${DB_CONNECTIONS:-16}" \
  target/release/attrib serve >"$WORK/attrib.log" 2>&1 &
ATTRIB_PID=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break
  sleep 0.1
done
if ! curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null; then
  echo "attrib did not start:" >&2
  cat "$WORK/attrib.log" >&2
  exit 1
fi

CHECKOUT_URL="http://127.0.0.1:$PORT" CHECKOUT_KEY="$KEY" CHECKOUT_DATABASE_URL="$DATABASE_URL" \
  cargo bench --quiet --bench checkout
echo "service log warnings: $(grep -cE 'WARN|ERROR' "$WORK/attrib.log" || true)"
grep -E 'WARN|ERROR' "$WORK/attrib.log" | head -n 3 || true
