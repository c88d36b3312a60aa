#!/usr/bin/env bash
# `make e2e-local`: the end-to-end journeys (not the cluster faults) against both services run as
# local processes on free 127.0.0.1 ports, each on its own PostgreSQL database.
#
# Databases: USER_SERVICE_DATABASE_URL and ORDER_SERVICE_DATABASE_URL when both are set, else a
# throw-away PostgreSQL started here by `python -m devtools.postgres --roles` (the pip-installed
# server) and deleted at the end: each database owned by its own role (migrations) and served as a
# DML-only role, as in a deployment. user-service signs
# with a key generated into the artifacts folder. The services start
# through scripts/run-local.sh (migrations first); their logs go to .e2e-artifacts/local/.
# Traces: both services export over OTLP/HTTP to the receiver the test run starts on a free port
# (E2E_OTLP_LISTEN), so the traces tests see one order cross both services and databases.
# Extra arguments go to pytest (e.g. -k idempotency).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN="${VENV_BIN:-$ROOT/.venv/bin}"
export PATH="$BIN:$PATH"
ARTIFACTS="${E2E_ARTIFACTS:-$ROOT/.e2e-artifacts}/local"
rm -rf "$ARTIFACTS" && mkdir -p "$ARTIFACTS"

die() { echo "e2e-local: error: $*" >&2; exit 1; }
free_port() { "$BIN/python" -c 'from devtools.ports import free_port; print(free_port())'; }
if ! { command -v user-service && command -v order-service; } >/dev/null; then
  die "user-service/order-service not installed in $BIN (run 'make install')"
fi

pg_pid="" services_pid=""
# shellcheck disable=SC2329  # called by the EXIT trap below
cleanup() {
  trap - EXIT INT TERM
  local pid
  for pid in "$services_pid" "$pg_pid"; do  # services first: they hold connections
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" && wait "$pid" 2>/dev/null || true
    fi
  done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -n "${USER_SERVICE_DATABASE_URL:-}" ] && [ -n "${ORDER_SERVICE_DATABASE_URL:-}" ]; then
  echo "==> using the given USER_SERVICE_DATABASE_URL and ORDER_SERVICE_DATABASE_URL"
else
  # devtools.postgres stays in the foreground until SIGTERM, then stops the server and deletes it.
  "$BIN/python" -m devtools.postgres --roles --database users --database orders \
    --keep-log "$ARTIFACTS/postgres.log" >"$ARTIFACTS/postgres.env" 2>"$ARTIFACTS/postgres.err" &
  pg_pid=$!
  until grep -qx '# postgres ready' "$ARTIFACTS/postgres.env"; do
    kill -0 "$pg_pid" 2>/dev/null || { cat "$ARTIFACTS/postgres.err" >&2; die "no throw-away \
PostgreSQL (or set USER_SERVICE_DATABASE_URL and ORDER_SERVICE_DATABASE_URL)"; }
    sleep 0.1
  done
  # shellcheck source=/dev/null
  . "$ARTIFACTS/postgres.env"
  echo "==> throw-away PostgreSQL at $POSTGRES_URL (devtools.postgres, pid $pg_pid)"
  export USER_SERVICE_DATABASE_URL=$USERS_URL ORDER_SERVICE_DATABASE_URL=$ORDERS_URL
  export USER_SERVICE_OWNER_DATABASE_URL=$USERS_OWNER_URL
  export ORDER_SERVICE_OWNER_DATABASE_URL=$ORDERS_OWNER_URL
fi
export USER_SERVICE_KEYS_DIR="$ARTIFACTS/keys"
# The suite is one client address (127.0.0.1) that registers and logs in many users; a budget
# already set wins (`make hostile` tests the default one).
export USER_SERVICE_CLIENT_RATE="${USER_SERVICE_CLIENT_RATE:-1000}"
export USER_SERVICE_CLIENT_BURST="${USER_SERVICE_CLIENT_BURST:-1000}"

USER_PORT=$(free_port)
ORDER_PORT=$(free_port)
OTLP_PORT=$(free_port)
echo "==> starting both services (scripts/run-local.sh; log: $ARTIFACTS/services.log)"
# Spans leave every 200 ms instead of the SDK's 5 s, so the traces test does not wait for them.
OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$OTLP_PORT" OTEL_BSP_SCHEDULE_DELAY=200 \
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
if ! { ready "$user_url/health/ready" && ready "$order_url/health/ready"; }; then
  tail -30 "$ARTIFACTS/services.log" >&2
  die "the services were not ready within 30 s"
fi
echo "==> user-service $user_url, order-service $order_url"

set +e
E2E_USER_URL=$user_url E2E_ORDER_URL=$order_url E2E_OTLP_LISTEN="127.0.0.1:$OTLP_PORT" \
  "$BIN/pytest" tests-e2e -m "not cluster" "$@"
rc=$?
set -e
[ "$rc" = 0 ] || echo "e2e-local: tests failed; service logs in $ARTIFACTS/services.log" >&2
exit "$rc"
