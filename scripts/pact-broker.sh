#!/usr/bin/env bash
# The contract workflow's broker steps, with the repository's pacts as the fallback.
#
#   scripts/pact-broker.sh publish-pacts            publish pacts/*.json as this commit of the consumers
#   scripts/pact-broker.sh verify                   provider verification (publishes results from CI)
#   scripts/pact-broker.sh can-i-deploy ENV         may this commit of every service go to ENV?
#   scripts/pact-broker.sh record-deployment ENV    this commit of every service now runs in ENV
#
# With PACT_BROKER_BASE_URL set (and PACT_BROKER_TOKEN, or PACT_BROKER_USERNAME/PASSWORD), the
# `pact` CLI (PyPI pact-python-cli) talks to the broker; the version is the git sha (GIT_SHA,
# default `git rev-parse HEAD`, the same as the image tag) and the branch GIT_BRANCH.
# Without a broker, each step says so: publishing and recording do nothing, `verify` and
# `can-i-deploy` run the consumer and provider contract tests against the committed pacts.
# The pacticipants are the names in pacts/contracts.toml.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${ROOT}/.venv/bin"
export PACT_DO_NOT_TRACK="${PACT_DO_NOT_TRACK:-true}"

die() { echo "pact-broker: $*" >&2; exit 2; }
note() { echo "pact-broker: $*" >&2; }

usage() {
  sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit 2
}

git_sha() { echo "${GIT_SHA:-$(git -C "${ROOT}" rev-parse HEAD)}"; }
git_branch() { echo "${GIT_BRANCH:-$(git -C "${ROOT}" rev-parse --abbrev-ref HEAD)}"; }

broker_configured() { [[ -n "${PACT_BROKER_BASE_URL:-}" ]]; }

pact_cli() {
  [[ -x "${BIN}/pact" ]] || die "${BIN}/pact not found: run 'make install' (pact-python-cli)"
  "${BIN}/pact" broker "$@"
}

pacticipants() {
  "${BIN}/python" - "${ROOT}/pacts/contracts.toml" <<'PY'
import sys
import tomllib

with open(sys.argv[1], "rb") as manifest:
    contracts = tomllib.load(manifest)["contract"]
names = {name for c in contracts for name in (c["consumer"], c["provider"])}
print("\n".join(sorted(names)))
PY
}

pacts_committed() {
  [[ -z "$(git -C "${ROOT}" status --porcelain -- pacts)" ]]
}

contract_tests() {
  cd "${ROOT}"
  "${BIN}/pytest" -q -p no:cacheprovider "$@"
}

cmd="${1:-}"
shift || true
case "${cmd}" in
  publish-pacts)
    if ! broker_configured; then
      note "no Pact Broker configured (PACT_BROKER_BASE_URL is unset): nothing published;" \
        "the committed pacts/ are the contract"
      exit 0
    fi
    if ! pacts_committed; then
      # A version is a commit: never publish pacts that the sha does not hold.
      [[ "${CI:-}" == "true" ]] && die "pacts/ differs from the commit $(git_sha): not published"
      note "pacts/ has uncommitted changes: not published (commit, then run publish-pacts)"
      exit 0
    fi
    pact_cli publish "${ROOT}/pacts" \
      --consumer-app-version "$(git_sha)" --branch "$(git_branch)" \
      ${CI_BUILD_URL:+--build-url "${CI_BUILD_URL}"}
    ;;
  verify)
    if broker_configured && [[ "${CI:-}" == "true" ]]; then
      note "verifying the committed pacts and the broker's; results are published as $(git_sha)"
    elif broker_configured; then
      note "verifying the committed pacts and the broker's; results are published only when CI=true"
    else
      note "no Pact Broker configured: verifying the committed pacts only"
    fi
    GIT_SHA="$(git_sha)" GIT_BRANCH="$(git_branch)" contract_tests user-service/tests/contract
    ;;
  can-i-deploy)
    env="${1:-}"
    [[ -n "${env}" ]] || die "usage: can-i-deploy ENV"
    if ! broker_configured; then
      note "no Pact Broker configured: deciding from the repository's pacts instead" \
        "(consumer pacts up to date, provider verifies them)"
      contract_tests order-service/tests/contract user-service/tests/contract
      note "the contract tests pass: $(git_sha) may go to ${env}"
      exit 0
    fi
    args=()
    while read -r name; do
      args+=(--pacticipant "${name}" --version "$(git_sha)")
    done < <(pacticipants)
    pact_cli can-i-deploy "${args[@]}" --to-environment "${env}" \
      --retry-while-unknown "${PACT_CAN_I_DEPLOY_RETRIES:-6}" --retry-interval 10
    ;;
  record-deployment)
    env="${1:-}"
    [[ -n "${env}" ]] || die "usage: record-deployment ENV"
    if ! broker_configured; then
      note "no Pact Broker configured: no deployment recorded"
      exit 0
    fi
    while read -r name; do
      pact_cli record-deployment --pacticipant "${name}" --version "$(git_sha)" \
        --environment "${env}"
    done < <(pacticipants)
    ;;
  -h | --help | help | "") usage ;;
  *) die "unknown command '${cmd}' (publish-pacts, verify, can-i-deploy ENV, record-deployment ENV)" ;;
esac
