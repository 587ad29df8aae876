#!/usr/bin/env bash
# Builds skiff's test images from Debian packages as OCI image layouts, and a registry storage holding them all.
#
#   tests/images/build.sh [--out DIR] [--no-seed]
#
# DIR (default target/test-images, or $TEST_IMAGES_DIR) receives:
#   oci/<name>/            one OCI image layout per image (skopeo: oci:DIR/oci/<name>)
#   images.tsv             "<layout dir> <repo:tag>" per line: what `registry.sh push-all` pushes
#   images.json            the same with manifest digests, layer digests and sizes
#   registry-seed/         docker-registry storage with every image of images.tsv already pushed
#                          (`registry.sh start ... --seed DIR/registry-seed`), unless --no-seed
#   debs/ work/ cache/ tools/   downloaded .debs, staging rootfs trees, the layer cache, the extracted registry
#
# Idempotent: .debs are downloaded once, layers are cached by content and an unchanged layout is left as it is, so
# a second run only re-stages the small rootfs trees (a few seconds). See README.md beside this file.
set -euo pipefail
umask 022
export LC_ALL=C
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

OUT="$DEFAULT_OUT"
SEED=1
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT="$2"; shift 2 ;;
    --no-seed) SEED=; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (usage: build.sh [--out DIR] [--no-seed])" ;;
  esac
done
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
export TEST_IMAGES_DIR="$OUT"
W="$OUT/work/rootfs"
F="$IMAGES_SRC/files"
SECONDS=0

# ---- tools and packages -------------------------------------------------------------------------------------------
pick_python
need_cmd skopeo skopeo
need_cmd curl curl
need_cmd openssl openssl
need_cmd htpasswd apache2-utils
# Only downloaded and unpacked under $OUT, never installed: their postinst scripts would start services.
apt_download "$OUT/debs" busybox-static nginx nginx-common prometheus-nginx-exporter docker-registry
BB_TREE="$(deb_tree "$OUT" busybox-static)"
NGINX_TREE="$(deb_tree "$OUT" nginx)"
NGINX_COMMON_TREE="$(deb_tree "$OUT" nginx-common)"
EXPORTER_TREE="$(deb_tree "$OUT" prometheus-nginx-exporter)"
deb_version() { dpkg-deb -f "$(compgen -G "$OUT/debs/${1}_*.deb" | sort | tail -n1)" Version; }

