#!/usr/bin/env bash
# Prints skiff's API figures on this machine: idle RSS of `skiff server`, and durable creates per second from a
# concurrent load generator. Builds release binaries; uses its own data dir and port; cleans up.
# Pod start times (skiff vs podman vs the raw floor) and per-pod memory: bench/pod-start/run.sh.
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
./target/release/api-load --kubeconfig "$dir/admin.kubeconfig" --count 10000 --concurrency 64 --kind pod
echo "RSS with 19000 objects stored: $(awk '/VmRSS/ {print $2/1024 " MB"}' /proc/$pid/status)"
export KUBECONFIG="$dir/admin.kubeconfig"
for format in json table; do
  accept=application/json
  [ $format = table ] && accept='application/json;as=Table;v=v1;g=meta.k8s.io'
  python3 - "$dir" "$accept" "$format" <<'PY'
import base64, http.client, ssl, sys, time, yaml, tempfile, os
d, accept, fmt = sys.argv[1:]
kc = yaml.safe_load(open(os.path.join(d, "admin.kubeconfig")))
cl, us = kc["clusters"][0]["cluster"], kc["users"][0]["user"]
ctx = ssl.create_default_context(cadata=base64.b64decode(cl["certificate-authority-data"]).decode())
tmp = tempfile.mkdtemp()
for name, key in (("c", "client-certificate-data"), ("k", "client-key-data")):
    open(os.path.join(tmp, name), "wb").write(base64.b64decode(us[key]))
ctx.load_cert_chain(os.path.join(tmp, "c"), os.path.join(tmp, "k"))
host = cl["server"].removeprefix("https://")
times = []
for _ in range(5):
    c = http.client.HTTPSConnection(host, context=ctx)
    t = time.perf_counter()
    c.request("GET", "/api/v1/namespaces/default/pods", headers={"Accept": accept})
    body = c.getresponse().read()
    times.append(time.perf_counter() - t)
print(f"list of 10000 pods ({fmt}, {len(body)/1e6:.1f} MB): best {min(times)*1e3:.0f} ms, median {sorted(times)[2]*1e3:.0f} ms")
PY
done
echo "RSS after the lists: $(awk '/VmRSS/ {print $2/1024 " MB"}' /proc/$pid/status)"
