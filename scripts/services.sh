#!/usr/bin/env bash
# Makes sure local Postgres and Redis answer on 127.0.0.1, installing them from Debian's
# packages when they are missing, and creates the `attrib` database. Safe to run again.
set -euo pipefail

PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-postgres}
REDIS_PORT=${REDIS_PORT:-6379}
export PGHOST PGPORT PGUSER

log() { printf 'services: %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

wait_for() {
  local what=$1; shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  log "$what did not come up"
  return 1
}

postgres_up() { pg_isready -q -h "$PGHOST" -p "$PGPORT"; }
postgres_login() { psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d postgres -Atqc 'select 1' >/dev/null; }

ensure_postgres() {
  if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! command -v psql >/dev/null 2>&1; then
    log "installing PostgreSQL"
    apt_install postgresql postgresql-client
  fi
  if ! postgres_up; then
    local version
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)
    if [ -z "$version" ]; then
      log "no PostgreSQL cluster found; creating one"
      version=$(ls /usr/lib/postgresql | sort -V | tail -n1)
      as_root pg_createcluster "$version" main
    fi
    log "starting PostgreSQL $version"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    wait_for PostgreSQL postgres_up
  fi
  if ! postgres_login; then
    # A fresh Debian cluster asks for passwords on TCP; this is a development machine,
    # so let local TCP connections in as on the project's CI machines.
    local hba
    hba=$(as_root su postgres -c "psql -Atqc 'show hba_file'")
    log "allowing trust authentication from 127.0.0.1 in $hba"
    as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    as_root su postgres -c "psql -Atqc 'select pg_reload_conf()'" >/dev/null
    wait_for "PostgreSQL login" postgres_login
  fi
  if [ "$(psql -d postgres -Atqc "select 1 from pg_database where datname = 'attrib'")" != 1 ]; then
    log "creating database attrib"
    psql -d postgres -qc 'CREATE DATABASE attrib'
  fi
}

redis_up() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping | grep -q PONG; }

ensure_redis() {
  if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    log "installing Redis"
    apt_install redis-server redis-tools
  fi
  if ! redis_up; then
    # Append-only, synced every second: a click is acknowledged once it is in a stream,
    # so a Redis that keeps nothing on disk would lose every click not yet ingested.
    local dir=${REDIS_DIR:-/var/tmp/attrib-redis}
    mkdir -p "$dir"
    log "starting Redis on port $REDIS_PORT (append-only file in $dir)"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save '' \
      --appendonly yes --appendfsync everysec --dir "$dir" --logfile "$dir/redis.log"
    wait_for Redis redis_up
  fi
  if [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" config get appendonly 2>/dev/null | tail -n1)" = no ]; then
    log "warning: the Redis on port $REDIS_PORT keeps no append-only file (it was running" \
      "already): a restart of it loses clicks not yet ingested; see README, Guarantees"
  fi
}

ensure_postgres
ensure_redis
log "PostgreSQL on $PGHOST:$PGPORT and Redis on 127.0.0.1:$REDIS_PORT are ready"
