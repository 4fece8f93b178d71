#!/bin/sh
# shards.sh - runs a load as N local shards the way deploy/kubernetes/ runs it as N pods: the
# same entrypoint (deploy/entrypoint.sh), once per shard with the Indexed Job's environment
# (JOB_COMPLETION_INDEX 0..N-1, MSRPLOAD_SHARDS, a shared MSRPLOAD_START_AT, MSRPLOAD_RESULTS),
# then its merge step. It is the local test of the multi-host path.
#
# Usage: tools/shards.sh N SCENARIO [run options]
#   SHARDS_OUT=DIR       the results folder (default results/shards-<UTC time>); it must not
#                        exist. Shard I writes DIR/shard-I/ (and its output to shard-I.out),
#                        the merge DIR/merged/
#   SHARDS_START_IN=S    the shared start, S seconds from now (default 2)
#   MSRPLOAD_BIN=PATH    the msrpload binary (default ./msrpload)
# Exit code: the merge step's (0: every shard ran and every expectation was met; 1: a shard
# failed or its expectations did not all hold; 2: usage).
set -eu

usage() { echo "usage: tools/shards.sh N SCENARIO [run options]" >&2; exit 2; }
[ $# -ge 2 ] || usage
n=$1
shift
case "$n" in ''|*[!0-9]*|0) echo "shards.sh: N must be a whole number >= 1, not '$n'" >&2; exit 2 ;; esac
[ "$n" -le 1000 ] || { echo "shards.sh: at most 1000 local shards" >&2; exit 2; }

top=$(cd "$(dirname "$0")/.." && pwd)
bin=${MSRPLOAD_BIN:-$top/msrpload}
case "$bin" in /*) ;; *) bin=$(pwd)/$bin ;; esac
[ -x "$bin" ] || { echo "shards.sh: $bin is not an executable (make msrpload first)" >&2; exit 2; }
out=${SHARDS_OUT:-$top/results/shards-$(date -u +%Y%m%dT%H%M%SZ)}
[ -e "$out" ] && { echo "shards.sh: $out already exists" >&2; exit 2; }
mkdir -p "$out"
start_at=$(( $(date +%s) + ${SHARDS_START_IN:-2} ))

export MSRPLOAD_BIN="$bin" MSRPLOAD_SHARDS="$n" MSRPLOAD_START_AT="$start_at" MSRPLOAD_RESULTS="$out"
echo "shards.sh: $n shards of $1 starting at $start_at, results in $out" >&2

# The shards, each in the background as its own pod would be; then the merge step, which
# waits for them as the merge Job does. A shard stopped by a signal to this script stops too.
pids=""
i=0
while [ "$i" -lt "$n" ]; do
    JOB_COMPLETION_INDEX=$i "$top/deploy/entrypoint.sh" run "$@" >/dev/null 2>&1 &
    pids="$pids $!"
    i=$((i + 1))
done
trap 'kill $pids 2>/dev/null; exit 130' INT TERM
code=0
"$top/deploy/entrypoint.sh" merge || code=$?
for p in $pids; do
    wait "$p" || { s=$?; echo "shards.sh: a shard's entrypoint exited $s (see $out/shard-*.out)" >&2; [ "$code" -ne 0 ] || code=1; }
done
exit "$code"
