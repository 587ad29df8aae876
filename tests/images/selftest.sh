#!/usr/bin/env bash
# Checks the test images and registries end to end, without skiff (root needed: chroot, unshare, mounts).
#
#   tests/images/selftest.sh [--out DIR] [--skip-build]
#
#  1. build.sh (unless --skip-build), then build.sh again: the second run must change nothing;
#  2. a registry with everything pushed by `registry.sh push-all`: image configs, the busybox:multi index, the shared
#     busybox base layer, digests equal to images.json; a registry started from --seed serves the same digests;
#  3. basic auth (anonymous 401, wrong password 401, right password 200, skopeo) and token auth (the Bearer flow);
#  4. the images' behaviour, each "pod" in its own network, mount and PID namespaces with the image's rootfs under
#     chroot: myapp 1.0 + fluent-bit sharing a log dir, myapp 2.0 as uid 1000, nginx + exporter with an empty
#     /var/cache/nginx, nginx proxying to api-server with manifest 03's conf.d, busybox.
# Ends with the line "N passed, M failed"; exits non-zero if anything failed. Cleans up what it started.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
IMG_PATH="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Results go to stdout and, when $RESULTS is set, to that file (pods run as child processes).
ok() { echo "PASS $1"; [ -z "${RESULTS:-}" ] || echo "PASS $1" >>"$RESULTS"; }
bad() { echo "FAIL $1${2:+: $2}"; [ -z "${RESULTS:-}" ] || echo "FAIL $1" >>"$RESULTS"; }
# expect NAME ACTUAL PATTERN: passes when ACTUAL, its lines joined by spaces, matches the grep -E PATTERN.
expect() { if printf '%s' "$2" | tr '\n' ' ' | grep -qE -- "$3"; then ok "$1"; else bad "$1" "expected /$3/, got: $(printf '%s' "$2" | head -c 300)"; fi; }
# wait_for SECONDS CMD...: retries CMD every 0.2 s until it succeeds.
wait_for() { local end=$((SECONDS + $1)); shift; until "$@" >/dev/null 2>&1; do [ $SECONDS -ge $end ] && return 1; sleep 0.2; done; }

# ---- inside a pod: bash selftest.sh __pod KIND TMP (run under unshare) ---------------------------------------------
# rootfs R: mounts /dev and /proc into an unpacked rootfs.
prep_root() { mkdir -p "$1/dev" "$1/proc"; mount --rbind /dev "$1/dev"; mount -t proc proc "$1/proc"; }

