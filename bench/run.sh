#!/usr/bin/env bash
# Prints skiff's API figures on this machine: idle RSS of `skiff server`, and durable creates per second from a
# concurrent load generator. Builds release binaries; uses its own data dir and port; cleans up.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p skiff -p skiff-bench
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
./target/release/skiff server --data-dir "$dir" --listen "127.0.0.1:$port" 2>"$dir/server.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do [ -f "$dir/admin.kubeconfig" ] && break; sleep 0.1; done
sleep 2
echo "idle RSS of skiff server: $(awk '/VmRSS/ {print $2/1024 " MB"}' /proc/$pid/status)"
for c in 1 16 64; do
  ./target/release/api-load --kubeconfig "$dir/admin.kubeconfig" --count 3000 --concurrency $c --kind configmap
done
./target/release/api-load --kubeconfig "$dir/admin.kubeconfig" --count 3000 --concurrency 64 --kind pod
echo "RSS after $(( 3*3000 + 3000 )) objects: $(awk '/VmRSS/ {print $2/1024 " MB"}' /proc/$pid/status)"
