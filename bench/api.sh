#!/usr/bin/env bash
# API benchmark (issue 11): the daemon's round trip for inspect against a trivial endpoint's, and
# creating VMS VMs through the API against `denali run -n VMS`, both in the same run.
# Usage: bench/api.sh [VMS]   (default 1000; API_CALLS round trips, default 1000; API_ROUNDS
# creations of each kind, default 1, medians reported: API then run, run then API, and so on)
#   inspect: API_CALLS GET /vms/ID alternating with as many GET /version (the floor) over one
#            kept-alive connection (build/bench/api_bench, libcurl, as the client commands use);
#            p50 and p99 of each. Judged: inspect p50 / version p50, goal <= GOAL_INSPECT.
#   create:  one POST /vms with count VMS of idle.elf (--net none, the platform `auto` picks)
#            until the daemon's event stream has said `started` for every VM, against
#            `denali run -n VMS` of the same image from its start until its `all VMS VMs booted`
#            line (the same point: each VM's first exit; the line comes on the monitor's 100 ms
#            progress round, so that figure may be up to 100 ms late). Ratio API / run, goal
#            <= GOAL_CREATE (create_goal=, create_pass= on the same line).
# One summary line: BENCH api ratio=<inspect p50 ratio> ... create_ratio=... goal=... pass=...
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

NAME=api
GOAL_INSPECT=1.5
GOAL_CREATE=1.2
VMS=${1:-1000}
CALLS=${API_CALLS:-1000}
ROUNDS=${API_ROUNDS:-1}
[[ $VMS =~ ^[1-9][0-9]*$ ]] || bench_fail $NAME "bad VM count '$VMS'"
[[ $CALLS =~ ^[1-9][0-9]*$ ]] || bench_fail $NAME "bad API_CALLS '$CALLS'"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || bench_fail $NAME "bad API_ROUNDS '$ROUNDS'"
export DENALI_VMPROC=${DENALI_VMPROC:-$(dirname "$DENALI")/denali-vmproc}
bench_need $NAME "$DENALI" "$GUESTS/idle.elf" "$BENCH_BIN/api_bench"
IMAGE=$(cd "$(dirname "$GUESTS/idle.elf")" && pwd)/idle.elf
PLATFORM=$(platform_default)
# Long enough to outlast any round; every VM is stopped when its monitor is.
IDLE_S=3600

WORK=$(mktemp -d /tmp/denali-bench-api.XXXXXX) || bench_fail $NAME "mktemp failed"
SOCK=$WORK/api.sock
DAEMON_PID=
# descendants PID: every process under PID (its fleets' monitors and their VM processes).
descendants() {
    cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$1" '{
        i = index($0, ") "); split(substr($0, i + 2), f, " "); parent[$1] = f[2] }
        END {
            for (p in parent) {
                q = parent[p]
                for (d = 0; d < 64 && q != "" && q != 0; d++) {
                    if (q == root) { print p; break }
                    q = parent[q]
                }
            }
        }'
}

# stop_daemon: ends the daemon (and so its fleets) and waits, up to 30 s, until every process it
# had is gone, so that the next measurement runs alone.
stop_daemon() {
    local pids=() i left p
    [[ -n $DAEMON_PID ]] || return 0
    mapfile -t pids < <(descendants "$DAEMON_PID")
    kill "$DAEMON_PID" 2>/dev/null
    wait "$DAEMON_PID" 2>/dev/null
    DAEMON_PID=
    for ((i = 0; i < 300; i++)); do
        left=0
        for p in "${pids[@]}"; do
            [[ -d /proc/$p ]] && left=1 && break
        done
        ((left)) || return 0
        sleep 0.1
    done
    echo "api: warning: the daemon's processes outlived it by 30 s" >&2
}
trap 'stop_daemon; rm -rf "$WORK"' EXIT

# start_daemon: a daemon of this run's own on its own socket; fails the bench when it cannot serve.
start_daemon() {
    local i
    rm -rf "$WORK/state" "$SOCK"
    "$DENALI" daemon --api "$SOCK" --state-dir "$WORK/state" >"$WORK/daemon.log" 2>&1 &
    DAEMON_PID=$!
    for ((i = 0; i < 100; i++)); do
        [[ -S $SOCK ]] && return 0
        if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
            wait "$DAEMON_PID" 2>/dev/null
            DAEMON_PID=
            bench_fail $NAME "denali daemon did not start: $(head -n 1 "$WORK/daemon.log")"
        fi
        sleep 0.1
    done
    bench_fail $NAME "denali daemon did not create $SOCK in 10 s"
}

