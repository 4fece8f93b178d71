#!/bin/sh
# install-deps.sh - make sure the Debian packages msrpload builds and tests with are present.
#
# As root it installs whatever is missing (apt-get update first, since a fresh machine may have
# no package lists), saying first in one line what it installs. Otherwise it prints the one
# apt-get line to run and exits 1.
# Usage: tools/install-deps.sh [--relay] [--sip] [--prometheus] [--browser] [--check]
#   --relay   also what the relay tests need (CI's .ci/run asks for it, as REQUIRE_RELAY=1
#             makes those tests fail rather than skip without Kamailio)
#   --sip     also what the SIP tests need: the scripted Kamailio proxy of tools/sip (the same
#             packages as --relay) and SIPp for the peers of tests/sip (CI asks for it, with
#             REQUIRE_SIP=1)
#   --prometheus  also Prometheus, for the test that has a real one scrape a run's live
#             metrics (CI asks for it too, with REQUIRE_PROMETHEUS=1)
#   --browser also Chromium, for the tests that load conform-report's HTML matrix and a run's
#             report.html in a real headless browser (CI asks for it too, with
#             REQUIRE_BROWSER=1)
#   --check   only report; exit 1 when something is missing
set -eu

# Build: compiler, pkg-config, OpenSSL, jansson, libmicrohttpd (the HTTP server of
# --metrics-listen, on its own thread), libosip2 (SIP and SDP parsing and building; only its
# parser library is linked). Tests: check (+ subunit). Fuzzing: clang with its
# sanitizer/libFuzzer runtime. Plots: gnuplot-nox. The Kubernetes manifest's test
# (deploy/kubernetes/check-manifest.py): python3-yaml to read it back, python3-kubernetes for
# the API's models to check it against.
PACKAGES="gcc make pkg-config libssl-dev libjansson-dev libmicrohttpd-dev libosip2-dev check libsubunit-dev clang libclang-rt-dev gnuplot-nox python3-yaml python3-kubernetes"
# The relay tests: Kamailio with every module tools/relay/kamailio.cfg loads (all in kamailio
# but tls.so, in kamailio-tls-modules, and websocket.so for MSRP over WebSocket, in
# kamailio-websocket-modules), openssl for start.sh's certificate, ps for stop.sh.
RELAY_PACKAGES="kamailio kamailio-tls-modules kamailio-websocket-modules openssl procps"
# The SIP tests (tests/check_sip_peers.c): Kamailio as registrar/proxy (tools/sip/kamailio.cfg
# loads nothing beyond the kamailio and kamailio-tls-modules packages), SIPp (Debian
# sip-tester) as the independent SIP peers of tests/sip, ps for stop.sh.
SIP_PACKAGES="kamailio kamailio-tls-modules openssl procps sip-tester"
# The Prometheus test (tests/check_metrics.c) starts its own prometheus on a loopback port.
# The package's service would listen on every interface (:9090): it is stopped and disabled
# right after the install, where systemd runs.
PROMETHEUS_PACKAGES="prometheus"
# The browser test (tests/check_conform_report.c, tests/browser_testutil.c) runs Debian's
# chromium headless: --dump-dom and --screenshot.
BROWSER_PACKAGES="chromium"

check_only=""
for arg in "$@"; do
    case "$arg" in
        --relay) PACKAGES="$PACKAGES $RELAY_PACKAGES" ;;
        --sip) PACKAGES="$PACKAGES $SIP_PACKAGES" ;;
        --prometheus) PACKAGES="$PACKAGES $PROMETHEUS_PACKAGES" ;;
        --browser) PACKAGES="$PACKAGES $BROWSER_PACKAGES" ;;
        --check) check_only=1 ;;
        *) echo "usage: tools/install-deps.sh [--relay] [--sip] [--prometheus] [--browser] [--check]" >&2; exit 2 ;;
    esac
done

missing=""
# --relay and --sip share packages: each is looked at once
PACKAGES=$(printf '%s\n' $PACKAGES | awk '!seen[$0]++' | tr '\n' ' ')
for pkg in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    case "$status" in
        *"install ok installed"*) ;;
        *) missing="$missing $pkg" ;;
    esac
done

[ -z "$missing" ] && exit 0

if [ -n "$check_only" ]; then
    echo "missing Debian packages:$missing" >&2
    exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
    echo "install-deps: installing$missing (apt-get, as root)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >&2
    case " $missing " in
        *" prometheus "*)
            if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
                systemctl disable --now prometheus >/dev/null 2>&1 || true
                echo "install-deps: stopped and disabled the prometheus service (the test runs its own, on loopback)" >&2
            fi ;;
    esac
    exit 0
fi

echo "msrpload needs Debian packages that are not installed. Run:" >&2
echo "  sudo apt-get install$missing" >&2
exit 1
