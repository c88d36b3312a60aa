#!/usr/bin/env bash
# Runs user-service and order-service as local processes (what `make run` does).
# Each service uses its *_DATABASE_URL when set, else an embedded SQLite file in .data/.
# Migrations run first (an explicit step, as in a deploy); Ctrl-C stops both services.
set -euo pipefail
cd "$(dirname "$0")/.."

HOST="${HOST:-127.0.0.1}"
USER_PORT="${USER_PORT:-8001}"
ORDER_PORT="${ORDER_PORT:-8002}"
mkdir -p .data
export USER_SERVICE_DATABASE_URL="${USER_SERVICE_DATABASE_URL:-sqlite:///$PWD/.data/user-service.db}"
export ORDER_SERVICE_DATABASE_URL="${ORDER_SERVICE_DATABASE_URL:-sqlite:///$PWD/.data/order-service.db}"
export ORDER_SERVICE_USER_SERVICE_URL="${ORDER_SERVICE_USER_SERVICE_URL:-http://$HOST:$USER_PORT}"

port_in_use() {
  python3 - "$1" "$2" <<'PY'
import socket, sys
with socket.socket() as s:
    s.settimeout(0.2)
    sys.exit(0 if s.connect_ex((sys.argv[1], int(sys.argv[2]))) == 0 else 1)
PY
}
for port in "$USER_PORT" "$ORDER_PORT"; do
  if port_in_use "$HOST" "$port"; then
    echo "error: $HOST:$port is already in use; stop what runs there or choose other ports:" >&2
    echo "       make run USER_PORT=9001 ORDER_PORT=9002" >&2
    exit 1
  fi
done

echo "==> migrating user-service  ($(sed -E 's#//[^@/]*@#//***@#' <<<"$USER_SERVICE_DATABASE_URL"))"
user-service migrate
echo "==> migrating order-service ($(sed -E 's#//[^@/]*@#//***@#' <<<"$ORDER_SERVICE_DATABASE_URL"))"
order-service migrate

pids=()
stop() {
  trap - INT TERM EXIT
  if [ ${#pids[@]} -gt 0 ]; then
    echo "==> stopping (pids ${pids[*]})"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap stop EXIT

USER_SERVICE_HOST="$HOST" USER_SERVICE_PORT="$USER_PORT" user-service serve &
pids+=($!)
ORDER_SERVICE_HOST="$HOST" ORDER_SERVICE_PORT="$ORDER_PORT" order-service serve &
pids+=($!)

ready() { python3 -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)" "$1" 2>/dev/null; }
for _ in $(seq 1 100); do
  if ready "http://$HOST:$USER_PORT/health/ready" && ready "http://$HOST:$ORDER_PORT/health/ready"; then
    cat <<MSG
==> ready
    user-service   http://$HOST:$USER_PORT   (OpenAPI: http://$HOST:$USER_PORT/docs)
    order-service  http://$HOST:$ORDER_PORT   (OpenAPI: http://$HOST:$ORDER_PORT/docs)
    Ctrl-C stops both.
MSG
    break
  fi
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || { echo "error: a service exited while starting" >&2; exit 1; }; done
  sleep 0.2
done

# If either service dies, stop the other and report it.
set +e
wait -n "${pids[@]}"
rc=$?
echo "error: a service exited (status $rc); stopping the other" >&2
exit "$rc"
