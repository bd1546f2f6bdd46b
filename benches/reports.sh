#!/usr/bin/env bash
# Report latency over 1 million and then 10 million generated clicks (see benches/reports.rs
# and benches/README.md). Usage: bash benches/reports.sh   (REPEAT=100 calls per report)
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${REPORTS_PORT:-18094}
DB=attrib_reports_bench
DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB"
KEY="atk_$(head -c 4096 /dev/urandom | tr -dc 'A-Za-z0-9' | head -c 40)"
WORK=$(mktemp -d /tmp/attrib-reports-bench.XXXXXX)
ATTRIB_PID=

cleanup() {
  if [ -n "$ATTRIB_PID" ] && kill -0 "$ATTRIB_PID" 2>/dev/null; then
    kill "$ATTRIB_PID"; wait "$ATTRIB_PID" 2>/dev/null || true
  fi
  redis-cli -h 127.0.0.1 --scan --pattern 'attrib_reports_bench:*' | xargs -r redis-cli -h 127.0.0.1 del >/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

bash scripts/services.sh
cargo build --release --quiet
cargo bench --no-run --quiet --bench reports

psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $DB"
ATTRIB_DATABASE_URL="$DATABASE_URL" target/release/attrib migrate
echo "generating: campaign, 50 influencers, posts, costs, 100 000 conversions"
psql "$DATABASE_URL" -q -f benches/reports_setup.sql >/dev/null
if [ "$(psql "$DATABASE_URL" -Atc 'SELECT count(*) FROM links WHERE id <> influencer_id')" != 0 ]; then
  echo "the generator expects link i to belong to influencer i" >&2
  exit 1
fi

ATTRIB_DATABASE_URL="$DATABASE_URL" ATTRIB_LISTEN="127.0.0.1:$PORT" \
ATTRIB_REDIS_PREFIX="attrib_reports_bench:" ATTRIB_SPOOL_DIR="$WORK/spool" \
ATTRIB_BOOTSTRAP_ADMIN_KEY="$KEY" ATTRIB_CLICK_SECRET="reports-bench-click-secret-0123456789abcdef" ATTRIB_LOG=warn \
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

measure() {
  REPORTS_URL="http://127.0.0.1:$PORT" REPORTS_KEY="$KEY" REPORTS_DATABASE_URL="$DATABASE_URL" \
  REPORTS_LABEL="$1" REPORTS_REPEAT="${REPEAT:-100}" \
    cargo bench --quiet --bench reports | tee -a "$WORK/results"
}

started=$(date +%s)
echo "generating 1 000 000 clicks and rebuilding the rollups"
psql "$DATABASE_URL" -q -v first=1 -v count=1000000 -f benches/reports_clicks.sql
echo "  took $(( $(date +%s) - started )) s"
measure 1M

started=$(date +%s)
echo "generating 9 000 000 more clicks and rebuilding the rollups"
psql "$DATABASE_URL" -q -v first=1000001 -v count=9000000 -f benches/reports_clicks.sql
echo "  took $(( $(date +%s) - started )) s"
measure 10M

echo
echo "summary (milliseconds; target: every report's median under 50 ms at 10M, and no growth from 1M)"
awk '
  $1 == "RESULT" { median[$2 " " $3] = $4; p99[$2 " " $3] = $5; if (!($3 in seen)) { seen[$3] = 1; order[++n] = $3 } }
  END {
    printf "%-24s %10s %10s %10s %10s %8s\n", "measure", "1M median", "1M p99", "10M median", "10M p99", "10M/1M"
    worst = 0; slowest = 0
    for (i = 1; i <= n; i++) {
      m = order[i]; a = median["1M " m]; b = median["10M " m]
      printf "%-24s %10.2f %10.2f %10.2f %10.2f %8.2f\n", m, a, p99["1M " m], b, p99["10M " m], (a > 0 ? b / a : 0)
      if (m != "count_star") { if (b > slowest) slowest = b; if (a > 0 && b / a > worst) worst = b / a }
    }
    printf "\nslowest report median at 10M: %.2f ms (target < 50: %s)\n", slowest, (slowest < 50 ? "met" : "MISSED")
    printf "largest report median growth 10M/1M: %.2f (count(*) over clicks grew %.1fx)\n", worst, median["10M count_star"] / median["1M count_star"]
  }' "$WORK/results"
echo "service log warnings: $(grep -cE 'WARN|ERROR' "$WORK/attrib.log" || true)"
