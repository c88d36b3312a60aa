#!/usr/bin/env bash
# `make e2e` (and the workflow's kind job, and CI): the whole cluster path on a fresh kind cluster,
# from nothing to nothing.
#
# 1. a kind cluster KIND_CLUSTER (shop) on Kubernetes 1.35, the newest version the charts are
#    run on. KIND_OFFLINE picks how:
#    - empty (a developer's machine, GitHub's runner: Docker and kind): `kind create cluster
#      --image $KIND_NODE_IMAGE`, the stock kindest/node; kind's own CNI (kindnetd) enforces
#      NetworkPolicies;
#    - the path of kind-offline (make sets it when ../shared/tools/kind-offline exists: a machine
#      that reaches no image registry): the same kind, with a node image kind-offline builds for
#      the same Kubernetes from Go modules and Debian packages (cached on the machine: built once,
#      about 20 min, then reused), a private dockerd as kind's engine and skaffold's, and
#      kube-router enforcing NetworkPolicies. The images' base python:3.11-slim cannot be pulled
#      there, so scripts/offline-base-image.sh builds an equivalent from Debian's packages into
#      that dockerd (once; it stays in the engine);
# 2. scripts/e2e-cluster.sh on the context kind-<cluster>: skaffold build -p e2e into the engine
#    kind runs on (nothing pushed); skaffold deploy --load-images, which loads them into the node
#    with `kind load docker-image`, as skaffold does for any context named kind-*; `helm test`;
#    skaffold verify (tests-e2e with the fault drills, as a Job); the NetworkPolicy test from
#    outside the release; skaffold delete;
# 3. scripts/dev_loop_test.py: skaffold dev -p dev, file sync, reload, cleanup (E2E_DEV_LOOP=0
#    skips it);
# 4. the cluster deleted (and with kind-offline its engine stopped, the host restored), also on
#    failure; E2E_KEEP_CLUSTER=1 keeps it (for a look after a red run, or the next run).
# Each step prints its time. Settings (environment): KIND_CLUSTER, KIND_OFFLINE, KIND_NODE_IMAGE,
# BASE_IMAGE, E2E_DEV_LOOP, E2E_KEEP_CLUSTER, and those of scripts/e2e-cluster.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
CLUSTER="${KIND_CLUSTER:-shop}"
OFFLINE="${KIND_OFFLINE:-}"
# the node image kind v0.31.0 released for Kubernetes 1.35 (kind-offline builds v1.35.4)
NODE_IMAGE="${KIND_NODE_IMAGE:-kindest/node:v1.35.0}"
OFFLINE_BASE="localhost/shop-base/python:3.11-slim"
export BASE_IMAGE="${BASE_IMAGE:-python:3.11-slim}"

die() { echo "e2e-kind: error: $*" >&2; exit 1; }
# shellcheck source=scripts/lib/steps.sh
. scripts/lib/steps.sh

created=0
delete_cluster() {
  if [ -n "$OFFLINE" ]; then "$OFFLINE" delete "$CLUSTER"; else kind delete cluster --name "$CLUSTER"; fi
}
finish() {
  local rc=$?
  if [ "$created" = 1 ] && [ "${E2E_KEEP_CLUSTER:-0}" != 1 ]; then
    step "delete the kind cluster $CLUSTER" delete_cluster || rc=1
  fi
  step_times "e2e-kind step times"
  exit "$rc"
}

trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if [ -n "$OFFLINE" ]; then
  [ -x "$OFFLINE" ] || die "KIND_OFFLINE=$OFFLINE is not an executable"
  # one engine for kind's node and skaffold's builds: kind-offline's own dockerd
  export KIND_OFFLINE_PROVIDER=docker
  step "kind-offline build (node binaries; cached)" "$OFFLINE" build
  created=1  # from here on `delete` stops the engine and restores the host, also on failure
  step "kind-offline engine-up" "$OFFLINE" engine-up
  eval "$("$OFFLINE" env "$CLUSTER")"  # kind, kubectl v1.35, DOCKER_HOST, KUBECONFIG
  if [ "$BASE_IMAGE" = python:3.11-slim ] && ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1
  then
    BASE_IMAGE="$OFFLINE_BASE"
    step "base image $BASE_IMAGE" scripts/offline-base-image.sh "$BASE_IMAGE"
  fi
  step "kind-offline create $CLUSTER (Kubernetes 1.35)" "$OFFLINE" create "$CLUSTER"
else
  for tool in docker kind; do
    command -v "$tool" >/dev/null || die "$tool not found on PATH (make e2e needs Docker and \
kind; on a cluster you already have, use 'make e2e-cluster')"
  done
  docker info >/dev/null 2>&1 || die "the Docker engine does not answer ('docker info' failed)"
  if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
    echo "==> reusing kind cluster $CLUSTER (kept at the end)"
  else
    created=1
    step "kind create cluster $CLUSTER ($NODE_IMAGE)" \
      kind create cluster --name "$CLUSTER" --image "$NODE_IMAGE" --wait 180s
  fi
fi
export KUBE_CONTEXT="kind-$CLUSTER"
kubectl --context "$KUBE_CONTEXT" version
kubectl --context "$KUBE_CONTEXT" get nodes -o wide

step "e2e on kind (skaffold build, deploy, helm test, verify, NetworkPolicies)" \
  env E2E_DELETE=1 E2E_NETWORK_POLICIES=1 scripts/e2e-cluster.sh "$@"
if [ "${E2E_DEV_LOOP:-1}" = 1 ]; then
  step "dev loop (skaffold dev -p dev)" "${PYTHON:-python3}" scripts/dev_loop_test.py
fi
