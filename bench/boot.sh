#!/usr/bin/env bash
# Boot benchmark: Denali's per-VM boot latency (create to first exit) against bare KVM, same run.
# Usage: bench/boot.sh [VMS]   (default 1000, booted one at a time)
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

NAME=boot
GOAL=1.5
VMS=${1:-1000}
PROCESS_RUNS=20
bench_need $NAME "$BENCH_BIN/raw_boot" "$DENALI" "$GUESTS/boot.elf" "$GUESTS/hello.elf"

# The floor runs before and after the monitor; their mean absorbs drift during the run.
floor_run() {
    local out status
    echo "== floor: raw_boot $VMS" >&2
    out=$("$BENCH_BIN/raw_boot" "$VMS")
    status=$?
    echo "$out" >&2
    [[ $status -eq 0 ]] || return 1
    out=$(grep '^FLOOR raw_boot' <<<"$out")
    [[ -n $(kv p50_us "$out") ]] || return 1
    echo "$out"
}
floor1=$(floor_run) || bench_fail $NAME "raw_boot failed"

echo "== denali: run -n $VMS -j 1 --console null --stats $GUESTS/boot.elf" >&2
out=$("$DENALI" run -n "$VMS" -j 1 --console null --stats "$GUESTS/boot.elf" 2>&1)
status=$?
echo "$out" >&2
[[ $status -eq 0 ]] || bench_fail $NAME "denali exited with status $status"
stats=$(grep -o 'denali-stats:.*' <<<"$out" | tail -n 1)
[[ -n $stats ]] || bench_fail $NAME "no denali-stats line in the monitor's output"
denali_p50=$(kv boot_p50_us "$stats")
denali_p99=$(kv boot_p99_us "$stats")
[[ -n $denali_p50 && -n $denali_p99 ]] || bench_fail $NAME "denali-stats lacks boot_p50_us/boot_p99_us"
[[ $(kv vms "$stats") == "$VMS" ]] || bench_fail $NAME "denali-stats reports vms=$(kv vms "$stats"), expected $VMS"

floor2=$(floor_run) || bench_fail $NAME "raw_boot failed"
floor_p50=$(fmt %.1f "($(kv p50_us "$floor1") + $(kv p50_us "$floor2")) / 2")
floor_p99=$(fmt %.1f "($(kv p99_us "$floor1") + $(kv p99_us "$floor2")) / 2")

# Whole-process time, start to exit: one Denali hello against one bare VM in its own process.
process_ms() {
    local i t0 t1 times=()
    for ((i = 0; i < PROCESS_RUNS; i++)); do
        t0=$(now_us)
        "$@" >/dev/null 2>&1 || return 1
        t1=$(now_us)
        times+=("$(fmt %.3f "($t1 - $t0) / 1000")")
    done
    median "${times[@]}"
}
echo "== process start to exit, median of $PROCESS_RUNS: denali run $GUESTS/hello.elf" >&2
hello_ms=$(process_ms "$DENALI" run "$GUESTS/hello.elf") || bench_fail $NAME "denali run hello.elf failed"
bare_ms=$(process_ms "$BENCH_BIN/raw_boot" 1) || bench_fail $NAME "raw_boot 1 failed"

ratio=$(ratio "$denali_p50" "$floor_p50")
ratio99=$(ratio "$denali_p99" "$floor_p99")
pass=0
le "$ratio" "$GOAL" && pass=1
echo "boot: create to first exit, p50: denali $denali_p50 us, floor $floor_p50 us" \
    "(runs: $(kv p50_us "$floor1"), $(kv p50_us "$floor2")), ratio $ratio (goal <= $GOAL)"
echo "boot: create to first exit, p99: denali $denali_p99 us, floor $floor_p99 us, ratio $ratio99"
echo "boot: process start to exit (median of $PROCESS_RUNS): denali hello $hello_ms ms," \
    "bare KVM VM $bare_ms ms, ratio $(ratio "$hello_ms" "$bare_ms")"
echo "BENCH $NAME ratio=$ratio denali_p50_us=$denali_p50 floor_p50_us=$floor_p50" \
    "denali_p99_us=$denali_p99 floor_p99_us=$floor_p99 hello_process_ms=$hello_ms" \
    "bare_process_ms=$bare_ms goal=$GOAL pass=$pass"