# copy_with_libs ROOTFS BINARY DEST: copies BINARY to ROOTFS/DEST and every shared library it needs (resolved by ldd
# on this host, glibc included) to the same path inside ROOTFS.
copy_with_libs() {
  local root="$1" bin="$2" dest="$3" line lib
  install -D -m 0755 "$bin" "$root$dest"
  if ldd "$bin" 2>&1 | grep -q 'not found'; then
    # The libraries nginx and the exporter link against; installing them starts nothing.
    apt_install libc6 libcrypt1 libpcre2-8-0 libssl3 zlib1g
  fi
  while read -r line; do
    case "$line" in
      *"not found"*) die "$bin: $line" ;;
      *"=> /"*) lib="${line#*=> }"; lib="${lib%% (*}" ;;
      /*) lib="${line%% (*}" ;;
      *) continue ;;
    esac
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
    chmod 0755 "$root$lib"
  done < <(ldd "$bin")
}

fresh() { rm -rf "${W:?}/${1:?}"; mkdir -p "$W/$1"; echo "$W/$1"; }

# ---- rootfs trees -------------------------------------------------------------------------------------------------
# busybox base: the one layer that busybox, nginx, myapp, api-server, fluent-bit and whiteout all start from.
r="$(fresh busybox-base)"
mkdir -p "$r"/{bin,etc,home,root,tmp,usr/bin,usr/sbin,var/spool/mail,var/www}
install -m 0755 "$BB_TREE/bin/busybox" "$r/bin/busybox"
for applet in $("$r/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$r/bin/$applet"
done
install -m 0644 "$F/busybox/passwd" "$r/etc/passwd"
install -m 0644 "$F/busybox/group" "$r/etc/group"
chmod 0700 "$r/root"
chmod 1777 "$r/tmp"
BUSYBOX_VERSION="$(deb_version busybox-static)"

# busybox for arm64 stand-in: a different small image that only says what it is.
r="$(fresh busybox-arm64)"
mkdir -p "$r/etc"
echo arm64 >"$r/etc/arch"
echo "stand-in linux/arm64 image of library/busybox:multi (skiff tests); it holds no binaries" >"$r/README"

# nginx layer, on top of the busybox base.
r="$(fresh nginx)"
copy_with_libs "$r" "$NGINX_TREE/usr/sbin/nginx" /usr/sbin/nginx
install -D -m 0644 "$F/nginx/nginx.conf" "$r/etc/nginx/nginx.conf"
install -D -m 0644 "$F/nginx/default.conf" "$r/etc/nginx/conf.d/default.conf"
for f in mime.types fastcgi_params scgi_params uwsgi_params; do
  install -m 0644 "$NGINX_COMMON_TREE/etc/nginx/$f" "$r/etc/nginx/$f"
done
install -D -m 0644 "$F/nginx/index.html" "$r/usr/share/nginx/html/index.html"
install -m 0644 "$F/nginx/50x.html" "$r/usr/share/nginx/html/50x.html"
{ cat "$F/busybox/passwd"; echo "nginx:x:101:101:nginx user:/nonexistent:/bin/false"; } >"$r/etc/passwd"
{ cat "$F/busybox/group"; echo "nginx:x:101:"; } >"$r/etc/group"
install -m 0644 "$F/nginx/hosts" "$r/etc/hosts"
install -m 0644 "$F/nginx/nsswitch.conf" "$r/etc/nsswitch.conf"
chmod 0644 "$r/etc/passwd" "$r/etc/group"
mkdir -p "$r/var/log/nginx" "$r/var/cache/nginx" "$r/run" "$r/docker-entrypoint.d"
ln -s /dev/stdout "$r/var/log/nginx/access.log"
ln -s /dev/stderr "$r/var/log/nginx/error.log"
ln -s /run "$r/var/run"
install -m 0755 "$F/nginx/docker-entrypoint.sh" "$r/docker-entrypoint.sh"
NGINX_VERSION="$(deb_version nginx)"
NGINX_VERSION="${NGINX_VERSION%%-*}"

# webapp LAYER NAME VERSION LOGFILE BODY: a busybox-httpd app layer (myapp, api-server).
webapp() {
  local r
  r="$(fresh "$1")"
  mkdir -p "$r/usr/local/bin" "$r/app/www"
  sed -e "s|@NAME@|$2|g" -e "s|@VERSION@|$3|g" -e "s|@LOGFILE@|$4|g" "$F/webapp.sh" >"$r/usr/local/bin/$2"
  chmod 0755 "$r/usr/local/bin/$2"
  printf '%s\n' "$5" >"$r/app/www/index.html"
  echo ok >"$r/app/www/healthz"
  echo ok >"$r/app/www/ready"
  chmod 0644 "$r/app/www/"*
  if [ -n "$4" ]; then
    mkdir -p "$r$(dirname "$4")"
    chmod 1777 "$r$(dirname "$4")"
  fi
}
webapp myapp-1.0 myapp 1.0 /var/log/app/app.log "myapp 1.0"
webapp myapp-2.0 myapp 2.0 /var/log/app/app.log "myapp 2.0"
webapp api-server-1.0 api-server 1.0 "" "api-server 1.0"

# fluent-bit stand-in.
r="$(fresh fluent-bit)"
install -D -m 0755 "$F/fluent-bit.sh" "$r/fluent-bit/bin/fluent-bit"
install -D -m 0644 "$F/fluent-bit.conf" "$r/fluent-bit/etc/fluent-bit.conf"

# nginx-prometheus-exporter: the exporter binary and its libraries, FROM scratch like the official image. Unlike the
# official image, its config sets NGINX_RETRIES=30 and NGINX_RETRY_INTERVAL=1s, so that an exporter started before the
# pod's nginx listens waits for it (up to 30 s) instead of exiting at once and being restarted.
r="$(fresh exporter)"
copy_with_libs "$r" "$EXPORTER_TREE/usr/bin/prometheus-nginx-exporter" /usr/bin/nginx-prometheus-exporter
ln -s nginx-prometheus-exporter "$r/usr/bin/prometheus-nginx-exporter"
mkdir -p "$r/etc" "$r/tmp"
chmod 1777 "$r/tmp"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' >"$r/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
install -m 0644 "$F/nginx/hosts" "$r/etc/hosts"
install -m 0644 "$F/nginx/nsswitch.conf" "$r/etc/nsswitch.conf"
EXPORTER_VERSION="$(deb_version prometheus-nginx-exporter)"

# whiteout: two layers over the base; the second deletes a file (.wh.a) and makes a directory opaque (.wh..wh..opq).
r="$(fresh whiteout-1)"
mkdir -p "$r/data/dir/sub"
echo a >"$r/data/a"; echo b >"$r/data/b"; echo x >"$r/data/dir/x"; echo y >"$r/data/dir/sub/y"
ln -s b "$r/data/link-to-b"
r="$(fresh whiteout-2)"
mkdir -p "$r/data/dir"
: >"$r/data/.wh.a"
: >"$r/data/dir/.wh..wh..opq"
echo c >"$r/data/c"; echo z >"$r/data/dir/z"

# ---- images -------------------------------------------------------------------------------------------------------
PATH_ENV="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
RESULTS="$OUT/work/results.jsonl"
: >"$RESULTS"
: >"$OUT/images.tsv.new"

# image NAME TAGS CONFIG-JSON [mkimage args...]: builds OUT/oci/NAME and lists it under each of TAGS (space-separated).
image() {
  local name="$1" tags="$2" config="$3"
  shift 3
  "$PYTHON" "$IMAGES_SRC/mkimage.py" image --out "$OUT/oci/$name" --ref latest --cache "$OUT/cache" \
    --config "$config" "$@" | tee -a "$RESULTS" | "$PYTHON" -c '
import json, sys
r = json.load(sys.stdin)
print("  %-32s %s %s" % (sys.argv[1], r["digest"][:19], "built" if r["changed"] else "unchanged"))' "$name" >&2
  for t in $tags; do echo "oci/$name $t" >>"$OUT/images.tsv.new"; done
}
BASE=(--layer "$W/busybox-base" --comment "busybox $BUSYBOX_VERSION (Debian busybox-static): /bin/busybox and applet symlinks")

log "building images in $OUT/oci"
image busybox-1.36 "library/busybox:1.36 library/busybox:latest" \
  "{\"Env\":[\"$PATH_ENV\"],\"Cmd\":[\"sh\"]}" "${BASE[@]}"
image busybox-arm64 "" \
  "{\"Env\":[\"$PATH_ENV\"],\"Cmd\":[\"sh\"]}" --arch arm64 --variant v8 \
  --layer "$W/busybox-arm64" --comment "arm64 stand-in: /etc/arch"
"$PYTHON" "$IMAGES_SRC/mkimage.py" index --out "$OUT/oci/busybox-multi" --ref latest --cache "$OUT/cache" \
  --image "$OUT/oci/busybox-1.36:latest" --image "$OUT/oci/busybox-arm64:latest" >>"$RESULTS"
echo "oci/busybox-multi library/busybox:multi" >>"$OUT/images.tsv.new"
log "  busybox-multi (index: amd64 + arm64)"
image nginx-1.24 "library/nginx:1.24 library/nginx:latest" \
  "{\"Env\":[\"$PATH_ENV\",\"NGINX_VERSION=$NGINX_VERSION\"],\"Entrypoint\":[\"/docker-entrypoint.sh\"],\"Cmd\":[\"nginx\",\"-g\",\"daemon off;\"],\"ExposedPorts\":{\"80/tcp\":{}},\"StopSignal\":\"SIGQUIT\",\"Labels\":{\"maintainer\":\"skiff tests (Debian nginx $NGINX_VERSION)\"}}" \
  "${BASE[@]}" --layer "$W/nginx" --comment "nginx $NGINX_VERSION (Debian nginx) with its libraries, official-image layout"
for v in 1.0 2.0; do
  image "myapp-$v" "library/myapp:$v" \
    "{\"Env\":[\"$PATH_ENV\",\"APP_VERSION=$v\"],\"Cmd\":[\"/usr/local/bin/myapp\"],\"WorkingDir\":\"/app\",\"ExposedPorts\":{\"8080/tcp\":{}}}" \
    "${BASE[@]}" --layer "$W/myapp-$v" --comment "myapp $v: busybox httpd on :8080, heartbeat to /var/log/app/app.log"
done
image api-server-1.0 "library/api-server:1.0" \
  "{\"Env\":[\"$PATH_ENV\"],\"Cmd\":[\"/usr/local/bin/api-server\"],\"WorkingDir\":\"/app\",\"ExposedPorts\":{\"8080/tcp\":{}}}" \
  "${BASE[@]}" --layer "$W/api-server-1.0" --comment "api-server 1.0: busybox httpd on :8080"
image fluent-bit-2.0 "fluent/fluent-bit:2.0" \
  "{\"Env\":[\"$PATH_ENV\"],\"Entrypoint\":[\"/fluent-bit/bin/fluent-bit\"],\"Cmd\":[\"-c\",\"/fluent-bit/etc/fluent-bit.conf\"],\"ExposedPorts\":{\"2020/tcp\":{}}}" \
  "${BASE[@]}" --layer "$W/fluent-bit" --comment "fluent-bit stand-in: prints the lines of /var/log/app/*.log"
image nginx-prometheus-exporter-0.11 "nginx/nginx-prometheus-exporter:0.11" \
  "{\"Env\":[\"$PATH_ENV\",\"NGINX_RETRIES=30\",\"NGINX_RETRY_INTERVAL=1s\"],\"Entrypoint\":[\"/usr/bin/nginx-prometheus-exporter\"],\"ExposedPorts\":{\"9113/tcp\":{}},\"Labels\":{\"maintainer\":\"skiff tests (Debian prometheus-nginx-exporter $EXPORTER_VERSION)\"}}" \
  --layer "$W/exporter" --comment "prometheus-nginx-exporter $EXPORTER_VERSION (Debian) with its libraries"
image whiteout-1.0 "library/whiteout:1.0" \
  "{\"Env\":[\"$PATH_ENV\"],\"Cmd\":[\"sh\"]}" \
  "${BASE[@]}" --layer "$W/whiteout-1" --comment "adds /data/{a,b,link-to-b,dir/x,dir/sub/y}" \
  --layer "$W/whiteout-2" --comment "deletes /data/a, makes /data/dir opaque, adds /data/c and /data/dir/z"

# images.json: what images.tsv lists, with digests and sizes.
"$PYTHON" - "$OUT" "$RESULTS" <<'EOF'
import json, os, sys
out, results = sys.argv[1], sys.argv[2]
by_layout = {}
for line in open(results):
    r = json.loads(line)
    by_layout[os.path.relpath(r["layout"], out)] = r
images = []
for line in open(os.path.join(out, "images.tsv.new")):
    layout, ref = line.split()
    r = by_layout[layout]
    entry = {"ref": ref, "layout": layout, "mediaType": r["mediaType"], "digest": r["digest"]}
    if "layers" in r:
        entry.update(config_digest=r["config_digest"], layers=[l["digest"] for l in r["layers"]], size=r["size"])
    else:
        entry["manifests"] = [{"digest": m["digest"], "platform": m["platform"]} for m in r["manifests"]]
    images.append(entry)
with open(os.path.join(out, "images.json.new"), "w") as f:
    json.dump({"images": images}, f, indent=2, sort_keys=True)
    f.write("\n")
EOF
mv "$OUT/images.tsv.new" "$OUT/images.tsv"
mv "$OUT/images.json.new" "$OUT/images.json"

# ---- registry seed: a docker-registry storage with everything pushed -----------------------------------------------
if [ -n "$SEED" ]; then
  want="$(sha256sum "$OUT/images.json" | cut -d' ' -f1)"
  if [ "$(cat "$OUT/registry-seed/.images.json.sha256" 2>/dev/null)" != "$want" ]; then
    log "pushing every image into a fresh registry storage ($OUT/registry-seed)"
    tmp="$OUT/work/seed-registry"
    "$IMAGES_SRC/registry.sh" stop "$tmp" 2>/dev/null || true
    rm -rf "$tmp"
    port="$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    "$IMAGES_SRC/registry.sh" start "$tmp" "$port" >/dev/null
    trap '"$IMAGES_SRC/registry.sh" stop "$tmp" >/dev/null 2>&1 || true' EXIT
    "$IMAGES_SRC/registry.sh" push-all "$tmp" "$port" --images "$OUT"
    "$IMAGES_SRC/registry.sh" stop "$tmp" >/dev/null
    trap - EXIT
    rm -rf "$OUT/registry-seed"
    find "$tmp/data" -type d -name _uploads -prune -exec rm -rf {} +
    mv "$tmp/data" "$OUT/registry-seed"
    echo "$want" >"$OUT/registry-seed/.images.json.sha256"
    rm -rf "$tmp"
  fi
fi

log "done in ${SECONDS}s: $(wc -l <"$OUT/images.tsv") image tags listed in $OUT/images.tsv"
