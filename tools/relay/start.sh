#!/bin/bash
# start.sh - start a Kamailio MSRP relay (tools/relay/kamailio.cfg) on 127.0.0.1, in the background.
#
# Usage: tools/relay/start.sh [PORT [TLS_PORT [CERT KEY]]]
#
#   PORT      TCP port for msrp://              (else $RELAY_PORT, else 2855)
#   TLS_PORT  TLS port for msrps://, optional   (else $RELAY_TLS_PORT; empty/0 = no TLS)
#   CERT KEY  PEM certificate and key for TLS   (else $RELAY_CERT/$RELAY_KEY, else a self-signed
#             P-256 certificate for CN=localhost, IP:127.0.0.1 is made in the runtime directory)
#
# Environment (all optional):
#   RELAY_WS_PORT       also listen for MSRP over WebSocket (RFC 7977) on this port (ws://);
#                       needs the websocket module (Debian: kamailio-websocket-modules)
#   RELAY_WSS_PORT      with TLS and RELAY_WS_PORT: also wss:// on this port
#   RELAY_DIR           runtime directory (pid file, log, cert); created if missing;
#                       default: a new mktemp -d /tmp/msrpload-relay.XXXXXX
#   RELAY_VERBOSE=1     log every MSRP frame to the log (Kamailio INFO level)
#   RELAY_TCP_CHILDREN  TCP worker processes (default 4; 1 with a TLS port: Kamailio 5.6.3 on
#                       OpenSSL 3 crashes with several, tools/sip/README.md)
#   RELAY_EXPIRES_MIN / RELAY_EXPIRES_DEFAULT / RELAY_EXPIRES_MAX   (30 / 600 / 3600)
#   RELAY_REALM         digest realm (default msrpload.test)
#   KAMAILIO            kamailio binary (default: kamailio in PATH, else /usr/sbin/kamailio)
#
# On success prints shell-quoted KEY='value' lines (eval-able) and exits 0:
#   RELAY_URI='msrp://127.0.0.1:2855;tcp'
#   RELAY_TLS_URI='msrps://127.0.0.1:2856;tcp'     (only with TLS)
#   RELAY_WS_URI='ws://127.0.0.1:2857/'             (only with RELAY_WS_PORT)
#   RELAY_WS_MSRP_URI='msrp://127.0.0.1:2857;ws'    (the same as an RFC 7977 MSRP URI)
#   RELAY_WSS_URI='wss://127.0.0.1:2858/'           (only with TLS and RELAY_WSS_PORT)
#   RELAY_WSS_MSRP_URI='msrps://127.0.0.1:2858;ws'
#   RELAY_PID='12345'
#   RELAY_PIDFILE='/tmp/msrpload-relay.abc/kamailio.pid'
#   RELAY_DIR='/tmp/msrpload-relay.abc'
#   RELAY_LOG='/tmp/msrpload-relay.abc/kamailio.log'
#   RELAY_CTL='unix:/tmp/msrpload-relay.abc/kamailio_ctl'   (kamcmd -s ... htable.dump msrp)
# Stop it with: tools/relay/stop.sh "$RELAY_PIDFILE"
#
# Kamailio runs in the foreground mode (-DD, not daemonized) in its own session/process group
# (setsid), so the pid in the pid file is the main process and its process group holds all
# its workers. If the ports do not accept connections within 10 s, the log tail is printed,
# whatever was started is killed, and the exit status is 1.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cfg="$here/kamailio.cfg"
# die, is_port, port_open, kam_runtime_dir, kam_tls_cert, kam_fail, kam_wait_ready
# shellcheck source=../lib/kamailio.sh
. "$here/../lib/kamailio.sh"

port=${1:-${RELAY_PORT:-2855}}
tls_port=${2:-${RELAY_TLS_PORT:-}}
cert=${3:-${RELAY_CERT:-}}
key=${4:-${RELAY_KEY:-}}
ws_port=${RELAY_WS_PORT:-}
wss_port=${RELAY_WSS_PORT:-}
[ "$tls_port" = "0" ] && tls_port=""
[ "$ws_port" = "0" ] && ws_port=""
[ "$wss_port" = "0" ] && wss_port=""

is_port "$port" || die "bad TCP port '$port'"
if [ -n "$tls_port" ]; then
    is_port "$tls_port" || die "bad TLS port '$tls_port'"
    [ "$tls_port" != "$port" ] || die "TCP and TLS ports must differ"
fi
if [ -n "$ws_port" ]; then
    is_port "$ws_port" || die "bad WS port '$ws_port'"
    [ "$ws_port" != "$port" ] && [ "$ws_port" != "$tls_port" ] || die "the WS port must differ from the others"