pod() {
  local kind="$1" T="$2"
  ip link set lo up
  case "$kind" in
    logging)
      # manifest 02: myapp 1.0 writes /var/log/app/app.log into an emptyDir that fluent-bit mounts read-only.
      local app="$T/myapp-1.0" fb="$T/fluent-bit-2.0" vol="$T/vol-logs"
      prep_root "$app"; prep_root "$fb"; mkdir -p "$vol"; chmod 777 "$vol"
      mount --bind "$vol" "$app/var/log/app"
      mkdir -p "$fb/var/log/app"; mount --bind "$vol" "$fb/var/log/app"; mount -o remount,bind,ro "$fb/var/log/app"
      env -i "$IMG_PATH" chroot "$fb" /fluent-bit/bin/fluent-bit -c /fluent-bit/etc/fluent-bit.conf >"$T/fb.out" 2>"$T/fb.err" &
      local fbpid=$!
      sleep 1.5 # fluent-bit must wait for files to appear
      env -i "$IMG_PATH" APP_VERSION=1.0 chroot "$app" /usr/local/bin/myapp >"$T/app.out" 2>&1 &
      local apid=$!
      wait_for 5 curl -sf http://127.0.0.1:8080/healthz
      expect "myapp 1.0 /healthz" "$(curl -s -w ' %{http_code}' http://127.0.0.1:8080/healthz)" '^ok +200$'
      expect "myapp 1.0 /ready" "$(curl -s -w ' %{http_code}' http://127.0.0.1:8080/ready)" '^ok +200$'
      expect "myapp 1.0 /" "$(curl -s http://127.0.0.1:8080/)" '^myapp 1\.0$'
      expect "myapp 1.0 unknown path is 404" "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/nope)" '^404$'
      sleep 3.2
      local n
      n="$(wc -l <"$vol/app.log")"
      expect "myapp writes a line per second to /var/log/app/app.log ($n lines in ~3.5 s)" "$n" '^[345]$'
      expect "app.log line format" "$(head -n1 "$vol/app.log")" '^[0-9T:-]+Z myapp 1\.0 heartbeat 1$'
      wait_for 3 grep -q 'heartbeat 3$' "$T/fb.out"
      expect "fluent-bit prints app.log lines on stdout" "$(cat "$T/fb.out")" 'myapp 1\.0 heartbeat 1'
      echo "line from the test" >>"$vol/other.log"
      wait_for 4 grep -q 'line from the test' "$T/fb.out"
      expect "fluent-bit picks up a new *.log file" "$(cat "$T/fb.out")" 'line from the test'
      expect "fluent-bit prints only log lines on stdout" "$(grep -vcE 'heartbeat|line from the test' "$T/fb.out")" '^0$'
      expect "fluent-bit mount is read-only" "$(touch "$fb/var/log/app/x" 2>&1)" 'Read-only'
      kill -TERM "$apid" "$fbpid"
      wait_for 3 bash -c "! kill -0 $apid 2>/dev/null && ! kill -0 $fbpid 2>/dev/null" && ok "myapp and fluent-bit stop on SIGTERM" \
        || bad "myapp and fluent-bit stop on SIGTERM"
      expect "myapp's stdout" "$(cat "$T/app.out")" 'myapp 1\.0 starting'
      ;;
    uid1000)
      # manifest 05: myapp 2.0 as uid 1000, no volume at /var/log/app.
      local app="$T/myapp-2.0"
      prep_root "$app"
      env -i "$IMG_PATH" chroot --userspec=1000:1000 "$app" /usr/local/bin/myapp >"$T/app2.out" 2>&1 &
      local apid=$!
      wait_for 5 curl -sf http://127.0.0.1:8080/healthz
      expect "myapp 2.0 as uid 1000: /healthz" "$(curl -s -w ' %{http_code}' http://127.0.0.1:8080/healthz)" '^ok +200$'
      expect "myapp 2.0 as uid 1000: /" "$(curl -s http://127.0.0.1:8080/)" '^myapp 2\.0$'
      sleep 1.5
      expect "myapp 2.0 as uid 1000 writes app.log" "$(cat "$app/var/log/app/app.log" 2>&1)" 'myapp 2\.0 heartbeat 1'
      expect "myapp 2.0 runs as uid 1000" "$(ps -o uid= -p "$(pgrep -f 'httpd -f -p 8080' | head -n1)" 2>&1 | tr -d ' ')" '^1000$'
      kill -TERM "$apid"
      ;;
    metrics)
      # manifest 04: nginx with an emptyDir at /var/cache/nginx, and the exporter (started first: it must wait).
      local ng="$T/nginx-1.24" ex="$T/nginx-prometheus-exporter-0.11" cache="$T/vol-cache"
      prep_root "$ng"; prep_root "$ex"; mkdir -p "$cache"; mount --bind "$cache" "$ng/var/cache/nginx"
      env -i "$IMG_PATH" NGINX_RETRIES=30 NGINX_RETRY_INTERVAL=1s chroot "$ex" /usr/bin/nginx-prometheus-exporter \
        -nginx.scrape-uri=http://localhost:80/stub_status >"$T/ex.out" 2>&1 &
      local expid=$!
      sleep 1.5
      env -i "$IMG_PATH" chroot "$ng" /docker-entrypoint.sh nginx -g 'daemon off;' >"$T/ng.out" 2>"$T/ng.err" &
      local ngpid=$!
      wait_for 5 curl -sf http://127.0.0.1:80/
      expect "nginx serves /" "$(curl -s -w '%{http_code}' http://127.0.0.1:80/)" 'Welcome to nginx!.*200$'
      expect "nginx /stub_status" "$(curl -s http://127.0.0.1:80/stub_status)" '^Active connections: [0-9]+'
      wait_for 8 curl -sf http://127.0.0.1:9113/metrics
      expect "exporter on 9113 scrapes nginx (started before nginx)" "$(curl -s http://127.0.0.1:9113/metrics)" 'nginx_up 1'
      expect "exporter metrics" "$(curl -s http://127.0.0.1:9113/metrics)" 'nginx_connections_accepted [0-9]+'
      expect "nginx creates its temp dirs in the empty /var/cache/nginx" "$(ls "$cache")" 'client_temp'
      expect "nginx access log on stdout" "$(cat "$T/ng.out")" '"GET / HTTP/1.1" 200'
      expect "nginx error log on stderr" "$(cat "$T/ng.err")" 'start worker process'
      expect "nginx workers run as user nginx (uid 101)" "$(ps -o uid=,args= --ppid "$(pgrep -f 'nginx: master' | head -n1)" | head -n1)" '^ *101 nginx: worker'
      kill -QUIT "$ngpid"
      wait_for 5 bash -c "! kill -0 $ngpid 2>/dev/null" && ok "nginx stops on SIGQUIT" || bad "nginx stops on SIGQUIT"
      kill -TERM "$expid"
      ;;
    proxy)
      # manifest 03: nginx with the nginx-proxy-config configMap at /etc/nginx/conf.d, proxying to api-server.
      local ng="$T/nginx-1.24" api="$T/api-server-1.0" conf="$T/vol-conf"
      prep_root "$ng"; prep_root "$api"; mkdir -p "$conf"
      sed -n '/default.conf: |/,/^---/p' "$HERE/../seed/03-frontend-backend.yaml" | sed '1d;$d' | sed 's/^    //' >"$conf/default.conf"
      mount --bind "$conf" "$ng/etc/nginx/conf.d"
      env -i "$IMG_PATH" chroot "$api" /usr/local/bin/api-server >"$T/api.out" 2>&1 &
      env -i "$IMG_PATH" chroot "$ng" /docker-entrypoint.sh nginx -g 'daemon off;' >"$T/ng.out" 2>"$T/ng.err" &
      wait_for 5 curl -sf http://127.0.0.1:8080/
      expect "api-server /" "$(curl -s http://127.0.0.1:8080/)" 'api-server'
      wait_for 5 curl -sf http://127.0.0.1:80/
      expect "nginx with the configMap proxies to api-server" "$(curl -s http://127.0.0.1:80/)" '^api-server 1\.0$'
      expect "the configMap replaced default.conf (no /stub_status)" "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:80/stub_status)" '^404$'
      ;;
    busybox)
      local bb="$T/busybox-1.36"
      prep_root "$bb"
      expect "busybox: sh -c 'echo ... && sleep'" "$(env -i "$IMG_PATH" chroot "$bb" sh -c 'echo "Initializing..." && sleep 1 && echo done' | tr '\n' '|')" '^Initializing\.\.\.\|done\|$'
      expect "busybox: applets in /bin" "$(cd "$bb/bin" && ls sh sleep echo wget httpd cat tail 2>&1 | tr '\n' ' ')" '^cat echo httpd sh sleep tail wget +$'
      expect "busybox: /bin/sh is a symlink to busybox" "$(readlink "$bb/bin/sh")" '^busybox$'
      ;;
  esac
  # Returning ends this PID namespace's init, which ends every process started in the pod.
}

