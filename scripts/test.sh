#!/usr/bin/env bash
# The whole test suite, from a clean clone on a fresh Debian 12 machine: installs what it needs, then runs
# formatting, lint and every test (unit + integration against the real binary with the real kubectl).
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/deps.sh
python3 -m pip install -q --disable-pip-version-check 'kubernetes>=32,<33' 2>&1 | grep -v 'as the .root. user' || true

# Test images from Debian packages, served by local registries in the image tests (tests/images/README.md).
bash tests/images/build.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace
