#!/usr/bin/env bash
# The whole test suite, from a clean clone on a fresh Debian 12 machine: installs what it needs, then runs
# formatting, lint and every test (unit + integration against the real binary with the real kubectl).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v cc >/dev/null || need_apt+=(build-essential)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
command -v getfattr >/dev/null || need_apt+=(attr)
command -v skopeo >/dev/null || need_apt+=(skopeo)
command -v nft >/dev/null || need_apt+=(nftables)
command -v ping >/dev/null || need_apt+=(iputils-ping)
command -v curl >/dev/null || need_apt+=(curl)
command -v nsenter >/dev/null || need_apt+=(util-linux)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi
if [ ! -x /usr/bin/kubectl ]; then
  echo "kubectl 1.32 is expected at /usr/bin/kubectl on this machine kind" >&2
  exit 1
fi
python3 -m pip install -q --disable-pip-version-check 'kubernetes>=32,<33' 2>&1 | grep -v 'as the .root. user' || true

# Test images from Debian packages, served by local registries in the image tests (tests/images/README.md).
bash tests/images/build.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace
