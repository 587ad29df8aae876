#!/usr/bin/env bash
# Local registries for skiff's tests: Debian's docker-registry on 127.0.0.1, plain HTTP, storage in a directory.
#
#   registry.sh start <dir> <port> [--htpasswd USER:PASS]... [--token REALM-URL [--anonymous-pull]] [--seed STORAGE]
#       Starts docker-registry on 127.0.0.1:<port>, storage in <dir>/data, config <dir>/config.yml, log
#       <dir>/registry.log, PID in <dir>/registry.pid; returns once /v2/ answers (200, or 401 with auth).
#       --htpasswd USER:PASS   basic auth (repeatable; bcrypt htpasswd file <dir>/htpasswd)
#       --token REALM-URL      token auth instead: also starts token_server.py on REALM-URL's host:port (e.g.
#                              http://127.0.0.1:5601/token) with the --htpasswd users, PID <dir>/token_server.pid,
#                              log <dir>/token_server.log, key and certificate in <dir>/token/; the registry's
#                              auth.token has realm REALM-URL, service "skiff-test-registry", issuer
#                              "skiff-test-token-issuer". Anonymous tokens grant nothing unless --anonymous-pull.
#       --seed STORAGE         copies a registry storage (build.sh's target/test-images/registry-seed) into
#                              <dir>/data first, so every test image is there without pushing.
#   registry.sh stop <dir>
#       Stops the registry (and token server) started with <dir>, by the PIDs in their pid files.
#   registry.sh push <dir> <port> <image> <repo:tag> [USER:PASS]
#       skopeo copy --all --dest-tls-verify=false <image> docker://127.0.0.1:<port>/<repo:tag>; <image> is an OCI
#       layout directory, a docker-archive tarball, or any skopeo source (oci:DIR:REF, docker-archive:FILE, ...).
#       $PUSH_FORMAT=v2s2 pushes Docker schema 2 manifests instead of OCI ones (skopeo --format v2s2).
#   registry.sh push-all <dir> <port> [USER:PASS] [--images OUT]
#       Pushes everything OUT/images.tsv lists (OUT defaults to target/test-images).
#   registry.sh env
#       Prints the docker-registry binary used.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SERVICE="skiff-test-registry"
ISSUER="skiff-test-token-issuer"

usage() { sed -n '2,27p' "$0" >&2; exit 2; }

# alive PIDFILE PATTERN: the PID in PIDFILE when that process is alive and its command line matches PATTERN.
alive() {
  local pid
  pid="$(cat "$1" 2>/dev/null)" || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$2" || return 1
  echo "$pid"
}

stop_pidfile() {
  local pidfile="$1" pattern="$2" pid i
  if pid="$(alive "$pidfile" "$pattern")"; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

# wait_http URL PID LOG: waits (10 s at most) for URL to answer with any HTTP status while PID lives.
wait_http() {
  local url="$1" pid="$2" logf="$3" i code
  for i in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || { cat "$logf" >&2; die "process $pid exited (log above, $logf)"; }
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" 2>/dev/null || true)"
    case "$code" in 200|401) return 0 ;; esac
    sleep 0.1
  done
  cat "$logf" >&2
  die "$url did not answer within 10 s"
}

