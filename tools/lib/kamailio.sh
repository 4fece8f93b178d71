# kamailio.sh - shell functions shared by tools/relay/start.sh and tools/sip/start.sh (sourced,
# bash): argument checks, the runtime directory, the TLS certificate, and the start-up wait
# that kills what was started and prints the log tail when Kamailio does not come up.
#
# The caller sets `log` and `pid` before kam_fail / kam_wait_ready run (see kam_runtime_dir).

die() { echo "start.sh: $*" >&2; exit 1; }

is_port() { case "$1" in ''|*[!0-9]*) return 1 ;; esac; [ "$1" -ge 1 ] && [ "$1" -le 65535 ]; }

# true when something accepts TCP connections on 127.0.0.1:$1
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# kam_runtime_dir DIR NAME WHO: DIR (made if missing), or a new mktemp -d
# /tmp/msrpload-NAME.XXXXXX when DIR is empty; sets dir, pidfile, log and ctl, and refuses a
# directory whose Kamailio still runs ("WHO already runs from DIR").
kam_runtime_dir() {
    if [ -n "$1" ]; then
        dir=$1
        mkdir -p "$dir"
    else
        dir=$(mktemp -d "/tmp/msrpload-$2.XXXXXX")
    fi
    dir=$(cd "$dir" && pwd)
    pidfile="$dir/kamailio.pid"
    log="$dir/kamailio.log"
    ctl="unix:$dir/kamailio_ctl"
    if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        die "$3 already runs from $dir (pid $(cat "$pidfile"))"
    fi
    rm -f "$pidfile" "$dir/kamailio_ctl"
}

# kam_tls_cert: with cert or key empty, a self-signed P-256 certificate for CN=localhost,
# IP:127.0.0.1 in $dir; then both made absolute (Kamailio runs with -w $dir).
kam_tls_cert() {
    if [ -z "$cert" ] || [ -z "$key" ]; then
        cert="$dir/cert.pem"
        key="$dir/key.pem"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
            -days 1 -keyout "$key" -out "$cert" >/dev/null 2>&1 \
            || die "openssl could not make a self-signed certificate"
    fi
    [ -r "$cert" ] || die "cannot read certificate $cert"
    [ -r "$key" ] || die "cannot read key $key"
    cert=$(cd "$(dirname "$cert")" && pwd)/$(basename "$cert")
    key=$(cd "$(dirname "$key")" && pwd)/$(basename "$key")
}

# The message, the log's last 25 lines, the started process group killed (TERM, then KILL after
# 1 s); exit 1.
kam_fail() {
    echo "start.sh: $*" >&2
    echo "---- last lines of $log ----" >&2
    tail -n 25 "$log" >&2 || true
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        sleep 1
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    exit 1
}

# kam_wait_ready PORT...: at most 100 tries 0.1 s apart (10 s) for the pid file and every
# (non-empty) PORT to accept a TCP connection; kam_fail when Kamailio exits meanwhile. Returns
# 1 when time ran out (the caller names the ports), and kam_fail when the pid file names
# another process.
kam_wait_ready() {
    local ready="" all p
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || kam_fail "kamailio exited during start-up"
        all=1
        [ -s "$pidfile" ] || all=""
        for p in "$@"; do
            [ -n "$p" ] && [ -n "$all" ] && { port_open "$p" || all=""; }
        done
        if [ -n "$all" ]; then
            ready=1
            break
        fi
        sleep 0.1
    done
    [ -n "$ready" ] || return 1
    [ "$(cat "$pidfile")" = "$pid" ] || kam_fail "pid file says $(cat "$pidfile"), started $pid"
}
