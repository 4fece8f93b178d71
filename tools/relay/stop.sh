#!/bin/bash
# stop.sh - stop a relay started by tools/relay/start.sh.
#
# Usage: tools/relay/stop.sh [PIDFILE|RUNDIR] [--clean]
#   PIDFILE|RUNDIR  the RELAY_PIDFILE (or RELAY_DIR) start.sh printed (else $RELAY_PIDFILE)
#   --clean         remove the runtime directory afterwards (log included)
# Environment: RELAY_STOP_TIMEOUT seconds to wait after SIGTERM (default 5) before SIGKILL.
#
# Sends SIGTERM to the main kamailio process (it stops its workers), waits until every
# process of its process group is gone, then SIGKILLs the group if the bound passed.
# Exit 0 when nothing of it runs any more (also when it was not running).
set -u

clean=""
target=""
for a in "$@"; do
    case "$a" in
        --clean) clean=1 ;;
        *) target=$a ;;
    esac
done
target=${target:-${RELAY_PIDFILE:-}}
[ -n "$target" ] || { echo "usage: stop.sh PIDFILE|RUNDIR [--clean]" >&2; exit 2; }
if [ -d "$target" ]; then
    dir=$(cd "$target" && pwd)
    pidfile="$dir/kamailio.pid"
else
    pidfile=$target
    dir=$(cd "$(dirname "$pidfile")" && pwd)
fi
timeout=${RELAY_STOP_TIMEOUT:-5}

# live (non-zombie) processes in process group $1
group_alive() {
    ps -eo pgid=,stat= 2>/dev/null | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { n++ } END { exit n ? 0 : 1 }'
}
# live (non-zombie) process $1
proc_alive() {
    local st
    st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    case "$st" in Z*|"") return 1 ;; esac
    return 0
}

if [ ! -s "$pidfile" ]; then
    echo "stop.sh: no pid file $pidfile (not running?)" >&2
    [ -n "$clean" ] && rm -rf "$dir"
    exit 0
fi
pid=$(cat "$pidfile")
case "$pid" in ''|*[!0-9]*) echo "stop.sh: bad pid file $pidfile" >&2; exit 1 ;; esac

if proc_alive "$pid"; then
    comm=$(ps -o comm= -p "$pid" 2>/dev/null || true)
    if [ "$comm" != "kamailio" ]; then
        echo "stop.sh: pid $pid is '$comm', not kamailio; not touching it" >&2
        exit 1
    fi
    pgid=$(ps -o pgid= -p "$pid" | tr -d ' ')
    kill -TERM "$pid" 2>/dev/null || true
    waited=0
    while :; do
        if [ "$pgid" = "$pid" ]; then group_alive "$pgid" || break
        else proc_alive "$pid" || break
        fi
        if [ "$waited" -ge $((timeout * 10)) ]; then
            echo "stop.sh: kamailio $pid still running after ${timeout}s, sending SIGKILL" >&2
            if [ "$pgid" = "$pid" ]; then
                kill -KILL -- "-$pgid" 2>/dev/null || true
            else
                pkill -KILL -P "$pid" 2>/dev/null || true
                kill -KILL "$pid" 2>/dev/null || true
            fi
            sleep 0.5
            break
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
fi

rm -f "$pidfile" "$dir/kamailio_ctl"
if [ -n "$clean" ]; then
    rm -rf "$dir"
fi
exit 0
