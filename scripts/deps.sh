#!/usr/bin/env bash
# Installs (apt, by package name) what skiff needs at build and run time on a fresh Debian 12 machine: a C
# toolchain for crates with build scripts, nftables (the pod network), util-linux and curl (used by tests and
# scripts), skopeo and attr (test images). Sourced by scripts/run.sh and scripts/test.sh.
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
