#!/usr/bin/env bash
# Hypercall benchmark: Denali's null hypercall round trip against a bare KVM `out` exit, same run.
# Usage: bench/hypercall.sh [CALLS]   (default 100000)
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

NAME=hypercall
GOAL=1.15
CALLS=${1:-100000}
bench_need $NAME "$BENCH_BIN/raw_exit" "$DENALI" "$GUESTS/hcbench.elf"

# The floor runs before and after the monitor; their mean absorbs drift during the run.
floor_run() {
    local out
    out=$("$BENCH_BIN/raw_exit" "$CALLS")
    local status=$?
    echo "$out" >&2
    [[ $status -eq 0 ]] || return 1
    out=$(kv mean_ns "$(grep '^FLOOR raw_exit' <<<"$out")")
    [[ -n $out ]] || return 1
    echo "$out"
}

echo "== floor: raw_exit $CALLS" >&2
floor1=$(floor_run) || bench_fail $NAME "raw_exit failed"

echo "== denali: run --console stdout $GUESTS/hcbench.elf $CALLS" >&2
out=$("$DENALI" run --console stdout "$GUESTS/hcbench.elf" "$CALLS" 2>&1)
status=$?
echo "$out" >&2
[[ $status -eq 0 ]] || bench_fail $NAME "denali exited with status $status"
line=$(grep -o 'hcbench: [0-9]* calls [0-9]* ns' <<<"$out" | head -n 1)
[[ -n $line ]] || bench_fail $NAME "no 'hcbench: N calls T ns' line in the monitor's output"
read -r _ calls _ total_ns _ <<<"$line"
[[ $calls -gt 0 ]] || bench_fail $NAME "the guest made no calls"
denali_ns=$(fmt %.1f "$total_ns / $calls")

echo "== floor again: raw_exit $CALLS" >&2
floor2=$(floor_run) || bench_fail $NAME "raw_exit failed"
floor_ns=$(fmt %.1f "($floor1 + $floor2) / 2")

ratio=$(ratio "$denali_ns" "$floor_ns")
pass=0
le "$ratio" "$GOAL" && pass=1
echo "hypercall: denali $denali_ns ns/call ($calls calls), floor $floor_ns ns/exit" \
    "(runs: $floor1, $floor2), ratio $ratio, goal <= $GOAL"
echo "BENCH $NAME ratio=$ratio denali_ns=$denali_ns floor_ns=$floor_ns calls=$calls goal=$GOAL pass=$pass"
