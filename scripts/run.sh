#!/usr/bin/env bash
# The main job: build skiff, start `skiff server` (embedded store, scheduler, built-in node agent), apply the seed
# article's manifests (tests/seed/) and wait until their pods run.
#
# This machine kind reaches no container registry, so the images the manifests name (nginx:1.24, busybox:1.36,
# myapp:1.0, …) are built from Debian packages (tests/images/build.sh) and served by a local registry on
# 127.0.0.1:${SKIFF_REGISTRY_PORT:-5000}, which skiff uses as its docker.io mirror — the manifests stay unchanged.
# Data lives in ${SKIFF_DATA_DIR:-/var/lib/skiff}; the API listens on ${SKIFF_LISTEN:-0.0.0.0:6443}.
# Ctrl-C stops the server; the pods keep running (a restarted server adopts them); `skiff reset` removes them.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
data="${SKIFF_DATA_DIR:-/var/lib/skiff}"
listen="${SKIFF_LISTEN:-0.0.0.0:6443}"
regport="${SKIFF_REGISTRY_PORT:-5000}"
cargo build --release -p skiff
bash tests/images/build.sh
mkdir -p "$data"
bash tests/images/registry.sh stop "$data/registry" >/dev/null 2>&1 || true  # left by an earlier run
bash tests/images/registry.sh start "$data/registry" "$regport" --seed target/test-images/registry-seed
./target/release/skiff server --data-dir "$data" --listen "$listen" \
  --registry-mirror "docker.io=http://127.0.0.1:$regport" &
server=$!
trap 'kill $server 2>/dev/null || true; bash tests/images/registry.sh stop "$data/registry" || true' EXIT
export KUBECONFIG="$data/admin.kubeconfig"
for _ in $(seq 1 200); do
  [ -f "$KUBECONFIG" ] && kubectl get --raw /readyz >/dev/null 2>&1 && break
  sleep 0.1
done
kubectl apply -f tests/seed/
kubectl wait --for=condition=Ready pod --all --timeout=180s || true
kubectl get pods -o wide
kubectl get all
echo "skiff is running (pid $server). Use: export KUBECONFIG=$KUBECONFIG"
wait $server
