#!/usr/bin/env bash
# Scale benchmark: N idling VMs in one monitor (boot time, memory, idle CPU) against bare KVM, same run.
# Usage: bench/scale.sh [N...]   (default 1000 5000 10000)
# Environment: SCALE_IDLE_S (default 5), seconds over which idle CPU is measured; SCALE_WORKERS
# (default: online CPUs), the monitor's workers and the floor's booting threads.
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

NAME=scale
GOAL_BOOT=1.3           # all booted, denali / floor, booted by as many threads
GOAL_MEM_OVER_KIB=128   # MemAvailable drop per VM, denali minus floor
GOAL_IDLE=1.2           # idle CPU, denali / floor, both from the same meter
IDLE_S=${SCALE_IDLE_S:-5}
WORKERS=${SCALE_WORKERS:-$(nproc)}
COUNTS=("$@")
[[ ${#COUNTS[@]} -gt 0 ]] || COUNTS=(1000 5000 10000)
for n in "${COUNTS[@]}"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || bench_fail $NAME "bad VM count '$n'"
done
[[ $WORKERS =~ ^[1-9][0-9]*$ && $WORKERS -le 64 ]] || bench_fail $NAME "bad SCALE_WORKERS '$WORKERS'"
[[ $IDLE_S =~ ^[1-9][0-9]*$ ]] || bench_fail $NAME "bad SCALE_IDLE_S '$IDLE_S' (whole seconds)"
bench_need $NAME "$BENCH_BIN/raw_scale" "$DENALI" "$GUESTS/idle.elf"
cpu_meter_init
WORK=$(mktemp -d /tmp/denali-bench-scale.XXXXXX)
cleanup() {
    if [[ -n $METER_PID ]] && kill -0 "$METER_PID" 2>/dev/null; then
        kill "$METER_PID" 2>/dev/null
        wait "$METER_PID" 2>/dev/null
    fi
    meter_release
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Kills the command this script started (by its pid) and fails.
metered_fail() {
    local out=$1
    shift
    if [[ -n $METER_PID ]] && kill -0 "$METER_PID" 2>/dev/null; then
        kill "$METER_PID" 2>/dev/null
        wait "$METER_PID" 2>/dev/null
    fi
    METER_PID=
    meter_release
    tail -n 20 "$out" >&2
    bench_fail $NAME "$*"
}

# wait_line OUT PATTERN LIMIT_US WHAT: waits until the metered command prints PATTERN to OUT and
# sets LINE to the matching text. Fails when the command ends first or LIMIT_US passes.
LINE=
wait_line() {
    local out=$1 pattern=$2 limit_us=$3 what=$4 t0
    t0=$(now_us)
    while :; do
        LINE=$(grep -o "$pattern" "$out" | head -n 1)
        [[ -n $LINE ]] && break
        kill -0 "$METER_PID" 2>/dev/null || metered_fail "$out" "$what ended before printing '$pattern'"
        (($(now_us) - t0 < limit_us)) || metered_fail "$out" "no '$pattern' from $what in time"
        sleep 0.05
    done
}

# idle_window: the metered command's CPU over IDLE_S seconds, starting one second after the
# call (the last VMs' first idle steps settle), in cores; the same for monitor and floor.
idle_window() {
    local c0 c1 w0 w1
    sleep 1
    c0=$(meter_cpu_us) w0=$(now_us)
    sleep "$IDLE_S"
    c1=$(meter_cpu_us) w1=$(now_us)
    [[ -n $c0 && -n $c1 ]] || return 1
    fmt %.5f "($c1 - $c0) / ($w1 - $w0)"
}

all_pass=1 all_boot=1 all_mem=1 all_idle=1 all_exits=1
results=()
for n in "${COUNTS[@]}"; do
    settle_memory 12
    # The floor idles longer than the window measured, so its end never falls inside it.
    echo "== floor: raw_scale $n $((IDLE_S + 3)) $WORKERS" >&2
    meter_run "$WORK/floor" "$BENCH_BIN/raw_scale" "$n" $((IDLE_S + 3)) "$WORKERS"
    wait_line "$WORK/floor" "^raw_scale: idling" $((600 * 1000000)) "raw_scale $n"
    f_idle=$(idle_window) || metered_fail "$WORK/floor" "cannot read the floor's CPU time"
    wait "$METER_PID"
    status=$?
    METER_PID=
    meter_release
    out=$(cat "$WORK/floor")
    echo "$out" >&2
    [[ $status -eq 0 ]] || bench_fail $NAME "raw_scale $n failed (status $status)"
    floor=$(grep '^FLOOR raw_scale' <<<"$out")
    f_boot_ms=$(kv boot_ms "$floor")
    f_vms_s=$(kv vms_per_s "$floor")
    f_mem=$(kv mem_kib_per_vm "$floor")
    f_rss=$(kv rss_kib_per_vm "$floor")
    f_kern=$(kv kernel_kib_per_vm "$floor")
    [[ -n $f_boot_ms && -n $f_mem ]] || bench_fail $NAME "no FLOOR line from raw_scale"

    # Each guest idles with 1 s timeouts for SECS seconds from its own boot; SECS leaves room
    # for a boot 2.5 times the floor's plus the measurement, so no VM ends while we measure.
    secs=$(awk -v b="$f_boot_ms" -v i="$IDLE_S" 'BEGIN { s = int(b / 1000 * 2.5) + i + 7;
        print (s < 13 ? 13 : s) }')
    settle_memory 12
    avail0=$(mem_available_kib)
    kern0=$(kernel_nonlru_kib)
    echo "== denali: run -n $n -m 2M -j $WORKERS --console null --stats $GUESTS/idle.elf $secs 1" >&2
    meter_run "$WORK/out" "$DENALI" run -n "$n" -m 2M -j "$WORKERS" --console null --stats \
        "$GUESTS/idle.elf" "$secs" 1
    t_start=$(now_us)
    limit_us=$(awk -v b="$f_boot_ms" 'BEGIN { printf "%d", (b * 5 + 30000) * 1000 }')
    wait_line "$WORK/out" "denali: all $n VMs booted in [0-9.]* ms" "$limit_us" "the monitor"
    d_boot_ms=$(awk '{ print $(NF - 1) }' <<<"$LINE")
    avail1=$(mem_available_kib)
    kern1=$(kernel_nonlru_kib)
    rss=$(proc_rss_kib "$METER_PID")
    d_idle=$(idle_window) || metered_fail "$WORK/out" "cannot read the monitor's CPU time"
    kill -0 "$METER_PID" 2>/dev/null || metered_fail "$WORK/out" "the monitor ended while idling"
    if (($(now_us) - t_start >= (secs - 1) * 1000000)); then
        echo "scale: warning: the measurement ended ${secs}s or less after the start; the first" \
            "VMs may have finished idling, so idle CPU and memory are understated" >&2
    fi
    wait "$METER_PID"
    status=$?
    METER_PID=
    meter_release
    grep -v '^\[vm ' "$WORK/out" | tail -n 5 >&2
    summary=$(grep -o "denali: $n VMs\?: [0-9]* exited 0, [0-9]* exited non-zero, [0-9]* stopped" \
        "$WORK/out" | tail -n 1)
    [[ -n $summary ]] || bench_fail $NAME "no 'denali: $n VMs: ...' summary line (status $status)"
    read -r _ _ _ ok _ _ bad _ _ stopped _ <<<"${summary//,/}"

    d_vms_s=$(fmt %.0f "$n / ($d_boot_ms / 1000)")
    d_mem=$(fmt %.1f "($avail0 - $avail1) / $n")
    d_rss=$(fmt %.1f "$rss / $n")
    d_kern=$(fmt %.1f "($kern1 - $kern0) / $n")
    mem_over=$(fmt %.1f "$d_mem - $f_mem")
    # The verdict judges the MemAvailable figures only. Kernel-outside-LRU + RSS is a cross-check:
    # MemAvailable moves with every other process on the machine, so when the two disagree by
    # over 25% the report says the memory figures are noisy (and still judges MemAvailable).
    d_check=$(fmt %.1f "$d_kern + $d_rss")
    f_check=$(fmt %.1f "$f_kern + $f_rss")
    noisy=0
    if ! awk -v a="$d_mem" -v b="$d_check" -v c="$f_mem" -v d="$f_check" 'BEGIN {
        exit !(a > 0.75 * b && a < 1.25 * b && c > 0.75 * d && c < 1.25 * d) }'; then
        noisy=1
    fi
    boot_ratio=$(ratio "$d_boot_ms" "$f_boot_ms")
    mem_ratio=$(ratio "$d_mem" "$f_mem")
    idle_ratio=$(ratio "$d_idle" "$f_idle")

    exits_ok=0
    [[ $ok == "$n" && $bad == 0 && $stopped == 0 && $status -eq 0 ]] && exits_ok=1
    boot_ok=0
    le "$boot_ratio" "$GOAL_BOOT" && boot_ok=1
    mem_ok=0
    le "$mem_over" "$GOAL_MEM_OVER_KIB" && mem_ok=1
    idle_ok=0
    le "$idle_ratio" "$GOAL_IDLE" && idle_ok=1
    pass=$((exits_ok && boot_ok && mem_ok && idle_ok))
    ((pass)) || all_pass=0
    ((boot_ok)) || all_boot=0
    ((mem_ok)) || all_mem=0
    ((idle_ok)) || all_idle=0
    ((exits_ok)) || all_exits=0

    echo "scale n=$n: $summary (status $status)"
    echo "  boot:   denali $d_boot_ms ms ($d_vms_s VMs/s, $WORKERS workers), floor $f_boot_ms ms" \
        "($f_vms_s VMs/s, $WORKERS threads), ratio $boot_ratio (goal <= $GOAL_BOOT)"
    echo "  memory: MemAvailable drop per VM: denali $d_mem KiB (RSS $d_rss), floor $f_mem KiB" \
        "(RSS $f_rss); denali - floor $mem_over KiB (goal <= $GOAL_MEM_OVER_KIB), ratio $mem_ratio"
    echo "          cross-check (kernel outside LRU + RSS, not judged): denali $d_check KiB/VM," \
        "floor $f_check KiB/VM$( ((noisy)) && echo "; disagrees with MemAvailable by over 25%:" \
            "the memory figures are noisy")"
    echo "  idle:   CPU over ${IDLE_S}s ($CPU_METER): denali $d_idle of a core, floor $f_idle," \
        "ratio $idle_ratio (goal <= $GOAL_IDLE)"
    echo "  pass:   exits=$exits_ok boot=$boot_ok memory=$mem_ok idle=$idle_ok"
    results+=("n=$n boot_ratio=$boot_ratio boot_ms=$d_boot_ms floor_boot_ms=$f_boot_ms mem_kib_per_vm=$d_mem rss_kib_per_vm=$d_rss floor_mem_kib_per_vm=$f_mem mem_over_floor_kib=$mem_over check_kib_per_vm=$d_check floor_check_kib_per_vm=$f_check mem_noisy=$noisy idle_cpu_frac=$d_idle floor_idle_cpu_frac=$f_idle idle_ratio=$idle_ratio all_exit0=$exits_ok pass=$pass")
done

for r in "${results[@]}"; do
    echo "SCALE $r"
done
# The summary line: the largest N's figures. Each verdict judges one figure, at every N: boot the
# ratio (goal), memory mem_over_floor_kib (goal_mem_over_floor_kib), idle idle_ratio (goal_idle);
# pass needs all three and every VM exiting 0.
last=${results[${#results[@]} - 1]}
echo "BENCH $NAME ratio=$(kv boot_ratio "$last") n=$(kv n "$last") workers=$WORKERS" \
    "mem_kib_per_vm=$(kv mem_kib_per_vm "$last") floor_mem_kib_per_vm=$(kv floor_mem_kib_per_vm "$last")" \
    "mem_over_floor_kib=$(kv mem_over_floor_kib "$last") mem_noisy=$(kv mem_noisy "$last")" \
    "idle_cpu_frac=$(kv idle_cpu_frac "$last") floor_idle_cpu_frac=$(kv floor_idle_cpu_frac "$last")" \
    "idle_ratio=$(kv idle_ratio "$last") cpu_meter=$CPU_METER all_exit0=$all_exits" \
    "goal=$GOAL_BOOT goal_mem_over_floor_kib=$GOAL_MEM_OVER_KIB goal_idle=$GOAL_IDLE" \
    "pass_boot=$all_boot pass_mem=$all_mem pass_idle=$all_idle counts=$(
        IFS=,
        echo "${COUNTS[*]}"
    ) pass=$all_pass"
