#!/usr/bin/env bash
# Runs user-service and order-service as local processes (what `make run` does).
#   scripts/run-local.sh [user|order|both]      (default: both; `make run-user`, `make run-order`)
# Each service uses its *_DATABASE_URL when set, else a database of the embedded PostgreSQL
# (python -m devtools.postgres: the pip-installed server) whose data stays in .data/postgres
# between runs; it starts with the services and stops after them.
# Migrations run first (an explicit step, as in a deploy), with least privilege: with
# *_OWNER_DATABASE_URL (the role owning the database) given too, or on the embedded server,
# migrations run as that owner and grant the role of *_DATABASE_URL DML only; the service then
# serves as that role.
# user-service signs tokens with the keys in USER_SERVICE_KEYS_DIR (default .data/keys); the first
# start generates one there (`user-service generate-key`), later starts reuse it. One service stopping (or crashing) does
# not stop the other: that is how order-service's behaviour without user-service can be watched.
# Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."

WHICH="${1:-both}"
case "$WHICH" in
  user) services=(user) ;;
  order) services=(order) ;;
  both) services=(user order) ;;
  *) echo "usage: $0 [user|order|both]" >&2; exit 2 ;;
esac
HOST="${HOST:-127.0.0.1}"
USER_PORT="${USER_PORT:-8001}"
ORDER_PORT="${ORDER_PORT:-8002}"
mkdir -p .data
export ORDER_SERVICE_USER_SERVICE_URL="${ORDER_SERVICE_USER_SERVICE_URL:-http://$HOST:$USER_PORT}"
export USER_SERVICE_KEYS_DIR="${USER_SERVICE_KEYS_DIR:-$PWD/.data/keys}"

port_in_use() {
  python3 - "$1" "$2" <<'PY'
import socket, sys
with socket.socket() as s:
    s.settimeout(0.2)
    sys.exit(0 if s.connect_ex((sys.argv[1], int(sys.argv[2]))) == 0 else 1)
PY
}
port_of() { if [ "$1" = user ]; then echo "$USER_PORT"; else echo "$ORDER_PORT"; fi; }
for svc in "${services[@]}"; do
  port=$(port_of "$svc")
  if port_in_use "$HOST" "$port"; then
    echo "error: $HOST:$port is already in use; stop what runs there or choose other ports:" >&2
    echo "       make run USER_PORT=9001 ORDER_PORT=9002" >&2
    exit 1
  fi
done