if [ "${1:-}" = __pod ]; then
  pod "$2" "$3"
  exit 0
fi

# ---- outside ------------------------------------------------------------------------------------------------------
OUT=""
BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT="$2"; shift 2 ;;
    --skip-build) BUILD=; shift ;;
    *) echo "usage: selftest.sh [--out DIR] [--skip-build]" >&2; exit 2 ;;
  esac
done
[ -n "$OUT" ] && export TEST_IMAGES_DIR="$OUT"
source "$HERE/lib.sh"
OUT="$DEFAULT_OUT"
pick_python
T="$(mktemp -d /tmp/skiff-images-selftest.XXXXXX)"
REGS=()
cleanup() {
  local r
  for r in "${REGS[@]}"; do "$HERE/registry.sh" stop "$r" >/dev/null 2>&1; done
  rm -rf "$T"
}
trap cleanup EXIT
free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
json() { "$PYTHON" -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
S=(--tls-verify=false)

export RESULTS="$T/results"
: >"$RESULTS"
  # 1. build
  if [ -n "$BUILD" ]; then
    s=$SECONDS
    if "$HERE/build.sh" >"$T/build1.log" 2>&1; then ok "build.sh ($((SECONDS - s)) s)"; else bad "build.sh" "$(tail -n 5 "$T/build1.log")"; fi
    s=$SECONDS
    "$HERE/build.sh" >"$T/build2.log" 2>&1
    expect "second build.sh run changes nothing ($((SECONDS - s)) s)" "$(grep -c ' built$' "$T/build2.log")" '^0$'
  fi

  # 2. push-all into an empty registry; compare with images.json
  D="$T/reg-plain"; P="$(free_port)"; REGS+=("$D")
  "$HERE/registry.sh" start "$D" "$P" >/dev/null && ok "registry starts"
  s=$SECONDS
  "$HERE/registry.sh" push-all "$D" "$P" 2>"$T/push.log" && ok "push-all ($((SECONDS - s)) s)" || bad "push-all" "$(tail -n3 "$T/push.log")"
  R="docker://127.0.0.1:$P"
  cfg="$(skopeo inspect "${S[@]}" --config "$R/library/nginx:1.24")"
  expect "nginx config Cmd" "$(echo "$cfg" | json 'd["config"]["Cmd"]')" "^\['nginx', '-g', 'daemon off;'\]$"
  expect "nginx config Entrypoint/ports/stop signal" "$(echo "$cfg" | json 'd["config"]["Entrypoint"], d["config"]["ExposedPorts"], d["config"]["StopSignal"]')" "^\\['/docker-entrypoint.sh'\\] \\{'80/tcp': \\{\\}\\} SIGQUIT$"
  expect "exporter Entrypoint" "$(skopeo inspect "${S[@]}" --config "$R/nginx/nginx-prometheus-exporter:0.11" | json 'd["config"]["Entrypoint"]')" "^\['/usr/bin/nginx-prometheus-exporter'\]$"
  raw="$(skopeo inspect "${S[@]}" --raw "$R/library/busybox:multi")"
  expect "busybox:multi is an index of linux/amd64 + linux/arm64" "$(echo "$raw" | json 'd["mediaType"], sorted(m["platform"]["architecture"] for m in d["manifests"])')" "index.v1\\+json \\['amd64', 'arm64'\\]$"
  expect "busybox:multi amd64 = busybox:1.36" "$(echo "$raw" | json '[m["digest"] for m in d["manifests"] if m["platform"]["architecture"]=="amd64"][0]')" "^$(skopeo inspect "${S[@]}" "$R/library/busybox:1.36" | json 'd["Digest"]')$"
  base=()
  for i in library/myapp:1.0 library/myapp:2.0 library/api-server:1.0 library/nginx:1.24 fluent/fluent-bit:2.0 library/busybox:1.36; do
    base+=("$(skopeo inspect "${S[@]}" --raw "$R/$i" | json 'd["layers"][0]["digest"]')")
  done
  expect "myapp, api-server, nginx, fluent-bit, busybox share the base layer blob" "$(printf '%s\n' "${base[@]}" | sort -u | wc -l)" '^1$'
  expect "myapp has two layers" "$(skopeo inspect "${S[@]}" --raw "$R/library/myapp:1.0" | json 'len(d["layers"])')" '^2$'
  mismatch=0
  while read -r ref digest; do
    got="$(skopeo inspect "${S[@]}" --raw "$R/$ref" | sha256sum | cut -d' ' -f1)"
    [ "sha256:$got" = "$digest" ] || { mismatch=1; echo "  $ref: registry has sha256:$got, images.json says $digest"; }
  done < <("$PYTHON" -c 'import json,sys; [print(i["ref"], i["digest"]) for i in json.load(open(sys.argv[1]))["images"]]' "$OUT/images.json")
  expect "pushed manifests keep the digests of images.json" "$mismatch" '^0$'
  D2="$T/reg-seed"; P2="$(free_port)"; REGS+=("$D2")
  "$HERE/registry.sh" start "$D2" "$P2" --seed "$OUT/registry-seed" >/dev/null
  expect "a --seed registry serves the images" "$(curl -s -o /dev/null -w '%{http_code} ' -H 'Accept: application/vnd.oci.image.index.v1+json' "http://127.0.0.1:$P2/v2/library/busybox/manifests/multi")$(curl -sI -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://127.0.0.1:$P2/v2/library/nginx/manifests/1.24" | grep -i docker-content-digest | tr -d '\r')" "^200 Docker-Content-Digest: $(json '[i["digest"] for i in d["images"] if i["ref"]=="library/nginx:1.24"][0]' <"$OUT/images.json")$"
  expect "blobs are served" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P2/v2/library/myapp/blobs/${base[0]}")" '^200$'

  # 3. basic auth, token auth
  D3="$T/reg-basic"; P3="$(free_port)"; REGS+=("$D3")
  "$HERE/registry.sh" start "$D3" "$P3" --htpasswd alice:s3cret --htpasswd bob:hunter2 --seed "$OUT/registry-seed" >/dev/null
  U="http://127.0.0.1:$P3/v2/library/busybox/manifests/1.36"
  A='Accept: application/vnd.oci.image.manifest.v1+json'
  expect "basic: anonymous 401 with a Basic challenge" "$(curl -s -D - -o /dev/null -H "$A" "$U" | tr -d '\r' | grep -iE '^HTTP|^www-auth' | tr '\n' ' ')" '401 .*Www-Authenticate: Basic realm="skiff-test-registry"'
  expect "basic: wrong password 401" "$(curl -s -o /dev/null -w '%{http_code}' -u alice:wrong -H "$A" "$U")" '^401$'
  expect "basic: right password 200" "$(curl -s -o /dev/null -w '%{http_code}' -u alice:s3cret -H "$A" "$U")$(curl -s -o /dev/null -w '%{http_code}' -u bob:hunter2 -H "$A" "$U")" '^200200$'
  skopeo inspect "${S[@]}" --no-creds "docker://127.0.0.1:$P3/library/busybox:1.36" >/dev/null 2>&1 && bad "basic: skopeo without creds is refused" || ok "basic: skopeo without creds is refused"
  skopeo inspect "${S[@]}" --creds alice:s3cret "docker://127.0.0.1:$P3/library/busybox:1.36" >/dev/null 2>&1 && ok "basic: skopeo with creds" || bad "basic: skopeo with creds"
  "$HERE/registry.sh" push "$D3" "$P3" "$OUT/oci/myapp-1.0" private/app:1 alice:s3cret 2>/dev/null && ok "basic: push with creds" || bad "basic: push with creds"

  D4="$T/reg-token"; P4="$(free_port)"; TP="$(free_port)"; REGS+=("$D4")
  "$HERE/registry.sh" start "$D4" "$P4" --htpasswd alice:s3cret --token "http://127.0.0.1:$TP/token" --seed "$OUT/registry-seed" >/dev/null
  U="http://127.0.0.1:$P4/v2/library/nginx/manifests/1.24"
  ch="$(curl -s -D - -o /dev/null -H "$A" "$U" | tr -d '\r' | grep -iE '^HTTP|^www-auth' | tr '\n' ' ')"
  expect "token: anonymous 401 with a Bearer challenge" "$ch" "401 .*Www-Authenticate: Bearer realm=\"http://127.0.0.1:$TP/token\",service=\"skiff-test-registry\",scope=\"repository:library/nginx:pull\""
  TU="http://127.0.0.1:$TP/token?service=skiff-test-registry&scope=repository:library/nginx:pull"
  tok="$(curl -s "$TU" | json 'd["token"]')"
  expect "token: an anonymous token is refused (insufficient_scope)" "$(curl -s -D - -o /dev/null -H "Authorization: Bearer $tok" -H "$A" "$U" | tr -d '\r' | grep -iE '^HTTP|^www-auth' | tr '\n' ' ')" '401 .*error="insufficient_scope"'
  expect "token: wrong password 401 at the token server" "$(curl -s -o /dev/null -w '%{http_code}' -u alice:wrong "$TU")" '^401$'
  body="$(curl -s -u alice:s3cret "$TU")"
  expect "token: response has token, access_token, expires_in" "$(echo "$body" | json 'sorted(k for k in d if k != "issued_at"), d["token"]==d["access_token"]')" "^\\['access_token', 'expires_in', 'token'\\] True$"
  tok="$(echo "$body" | json 'd["token"]')"
  expect "token: right password's token is accepted (200)" "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" -H "$A" "$U")" '^200$'
  expect "token: that token is scoped to library/nginx" "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" -H "$A" "http://127.0.0.1:$P4/v2/library/busybox/manifests/1.36")" '^401$'
  ptok="$(curl -s -d "grant_type=password&username=alice&password=s3cret&client_id=t&service=skiff-test-registry&scope=repository:library/nginx:pull" "http://127.0.0.1:$TP/token" | json 'd["access_token"]')"
  expect "token: OAuth2 POST password grant" "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ptok" -H "$A" "$U")" '^200$'
  skopeo inspect "${S[@]}" --creds alice:s3cret "docker://127.0.0.1:$P4/library/nginx:1.24" >/dev/null 2>&1 && ok "token: skopeo with creds" || bad "token: skopeo with creds"
  "$HERE/registry.sh" push "$D4" "$P4" "$OUT/oci/api-server-1.0" team/api:1 alice:s3cret 2>/dev/null && ok "token: push with creds" || bad "token: push with creds"
  for r in "${REGS[@]}"; do "$HERE/registry.sh" stop "$r"; done
  REGS=()

  # 4. behaviour, from the OCI layouts (unpacked as a runtime would)
  for i in myapp-1.0 myapp-2.0 fluent-bit-2.0 nginx-1.24 nginx-prometheus-exporter-0.11 api-server-1.0 busybox-1.36; do
    "$PYTHON" "$HERE/mkimage.py" unpack "$OUT/oci/$i" "$T/unpacked/$i" >/dev/null
  done
  for pod in logging uid1000 metrics proxy busybox; do
    mkdir -p "$T/pods" && cp -a "$T/unpacked" "$T/pods/$pod"
    unshare --net --mount --pid --fork --kill-child --mount-proc bash "$HERE/selftest.sh" __pod "$pod" "$T/pods/$pod"
  done

passed="$(grep -c '^PASS' "$RESULTS")"
failed="$(grep -c '^FAIL' "$RESULTS")"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
