#!/bin/sh
# shards-scale.sh - the scale figure of README "Scaling out": many concurrent sessions on this
# one machine through the multi-host path. SERVES `msrpload serve` processes answer on
# 127.0.0.2, 127.0.0.3, ... (one port, a session id each: --session-id 's%d'), and
# tools/shards.sh runs SHARDS shards of scenarios/idle-sessions.json against them, each shard a
# process within the per-process descriptor limit; the merged report gives the memory per open
# session end and the rates.
#
# Usage: tools/shards-scale.sh [SESSIONS [SHARDS [SERVES]]]   (default 100000 10 8)
#   SCALE_RATE=R    new sessions per second over all shards (default 8000)
#   SCALE_SCENARIO=FILE  another scenario (default scenarios/idle-sessions.json; e.g.
#                   scenarios/held-sessions.json, where each session talks every 5 s)
#   SCALE_PORT=P    the serves' port (default 17100)
#   SHARDS_OUT=DIR  as for tools/shards.sh (default results/shards-<UTC time>)
#   SCALE_ARGS="..."  further run options (default "--threads 1": many shards share the cores)
set -eu

sessions=${1:-100000}
shards=${2:-10}
serves=${3:-8}
rate=${SCALE_RATE:-8000}
port=${SCALE_PORT:-17100}
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${MSRPLOAD_BIN:-$top/msrpload}
for v in "$sessions" "$shards" "$serves" "$rate" "$port"; do
    case "$v" in ''|*[!0-9]*|0) echo "shards-scale.sh: '$v' is not a whole number >= 1" >&2; exit 2 ;; esac
done
[ "$serves" -le 200 ] || { echo "shards-scale.sh: at most 200 serves (127.0.0.2 to .201)" >&2; exit 2; }

# Descriptors: a shard holds one per session, a serve one per session it answers (the ids of
# a target are spread evenly, with a little room for uneven thread shares).
limit=$(ulimit -n)
per_shard=$(( (sessions + shards - 1) / shards ))
per_serve=$(( (sessions + serves - 1) / serves + 2 * shards + 16 ))
for need in "$per_shard" "$per_serve"; do
    if [ "$need" -gt $((limit - 64)) ]; then
        echo "shards-scale.sh: $need sessions in one process need more than ulimit -n $limit allows: use more shards or serves" >&2
        exit 2
    fi
done
[ "$per_serve" -le 100000 ] || { echo "shards-scale.sh: a serve answers at most 100000 sessions" >&2; exit 2; }

tmp=$(mktemp -d)
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    for p in $pids; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

targets=""
i=0
while [ "$i" -lt "$serves" ]; do
    host=127.0.0.$((i + 2))
    "$bin" serve --listen "$host:$port" --session-id 's%d' --sessions "$per_serve" \
        --log-level problems --log "$tmp/serve-$i.jsonl" >"$tmp/uris-$i" 2>"$tmp/serve-$i.err" &
    pids="$pids $!"
    targets="$targets --target msrp://$host:$port/s%d;tcp"
    i=$((i + 1))
done
# Ready when each has printed its URIs (at most 20 s).
i=0
while [ "$i" -lt "$serves" ]; do
    k=0
    while [ ! -s "$tmp/uris-$i" ] && [ "$k" -lt 200 ]; do sleep 0.1; k=$((k + 1)); done
    [ -s "$tmp/uris-$i" ] || { echo "shards-scale.sh: serve $i did not start:" >&2; cat "$tmp/serve-$i.err" >&2; exit 1; }
    i=$((i + 1))
done
echo "shards-scale.sh: $serves serves answer $per_serve sessions each on 127.0.0.2-$((serves + 1)):$port" >&2

code=0
# shellcheck disable=SC2086
SHARDS_START_IN=${SHARDS_START_IN:-3} "$top/tools/shards.sh" "$shards" \
    "${SCALE_SCENARIO:-$top/scenarios/idle-sessions.json}" \
    --sessions "$sessions" --concurrency "$sessions" --session-rate "$rate" $targets \
    ${SCALE_ARGS---threads 1} || code=$?
for p in $pids; do kill "$p" 2>/dev/null || true; done
for p in $pids; do wait "$p" 2>/dev/null || true; done
pids=""
i=0
while [ "$i" -lt "$serves" ]; do
    tail -n 1 "$tmp/serve-$i.err" | sed "s/^/serve 127.0.0.$((i + 2)): /" >&2
    if [ -s "$tmp/serve-$i.jsonl" ]; then
        echo "serve 127.0.0.$((i + 2)): $(wc -l <"$tmp/serve-$i.jsonl") problem lines, the first:" >&2
        head -n 1 "$tmp/serve-$i.jsonl" >&2
    fi
    i=$((i + 1))
done
exit "$code"