pids=() pg_pid=""
# shellcheck disable=SC2329  # called by the traps below
stop() {
  trap - INT TERM EXIT
  trap '' PIPE  # `make run | tee log` and Ctrl-C: tee is gone, the cleanup must still finish
  local alive=()
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
  if [ ${#alive[@]} -gt 0 ]; then
    echo "==> stopping (pids ${alive[*]})"
    kill -TERM "${alive[@]}" 2>/dev/null || true
    wait "${alive[@]}" 2>/dev/null || true
  fi
  if [ -n "$pg_pid" ] && kill -0 "$pg_pid" 2>/dev/null; then  # after the services: they use it
    echo "==> stopping PostgreSQL (data kept in .data/postgres)"
    kill -TERM "$pg_pid" 2>/dev/null || true
    wait "$pg_pid" 2>/dev/null || true
  fi
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap stop EXIT

embedded=()
for svc in "${services[@]}"; do
  url_var="${svc^^}_SERVICE_DATABASE_URL"
  [ -n "${!url_var:-}" ] || embedded+=("$svc")
done
if [ ${#embedded[@]} -gt 0 ]; then
  echo "==> starting PostgreSQL (embedded; data in .data/postgres)"
  # In the foreground until SIGTERM; a background job ignores SIGINT, so Ctrl-C stops the
  # services first and stop() this server after them.
  rm -f ".data/postgres-$WHICH.env"
  python -m devtools.postgres --data .data/postgres --roles --database users --database orders \
    >".data/postgres-$WHICH.env" 2>".data/postgres-$WHICH.log" &
  pg_pid=$!
  until grep -qx "# postgres ready" ".data/postgres-$WHICH.env" 2>/dev/null; do
    kill -0 "$pg_pid" 2>/dev/null || { cat ".data/postgres-$WHICH.log" >&2; echo "error: PostgreSQL did not start" >&2; exit 1; }
    sleep 0.1
  done
  # shellcheck source=/dev/null
  . ".data/postgres-$WHICH.env"
  for svc in "${embedded[@]}"; do  # databases users and orders: USERS_URL, USERS_OWNER_URL...
    app_var="${svc^^}S_URL" owner_var="${svc^^}S_OWNER_URL"
    export "${svc^^}_SERVICE_DATABASE_URL=${!app_var}"
    export "${svc^^}_SERVICE_OWNER_DATABASE_URL=${!owner_var}"
  done
fi

redact() { sed -E 's#//[^@/]*@#//***@#' <<<"$1"; }
url_user() { python3 -c 'import sys, urllib.parse; print(urllib.parse.urlsplit(sys.argv[1]).username or "")' "$1"; }
for svc in "${services[@]}"; do
  prefix="${svc^^}_SERVICE"
  url_var="${prefix}_DATABASE_URL" owner_var="${prefix}_OWNER_DATABASE_URL"
  owner_url="${!owner_var:-}"
  if [ -n "$owner_url" ]; then
    app_role=$(url_user "${!url_var}")
    echo "==> migrating $svc-service as the owner ($(redact "$owner_url")), granting $app_role DML"
    env "$url_var=$owner_url" "${prefix}_DB_APP_ROLE=$app_role" "$svc-service" migrate
  else
    echo "==> migrating $svc-service ($(redact "${!url_var}"))"
    "$svc-service" migrate
  fi
done
if [[ " ${services[*]} " == *" user "* ]]; then
  if user-service generate-key "$USER_SERVICE_KEYS_DIR" --if-empty | grep .; then
    echo "    (first start: a signing key for user-service's tokens, kept for the next starts)"
  fi
fi

declare -A name_of=()
for svc in "${services[@]}"; do
  if [ "$svc" = user ]; then
    USER_SERVICE_HOST="$HOST" USER_SERVICE_PORT="$USER_PORT" user-service serve &
  else
    ORDER_SERVICE_HOST="$HOST" ORDER_SERVICE_PORT="$ORDER_PORT" order-service serve &
  fi
  pids+=($!)
  name_of[$!]="$svc-service"
done

ready() { python3 -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)" "$1" 2>/dev/null; }
for _ in $(seq 1 150); do
  all_ready=1
  for svc in "${services[@]}"; do
    ready "http://$HOST:$(port_of "$svc")/health/ready" || all_ready=0
  done
  if [ "$all_ready" = 1 ]; then
    echo "==> ready"
    for svc in "${services[@]}"; do
      printf '    %-14s http://%s:%s   (OpenAPI: http://%s:%s/docs)\n' "$svc-service" \
        "$HOST" "$(port_of "$svc")" "$HOST" "$(port_of "$svc")"
    done
    echo "    Ctrl-C stops everything started here."
    break
  fi
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || { echo "error: ${name_of[$pid]} exited while starting" >&2; exit 1; }
  done
  sleep 0.2
done

# A service that exits is reported; the others keep serving until Ctrl-C or until none is left.
set +e
running=("${pids[@]}")
while [ ${#running[@]} -gt 0 ]; do
  unset done_pid
  wait -n -p done_pid "${running[@]}"
  rc=$?
  [ -n "${done_pid:-}" ] || continue
  echo "==> ${name_of[$done_pid]} (pid $done_pid) exited with status $rc" >&2
  left=()
  for pid in "${running[@]}"; do [ "$pid" = "$done_pid" ] || left+=("$pid"); done
  running=("${left[@]}")
  if [ ${#running[@]} -gt 0 ]; then
    echo "    still serving: $(for pid in "${running[@]}"; do printf '%s ' "${name_of[$pid]}"; done)" >&2
    echo "    (start it again in another terminal with: make run-${name_of[$done_pid]%-service})" >&2
  fi
done
pids=()
exit 1
