#!/bin/sh
# Stand-in for fluent-bit in the skiff test image fluent/fluent-bit:2.0: follows every file matching
# $LOG_GLOB (default /var/log/app/*.log), waiting for files to appear (new ones are picked up every second), and
# prints each of their lines on stdout, from each file's first line on. Only reads (the mount may be read-only).
# Arguments (the official image's "-c /fluent-bit/etc/fluent-bit.conf") are accepted and ignored.
GLOB="${LOG_GLOB:-/var/log/app/*.log}"
echo "[fluent-bit stand-in] following $GLOB" >&2

seen=" "
pids=
trap 'kill $pids 2>/dev/null; exit 0' TERM INT
while :; do
  for f in $GLOB; do
    [ -f "$f" ] || continue
    case "$seen" in *" $f "*) continue ;; esac
    seen="$seen$f "
    echo "[fluent-bit stand-in] tailing $f" >&2
    tail -n +1 -F "$f" &
    pids="$pids $!"
  done
  sleep 1 &
  wait $!
done
