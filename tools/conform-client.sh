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
#
# As a relay client (conform --listen --as-relay, the relay-client cases):
#
#   --client-cmd 'tools/conform-client.sh relay {uri} {user} {password_file}'
#
# runs two sessions, one after the other, of the relay topology (both ends AUTH with the
# checker, the caller sends one 1000-byte message in chunks of 400, then a 1 s pause; a
# session's AUTHs and relay URIs are its own) with `msrpload run --relay URI
# --relay-user USER --relay-password-file FILE`; a fifth argument is again a hidden violation.
set -u
bin=${MSRPLOAD_BIN:-build/msrpload}
if [ "${1:-}" = relay ]; then
  relay=$2 user=$3 pwfile=$4 violate=${5:-}
  dir=$(mktemp -d "${TMPDIR:-/tmp}/conform-client-XXXXXX") || exit 2
  cat > "$dir/client.json" <<JSON
{
  "name": "conform-relay-client",
  "load": { "sessions": 2, "concurrency": 1 },
  "topology": { "kind": "relay", "transport": "tcp", "relay": { "user": "$user" } },
  "steps": [
    { "send": { "size": 1000, "chunk_size": 400 } },
    { "pause": 1 }
  ]
}
JSON
  set -- "$bin" run "$dir/client.json" --relay "$relay" --relay-user "$user" \
    --relay-password-file "$pwfile" --out "$dir/report" --quiet
  [ -n "$violate" ] && set -- "$@" --violate "$violate"
  "$@" &
  child=$!
  trap 'kill "$child" 2>/dev/null; wait "$child"; rm -rf "$dir"; exit 143' TERM INT
  wait "$child"
  rc=$?
  rm -rf "$dir"
  exit $rc
fi
uri=$1 file=$2 chunk=$3 sr=$4 violate=${5:-}
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
