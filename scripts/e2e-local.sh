#!/usr/bin/env bash
# `make e2e-local`: the end-to-end journeys (not the cluster faults) against both services run as
# local processes on free 127.0.0.1 ports, each on its own PostgreSQL database.
#
# Databases: USER_SERVICE_DATABASE_URL and ORDER_SERVICE_DATABASE_URL when both are set, else a
# throw-away PostgreSQL started here from the local server binaries (PG_BINDIR, pg_config or
# /usr/lib/postgresql/*/bin) and deleted at the end. The services start through
# scripts/run-local.sh (migrations first); their logs go to .e2e-artifacts/local/.
# Extra arguments go to pytest (e.g. -k idempotency).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN="${VENV_BIN:-$ROOT/.venv/bin}"
export PATH="$BIN:$PATH"
ARTIFACTS="${E2E_ARTIFACTS:-$ROOT/.e2e-artifacts}/local"
rm -rf "$ARTIFACTS" && mkdir -p "$ARTIFACTS"

die() { echo "e2e-local: error: $*" >&2; exit 1; }
free_port() { "$BIN/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
command -v user-service >/dev/null && command -v order-service >/dev/null \
  || die "user-service/order-service not installed in $BIN (run 'make install')"

pg_root="" services_pid=""
cleanup() {
  trap - EXIT INT TERM
  if [ -n "$services_pid" ] && kill -0 "$services_pid" 2>/dev/null; then
    kill -TERM "$services_pid" && wait "$services_pid" 2>/dev/null || true
  fi
  if [ -n "$pg_root" ]; then
    as_pg "$PG_BINDIR/pg_ctl" -D "$pg_root/data" -m fast stop >/dev/null 2>&1 || true
    cp "$pg_root/postgres.log" "$ARTIFACTS/" 2>/dev/null || true
    rm -rf "$pg_root"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

if [ -n "${USER_SERVICE_DATABASE_URL:-}" ] && [ -n "${ORDER_SERVICE_DATABASE_URL:-}" ]; then
  echo "==> using the given USER_SERVICE_DATABASE_URL and ORDER_SERVICE_DATABASE_URL"
else
  PG_BINDIR="${PG_BINDIR:-$(pg_config --bindir 2>/dev/null || ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)}"
  [ -x "$PG_BINDIR/initdb" ] && [ -x "$PG_BINDIR/pg_ctl" ] || die "PostgreSQL server binaries \
not found (apt-get install postgresql, or set PG_BINDIR), or set USER_SERVICE_DATABASE_URL and \
ORDER_SERVICE_DATABASE_URL"
  pg_root=$(mktemp -d /tmp/e2e-pg.XXXXXX)
  [ "$(id -u)" = 0 ] && chown postgres: "$pg_root"
  pg_port=$(free_port)
  echo "==> throw-away PostgreSQL on 127.0.0.1:$pg_port ($PG_BINDIR)"
  as_pg "$PG_BINDIR/initdb" -D "$pg_root/data" -U postgres --auth=trust --encoding=UTF8 \
    --locale=C.UTF-8 --no-sync >"$ARTIFACTS/initdb.log"
  as_pg "$PG_BINDIR/pg_ctl" -D "$pg_root/data" -l "$pg_root/postgres.log" -w -t 30 \
    -o "-p $pg_port -k $pg_root -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
  for db in users orders; do
    as_pg "$PG_BINDIR/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres "$db"
  done
  export USER_SERVICE_DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/users"
  export ORDER_SERVICE_DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/orders"
fi

USER_PORT=$(free_port)
ORDER_PORT=$(free_port)
echo "==> starting both services (scripts/run-local.sh; log: $ARTIFACTS/services.log)"
HOST=127.0.0.1 USER_PORT=$USER_PORT ORDER_PORT=$ORDER_PORT scripts/run-local.sh \
  >"$ARTIFACTS/services.log" 2>&1 &
services_pid=$!

user_url="http://127.0.0.1:$USER_PORT" order_url="http://127.0.0.1:$ORDER_PORT"
ready() { "$BIN/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' "$1" 2>/dev/null; }
for _ in $(seq 1 150); do
  ready "$user_url/health/ready" && ready "$order_url/health/ready" && break
  kill -0 "$services_pid" 2>/dev/null || { tail -30 "$ARTIFACTS/services.log" >&2; die "the services exited while starting"; }
  sleep 0.2
done
ready "$user_url/health/ready" && ready "$order_url/health/ready" \
  || { tail -30 "$ARTIFACTS/services.log" >&2; die "the services were not ready within 30 s"; }
echo "==> user-service $user_url, order-service $order_url"

set +e
E2E_USER_URL=$user_url E2E_ORDER_URL=$order_url "$BIN/pytest" tests-e2e -m "not cluster" "$@"
rc=$?
set -e
[ "$rc" = 0 ] || echo "e2e-local: tests failed; service logs in $ARTIFACTS/services.log" >&2
exit "$rc"