fi
if [ -n "$wss_port" ]; then
    [ -n "$ws_port" ] && [ -n "$tls_port" ] || die "RELAY_WSS_PORT needs RELAY_WS_PORT and a TLS port"
    is_port "$wss_port" || die "bad WSS port '$wss_port'"
    [ "$wss_port" != "$port" ] && [ "$wss_port" != "$tls_port" ] && [ "$wss_port" != "$ws_port" ] \
        || die "the WSS port must differ from the others"
fi

kam=${KAMAILIO:-$(command -v kamailio || echo /usr/sbin/kamailio)}
[ -x "$kam" ] || die "kamailio not found (apt-get install kamailio kamailio-tls-modules)"
[ -r "$cfg" ] || die "missing $cfg"
if [ -n "$ws_port" ]; then
    if [ -z "$(find /usr/lib /usr/local/lib -path '*kamailio/modules/websocket.so' 2>/dev/null | head -n 1)" ]; then
        die "the kamailio websocket module is missing (apt-get install kamailio-websocket-modules)"
    fi
fi

port_open "$port" && die "127.0.0.1:$port is already in use"
for p in "$tls_port" "$ws_port" "$wss_port"; do
    if [ -n "$p" ]; then
        port_open "$p" && die "127.0.0.1:$p is already in use"
    fi
done

kam_runtime_dir "${RELAY_DIR:-}" relay "a relay"

defs=(-A "MSRP_PORT=$port" -A "CTL_SOCK=\"$ctl\"")
if [ -n "$tls_port" ]; then
    kam_tls_cert
    defs+=(-A WITH_TLS -A "MSRP_TLS_PORT=$tls_port" -A "TLS_CERT=\"$cert\"" -A "TLS_KEY=\"$key\"")
fi
[ -n "$ws_port" ] && defs+=(-A "WS_PORT=$ws_port")
[ -n "$wss_port" ] && defs+=(-A "WSS_PORT=$wss_port")
[ "${RELAY_VERBOSE:-0}" != "0" ] && defs+=(-A RELAY_VERBOSE)
[ -n "${RELAY_TCP_CHILDREN:-}" ] && defs+=(-A "TCP_CHILDREN=$RELAY_TCP_CHILDREN")
[ -n "${RELAY_EXPIRES_MIN:-}" ] && defs+=(-A "EXPIRES_MIN=$RELAY_EXPIRES_MIN")
[ -n "${RELAY_EXPIRES_DEFAULT:-}" ] && defs+=(-A "EXPIRES_DEFAULT=$RELAY_EXPIRES_DEFAULT")
[ -n "${RELAY_EXPIRES_MAX:-}" ] && defs+=(-A "EXPIRES_MAX=$RELAY_EXPIRES_MAX")
[ -n "${RELAY_REALM:-}" ] && defs+=(-A "AUTH_REALM=\"$RELAY_REALM\"")

# -DD: the creator stays in the foreground (no daemon fork), so $! is the main process;
# -E: log to stderr (the log file); setsid: own process group for stop.sh's last resort.
setsid "$kam" -DD -E -f "$cfg" -P "$pidfile" -Y "$dir" -w "$dir" "${defs[@]}" \
    </dev/null >"$log" 2>&1 &
pid=$!

kam_wait_ready "$port" "$tls_port" "$ws_port" "$wss_port" \
    || kam_fail "127.0.0.1:$port${tls_port:+ / $tls_port}${ws_port:+ / $ws_port}${wss_port:+ / $wss_port} not accepting connections after 10 s"

echo "RELAY_URI='msrp://127.0.0.1:$port;tcp'"
[ -n "$tls_port" ] && echo "RELAY_TLS_URI='msrps://127.0.0.1:$tls_port;tcp'"
[ -n "$tls_port" ] && echo "RELAY_CERT='$cert'"
if [ -n "$ws_port" ]; then
    echo "RELAY_WS_URI='ws://127.0.0.1:$ws_port/'"
    echo "RELAY_WS_MSRP_URI='msrp://127.0.0.1:$ws_port;ws'"
fi
if [ -n "$wss_port" ]; then
    echo "RELAY_WSS_URI='wss://127.0.0.1:$wss_port/'"
    echo "RELAY_WSS_MSRP_URI='msrps://127.0.0.1:$wss_port;ws'"
fi
echo "RELAY_PID='$pid'"
echo "RELAY_PIDFILE='$pidfile'"
echo "RELAY_DIR='$dir'"
echo "RELAY_LOG='$log'"
echo "RELAY_CTL='$ctl'"
