#!/usr/bin/env bash
# Pod-start benchmark: how long `apply → Running` takes on skiff (image present; p50/p99 over N pods, one at a time
# and in a burst of N), the same pods with `podman kube play` on the same machine, and the raw floor (netns + veth +
# `true` in new namespaces, by hand); prints the ratios and skiff's per-pod memory overhead with N pods running.
#
#   bench/pod-start/run.sh            as root; about 8 minutes on 2 cores (6 of them are podman removing its pods)
#
# Env: COUNT=50 pods per run; SKIFF=path to a built skiff (default: cargo build --release -p skiff);
#      SKIP_PODMAN=1 / SKIP_FLOOR=1 to leave a side out; KEEP=1 keeps the work dir (server log, JSON results);
#      VERBOSE=1 runs the server with -v.
# Needs: target/test-images (tests/images/build.sh), python3 with the `kubernetes` client, podman + runc +
# catatonit (installed with apt-get when absent; set up as ../shared/docs/peers.md says, through CONTAINERS_CONF and
# --root in the work dir, so the host's podman config and storage stay untouched).
# The table goes to stdout and to bench/results/pod-start-<date>.md.
#
# skiff runs with its own bridge (skbench0), nftables table, cgroup parent and pod CIDR, so it does not meet another
# skiff on the machine; everything it made is removed with `skiff reset` on exit, failure included.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
here=$repo/bench/pod-start
COUNT=${COUNT:-50}

BRIDGE=skbench0 NFT=skiff_bench CGROUP=skiff-bench CIDR=10.251.0.0/24
AGENT_ARGS=(--bridge $BRIDGE --nft-table $NFT --cgroup-parent $CGROUP --pod-cidr $CIDR)

