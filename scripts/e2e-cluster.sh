#!/usr/bin/env bash
# `make e2e-cluster` (and `make e2e` on kind, in CI too): the end-to-end suite
# through skaffold.yaml's profile e2e, against the cluster of KUBE_CONTEXT (default: the current
# context of KUBECONFIG). The only deploy path; nothing here runs helm by hand.
#
# 1. skaffold build -p e2e: user-service, order-service, PostgreSQL (images/postgres) and the
#    suite's image (tests-e2e/Dockerfile) with the Docker engine of DOCKER_HOST, FROM
#    ${BASE_IMAGE:-python:3.11-slim}, never pushed;
#    the built references go to $E2E_ARTIFACTS/build.json;
# 2. skaffold deploy -p e2e --build-artifacts --load-images: on kind, the images loaded into the
#    node (`kind load docker-image`); the release `shop` of helm/ in $E2E_NAMESPACE (created if
#    missing), waited for, plus the suite's ServiceAccount and Role;
# 3. helm test: the charts' own test pods (each service answers, order-service's user-service
#    answers from it), as a chart user checks a release;
# 4. skaffold verify -p e2e --build-artifacts: tests-e2e, faults included, as a Job in that
#    namespace; its exit status is this script's.
# 5. with E2E_NETWORK_POLICIES=1 (kind: its CNI enforces them): tests-e2e -m network_policies
#    from here, with this kubeconfig (it creates a namespace and probe pods);
# 6. with E2E_DELETE=1 (CI): skaffold delete -p e2e, a check that nothing of it is left, then
#    the namespace itself (with the PVCs and Secrets helm keeps), so the next run starts empty.
# A failed deploy or verify leaves pods, events and logs of the namespace in $E2E_ARTIFACTS.
# The images stay in that Docker engine, which must be the one the cluster's node runs (minikube's
# docker-env) or one kind loads from. Each stage prints its time.
#
# Settings (environment): KUBECONFIG, KUBE_CONTEXT, DOCKER_HOST, BASE_IMAGE, E2E_NAMESPACE
# (shop-e2e), E2E_ARTIFACTS (.e2e-artifacts), E2E_DELETE, E2E_NETWORK_POLICIES, SKAFFOLD, KUBECTL,
# PYTHON (the one with the dev requirements: .venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SKAFFOLD="${SKAFFOLD:-skaffold}" KUBECTL="${KUBECTL:-kubectl}"
NAMESPACE="${E2E_NAMESPACE:-shop-e2e}"
ARTIFACTS="${E2E_ARTIFACTS:-$ROOT/.e2e-artifacts}"
export BASE_IMAGE="${BASE_IMAGE:-python:3.11-slim}"
# skaffold: no update check, no survey prompt, no colour codes in CI logs
export SKAFFOLD_UPDATE_CHECK=false SKAFFOLD_INTERACTIVE=false
mkdir -p "$ARTIFACTS"

die() { echo "e2e-cluster: error: $*" >&2; exit 1; }
for tool in "$SKAFFOLD" "$KUBECTL" helm docker git; do
  command -v "$tool" >/dev/null || die "$tool not found on PATH"
done
[ -n "${KUBECONFIG:-}" ] || [ -f "$HOME/.kube/config" ] || die "no cluster: set KUBECONFIG"
context="${KUBE_CONTEXT:-$("$KUBECTL" config current-context 2>/dev/null || true)}"
[ -n "$context" ] || die "no kube-context: set KUBE_CONTEXT or a current context in KUBECONFIG"
k=("$KUBECTL" --context "$context")
"${k[@]}" version --request-timeout=10s >/dev/null 2>&1 \
  || die "the cluster of context $context does not answer ('kubectl version' failed)"
if [ -n "$(git status --porcelain -- user-service order-service images helm tests-e2e)" ]; then
  echo "e2e-cluster: warning: uncommitted changes; the images (tag <sha>-dirty) contain them" >&2
fi
# `skaffold verify` has no --kube-context flag (v2.19): it uses the kubeconfig's current context.
# So every skaffold command here gets a private kubeconfig holding just that context (outside
# $E2E_ARTIFACTS, which CI uploads: it holds credentials), deleted on exit.
kubeconfig="$(mktemp)"
"${k[@]}" config view --raw --minify --flatten >"$kubeconfig"
export KUBECONFIG="$kubeconfig"
sk=("$SKAFFOLD" --profile e2e)
build_json="$ARTIFACTS/build.json"

