#!/usr/bin/env bash
# A throwaway PostgreSQL for the scale-out test pass: a private cluster on 127.0.0.1.
#
#   scripts/postgres.sh start   # install if missing, initdb, start, create a fresh db; print URL
#   scripts/postgres.sh url     # print the SQLAlchemy URL of the running cluster
#   scripts/postgres.sh stop    # stop the cluster and delete its data dir
#
# The cluster lives in $PG_DIR (default /tmp/shopassist-pg), owned by the `postgres` user, so it
# never touches Debian's own cluster. Each `start` creates a new database (fresh schema per
# test session); the driver is psycopg 3: `pip install 'psycopg[binary]'`.
set -euo pipefail

PG_DIR=${PG_DIR:-/tmp/shopassist-pg}
DATA="$PG_DIR/data"
STATE="$PG_DIR/url"
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)

as_pg() {
  # Run as the postgres user: initdb refuses to run as root.
  if [ "$(id -un)" = postgres ]; then "$@"; else $SUDO runuser -u postgres -- "$@"; fi
}

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$d" ] && echo "$d"
}

ensure_installed() {
  if [ -z "$(pg_bin)" ]; then
    echo "installing Debian's postgresql..." >&2
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      postgresql >/dev/null
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

running() {
  [ -f "$DATA/postmaster.pid" ] && as_pg "$(pg_bin)/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

start() {
  ensure_installed
  local bin port db
  bin=$(pg_bin)
  if ! running; then
    mkdir -p "$PG_DIR"
    chown postgres: "$PG_DIR" 2>/dev/null || $SUDO chown postgres: "$PG_DIR"
    if [ ! -f "$DATA/PG_VERSION" ]; then
      # trust auth on loopback only: a private, throwaway test cluster.
      as_pg "$bin/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --no-locale >/dev/null
    fi
    port=$(free_port)
    as_pg "$bin/pg_ctl" -D "$DATA" -l "$PG_DIR/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_DIR -c fsync=off \
          -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      start >/dev/null
    echo "$port" >"$PG_DIR/port"
  fi
  port=$(cat "$PG_DIR/port")
  db="shopassist_$(date +%s)_$$"
  as_pg "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -qAt -c \
    "DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='shopassist') THEN
       CREATE ROLE shopassist LOGIN CREATEDB PASSWORD 'shopassist'; END IF; END\$\$;" >/dev/null
  as_pg "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres -O shopassist "$db"
  echo "postgresql+psycopg://shopassist:shopassist@127.0.0.1:$port/$db" >"$STATE"
  cat "$STATE"
}

stop() {
  if [ -n "$(pg_bin)" ] && running; then
    as_pg "$(pg_bin)/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
  fi
  rm -rf "$PG_DIR"
}

url() {
  running || { echo "postgres is not running: scripts/postgres.sh start" >&2; exit 1; }
  cat "$STATE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) url ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