log() { echo "== $*" >&2; }
die() { echo "error: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

work=$(mktemp -d /tmp/skiff-pod-start.XXXXXX)
server_pid="" registry_started="" podman_started="" podman_had=""

cleanup() {
  set +e
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
  fi
  if [ -x "$work/skiff" ]; then
    "$work/skiff" reset --data-dir "$work/skiff-data" "${AGENT_ARGS[@]}" >>"$work/reset.log" 2>&1 ||
      echo "warning: skiff reset failed (see $work/reset.log)" >&2
  fi
  if [ -n "$podman_started" ]; then
    podman_cmd pod rm -a -f -t 0 >/dev/null 2>&1
    podman_cmd rmi -a -f >/dev/null 2>&1
    undo_podman_host_changes
  fi
  [ -n "$registry_started" ] && bash tests/images/registry.sh stop "$work/registry" >/dev/null 2>&1
  if [ "${KEEP:-}" = 1 ]; then echo "work dir kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

check_prereqs() {
  [ "$(id -u)" = 0 ] || die "run as root (pods are real containers)"
  [ -d target/test-images/registry-seed ] || die "no test images: run tests/images/build.sh first"
  python3 -c 'import kubernetes, yaml' 2>/dev/null || die "python3 needs the kubernetes and yaml modules"
  if [ -z "${SKIP_PODMAN:-}" ] && ! command -v podman >/dev/null; then
    log "installing podman (peers.md)"
    apt-get install -y -q podman runc catatonit >/dev/null
  fi
}

# The skiff binary, copied into the work dir so that a rebuild meanwhile cannot swap it under the running server.
prepare_skiff() {
  local bin=${SKIFF:-}
  if [ -z "$bin" ]; then
    log "cargo build --release -p skiff"
    cargo build --release -q -p skiff
    bin=target/release/skiff
  fi
  cp "$bin" "$work/skiff"
}

start_registry() {
  local port
  port=$(free_port)
  bash tests/images/registry.sh start "$work/registry" "$port" --seed target/test-images/registry-seed >/dev/null
  registry_started=1
  REGISTRY=127.0.0.1:$port
}

bench_skiff() {
  local port
  port=$(free_port)
  "$work/skiff" reset --data-dir "$work/skiff-data" "${AGENT_ARGS[@]}" >>"$work/reset.log" 2>&1 || true
  log "skiff server on 127.0.0.1:$port (log: $work/server.log)"
  "$work/skiff" ${VERBOSE:+-v} server --data-dir "$work/skiff-data" --listen "127.0.0.1:$port" \
    --registry-mirror "docker.io=http://$REGISTRY" --node-name bench "${AGENT_ARGS[@]}" 2>"$work/server.log" &
  server_pid=$!
  for _ in $(seq 100); do [ -f "$work/skiff-data/admin.kubeconfig" ] && break; sleep 0.1; done
  [ -f "$work/skiff-data/admin.kubeconfig" ] || { tail -20 "$work/server.log" >&2; die "skiff server did not start"; }
  wait_node_ready
  python3 "$here/driver.py" skiff --kubeconfig "$work/skiff-data/admin.kubeconfig" --server-pid "$server_pid" \
    --skiff-exe "$work/skiff" --count "$COUNT" --out "$work/results/skiff.json"
  kill -TERM "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  "$work/skiff" reset --data-dir "$work/skiff-data" "${AGENT_ARGS[@]}" >>"$work/reset.log" 2>&1
}

wait_node_ready() {
  python3 - "$work/skiff-data/admin.kubeconfig" <<'PY'
import sys, time
from kubernetes import client, config
config.load_kube_config(config_file=sys.argv[1])
api = client.CoreV1Api()
for _ in range(300):
    try:
        for n in api.list_node().items:
            if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or []):
                sys.exit(0)
    except Exception:
        pass
    time.sleep(0.1)
sys.exit("the node did not become Ready in 30 s")
PY
}

podman_cmd() {
  CONTAINERS_CONF="$work/podman/containers.conf" podman --root "$work/podman/root" --runroot "$work/podman/run" \
    --tmpdir "$work/podman/tmp" "$@"
}

# What podman's CNI network leaves on the host after its pods are gone: the kube-play bridge, the IPAM directory,
# the firewall plugin's iptables chains, the (empty) libpod_parent cgroups. Noted before the first pod, removed afterwards unless they were there.
note_podman_host_state() {
  ip link show cni-podman1 >/dev/null 2>&1 && podman_had+=" bridge"
  [ -e /var/lib/cni ] && podman_had+=" cni-dir"
  iptables -S CNI-FORWARD >/dev/null 2>&1 && podman_had+=" chains"
  compgen -G "/sys/fs/cgroup/*/libpod_parent" >/dev/null && podman_had+=" cgroups"
  return 0
}

undo_podman_host_changes() {
  [[ $podman_had == *bridge* ]] || ip link del cni-podman1 2>/dev/null
  [[ $podman_had == *cni-dir* ]] || rm -rf /var/lib/cni
  if [[ $podman_had != *chains* ]] && iptables -S CNI-FORWARD >/dev/null 2>&1; then
    iptables -D FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD 2>/dev/null
    iptables -F CNI-FORWARD && iptables -X CNI-FORWARD && iptables -X CNI-ADMIN 2>/dev/null
  fi
  if [[ $podman_had != *cgroups* ]]; then
    local d
    for d in /sys/fs/cgroup/*/libpod_parent; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done
  fi
  return 0
}

# podman as peers.md says (runc; rlimits under the host's hard limits), all its state in the work dir.
setup_podman() {
  mkdir -p "$work/podman/net"
  cat >"$work/podman/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$work/podman/events.log"
[network]
network_config_dir = "$work/podman/net"
EOF
  note_podman_host_state
  podman_started=1
  podman_cmd pull -q --tls-verify=false "$REGISTRY/library/busybox:1.36" >/dev/null
  podman_cmd tag "$REGISTRY/library/busybox:1.36" docker.io/library/busybox:1.36
}

bench_podman() {
  log "podman $(podman --version | awk '{print $3}') (state in $work/podman)"
  setup_podman
  python3 "$here/driver.py" podman --podman "env CONTAINERS_CONF=$work/podman/containers.conf podman \
    --root $work/podman/root --runroot $work/podman/run --tmpdir $work/podman/tmp" --podman-root "$work/podman/root" \
    --manifests "$work/manifests" --count "$COUNT" --out "$work/results/podman.json"
}

# The source revision (noted at the start, as the tree may move during the run).
note_revision() {
  REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  [ -z "$(git status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null)" ] || REV+=" + uncommitted changes"
  [ -z "${SKIFF:-}" ] || REV+=" (binary given: $SKIFF)"
}

write_meta() {
  python3 -c 'import json,sys; json.dump(dict(zip(("skiff", "podman", "host", "load"), sys.argv[2:])), open(sys.argv[1], "w"))' \
    "$work/results/meta.json" "$REV" "$(podman --version 2>/dev/null || echo 'podman: not run')" "$(uname -n)" "$LOAD_AT_START"
}

main() {
  LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
  check_prereqs
  note_revision
  mkdir -p "$work/results" bench/results
  python3 "$here/driver.py" manifests "$work/manifests" --count "$COUNT"
  prepare_skiff
  start_registry
  log "skiff: $COUNT pods one at a time, then a burst of $COUNT"
  bench_skiff
  if [ -z "${SKIP_PODMAN:-}" ]; then
    log "podman kube play: $COUNT pods one at a time, then a burst of $COUNT"
    bench_podman
  fi
  if [ -z "${SKIP_FLOOR:-}" ]; then
    log "raw floor: netns + veth + unshare true, $COUNT times"
    python3 "$here/driver.py" floor --count "$COUNT" --out "$work/results/floor.json"
  fi
  write_meta
  python3 "$here/driver.py" report "$work/results" --md "bench/results/pod-start-$(date +%Y-%m-%d).md"
}

main "$@"
