# Shared by build.sh and registry.sh (sourced, not run).
# shellcheck shell=bash

IMAGES_SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$IMAGES_SRC/../.." && pwd)"
DEFAULT_OUT="${TEST_IMAGES_DIR:-$REPO_ROOT/target/test-images}"

log() { echo "[test-images] $*" >&2; }
die() { echo "[test-images] error: $*" >&2; exit 1; }

APT_UPDATED=
apt_update_once() {
  if [ -z "$APT_UPDATED" ]; then
    log "apt-get update"
    apt-get update -qq >&2 || die "apt-get update failed"
    APT_UPDATED=1
  fi
}

# apt_install PKG...: installs the packages that are not installed yet (none of those used here starts a service).
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; then
    apt_update_once
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 \
      || die "apt-get install ${missing[*]} failed"
  fi
}

# need_cmd CMD PKG: installs PKG unless CMD is on PATH.
need_cmd() { command -v "$1" >/dev/null 2>&1 || apt_install "$2"; }

# Debian's python3 first (the scripts use the stdlib only, any python3 >= 3.9 does).
pick_python() {
  if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else need_cmd python3 python3; PYTHON="$(command -v python3)"; fi
}

# apt_download DIR PKG...: leaves PKG_*.deb for each package in DIR, downloading those not there yet.
apt_download() {
  local dir="$1" p missing=()
  shift
  mkdir -p "$dir"
  for p in "$@"; do
    compgen -G "$dir/${p}_*.deb" >/dev/null || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get download ${missing[*]}"
  if ! (cd "$dir" && apt-get download "${missing[@]}" >/dev/null 2>"$dir/.download.err"); then
    apt_update_once
    (cd "$dir" && apt-get download "${missing[@]}" >/dev/null 2>"$dir/.download.err") \
      || { cat "$dir/.download.err" >&2; die "apt-get download ${missing[*]} failed"; }
  fi
  rm -f "$dir/.download.err"
}

# deb_tree OUT PKG: extracts the downloaded PKG_*.deb into OUT/work/deb/PKG (once per .deb) and prints that path.
deb_tree() {
  local out="$1" pkg="$2" deb dst
  deb="$(compgen -G "$out/debs/${pkg}_*.deb" | sort | tail -n1)"
  [ -n "$deb" ] || die "no .deb for $pkg in $out/debs"
  dst="$out/work/deb/$pkg"
  if [ "$(cat "$dst.stamp" 2>/dev/null)" != "$(basename "$deb")" ]; then
    rm -rf "$dst"
    mkdir -p "$dst"
    dpkg-deb -x "$deb" "$dst"
    basename "$deb" >"$dst.stamp"
  fi
  echo "$dst"
}

# The docker-registry binary: $DOCKER_REGISTRY, else /usr/bin/docker-registry when the package is installed, else the
# binary of Debian's docker-registry package extracted under OUT/tools (so that no registry service is installed
# and started on the host by the package's init script).
docker_registry_bin() {
  local out="${1:-$DEFAULT_OUT}"
  if [ -n "${DOCKER_REGISTRY:-}" ]; then echo "$DOCKER_REGISTRY"; return; fi
  if [ -x /usr/bin/docker-registry ]; then echo /usr/bin/docker-registry; return; fi
  local bin="$out/tools/docker-registry"
  if [ ! -x "$bin" ]; then
    apt_download "$out/debs" docker-registry
    local tree
    tree="$(deb_tree "$out" docker-registry)"
    mkdir -p "$out/tools"
    cp "$tree/usr/bin/docker-registry" "$bin.tmp" && mv "$bin.tmp" "$bin"
  fi
  echo "$bin"
}