# port_free PORT [HOST]: true when nothing accepts connections on HOST (127.0.0.1):PORT.
port_free() { ! (exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null; }

htpasswd_line() {
  local user="${1%%:*}" pass="${1#*:}"
  need_cmd htpasswd apache2-utils
  htpasswd -nbB "$user" "$pass" | head -n1
}

cmd_start() {
  [ $# -ge 2 ] || usage
  local dir="$1" port="$2" users=() token="" seed="" anon=""
  shift 2
  while [ $# -gt 0 ]; do
    case "$1" in
      --htpasswd) users+=("$2"); shift 2 ;;
      --token) token="$2"; shift 2 ;;
      --anonymous-pull) anon=1; shift ;;
      --seed) seed="$2"; shift 2 ;;
      *) usage ;;
    esac
  done
  need_cmd curl curl
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  if alive "$dir/registry.pid" "docker-registry" >/dev/null; then die "a registry already runs for $dir (registry.sh stop $dir)"; fi
  port_free "$port" || die "127.0.0.1:$port is already in use"
  local bin
  bin="$(docker_registry_bin)"
  mkdir -p "$dir/data"
  if [ -n "$seed" ]; then
    [ -d "$seed/docker" ] || die "--seed $seed: not a registry storage (run tests/images/build.sh)"
    cp -a "$seed/docker" "$dir/data/"
  fi

  local auth=""
  if [ -n "$token" ]; then
    pick_python
    need_cmd openssl openssl
    local hostport
    hostport="$("$PYTHON" -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(f"{p.hostname}:{p.port or 80}")' "$token")"
    port_free "${hostport##*:}" "${hostport%:*}" || die "$hostport (token server) is already in use"
    mkdir -p "$dir/token"
    if [ ! -s "$dir/token/cert.pem" ]; then
      openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/CN=$ISSUER" \
        -keyout "$dir/token/key.pem" -out "$dir/token/cert.pem" 2>/dev/null || die "openssl could not make the token key"
    fi
    local targs=(--listen "$hostport" --key "$dir/token/key.pem" --issuer "$ISSUER" --service "$SERVICE" --log "$dir/token_server.log")
    local u
    for u in "${users[@]}"; do targs+=(--user "$u"); done
    [ -n "$anon" ] && targs+=(--anonymous-pull)
    "$PYTHON" "$IMAGES_SRC/token_server.py" "${targs[@]}" </dev/null >>"$dir/token_server.log" 2>&1 &
    echo $! >"$dir/token_server.pid"
    wait_http "http://$hostport/healthz" "$!" "$dir/token_server.log"
    auth="auth:
  token:
    realm: $token
    service: $SERVICE
    issuer: $ISSUER
    rootcertbundle: $dir/token/cert.pem"
  elif [ ${#users[@]} -gt 0 ]; then
    : >"$dir/htpasswd"
    local u
    for u in "${users[@]}"; do htpasswd_line "$u" >>"$dir/htpasswd"; done
    auth="auth:
  htpasswd:
    realm: $SERVICE
    path: $dir/htpasswd"
  fi

  cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: skiff-test-registry-secret
  headers:
    X-Content-Type-Options: [nosniff]
$auth
EOF
  "$bin" serve "$dir/config.yml" </dev/null >>"$dir/registry.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$dir/registry.pid"
  wait_http "http://127.0.0.1:$port/v2/" "$pid" "$dir/registry.log"
  echo "registry on http://127.0.0.1:$port (pid $pid, storage $dir/data${token:+, token realm $token}${users:+, users ${users[*]%%:*}})"
}

cmd_stop() {
  [ $# -eq 1 ] || usage
  local dir="$1"
  stop_pidfile "$dir/registry.pid" "docker-registry"
  stop_pidfile "$dir/token_server.pid" "token_server.py"
}

cmd_push() {
  [ $# -ge 4 ] || usage
  local dir="$1" port="$2" src="$3" ref="$4" creds="${5:-}"
  need_cmd skopeo skopeo
  case "$src" in
    oci:*|oci-archive:*|docker-archive:*|dir:*|docker://*) ;;
    *)
      if [ -d "$src" ]; then src="oci:$src"
      elif [ -f "$src" ]; then src="docker-archive:$src"
      else die "push: $src is neither a directory nor a file"; fi ;;
  esac
  local args=(copy --all --quiet --dest-tls-verify=false --retry-times 2)
  [ -n "$creds" ] && args+=(--dest-creds "$creds") || args+=(--dest-no-creds)
  [ "${PUSH_FORMAT:-}" = v2s2 ] && args+=(--format v2s2)
  skopeo "${args[@]}" "$src" "docker://127.0.0.1:$port/$ref" || die "push of $src to 127.0.0.1:$port/$ref failed"
}

cmd_push_all() {
  [ $# -ge 2 ] || usage
  local dir="$1" port="$2" creds="" out="$DEFAULT_OUT"
  shift 2
  while [ $# -gt 0 ]; do
    case "$1" in
      --images) out="$2"; shift 2 ;;
      *) creds="$1"; shift ;;
    esac
  done
  [ -f "$out/images.tsv" ] || die "$out/images.tsv missing: run tests/images/build.sh first"
  local layout ref n=0
  while read -r layout ref; do
    cmd_push "$dir" "$port" "$out/$layout" "$ref" "$creds"
    n=$((n + 1))
  done <"$out/images.tsv"
  log "pushed $n image tags to 127.0.0.1:$port"
}

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  push) shift; cmd_push "$@" ;;
  push-all) shift; cmd_push_all "$@" ;;
  env) docker_registry_bin ;;
  *) usage ;;
esac
