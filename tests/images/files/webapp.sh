#!/bin/sh
# @NAME@ @VERSION@: stand-in application of the skiff test images (busybox sh + busybox httpd, no root needed).
#   HTTP on :${PORT:-8080}: /healthz and /ready answer 200 "ok", / answers "@NAME@ @VERSION@".
#   When @LOGFILE@ is set, appends one line per second to it (its directory is created if missing; if it
#   cannot be written, the app says so on stderr once and keeps serving).
# Works as any uid: the docroot /app/www is world-readable and nothing else is written.
NAME="@NAME@"
VERSION="@VERSION@"
LOGFILE="${APP_LOG_FILE-@LOGFILE@}"
PORT="${PORT:-8080}"

echo "$NAME $VERSION starting: http on :$PORT, uid $(id -u), log file ${LOGFILE:-none}"

LOGGER=
if [ -n "$LOGFILE" ]; then
  mkdir -p "$(dirname "$LOGFILE")" 2>/dev/null
  if touch "$LOGFILE" 2>/dev/null; then
    (
      trap 'exit 0' TERM INT
      i=0
      while :; do
        i=$((i + 1))
        echo "$(date -u '+%Y-%m-%dT%H:%M:%SZ') $NAME $VERSION heartbeat $i" >>"$LOGFILE"
        sleep 1
      done
    ) &
    LOGGER=$!
  else
    echo "$NAME: cannot write $LOGFILE; not logging to a file" >&2
  fi
fi

httpd -f -p "$PORT" -h /app/www &
HTTPD=$!

trap 'echo "$NAME $VERSION stopping"; kill $HTTPD $LOGGER 2>/dev/null; exit 0' TERM INT
wait $HTTPD
status=$?
echo "$NAME: httpd exited with status $status" >&2
[ -n "$LOGGER" ] && kill $LOGGER 2>/dev/null
exit $status
