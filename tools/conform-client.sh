#!/bin/sh
# conform-client.sh - msrpload's own calling side as the client under test of
# `msrpload conform --listen` (scenarios/conformance/README.md, "Client cases"):
#
#   msrpload conform --listen 127.0.0.1:0 \
#     --client-cmd 'tools/conform-client.sh {uri} {file} {chunk_size} {success_report}'
#
# It writes a one-session scenario that sends FILE to URI in chunks of at most CHUNK bytes
# with the Success-Report given, then stays connected for 3 s (to take what the checker
# sends it), and runs it with `msrpload run --target URI`. A fifth argument is a hidden
# violation of `run` (msrp/session.h MSRP_VIOLATIONS) that breaks one rule on purpose: the
# test suite conform_listen shows that each client case fails with its own. MSRPLOAD_BIN
# names the binary (default build/msrpload). The checker ends this script's process group
# when the case is over; the scenario and run report go in a folder removed on the way out.
set -u
uri=$1 file=$2 chunk=$3 sr=$4 violate=${5:-}
bin=${MSRPLOAD_BIN:-build/msrpload}
dir=$(mktemp -d "${TMPDIR:-/tmp}/conform-client-XXXXXX") || exit 2
srfield=""
[ "$sr" != absent ] && srfield=", \"success_report\": \"$sr\""
if [ -s "$file" ]; then
  body="\"content_file\": \"$file\""
else
  body="\"size\": 0"
fi
cat > "$dir/client.json" <<JSON
{
  "name": "conform-client",
  "load": { "sessions": 1, "concurrency": 1 },
  "topology": { "kind": "target", "transport": "tcp", "targets": ["$uri"] },
  "steps": [
    { "send": { $body, "chunk_size": $chunk$srfield } },
    { "pause": 3 }
  ]
}
JSON
set -- "$bin" run "$dir/client.json" --target "$uri" --out "$dir/report" --quiet
[ -n "$violate" ] && set -- "$@" --violate "$violate"
"$@" &
child=$!
trap 'kill "$child" 2>/dev/null; wait "$child"; rm -rf "$dir"; exit 143' TERM INT
wait "$child"
rc=$?
rm -rf "$dir"
exit $rc
