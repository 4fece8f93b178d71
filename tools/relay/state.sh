#!/bin/bash
# state.sh - the scripted Kamailio relay's state as `name value` lines, for
# `msrpload run --relay-state 'tools/relay/state.sh'` (README "Leak checks on the relay").
#
# Usage: tools/relay/state.sh [CTL [PIDFILE]]
#
#   CTL      the relay's binrpc control socket (else $RELAY_CTL, as start.sh prints it:
#            unix:/tmp/msrpload-relay.XXXXXX/kamailio_ctl)
#   PIDFILE  its pid file (else $RELAY_PIDFILE, else kamailio.pid beside the ctl socket)
#
# Prints (one `name value` a line; values are integers):
#   sessions          relay sessions: the session-ids in htable "msrp" (4 items each:
#                     ::addr ::sock ::user ::conn, see kamailio.cfg), items / 4 rounded up
#   session_items     the items of htable "msrp" (a partly removed session shows here)
#   conn_entries      the items of htable "msrpconn" (connection -> session-id)
#   tcp_connections   TCP and TLS connections Kamailio holds (core.tcp_info opened_*)
#   shm_used_bytes    shared memory in use (core.shmmem "used")
#   shm_real_used_bytes  the same with the allocator's own overhead ("real_used")
#   rss_bytes         the sum of RSS over the relay's process group (ps; shared pages
#                     count once per process that maps them)
#   pss_bytes         the sum of Pss over the same processes (/proc/PID/smaps_rollup; shared
#                     pages divided among their users), when readable
#
# Why htables and not `kamcmd msrp.cmaplist`: this relay's config keeps its sessions in
# htables (the msrp module's connection map is off, cmap_size 0, see kamailio.cfg), and
# Kamailio 5.6.3 then answers msrp.cmaplist with "error: 500 - No Connections Map Table"
# (and kamcmd still exits 0).
#
#   rss_anon_bytes    the sum of RssAnon (/proc/PID/status): private memory only, where
#                     Kamailio's per-process (pkg) memory lives; the shared memory pool is
#                     not in it, so pages of it touched for the first time do not show here
#   processes         how many processes that group has
#
# Exit status: 0, or 1 with a message on stderr when the relay cannot be asked (kamcmd
# missing, the ctl socket or the pid file unusable, an RPC answered with an error).
set -u

die() { echo "state.sh: $*" >&2; exit 1; }

ctl=${1:-${RELAY_CTL:-}}
[ -n "$ctl" ] || die "no control socket: give CTL or set RELAY_CTL (start.sh prints it)"
sock=${ctl#unix:}
pidfile=${2:-${RELAY_PIDFILE:-$(dirname "$sock")/kamailio.pid}}
kamcmd=${KAMCMD:-$(command -v kamcmd || echo /usr/sbin/kamcmd)}
[ -x "$kamcmd" ] || die "kamcmd not found (Debian package kamailio)"
[ -S "$sock" ] || die "$sock is not a socket (is the relay running?)"

# One RPC; its output, or exit 1 naming it (kamcmd exits 0 even on "error: ...").
rpc() {
    local out
    out=$("$kamcmd" -s "$ctl" "$@" 2>&1) || die "kamcmd $*: $out"
    case "$out" in error:*) die "kamcmd $*: $out" ;; esac
    printf '%s\n' "$out"
}

# "name: value" of the block of htable.stats whose name is $1
htable_all() {
    awk -v t="$1" '
        /name:/ { cur = $2 }
        /all:/ && cur == t { print $2; found = 1; exit }
        END { if (!found) exit 1 }' <<<"$stats"
}

stats=$(rpc htable.stats) || exit 1
items=$(htable_all msrp) || die "htable.stats has no table 'msrp' (not tools/relay/kamailio.cfg?)"
conns=$(htable_all msrpconn) || die "htable.stats has no table 'msrpconn'"
echo "sessions $(( (items + 3) / 4 ))"
echo "session_items $items"
echo "conn_entries $conns"

tcp=$(rpc core.tcp_info) || exit 1
echo "tcp_connections $(awk '/opened_connections:|opened_tls_connections:/ { n += $2 } END { print n + 0 }' <<<"$tcp")"

shm=$(rpc core.shmmem) || exit 1
used=$(awk '$1 == "used:" { print $2 }' <<<"$shm")
real=$(awk '$1 == "real_used:" { print $2 }' <<<"$shm")
[ -n "$used" ] || die "core.shmmem printed no 'used:'"
echo "shm_used_bytes $used"
[ -n "$real" ] && echo "shm_real_used_bytes $real"

[ -r "$pidfile" ] || die "cannot read the pid file $pidfile"
main=$(cat "$pidfile")
case "$main" in ''|*[!0-9]*) die "$pidfile holds no pid" ;; esac
[ -r "/proc/$main/stat" ] || die "the relay (pid $main from $pidfile) is not running"
# start.sh runs Kamailio under setsid: its process group is the main pid. One ps call lists
# the group's processes with their RSS (KiB); Pss is read for those processes only.
members=$(ps -e -o pgid=,pid=,rss= | awk -v g="$main" '$1 == g { print $2, $3 }')
rss_kb=0 pss_kb=0 anon_kb=0 procs=0 pss_ok=1 anon_ok=1
while read -r pid kb; do
    [ -n "$pid" ] || continue
    rss_kb=$(( rss_kb + kb ))
    procs=$(( procs + 1 ))
    p=$(awk '$1 == "Pss:" { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null)
    if [ -n "$p" ]; then pss_kb=$(( pss_kb + p )); else pss_ok=0; fi
    a=$(awk '$1 == "RssAnon:" { print $2 }' "/proc/$pid/status" 2>/dev/null)
    if [ -n "$a" ]; then anon_kb=$(( anon_kb + a )); else anon_ok=0; fi
done <<<"$members"
[ "$procs" -gt 0 ] || die "no process of the relay's process group $main found in /proc"
echo "rss_bytes $(( rss_kb * 1024 ))"
[ "$pss_ok" = 1 ] && echo "pss_bytes $(( pss_kb * 1024 ))"
[ "$anon_ok" = 1 ] && echo "rss_anon_bytes $(( anon_kb * 1024 ))"
echo "processes $procs"
exit 0
