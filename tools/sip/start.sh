#!/bin/bash
# start.sh - start the scripted Kamailio SIP registrar/proxy (tools/sip/kamailio.cfg) on
# 127.0.0.1 in the background, optionally with the MSRP relay in the same instance.
#
# Usage: tools/sip/start.sh [PORT [TLS_PORT [CERT KEY]]]
#
#   PORT      UDP and TCP port for SIP          (else $SIP_PORT, else 5060)
#   TLS_PORT  TLS port for SIP, optional        (else $SIP_TLS_PORT; empty/0 = no TLS)
#   CERT KEY  PEM certificate and key for TLS   (else $SIP_CERT/$SIP_KEY, else a self-signed
#             P-256 certificate for CN=localhost, IP:127.0.0.1 is made in the runtime directory)
#
# Environment (all optional):
#   SIP_MSRP_PORT      also run the MSRP relay (tools/relay/msrp-routes.cfg) on this TCP port
#   SIP_MSRP_TLS_PORT  with TLS and SIP_MSRP_PORT: msrps:// on this port
#   SIP_DIR            runtime directory (default: a new mktemp -d /tmp/msrpload-sip.XXXXXX)
#   SIP_VERBOSE=1      log every SIP request (INFO)
#   SIP_FR_TIMER / SIP_FR_INV_TIMER   tm timers in ms (5000 / 30000): no reply -> 408
#   SIP_TCP_CHILDREN / SIP_UDP_CHILDREN   worker processes (4 / 4; TCP 1 with TLS: several
#                      crash Kamailio 5.6.3 on OpenSSL 3, tools/sip/README.md)
#   SIP_SHM_MB         shared memory in MB (kamailio -m; default 1024, at least 16): tm keeps
#                      each transaction (~15 KB, 2 a call) SIP_WAIT_TIMER ms after it ends, so
#                      R calls/s sustained hold about R * 150 KB (tools/sip/README.md)
#   SIP_WAIT_TIMER     tm wt_timer in ms (5000, Kamailio's default)
#   SIP_REALM          digest realm (default msrpload.test)
#   KAMAILIO           kamailio binary (default: kamailio in PATH, else /usr/sbin/kamailio)
#
# On success prints shell-quoted KEY='value' lines (eval-able) and exits 0:
#   SIP_URI='sip:127.0.0.1:5060'                    (UDP; ;transport=tcp for TCP)
#   SIP_TCP_URI='sip:127.0.0.1:5060;transport=tcp'
#   SIP_TLS_URI='sips:127.0.0.1:5061'              (only with TLS)
#   SIP_CERT='/tmp/msrpload-sip.abc/cert.pem'       (only with TLS)
#   RELAY_URI='msrp://127.0.0.1:2855;tcp'           (only with SIP_MSRP_PORT)
#   RELAY_TLS_URI='msrps://127.0.0.1:2856;tcp'      (only with SIP_MSRP_TLS_PORT)
#   SIP_PID='12345'
#   SIP_PIDFILE='/tmp/msrpload-sip.abc/kamailio.pid'
#   SIP_DIR='/tmp/msrpload-sip.abc'
#   SIP_LOG='/tmp/msrpload-sip.abc/kamailio.log'
#   SIP_CTL='unix:/tmp/msrpload-sip.abc/kamailio_ctl'   (kamcmd -s ... ul.dump)
# Stop it with: tools/sip/stop.sh "$SIP_PIDFILE" [--clean]
#
# As tools/relay/start.sh: kamailio -DD -E under setsid (own process group, the pid file holds
# the main process), ports in use refused, at most 10 s for the pid file and every TCP/TLS port
# to accept a connection (the UDP port is bound by then: Kamailio binds UDP before it forks
# the TCP main process); on failure the log tail is printed, what was started killed, exit 1.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cfg="$here/kamailio.cfg"
# die, is_port, port_open, kam_runtime_dir, kam_tls_cert, kam_fail, kam_wait_ready
# shellcheck source=../lib/kamailio.sh
. "$here/../lib/kamailio.sh"

port=${1:-${SIP_PORT:-5060}}
tls_port=${2:-${SIP_TLS_PORT:-}}
cert=${3:-${SIP_CERT:-}}
key=${4:-${SIP_KEY:-}}
msrp_port=${SIP_MSRP_PORT:-}
msrp_tls_port=${SIP_MSRP_TLS_PORT:-}
[ "$tls_port" = "0" ] && tls_port=""
[ "$msrp_port" = "0" ] && msrp_port=""
[ "$msrp_tls_port" = "0" ] && msrp_tls_port=""

