#!/bin/sh
# Entrypoint of the skiff test image nginx:1.24: like the official image's, it only announces itself when the
# command is nginx, then execs the command (so nginx runs as PID 1 of the container and gets its signals).
set -e
case "$1" in
  nginx|nginx-debug)
    echo "/docker-entrypoint.sh: Configuration complete; ready for start up"
    ;;
esac
exec "$@"
