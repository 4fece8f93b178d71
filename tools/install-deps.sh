#!/bin/sh
# install-deps.sh - make sure the Debian packages msrpload builds and tests with are present.
#
# As root it installs whatever is missing (apt-get update first, since a fresh machine may have
# no package lists). Otherwise it prints the one apt-get line to run and exits 1.
# Usage: tools/install-deps.sh [--check]   (--check only reports, exit 1 when something is missing)
set -eu

# Build: compiler, pkg-config, OpenSSL, jansson. Tests: check (+ subunit). Fuzzing: clang with
# its sanitizer/libFuzzer runtime. Plots: gnuplot-nox.
PACKAGES="gcc make pkg-config libssl-dev libjansson-dev check libsubunit-dev clang libclang-rt-dev gnuplot-nox"

missing=""
for pkg in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    case "$status" in
        *"install ok installed"*) ;;
        *) missing="$missing $pkg" ;;
    esac
done

[ -z "$missing" ] && exit 0

if [ "${1:-}" = "--check" ]; then
    echo "missing Debian packages:$missing" >&2
    exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
    echo "install-deps: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >&2
    exit 0
fi

echo "msrpload needs Debian packages that are not installed. Run:" >&2
echo "  sudo apt-get install$missing" >&2
exit 1
