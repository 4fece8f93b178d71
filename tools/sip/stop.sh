#!/bin/bash
# stop.sh - stop a SIP proxy started by tools/sip/start.sh (the relay's stop.sh does the work:
# both run one kamailio in its own process group with a pid file in its runtime directory).
#
# Usage: tools/sip/stop.sh [PIDFILE|RUNDIR] [--clean]      (else $SIP_PIDFILE)
# Environment: RELAY_STOP_TIMEOUT seconds after SIGTERM before SIGKILL (default 5).
here=$(cd "$(dirname "$0")" && pwd)
target=""
for a in "$@"; do
    [ "$a" = "--clean" ] || target=$a
done
if [ -z "$target" ]; then
    [ -n "${SIP_PIDFILE:-}" ] || { echo "usage: stop.sh PIDFILE|RUNDIR [--clean]" >&2; exit 2; }
    set -- "$SIP_PIDFILE" "$@"
fi
exec "$here/../relay/stop.sh" "$@"