# shellcheck source=scripts/lib/steps.sh
. scripts/lib/steps.sh
report() {
  local rc=$?
  step_times "stage times"
  [ "$rc" = 0 ] || echo "e2e-cluster: failed (status $rc); what was saved is in $ARTIFACTS" >&2
  rm -f "$kubeconfig"
}
trap report EXIT

dump_namespace() {  # what a reader of a failed deploy or run needs, also printed in short
  local dir=$1
  mkdir -p "$dir"
  "${k[@]}" -n "$NAMESPACE" get all,pvc,events -o wide >"$dir/get.txt" 2>&1 || true
  "${k[@]}" -n "$NAMESPACE" describe pods >"$dir/describe-pods.txt" 2>&1 || true
  for pod in $("${k[@]}" -n "$NAMESPACE" get pods -o name 2>/dev/null); do
    "${k[@]}" -n "$NAMESPACE" logs "$pod" --all-containers --prefix --tail=300 \
      >"$dir/${pod#pod/}.log" 2>&1 || true
  done
  "${k[@]}" -n "$NAMESPACE" get pods -o wide >&2 || true
}

build() {
  "${sk[@]}" build --file-output "$build_json"
}
deploy() {
  # A Job left by a killed earlier verify would block the new one (same name).
  "${k[@]}" -n "$NAMESPACE" delete job tests-e2e --ignore-not-found --wait=true >/dev/null 2>&1 \
    || true
  # --load-images: skaffold loads images into a kind-* (or k3d-*) context's nodes only when the
  # same run built them, or with this flag; on other clusters it does nothing.
  if ! "${sk[@]}" deploy --namespace "$NAMESPACE" --build-artifacts "$build_json" \
    --load-images=true; then
    dump_namespace "$ARTIFACTS/deploy"
    die "skaffold deploy failed; pods, events and logs in $ARTIFACTS/deploy"
  fi
}
verify() {
  # skaffold streams the Job's output; kept in verify.log as well
  if ! "${sk[@]}" verify --namespace "$NAMESPACE" --build-artifacts "$build_json" 2>&1 \
    | tee "$ARTIFACTS/verify.log"; then
    dump_namespace "$ARTIFACTS/verify"
    die "tests-e2e failed in the cluster; its output is in $ARTIFACTS/verify.log, the \
namespace's pods, events and logs in $ARTIFACTS/verify"
  fi
}

helm_test() {
  # (no --logs: the test pods are deleted once they pass; a failed one is kept for the dump)
  if ! helm --kube-context "$context" -n "$NAMESPACE" test shop --timeout 5m; then
    dump_namespace "$ARTIFACTS/helm-test"
    die "helm test failed; pods, events and logs in $ARTIFACTS/helm-test"
  fi
}
network_policies() {
  "${PYTHON:-$ROOT/.venv/bin/python}" -m pytest -p no:cacheprovider tests-e2e -v \
    -m network_policies --kubeconfig "$kubeconfig" --namespace "$NAMESPACE" --release shop \
    --artifacts "$ARTIFACTS/network-policies"
}

delete() {
  "${sk[@]}" delete --namespace "$NAMESPACE" || die "skaffold delete failed"
  local left
  left="$("${k[@]}" -n "$NAMESPACE" get deployments,statefulsets,services,jobs,roles,serviceaccounts \
    -l app.kubernetes.io/part-of=shop -o name 2>&1)"
  [ -z "$left" ] || die "left after skaffold delete: $left"
  ! helm -n "$NAMESPACE" status shop >/dev/null 2>&1 \
    || die "the release shop is still installed after skaffold delete"
  # What helm keeps on purpose (the PostgreSQL PVCs and password Secrets) goes with the
  # namespace: the next run starts from an empty database, as on a new cluster.
  "${k[@]}" delete namespace "$NAMESPACE" --wait=true --timeout=180s >/dev/null \
    || die "namespace $NAMESPACE was not deleted"
}

step "skaffold build -p e2e" build
step "skaffold deploy -p e2e ($NAMESPACE)" deploy
step "helm test shop" helm_test
step "skaffold verify -p e2e (tests-e2e Job)" verify
if [ "${E2E_NETWORK_POLICIES:-0}" = 1 ]; then
  step "NetworkPolicies (tests-e2e -m network_policies)" network_policies
fi
if [ "${E2E_DELETE:-0}" = 1 ]; then step "skaffold delete -p e2e" delete; fi
