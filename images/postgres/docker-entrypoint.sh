#!/bin/sh
# First start: initdb into $PGDATA, then least privilege: the superuser "postgres" gets no
# password (it can only connect through the local socket, inside this container); POSTGRES_USER
# (password POSTGRES_PASSWORD) is an ordinary role that owns POSTGRES_DB (the service's migrations
# run as it); with POSTGRES_APP_USER (and POSTGRES_APP_PASSWORD) a second ordinary role may only
# connect to POSTGRES_DB: the owner's migrations grant it DML, and the service serves as it.
# scram-sha-256 for every TCP client. Then run PostgreSQL listening on all addresses. Later starts
# find $PGDATA/PG_VERSION and go straight to the server.
set -eu

: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${PGDATA:=/var/lib/postgresql/data/pgdata}"

if [ "${1:-postgres}" != "postgres" ]; then
  exec "$@"
fi
shift || true

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "docker-entrypoint: POSTGRES_PASSWORD must be set for a new database" >&2
    exit 1
  fi
  : "${POSTGRES_APP_USER:=}"
  case "$POSTGRES_DB$POSTGRES_USER$POSTGRES_APP_USER" in
    *[!A-Za-z0-9_]*) echo "docker-entrypoint: POSTGRES_USER/POSTGRES_APP_USER/POSTGRES_DB: letters, digits, _ only" >&2; exit 1 ;;
  esac
  if [ "$POSTGRES_USER" = postgres ] || [ "$POSTGRES_DB" = postgres ] || [ "$POSTGRES_APP_USER" = postgres ]; then
    echo "docker-entrypoint: POSTGRES_USER, POSTGRES_APP_USER and POSTGRES_DB must not be postgres (the local superuser)" >&2
    exit 1
  fi
  if [ -n "$POSTGRES_APP_USER" ] && [ -z "${POSTGRES_APP_PASSWORD:-}" ]; then
    echo "docker-entrypoint: POSTGRES_APP_PASSWORD must be set with POSTGRES_APP_USER" >&2
    exit 1
  fi
  mkdir -p "$PGDATA"
  chmod 700 "$PGDATA"
  initdb --pgdata="$PGDATA" --username=postgres \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"; }  # an SQL string literal
  # single-user mode (-j): each command ends with a semicolon and an empty line, and runs alone
  # (CREATE DATABASE refuses a transaction block); any ERROR fails the initialisation
  out="$({
    printf '%s;\n\n' "CREATE ROLE \"$POSTGRES_USER\" LOGIN PASSWORD $(quote "$POSTGRES_PASSWORD")"
    printf '%s;\n\n' "CREATE DATABASE \"$POSTGRES_DB\" OWNER \"$POSTGRES_USER\""
    printf '%s;\n\n' "REVOKE ALL ON DATABASE \"$POSTGRES_DB\" FROM PUBLIC"
    printf '%s;\n\n' "REVOKE CONNECT ON DATABASE postgres FROM PUBLIC"
    if [ -n "$POSTGRES_APP_USER" ]; then
      printf '%s;\n\n' "CREATE ROLE \"$POSTGRES_APP_USER\" LOGIN PASSWORD $(quote "$POSTGRES_APP_PASSWORD")"
      printf '%s;\n\n' "GRANT CONNECT ON DATABASE \"$POSTGRES_DB\" TO \"$POSTGRES_APP_USER\""
    fi
  } | postgres --single -D "$PGDATA" -j postgres 2>&1)"
  if printf '%s' "$out" | grep -q 'ERROR:'; then
    printf '%s\n' "$out" | grep -v 'PASSWORD' >&2  # never the passwords
    echo "docker-entrypoint: creating the roles and the database failed" >&2
    rm -rf "${PGDATA:?}"/*
    exit 1
  fi
  echo "docker-entrypoint: initialised $PGDATA (owner $POSTGRES_USER, app ${POSTGRES_APP_USER:-none}, database $POSTGRES_DB; superuser postgres: local socket only)"
fi

exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
