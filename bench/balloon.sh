#!/usr/bin/env bash
# Ballooning benchmark: N idle VMs that used and freed MIB MiB each are asked for their free memory
# back at once (SIGUSR2 to the monitor); how much comes back and how fast.
# Usage: bench/balloon.sh [N [MIB]]   (defaults 100 and 8; VMs of 16 MiB; BALLOON_RUNS, default 10)
# Per platform this machine has, from BALLOON_RUNS runs of one VM, two summary lines:
#   balloon_P          host memory given back (the monitor's guest RAM before and 1 s after the
#                      request; kvm: the guests' count) / memory the guest freed: goal >= 0.95.
#   balloon_latency_P  the slowest run's request to its last page given back, over 10 ms: goal
#                      <= 1.0; a futex round trip (one hypercall's floor) printed alongside.
# Then N such VMs asked at once, for the record.
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

NAME=balloon
GOAL=0.95
GOAL_MS=10
N=${1:-100}
MIB=${2:-8}
RUNS=${BALLOON_RUNS:-10}
[[ $N =~ ^[1-9][0-9]*$ ]] || bench_fail $NAME "bad N '$N'"
[[ $MIB =~ ^[1-9][0-9]*$ && $MIB -le 12 ]] || bench_fail $NAME "bad MIB '$MIB' (1..12)"
bench_need $NAME "$DENALI" "$GUESTS/balloon.elf" "$BENCH_BIN/futex_pingpong"

# guest_ram_kib PID: host memory the monitor's guest RAM memfd holds now (process platform).
guest_ram_kib() {
    local fd
    fd=$(find "/proc/$1/fd" -lname '*denali-guest-ram*' 2>/dev/null | head -n 1)
    [[ -n $fd ]] && stat -L -c '%b %B' "$fd" | awk '{ printf "%.0f\n", $1 * $2 / 1024 }'
}

# fleet N: N VMs that used and freed MIB MiB each; once all idle, one request (SIGUSR2). Sets
# STATS, HELD0 and HELD1 (guest RAM held before and 1 s after the request, KiB; empty on kvm).
fleet() {
    local n=$1 out pid i done=0 status
    out=$(mktemp /tmp/denali-bench-balloon.XXXXXX)
    "$DENALI" run "${PLATFORM_OPTS[@]}" -n "$n" -m 16M --stats --no-progress \
        "$GUESTS/balloon.elf" "$MIB" 30 >"$out" 2>&1 &
    pid=$!
    for ((i = 0; i < 600; i++)); do
        done=$(grep -c 'used and freed' "$out")
        ((done >= n)) && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if ((done < n)); then
        kill -INT "$pid"
        wait "$pid"
        rm -f "$out"
        bench_fail "$NAME" "only $done of $n VMs freed their memory"
    fi
    # Every VM idles now; the request comes with nothing else running.
    sleep 0.5
    HELD0=$(guest_ram_kib "$pid")
    kill -USR2 "$pid"
    sleep 1
    HELD1=$(guest_ram_kib "$pid")
    kill -INT "$pid"
    wait "$pid"
    status=$?
    STATS=$(grep -o 'denali-stats:.*' "$out" | tail -n 1)
    rm -f "$out"
    [[ -n $STATS ]] || bench_fail "$NAME" "no denali-stats line (status $status)"
}

measure() {
    local platform=$1 r lat=() released=0 answered=0 given=0 p50 p99
    platform_opts "$platform"
    # One VM at a time, RUNS times: the goal is about a VM's own answer, not a queue of them.
    echo "== $RUNS runs: denali run ${PLATFORM_OPTS[*]} -n 1 -m 16M --stats balloon.elf $MIB 30" >&2
    for ((r = 0; r < RUNS; r++)); do
        fleet 1
        lat+=("$(kv balloon_p99_us "$STATS")")
        released=$((released + $(kv balloon_released_kb "$STATS")))
        answered=$((answered + $(kv balloon_vms "$STATS")))
        [[ -n $HELD0 && -n $HELD1 ]] && given=$((given + HELD0 - HELD1))
    done
    mapfile -t lat < <(printf '%s\n' "${lat[@]}" | sort -n)
    p50=${lat[$(((RUNS - 1) / 2))]} p99=${lat[$((RUNS - 1))]}
    local freed=$((RUNS * MIB * 1024)) rr rl pass=0 pass_l=0 floor_out floor_us
    rr=$(ratio "$given" "$freed")
    [[ $platform == kvm ]] && rr=$(ratio "$released" "$freed")
    le "$GOAL" "$rr" && ((answered == RUNS)) && pass=1
    rl=$(ratio "$p99" $((GOAL_MS * 1000)))
    le "$rl" 1 && pass_l=1
    floor_out=$("$BENCH_BIN/futex_pingpong" 20000 2>/dev/null)
    floor_us=$(fmt %.1f "$(kv median_ns "$(grep '^FLOOR futex_pingpong' <<<"$floor_out")") / 1000")
    echo "balloon ($platform): $RUNS runs of one VM that freed $((MIB * 1024)) KiB: the host got" \
        "$given KiB of $freed back (its guest RAM, before and after; the guests said $released):" \
        "$rr (goal >= $GOAL)"
    echo "balloon ($platform): request to the VM's last page given, p50 $p50 us, max $p99 us" \
        "(goal <= $GOAL_MS ms); floor, one hypercall round trip: $floor_us us"
    echo "BENCH ${NAME}_$platform ratio=$rr platform=$platform host_returned_kib=$given" \
        "guest_released_kib=$released freed_kib=$freed runs=$RUNS goal=$GOAL pass=$pass"
    echo "BENCH ${NAME}_latency_$platform ratio=$rl platform=$platform p50_us=$p50 max_us=$p99" \
        "floor_roundtrip_us=$floor_us ratio_to_floor=$(ratio "$p99" "$floor_us") runs=$RUNS" \
        "goal=1.0 pass=$pass_l"
    # Many at once: how fast a fleet gives back, for the record (no goal).
    fleet "$N"
    echo "balloon ($platform): $N VMs asked at once: $(kv balloon_vms "$STATS") answered, the last" \
        "after $(kv balloon_p99_us "$STATS") us (p99), $(kv balloon_released_kb "$STATS") KiB given;" \
        "guest RAM held ${HELD0:-?} -> ${HELD1:-?} KiB"
}

skip() {
    bench_skip "${NAME}_$1" "$1" "$GOAL" "$2"
    bench_skip "${NAME}_latency_$1" "$1" 1.0 "$2"
}

for_each_platform measure skip
