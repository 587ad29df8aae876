#!/usr/bin/env bash
# The main job: build skiff, start `skiff server` with the embedded store, and apply the example manifests.
# Data lives in ${SKIFF_DATA_DIR:-/var/lib/skiff}; the API listens on ${SKIFF_LISTEN:-0.0.0.0:6443}.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${SKIFF_DATA_DIR:-/var/lib/skiff}"
listen="${SKIFF_LISTEN:-0.0.0.0:6443}"
cargo build --release -p skiff
mkdir -p "$data"
./target/release/skiff server --data-dir "$data" --listen "$listen" &
server=$!
trap 'kill $server 2>/dev/null || true' INT TERM
export KUBECONFIG="$data/admin.kubeconfig"
for _ in $(seq 1 200); do
  [ -f "$KUBECONFIG" ] && kubectl get --raw /readyz >/dev/null 2>&1 && break
  sleep 0.1
done
kubectl apply -f tests/seed/
kubectl get all
echo "skiff is running (pid $server). Use: export KUBECONFIG=$KUBECONFIG"
wait $server
