#!/bin/sh
# render.sh - writes the Kubernetes manifest of one sharded load (job.yaml.in filled in) on
# standard output: the scenario as a ConfigMap, the Indexed Job of N shards with a shared
# start time, and the merge Job. Apply it with kubectl apply -f -.
#
# Usage: deploy/kubernetes/render.sh --shards N --scenario FILE [options] [-- RUN OPTIONS...]
#   --shards N          pods (1..100000, Kubernetes' bound on an Indexed Job's parallelism)
#   --scenario FILE     the scenario file, embedded in the manifest
#   --image IMAGE       the image built from Containerfile (default msrpload:latest)
#   --start-in S        the shards start S seconds from now (default 120: time enough for
#                       the pods to be scheduled and pull the image)
#   --start-at T        or at this UNIX time
#   --run-id ID         names the Jobs and the results folder (default msrpload-<start time>);
#                       lowercase letters, digits and '-', at most 40 characters
#   --claim NAME        the PersistentVolumeClaim of the results (default msrpload-results)
#   --cpu C, --memory M each shard pod's requests (default 1 and 1Gi)
#   --merge-timeout S   how long the merge step waits for the shards after the start
#                       (default 3600)
# RUN OPTIONS go to every shard's msrpload run (e.g. --relay URI --relay-user 'load%04d');
# --shard, --start-at, --out and --metrics-listen are the entrypoint's own and are refused.
set -eu

here=$(dirname "$0")
shards="" scenario="" image="msrpload:latest" start_in=120 start_at="" run_id=""
claim="msrpload-results" cpu=1 memory=1Gi merge_timeout=3600

die() { echo "render.sh: $*" >&2; exit 2; }
need() { [ $# -ge 2 ] || die "$1 needs a value"; }

while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) sed -n '2,/^set -eu/p' "$0" | sed -e '/^set -eu/d' -e 's/^# \{0,1\}//'; exit 0 ;;
        --shards) need "$@"; shards=$2; shift 2 ;;
        --scenario) need "$@"; scenario=$2; shift 2 ;;
        --image) need "$@"; image=$2; shift 2 ;;
        --start-in) need "$@"; start_in=$2; shift 2 ;;
        --start-at) need "$@"; start_at=$2; shift 2 ;;
        --run-id) need "$@"; run_id=$2; shift 2 ;;
        --claim) need "$@"; claim=$2; shift 2 ;;
        --cpu) need "$@"; cpu=$2; shift 2 ;;
        --memory) need "$@"; memory=$2; shift 2 ;;
        --merge-timeout) need "$@"; merge_timeout=$2; shift 2 ;;
        --) shift; break ;;
        *) die "unknown option '$1' (run options come after --)" ;;
    esac
done

whole() { case "$2" in ''|*[!0-9]*) die "$1 wants a whole number, not '$2'" ;; esac; }
whole --shards "$shards"
[ "$shards" -ge 1 ] && [ "$shards" -le 100000 ] || die "--shards wants 1..100000, not $shards"
[ -n "$scenario" ] || die "--scenario FILE is required"
[ -r "$scenario" ] || die "--scenario $scenario: cannot read it"
whole --start-in "$start_in"
whole --merge-timeout "$merge_timeout"
if [ -z "$start_at" ]; then
    start_at=$(( $(date +%s) + start_in ))
fi
whole --start-at "$start_at"
[ -n "$run_id" ] || run_id="msrpload-$start_at"
printf '%s' "$run_id" | grep -Eq '^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$' ||
    die "--run-id '$run_id': lowercase letters, digits and '-' (not at either end), at most 40"
printf '%s' "$claim" | grep -Eq '^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$' ||
    die "--claim '$claim' is not a Kubernetes object name"
printf '%s' "$image" | grep -Eq '^[^[:space:]"]+$' || die "--image '$image': no spaces or quotes"
printf '%s' "$cpu" | grep -Eq '^[0-9.]+m?$' || die "--cpu '$cpu': a quantity such as 1, 0.5 or 500m"
printf '%s' "$memory" | grep -Eq '^[0-9]+(Ki|Mi|Gi|Ti|k|M|G|T)?$' ||
    die "--memory '$memory': a quantity such as 512Mi or 2Gi"
for a in "$@"; do
    case "$a" in
        --shard|--start-at|--out|--metrics-listen|--metrics-linger)
            die "run option $a is set by the entrypoint for each shard" ;;
    esac
    # One line each in the manifest: no control characters.
    if printf '%s' "$a" | LC_ALL=C grep -q '[[:cntrl:]]'; then
        die "run option '$a' holds a control character"
    fi
done

# The run options, one YAML double-quoted string a line; the scenario indented into the
# ConfigMap's block scalar. Both go through files, as awk -v would read escapes in them.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: >"$tmp/args"
for a in "$@"; do
    printf '            - "%s"\n' "$(printf '%s' "$a" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')" >>"$tmp/args"
done
sed -e 's/^/    /' "$scenario" >"$tmp/scenario"

RUN_ID=$run_id SHARDS=$shards START_AT=$start_at IMAGE=$image CLAIM=$claim CPU=$cpu \
MEMORY=$memory MERGE_TIMEOUT=$merge_timeout \
awk -v args="$tmp/args" -v scen="$tmp/scenario" '
    /^@ARGS@$/ { while ((getline l < args) > 0) print l; next }
    /^@SCENARIO@$/ { while ((getline l < scen) > 0) print l; next }
    {
        n = split("RUN_ID SHARDS START_AT IMAGE CLAIM CPU MEMORY MERGE_TIMEOUT", k, " ")
        for (i = 1; i <= n; i++) gsub("@" k[i] "@", ENVIRON[k[i]])
        print
    }' "$here/job.yaml.in"
