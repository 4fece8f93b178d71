#!/bin/sh
# entrypoint.sh - what every pod of deploy/kubernetes/ runs, and what tools/shards.sh runs as N
# local processes: one shard of a load, or the step that merges the shards' reports.
#
#   entrypoint.sh run SCENARIO [run options]   this pod's shard of the load
#   entrypoint.sh merge                        wait for every shard's report, then merge them
#
# Environment (the Job's; tools/shards.sh sets the same):
#   JOB_COMPLETION_INDEX  0..N-1, set by Kubernetes in each pod of an Indexed Job; this shard
#                         is JOB_COMPLETION_INDEX + 1 of MSRPLOAD_SHARDS
#   MSRPLOAD_SHARDS       N, the number of shards
#   MSRPLOAD_START_AT     the shared start, seconds since 1970 (run --start-at)
#   MSRPLOAD_RESULTS      the shared folder of this load: shard I writes shard-I/ there and
#                         shard-I.exit when it is over; merge writes merged/
#   MSRPLOAD_METRICS_LISTEN  optional: run --metrics-listen (the pods: 0.0.0.0:9464)
#   MSRPLOAD_METRICS_LINGER  optional: run --metrics-linger seconds (default 0)
#   MSRPLOAD_MERGE_TIMEOUT   merge: seconds to wait for the shards after the start (600)
#   MSRPLOAD_BIN          the msrpload binary (default: msrpload on PATH)
# A shard whose report was written (run exit 0 or 1) exits 0, so that the Job lets the other
# shards finish: its verdict is in shard-I.exit and in the merge's exit code.
set -eu

bin=${MSRPLOAD_BIN:-msrpload}
: "${MSRPLOAD_SHARDS:?MSRPLOAD_SHARDS (the number of shards) is not set}"
: "${MSRPLOAD_RESULTS:?MSRPLOAD_RESULTS (the shared results folder) is not set}"
case "$MSRPLOAD_SHARDS" in
    ''|*[!0-9]*|0) echo "entrypoint: MSRPLOAD_SHARDS must be a whole number >= 1, not '$MSRPLOAD_SHARDS'" >&2; exit 2 ;;
esac

shard_run() {
    : "${JOB_COMPLETION_INDEX:?JOB_COMPLETION_INDEX is not set (an Indexed Job sets it)}"
    : "${MSRPLOAD_START_AT:?MSRPLOAD_START_AT (the shared start time) is not set}"
    case "$JOB_COMPLETION_INDEX" in
        ''|*[!0-9]*) echo "entrypoint: JOB_COMPLETION_INDEX must be a whole number, not '$JOB_COMPLETION_INDEX'" >&2; exit 2 ;;
    esac
    if [ "$JOB_COMPLETION_INDEX" -ge "$MSRPLOAD_SHARDS" ]; then
        echo "entrypoint: JOB_COMPLETION_INDEX $JOB_COMPLETION_INDEX is not below MSRPLOAD_SHARDS $MSRPLOAD_SHARDS" >&2
        exit 2
    fi
    shard=$((JOB_COMPLETION_INDEX + 1))
    mkdir -p "$MSRPLOAD_RESULTS"
    set -- "$@" --shard "$shard/$MSRPLOAD_SHARDS" --start-at "$MSRPLOAD_START_AT" \
        --out "$MSRPLOAD_RESULTS/shard-$shard" --quiet
    if [ -n "${MSRPLOAD_METRICS_LISTEN:-}" ]; then
        set -- "$@" --metrics-listen "$MSRPLOAD_METRICS_LISTEN" \
            --metrics-linger "${MSRPLOAD_METRICS_LINGER:-0}"
    fi
    code=0
    "$bin" run "$@" >"$MSRPLOAD_RESULTS/shard-$shard.out" 2>&1 || code=$?
    # The summary on the pod's log as well; the exit code for the merge step, written last
    # (renamed into place) so that it is whole whenever it exists.
    cat "$MSRPLOAD_RESULTS/shard-$shard.out"
    echo "$code" >"$MSRPLOAD_RESULTS/shard-$shard.exit.tmp"
    mv "$MSRPLOAD_RESULTS/shard-$shard.exit.tmp" "$MSRPLOAD_RESULTS/shard-$shard.exit"
    case "$code" in
        0|1) exit 0 ;;
        *) echo "entrypoint: shard $shard/$MSRPLOAD_SHARDS: msrpload run exited $code" >&2; exit "$code" ;;
    esac
}

shard_merge() {
    timeout=${MSRPLOAD_MERGE_TIMEOUT:-600}
    start=${MSRPLOAD_START_AT:-$(date +%s)}
    start=${start%%.*}
    deadline=$((start + timeout))
    mkdir -p "$MSRPLOAD_RESULTS"
    # Every shard says it is over with shard-I.exit: wait for all of them, a second at a time,
    # until the deadline.
    while :; do
        done_n=0
        i=1
        while [ "$i" -le "$MSRPLOAD_SHARDS" ]; do
            [ -f "$MSRPLOAD_RESULTS/shard-$i.exit" ] && done_n=$((done_n + 1))
            i=$((i + 1))
        done
        [ "$done_n" -eq "$MSRPLOAD_SHARDS" ] && break
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "entrypoint: merge: only $done_n of $MSRPLOAD_SHARDS shards finished within ${timeout}s of the start" >&2
            break
        fi
        sleep 1
    done
    worst=0
    set --
    i=1
    while [ "$i" -le "$MSRPLOAD_SHARDS" ]; do
        code=missing
        [ -f "$MSRPLOAD_RESULTS/shard-$i.exit" ] && code=$(cat "$MSRPLOAD_RESULTS/shard-$i.exit")
        if [ -f "$MSRPLOAD_RESULTS/shard-$i/summary.json" ]; then
            set -- "$@" "$MSRPLOAD_RESULTS/shard-$i"
        else
            echo "entrypoint: merge: shard $i has no report (exit $code)" >&2
            worst=1
        fi
        [ "$code" != 0 ] && worst=1
        i=$((i + 1))
    done
    if [ $# -eq 0 ]; then
        echo "entrypoint: merge: no shard wrote a report" >&2
        exit 1
    fi
    "$bin" merge "$@" --out "$MSRPLOAD_RESULTS/merged" || exit 1
    exit "$worst"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
    run) [ $# -ge 1 ] || { echo "usage: entrypoint.sh run SCENARIO [run options]" >&2; exit 2; }
         shard_run "$@" ;;
    merge) shard_merge ;;
    *) echo "usage: entrypoint.sh run SCENARIO [run options] | entrypoint.sh merge" >&2; exit 2 ;;
esac
