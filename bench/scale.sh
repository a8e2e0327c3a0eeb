#!/usr/bin/env bash
# Scale benchmark: N idling VMs in one monitor (boot time, memory, idle CPU) against bare KVM, same run.
# Usage: bench/scale.sh [N...]   (default 1000 5000 10000)
# Environment: SCALE_IDLE_S (default 5), seconds over which idle CPU is measured.
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

NAME=scale
GOAL_BOOT=1.3
GOAL_MEM_KIB=512
GOAL_MEM_SLACK_KIB=128
GOAL_IDLE=1.2
IDLE_S=${SCALE_IDLE_S:-5}
COUNTS=("$@")
[[ ${#COUNTS[@]} -gt 0 ]] || COUNTS=(1000 5000 10000)
for n in "${COUNTS[@]}"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || bench_fail $NAME "bad VM count '$n'"
done
bench_need $NAME "$BENCH_BIN/raw_scale" "$DENALI" "$GUESTS/idle.elf"
TICK_HZ=$(getconf CLK_TCK)
WORK=$(mktemp -d /tmp/denali-bench-scale.XXXXXX)
MONITOR_PID=
cleanup() {
    if [[ -n $MONITOR_PID ]] && kill -0 "$MONITOR_PID" 2>/dev/null; then
        kill "$MONITOR_PID" 2>/dev/null
        wait "$MONITOR_PID" 2>/dev/null
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Kills the monitor this script started (by its pid) and fails.
monitor_fail() {
    if [[ -n $MONITOR_PID ]] && kill -0 "$MONITOR_PID" 2>/dev/null; then
        kill "$MONITOR_PID" 2>/dev/null
        wait "$MONITOR_PID" 2>/dev/null
    fi
    MONITOR_PID=
    tail -n 20 "$WORK/out" >&2
    bench_fail $NAME "$*"
}

all_pass=1
results=()
for n in "${COUNTS[@]}"; do
    settle_memory 12
    echo "== floor: raw_scale $n $IDLE_S" >&2
    out=$("$BENCH_BIN/raw_scale" "$n" "$IDLE_S") || bench_fail $NAME "raw_scale $n failed: $out"
    echo "$out" >&2
    floor=$(grep '^FLOOR raw_scale' <<<"$out")
    f_boot_ms=$(kv boot_ms "$floor")
    f_vms_s=$(kv vms_per_s "$floor")
    f_mem=$(kv mem_kib_per_vm "$floor")
    f_rss=$(kv rss_kib_per_vm "$floor")
    f_kern=$(kv kernel_kib_per_vm "$floor")
    f_idle=$(kv idle_cpu_frac "$floor")
    [[ -n $f_boot_ms && -n $f_idle ]] || bench_fail $NAME "no FLOOR line from raw_scale"

    # Each guest idles with 1 s timeouts for SECS seconds from its own boot; SECS leaves room
    # for a boot 2.5 times the floor's plus the measurement, so no VM ends while we measure.
    secs=$(awk -v b="$f_boot_ms" -v i="$IDLE_S" 'BEGIN { s = int(b / 1000 * 2.5) + i + 6;
        print (s < 12 ? 12 : s) }')
    settle_memory 12
    avail0=$(mem_available_kib)
    kern0=$(kernel_nonlru_kib)
    echo "== denali: run -n $n -m 2M --console null --stats $GUESTS/idle.elf $secs 1" >&2
    "$DENALI" run -n "$n" -m 2M --console null --stats "$GUESTS/idle.elf" "$secs" 1 \
        >"$WORK/out" 2>&1 &
    MONITOR_PID=$!
    t_start=$(now_us)
    limit_us=$(awk -v b="$f_boot_ms" 'BEGIN { printf "%d", (b * 5 + 30000) * 1000 }')
    booted=
    while :; do
        booted=$(grep -o "denali: all $n VMs booted in [0-9.]* ms" "$WORK/out" | head -n 1)
        [[ -n $booted ]] && break
        kill -0 "$MONITOR_PID" 2>/dev/null || monitor_fail "monitor ended before all $n VMs booted"
        (($(now_us) - t_start < limit_us)) || monitor_fail "no 'all $n VMs booted' line in time"
        sleep 0.05
    done
    d_boot_ms=$(awk '{ print $(NF - 1) }' <<<"$booted")
    avail1=$(mem_available_kib)
    kern1=$(kernel_nonlru_kib)
    rss=$(proc_rss_kib "$MONITOR_PID")
    c0=$(proc_cpu_ticks "$MONITOR_PID") || monitor_fail "monitor vanished while idling"
    w0=$(now_us)
    sleep "$IDLE_S"
    c1=$(proc_cpu_ticks "$MONITOR_PID") || monitor_fail "monitor ended while idling"
    w1=$(now_us)
    if (((w1 - t_start) / 1000000 + 1 >= secs)); then
        echo "scale: warning: the measurement ended ${secs}s or less after the start; the first" \
            "VMs may have finished idling, so idle CPU and memory are understated" >&2
    fi
    wait "$MONITOR_PID"
    status=$?
    MONITOR_PID=
    grep -v '^\[vm ' "$WORK/out" | tail -n 5 >&2
    summary=$(grep -o "denali: $n VMs\?: [0-9]* exited 0, [0-9]* exited non-zero, [0-9]* stopped" \
        "$WORK/out" | tail -n 1)
    [[ -n $summary ]] || bench_fail $NAME "no 'denali: $n VMs: ...' summary line (status $status)"
    read -r _ _ _ ok _ _ bad _ _ stopped _ <<<"${summary//,/}"

    d_vms_s=$(fmt %.0f "$n / ($d_boot_ms / 1000)")
    d_mem=$(fmt %.1f "($avail0 - $avail1) / $n")
    d_rss=$(fmt %.1f "$rss / $n")
    d_kern=$(fmt %.1f "($kern1 - $kern0) / $n")
    # MemAvailable moves with every other process on the machine; when it disagrees with
    # kernel-outside-LRU + RSS by over 25%, the goal is judged on the latter instead.
    d_check=$(fmt %.1f "$d_kern + $d_rss")
    f_check=$(fmt %.1f "$f_kern + $f_rss")
    d_judge=$d_mem f_judge=$f_mem noisy=0
    if ! awk -v a="$d_mem" -v b="$d_check" -v c="$f_mem" -v d="$f_check" 'BEGIN {
        exit !(a > 0.75 * b && a < 1.25 * b && c > 0.75 * d && c < 1.25 * d) }'; then
        d_judge=$d_check f_judge=$f_check noisy=1
    fi
    d_idle=$(fmt %.5f "($c1 - $c0) / $TICK_HZ / (($w1 - $w0) / 1000000)")
    boot_ratio=$(ratio "$d_boot_ms" "$f_boot_ms")
    mem_ratio=$(ratio "$d_mem" "$f_mem")
    idle_ratio=$(ratio "$d_idle" "$f_idle")

    exits_ok=0
    [[ $ok == "$n" && $bad == 0 && $stopped == 0 && $status -eq 0 ]] && exits_ok=1
    boot_ok=0
    le "$boot_ratio" "$GOAL_BOOT" && boot_ok=1
    mem_ok=0
    if le "$d_judge" "$GOAL_MEM_KIB" || le "$d_judge" "$(calc "$f_judge + $GOAL_MEM_SLACK_KIB")"; then
        mem_ok=1
    fi
    idle_ok=0
    le "$idle_ratio" "$GOAL_IDLE" && idle_ok=1
    pass=$((exits_ok && boot_ok && mem_ok && idle_ok))
    ((pass)) || all_pass=0

    echo "scale n=$n: $summary (status $status)"
    echo "  boot:   denali $d_boot_ms ms ($d_vms_s VMs/s), floor $f_boot_ms ms ($f_vms_s VMs/s)," \
        "ratio $boot_ratio (goal <= $GOAL_BOOT)"
    echo "  memory: denali $d_mem KiB/VM (kernel+RSS), $d_rss KiB/VM RSS; floor $f_mem KiB/VM," \
        "$f_rss KiB/VM RSS; ratio $mem_ratio (goal <= $GOAL_MEM_KIB KiB or floor + $GOAL_MEM_SLACK_KIB)"
    echo "          cross-check (kernel outside LRU + RSS): denali $d_check KiB/VM, floor $f_check" \
        "KiB/VM$( ((noisy)) && echo "; MemAvailable was noisy, goal judged on the cross-check")"
    echo "  idle:   denali $d_idle of a core, floor $f_idle, ratio $idle_ratio (goal <= $GOAL_IDLE)"
    echo "  pass:   exits=$exits_ok boot=$boot_ok memory=$mem_ok idle=$idle_ok"
    results+=("n=$n boot_ratio=$boot_ratio boot_ms=$d_boot_ms floor_boot_ms=$f_boot_ms mem_kib_per_vm=$d_mem rss_kib_per_vm=$d_rss floor_mem_kib_per_vm=$f_mem check_kib_per_vm=$d_check floor_check_kib_per_vm=$f_check mem_noisy=$noisy idle_cpu_frac=$d_idle floor_idle_cpu_frac=$f_idle idle_ratio=$idle_ratio all_exit0=$exits_ok pass=$pass")
done

for r in "${results[@]}"; do
    echo "SCALE $r"
done
# The summary line: the largest N's figures, and pass only if every N met every goal.
last=${results[${#results[@]} - 1]}
echo "BENCH $NAME ratio=$(kv boot_ratio "$last") n=$(kv n "$last")" \
    "mem_kib_per_vm=$(kv mem_kib_per_vm "$last") floor_mem_kib_per_vm=$(kv floor_mem_kib_per_vm "$last")" \
    "check_kib_per_vm=$(kv check_kib_per_vm "$last") floor_check_kib_per_vm=$(kv floor_check_kib_per_vm "$last")" \
    "idle_ratio=$(kv idle_ratio "$last") all_exit0=$(kv all_exit0 "$last")" \
    "goal=$GOAL_BOOT goal_mem_kib=$GOAL_MEM_KIB goal_idle=$GOAL_IDLE counts=$(
        IFS=,
        echo "${COUNTS[*]}"
    ) pass=$all_pass"
