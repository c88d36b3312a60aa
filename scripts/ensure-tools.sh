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

if [ ! -x "$shared/tools/validate-skaffold" ] && ! command -v skaffold >/dev/null 2>&1; then
  missing+=("a skaffold schema check: skaffold itself, or SHARED=<dir with tools/validate-skaffold>")
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "error: tools needed by the tests are missing:" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 1
fi
echo "tools: helm $(helm version --short 2>/dev/null), kubectl (PostgreSQL: the pip-installed server)"
