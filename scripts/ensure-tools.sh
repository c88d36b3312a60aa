#!/usr/bin/env bash
# ensure-tools.sh TOOLS_DIR SHARED_DIR
# Makes sure the tools `make test` needs are present, installing helm into TOOLS_DIR from
# SHARED_DIR/tools/get-helm when it is missing. Anything else missing is an error with the
# command that installs it: a missing tool must never turn into a skipped test.
set -euo pipefail
tools="${1:?usage: ensure-tools.sh TOOLS_DIR SHARED_DIR}"
shared="${2:?usage: ensure-tools.sh TOOLS_DIR SHARED_DIR}"
mkdir -p "$tools"
missing=()

if ! command -v helm >/dev/null 2>&1; then
  if [ -x "$shared/tools/get-helm" ]; then
    "$shared/tools/get-helm" "$tools" >&2
  else
    missing+=("helm v3 (https://helm.sh/docs/intro/install/, or put it at $tools/helm)")
  fi
fi
command -v kubectl >/dev/null 2>&1 \
  || missing+=("kubectl with kustomize (Debian: apt-get install kubernetes-client)")

pg_found=""
for d in "${PG_BINDIR:-}" "$(pg_config --bindir 2>/dev/null || true)" /usr/lib/postgresql/*/bin; do
  if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then pg_found="$d"; break; fi
done
if [ -z "$pg_found" ] && [ -z "${TEST_DATABASE_URL:-}" ]; then
  missing+=("PostgreSQL server binaries (Debian: apt-get install postgresql), or set TEST_DATABASE_URL")
fi

if [ ! -x "$shared/tools/validate-skaffold" ] && ! command -v skaffold >/dev/null 2>&1; then
  missing+=("a skaffold schema check: skaffold itself, or SHARED=<dir with tools/validate-skaffold>")
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "error: tools needed by the tests are missing:" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 1
fi
echo "tools: helm $(helm version --short 2>/dev/null), kubectl, PostgreSQL ${pg_found:-via TEST_DATABASE_URL}"