is_port "$port" || die "bad SIP port '$port'"
seen=" $port "
for p in "$tls_port" "$msrp_port" "$msrp_tls_port"; do
    [ -n "$p" ] || continue
    is_port "$p" || die "bad port '$p'"
    case "$seen" in *" $p "*) die "port $p given twice: every port must differ" ;; esac
    seen="$seen$p "
done
if [ -n "$msrp_tls_port" ]; then
    [ -n "$msrp_port" ] && [ -n "$tls_port" ] || die "SIP_MSRP_TLS_PORT needs SIP_MSRP_PORT and a TLS port"
fi

shm_mb=${SIP_SHM_MB:-1024}
case "$shm_mb" in ''|*[!0-9]*) die "SIP_SHM_MB '$shm_mb': expected a whole number of MB" ;; esac
[ "$shm_mb" -ge 16 ] || die "SIP_SHM_MB $shm_mb: Kamailio needs 16 MB or more"
kam=${KAMAILIO:-$(command -v kamailio || echo /usr/sbin/kamailio)}
[ -x "$kam" ] || die "kamailio not found (apt-get install kamailio kamailio-tls-modules)"
[ -r "$cfg" ] || die "missing $cfg"

# true when a UDP socket is bound to 127.0.0.1:$1 (ss from iproute2, else unknown = false)
udp_bound() { command -v ss >/dev/null 2>&1 && ss -Hlun "sport = :$1" 2>/dev/null | grep -q .; }

for p in $seen; do
    port_open "$p" && die "127.0.0.1:$p is already in use"
done
udp_bound "$port" && die "UDP 127.0.0.1:$port is already in use"

kam_runtime_dir "${SIP_DIR:-}" sip "a kamailio"

defs=(-A "SIP_PORT=$port" -A "CTL_SOCK=\"$ctl\"")
if [ -n "$tls_port" ]; then
    kam_tls_cert
    defs+=(-A WITH_TLS -A "SIP_TLS_PORT=$tls_port" -A "TLS_CERT=\"$cert\"" -A "TLS_KEY=\"$key\"")
fi
if [ -n "$msrp_port" ]; then
    defs+=(-A WITH_MSRP -A "MSRP_PORT=$msrp_port")
    [ -n "$msrp_tls_port" ] && defs+=(-A "MSRP_TLS_PORT=$msrp_tls_port")
fi
[ "${SIP_VERBOSE:-0}" != "0" ] && defs+=(-A SIP_VERBOSE)
[ -n "${SIP_FR_TIMER:-}" ] && defs+=(-A "FR_TIMER=$SIP_FR_TIMER")
[ -n "${SIP_FR_INV_TIMER:-}" ] && defs+=(-A "FR_INV_TIMER=$SIP_FR_INV_TIMER")
[ -n "${SIP_TCP_CHILDREN:-}" ] && defs+=(-A "TCP_CHILDREN=$SIP_TCP_CHILDREN")
[ -n "${SIP_UDP_CHILDREN:-}" ] && defs+=(-A "UDP_CHILDREN=$SIP_UDP_CHILDREN")
[ -n "${SIP_REALM:-}" ] && defs+=(-A "AUTH_REALM=\"$SIP_REALM\"")
[ -n "${SIP_WAIT_TIMER:-}" ] && defs+=(-A "WAIT_TIMER=$SIP_WAIT_TIMER")

setsid "$kam" -DD -E -m "$shm_mb" -f "$cfg" -P "$pidfile" -Y "$dir" -w "$dir" "${defs[@]}" \
    </dev/null >"$log" 2>&1 &
pid=$!

# shellcheck disable=SC2086 # $seen: the ports, one word each
kam_wait_ready $seen \
    || kam_fail "127.0.0.1 ports$(printf ' %s' $seen) not accepting connections after 10 s"

echo "SIP_URI='sip:127.0.0.1:$port'"
echo "SIP_TCP_URI='sip:127.0.0.1:$port;transport=tcp'"
if [ -n "$tls_port" ]; then
    echo "SIP_TLS_URI='sips:127.0.0.1:$tls_port'"
    echo "SIP_CERT='$cert'"
fi
[ -n "$msrp_port" ] && echo "RELAY_URI='msrp://127.0.0.1:$msrp_port;tcp'"
[ -n "$msrp_tls_port" ] && echo "RELAY_TLS_URI='msrps://127.0.0.1:$msrp_tls_port;tcp'"
echo "SIP_PID='$pid'"
echo "SIP_PIDFILE='$pidfile'"
echo "SIP_DIR='$dir'"
echo "SIP_LOG='$log'"
echo "SIP_CTL='$ctl'"
