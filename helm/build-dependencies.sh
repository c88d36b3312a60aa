#!/usr/bin/env bash
# Vendor the file:// dependencies into each chart's charts/ (gitignored), leaves first, so the
# umbrella packages service charts that already hold their own dependencies. Offline; ~1 s.
# Usage: helm/build-dependencies.sh   (HELM=/path/to/helm to choose the binary)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
helm="${HELM:-helm}"
for chart in user-service order-service shop; do
  "$helm" dependency build --skip-refresh "$here/$chart" >/dev/null
done
