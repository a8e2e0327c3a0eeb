#!/usr/bin/env bash
# Clone benchmark: request to a clone's first instruction after its ready call, against the
# platform's bare create floor and a cold boot of the same guest to the same point.
# Usage: bench/clone.sh [VMS]   (default 1000)
# Per platform this machine has (BENCH_PLATFORMS), on the same guest (httpd -q -x: it exits once
# ready, -m 4M), with CLONE_WORKERS workers (default online CPUs), two summary lines:
#   clone_P       clone p50 (ready_p50_us of `denali run --clone`) / platform_boot p50 (boot.elf,
#                 as many threads): goal <= 1.0. Also p99 and clones per second.
#   clone_cold_P  cold p50 (the same run without --clone, to the guest's ready call) / clone p50:
#                 goal >= 5.
# On kvm a clone maps the snapshot copy-on-write in the monitor and starts a KVM VM; the fork
# floor beside it bounds the process platform only.
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

NAME=clone
GOAL_FLOOR=1.0
GOAL_COLD=5
VMS=${1:-1000}
WORKERS=${CLONE_WORKERS:-$(nproc)}
[[ $VMS =~ ^[1-9][0-9]*$ ]] || bench_fail $NAME "bad VM count '$VMS'"
[[ $WORKERS =~ ^[1-9][0-9]*$ && $WORKERS -le 64 ]] || bench_fail $NAME "bad CLONE_WORKERS '$WORKERS'"
export DENALI_VMPROC=${DENALI_VMPROC:-$(dirname "$DENALI")/denali-vmproc}
bench_need $NAME "$DENALI" "$GUESTS/httpd.elf" "$GUESTS/boot.elf" "$BENCH_BIN/platform_boot" \
    "$BENCH_BIN/fork_floor"

# run_ready ARGS...: one `denali run` of VMS httpd VMs that exit once ready; prints its stats line.
run_ready() {
    local out status
    echo "== denali run ${PLATFORM_OPTS[*]} -n $VMS -m 4M -j $WORKERS --console null --stats $*" \
        "$GUESTS/httpd.elf -q -x" >&2
    out=$("$DENALI" run "${PLATFORM_OPTS[@]}" -n "$VMS" -m 4M -j "$WORKERS" --console null \
        --stats "$@" "$GUESTS/httpd.elf" -q -x 2>&1)
    status=$?
    grep -v '^\[vm ' <<<"$out" | tail -n 3 >&2
    [[ $status -eq 0 ]] || return 1
    out=$(grep -o 'denali-stats:.*' <<<"$out" | tail -n 1)
    [[ $(kv ready_vms "$out") == "$VMS" ]] || return 1
    echo "$out"
}

measure() {
    local platform=$1 floor cold clone fork
    platform_opts "$platform"
    echo "== floor: platform_boot $platform boot.elf $VMS $WORKERS" >&2
    floor=$("$BENCH_BIN/platform_boot" "$platform" "$GUESTS/boot.elf" "$VMS" "$WORKERS") ||
        bench_fail "${NAME}_$platform" "platform_boot failed"
    echo "$floor" >&2
    floor=$(grep '^FLOOR ' <<<"$floor")
    # The bound of the cold / clone figure: a clone is a fork, and a bare fork of a small static
    # process with a guest-sized private mapping is the least one can cost here.
    echo "== floor: fork_floor $VMS" >&2
    fork=$("$BENCH_BIN/fork_floor" "$VMS") || bench_fail "${NAME}_$platform" "fork_floor failed"
    echo "$fork" >&2
    fork=$(grep '^FLOOR ' <<<"$fork")
    cold=$(run_ready) || bench_fail "${NAME}_$platform" "the cold run failed"
    clone=$(run_ready --clone) || bench_fail "${NAME}_$platform" "the clone run failed"
    local fork_p50 bound
    fork_p50=$(kv p50_us "$fork")
    local floor_p50 cold_p50 clone_p50 clone_p99 cold_p99 booted_ms per_s r_floor r_cold pf pc
    floor_p50=$(kv p50_us "$floor")
    cold_p50=$(kv ready_p50_us "$cold") cold_p99=$(kv ready_p99_us "$cold")
    clone_p50=$(kv ready_p50_us "$clone") clone_p99=$(kv ready_p99_us "$clone")
    booted_ms=$(kv all_booted_ms "$clone")
    per_s=$(fmt %.0f "$VMS * 1000 / $booted_ms")
    r_floor=$(ratio "$clone_p50" "$floor_p50")
    r_cold=$(ratio "$cold_p50" "$clone_p50")
    bound=$(ratio "$cold_p50" "$fork_p50")
    pf=0 pc=0
    le "$r_floor" "$GOAL_FLOOR" && pf=1
    le "$GOAL_COLD" "$r_cold" && pc=1
    echo "clone ($platform): $VMS httpd VMs, -j $WORKERS, request to the first instruction after" \
        "the ready call, p50: clone $clone_p50 us (p99 $clone_p99), cold $cold_p50 us (p99" \
        "$cold_p99), platform floor $floor_p50 us"
    echo "clone ($platform): clone / floor $r_floor (goal <= $GOAL_FLOOR); cold / clone $r_cold" \
        "(goal >= $GOAL_COLD); $per_s clones per second (all $VMS, the template's boot included)"
    echo "clone ($platform): bound, a bare fork (fork_floor, one at a time) p50 $fork_p50 us:" \
        "cold / fork $bound is the most a fork-based clone could reach; clone / fork" \
        "$(ratio "$clone_p50" "$fork_p50")"
    echo "BENCH ${NAME}_$platform ratio=$r_floor platform=$platform clone_p50_us=$clone_p50" \
        "clone_p99_us=$clone_p99 floor_p50_us=$floor_p50 floor=platform_boot vms=$VMS" \
        "parallel=$WORKERS clones_per_s=$per_s goal=$GOAL_FLOOR pass=$pf"
    echo "BENCH ${NAME}_cold_$platform ratio=$r_cold platform=$platform cold_p50_us=$cold_p50" \
        "cold_p99_us=$cold_p99 clone_p50_us=$clone_p50 fork_floor_p50_us=$fork_p50" \
        "bound_ratio=$bound vms=$VMS parallel=$WORKERS goal=$GOAL_COLD pass=$pc"
}

skip() {
    bench_skip "${NAME}_$1" "$1" "$GOAL_FLOOR" "$2"
    bench_skip "${NAME}_cold_$1" "$1" "$GOAL_COLD" "$2"
}

for_each_platform measure skip
