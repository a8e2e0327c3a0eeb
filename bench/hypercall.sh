#!/usr/bin/env bash
# Hypercall benchmark: Denali's null hypercall round trip against its platform's floor, same run.
# Usage: bench/hypercall.sh [CALLS]   (default 100000)
# Per platform this machine has (BENCH_PLATFORMS, default "kvm process"): kvm against a bare KVM
# `out` exit (raw_exit), process against a futex handoff between two processes (futex_pingpong).
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

NAME=hypercall
GOAL_KVM=1.15
GOAL_PROCESS=1.2
CALLS=${1:-100000}
[[ $CALLS =~ ^[1-9][0-9]*$ && $CALLS -ge 100 ]] || bench_fail $NAME "bad call count '$CALLS' (>= 100)"
bench_need $NAME "$DENALI" "$GUESTS/hcbench.elf"

# floor_run TOOL: one run of the floor; prints its mean ns per round trip.
floor_run() {
    local out status
    echo "== floor: $1 $CALLS" >&2
    out=$("$BENCH_BIN/$1" "$CALLS")
    status=$?
    echo "$out" >&2
    [[ $status -eq 0 ]] || return 1
    out=$(kv mean_ns "$(grep "^FLOOR $1" <<<"$out")")
    [[ -n $out ]] || return 1
    echo "$out"
}

# The floor runs before and after the monitor; their mean absorbs drift during the run.
measure() {
    local platform=$1 name=${NAME}_$1 tool goal out status line calls total_ns
    case $platform in
    kvm) tool=raw_exit goal=$GOAL_KVM ;;
    process) tool=futex_pingpong goal=$GOAL_PROCESS ;;
    *) bench_fail "$name" "no floor for platform '$platform'" ;;
    esac
    bench_need "$name" "$BENCH_BIN/$tool"
    platform_opts "$platform"

    floor1=$(floor_run $tool) || bench_fail "$name" "$tool failed"
    echo "== denali: run ${PLATFORM_OPTS[*]} --console stdout $GUESTS/hcbench.elf $CALLS" >&2
    out=$("$DENALI" run "${PLATFORM_OPTS[@]}" --console stdout "$GUESTS/hcbench.elf" "$CALLS" 2>&1)
    status=$?
    echo "$out" >&2
    [[ $status -eq 0 ]] || bench_fail "$name" "denali exited with status $status"
    line=$(grep -o 'hcbench: [0-9]* calls [0-9]* ns' <<<"$out" | head -n 1)
    [[ -n $line ]] || bench_fail "$name" "no 'hcbench: N calls T ns' line in the monitor's output"
    read -r _ calls _ total_ns _ <<<"$line"
    [[ $calls -gt 0 ]] || bench_fail "$name" "the guest made no calls"
    denali_ns=$(fmt %.1f "$total_ns / $calls")
    floor2=$(floor_run $tool) || bench_fail "$name" "$tool failed"
    floor_ns=$(fmt %.1f "($floor1 + $floor2) / 2")

    r=$(ratio "$denali_ns" "$floor_ns")
    pass=0
    le "$r" "$goal" && pass=1
    echo "hypercall ($platform): denali $denali_ns ns/call ($calls calls), floor $tool $floor_ns ns" \
        "(runs: $floor1, $floor2), ratio $r, goal <= $goal"
    echo "BENCH $name ratio=$r platform=$platform denali_ns=$denali_ns floor_ns=$floor_ns" \
        "floor=$tool calls=$calls goal=$goal pass=$pass"
}

# skip PLATFORM REASON: the summary line of a platform this machine lacks, with its own goal.
skip() {
    local goal=$GOAL_PROCESS
    [[ $1 == kvm ]] && goal=$GOAL_KVM
    bench_skip "${NAME}_$1" "$1" "$goal" "$2"
}

for_each_platform measure skip