# One VM to inspect, and one event in the daemon's log for api_bench fleet to see first.
start_daemon
echo "== denali daemon --api $SOCK; denali run -d --net none --platform $PLATFORM idle.elf $IDLE_S" >&2
ID=$("$DENALI" run -d --api "$SOCK" --net none --platform "$PLATFORM" "$IMAGE" "$IDLE_S" 2>&1) ||
    bench_fail $NAME "run -d failed: $ID"
echo "== api_bench rtt $CALLS /vms/$ID /version" >&2
rtt=$("$BENCH_BIN/api_bench" rtt "$SOCK" "$CALLS" "/vms/$ID" /version) ||
    bench_fail $NAME "api_bench rtt failed"
echo "$rtt" >&2
inspect=$(grep "^RTT path=/vms/" <<<"$rtt")
floor=$(grep "^RTT path=/version " <<<"$rtt")

BODY="{\"image\": \"$IMAGE\", \"args\": [\"$IDLE_S\"], \"count\": $VMS, \"net\": \"none\","
BODY+=" \"platform\": \"$PLATFORM\"}"
api_ms=() post_ms=() run_ms=()
# measure_api: one fleet through the API (the daemon must be serving and have had an event).
measure_api() {
    echo "== api_bench fleet: POST /vms count $VMS" >&2
    out=$("$BENCH_BIN/api_bench" fleet "$SOCK" "$BODY") || bench_fail $NAME "api_bench fleet failed"
    echo "$out" >&2
    api_ms+=("$(kv all_started_ms "$out")") post_ms+=("$(kv post_ms "$out")")
    stop_daemon
}
# measure_run: the same fleet as one `denali run`.
measure_run() {
    echo "== api_bench boot: denali run --progress --net none --platform $PLATFORM -n $VMS" \
        "idle.elf $IDLE_S" >&2
    out=$("$BENCH_BIN/api_bench" boot "$VMS" -- "$DENALI" run --progress --net none \
        --platform "$PLATFORM" -n "$VMS" "$IMAGE" "$IDLE_S") || bench_fail $NAME "api_bench boot failed"
    echo "$out" >&2
    run_ms+=("$(kv all_booted_ms "$out")")
}
# A fresh daemon for each creation after the first (the last fleet goes with the old one), with
# one short-lived VM for its event log; rounds alternate which creation comes first.
fresh_daemon() {
    start_daemon
    "$DENALI" run -d --api "$SOCK" --net none --platform "$PLATFORM" "$IMAGE" 1 >/dev/null ||
        bench_fail $NAME "run -d failed"
}
for ((round = 0; round < ROUNDS; round++)); do
    if ((round % 2 == 0)); then
        ((round > 0)) && fresh_daemon
        measure_api
        measure_run
    else
        measure_run
        fresh_daemon
        measure_api
    fi
done

ip50=$(kv p50_us "$inspect") ip99=$(kv p99_us "$inspect")
fp50=$(kv p50_us "$floor") fp99=$(kv p99_us "$floor")
r_inspect=$(ratio "$ip50" "$fp50")
r_inspect99=$(ratio "$ip99" "$fp99")
a=$(median "${api_ms[@]}") r=$(median "${run_ms[@]}") p=$(median "${post_ms[@]}")
r_create=$(ratio "$a" "$r")
pi=0 pc=0
le "$r_inspect" "$GOAL_INSPECT" && pi=1
le "$r_create" "$GOAL_CREATE" && pc=1
echo "api: inspect, $CALLS GET /vms/$ID over one kept-alive connection (libcurl), alternating" \
    "with GET /version: p50 $ip50 us (p99 $ip99), /version p50 $fp50 us (p99 $fp99)"
echo "api: inspect / version: p50 $r_inspect (goal <= $GOAL_INSPECT), p99 $r_inspect99"
echo "api: $VMS VMs of idle.elf on $PLATFORM, median of $ROUNDS: through the API (POST /vms" \
    "to the last started event) $a ms, the POST answered in $p ms; \`denali run -n $VMS\`" \
    "(start to its all-booted line) $r ms"
echo "api: create through the API / denali run: $r_create (goal <= $GOAL_CREATE)"
bench_line "BENCH $NAME ratio=$r_inspect platform=$PLATFORM inspect_p50_us=$ip50" \
    "inspect_p99_us=$ip99 floor_p50_us=$fp50 floor_p99_us=$fp99 p99_ratio=$r_inspect99" \
    "floor=version calls=$CALLS connection=kept-alive create_ratio=$r_create api_create_ms=$a" \
    "post_ms=$p run_create_ms=$r vms=$VMS rounds=$ROUNDS create_goal=$GOAL_CREATE" \
    "create_pass=$pc goal=$GOAL_INSPECT pass=$pi"
