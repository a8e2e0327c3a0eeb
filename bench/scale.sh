#!/usr/bin/env bash
# Scale benchmark: N idling VMs in one monitor (boot time, memory, idle CPU) per platform, against
# that platform's floor in the same run.
# Usage: bench/scale.sh [N...]   (default 1000 5000 10000)
# Per platform this machine has (BENCH_PLATFORMS, default "kvm process"): kvm against raw_scale
# (bare KVM VMs), process against idle_procs (bare processes on one memfd, idling in futex waits).
# Environment: SCALE_IDLE_S (default 5), seconds over which idle CPU is measured; SCALE_WORKERS
# (default: online CPUs), the monitor's workers and the floor's spawning threads; SCALE_RAISE_PID_MAX
# (default 1): on the process platform, raise kernel.pid_max for the run (restored on exit) when N
# processes would not fit and we are root.
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

NAME=scale
GOAL_BOOT=1.3           # all booted, denali / floor, booted by as many threads (both platforms)
GOAL_MEM_OVER_KIB=128   # kvm: MemAvailable drop per VM, denali minus floor
GOAL_IDLE=1.2           # kvm: idle CPU, denali / floor, both from the same meter
GOAL_MEM_KIB=256        # process: MemAvailable drop per VM
GOAL_IDLE_CORES=0.5     # process: idle CPU of monitor and VM processes, in cores
IDLE_S=${SCALE_IDLE_S:-5}
WORKERS=${SCALE_WORKERS:-$(nproc)}
COUNTS=("$@")
[[ ${#COUNTS[@]} -gt 0 ]] || COUNTS=(1000 5000 10000)
for n in "${COUNTS[@]}"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || bench_fail $NAME "bad VM count '$n'"
done
[[ $WORKERS =~ ^[1-9][0-9]*$ && $WORKERS -le 64 ]] || bench_fail $NAME "bad SCALE_WORKERS '$WORKERS'"
[[ $IDLE_S =~ ^[1-9][0-9]*$ ]] || bench_fail $NAME "bad SCALE_IDLE_S '$IDLE_S' (whole seconds)"
bench_need $NAME "$DENALI" "$GUESTS/idle.elf"
cpu_meter_init
WORK=$(mktemp -d /tmp/denali-bench-scale.XXXXXX)
PID_MAX_SAVED=
# shellcheck disable=SC2317 # the EXIT trap of each platform's subshell
cleanup() {
    if [[ -n $METER_PID ]] && kill -0 "$METER_PID" 2>/dev/null; then
        kill "$METER_PID" 2>/dev/null
        wait "$METER_PID" 2>/dev/null
    fi
    meter_release
    if [[ -n $PID_MAX_SAVED ]]; then
        echo "$PID_MAX_SAVED" >/proc/sys/kernel/pid_max && PID_MAX_SAVED=
    fi
}
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

process_count() {
    find /proc -maxdepth 1 -name '[0-9]*' | wc -l
}

# The host's limits on processes, for a report when a count does not fit.
show_limits() {
    echo "scale: limits: kernel.pid_max $(cat /proc/sys/kernel/pid_max)," \
        "kernel.threads-max $(cat /proc/sys/kernel/threads-max), ulimit -u $(ulimit -u)," \
        "ulimit -n $(ulimit -n) (hard $(ulimit -Hn)), vm.max_map_count" \
        "$(cat /proc/sys/vm/max_map_count), processes now $(process_count)," \
        "MemAvailable $(mem_available_kib) KiB" >&2
}

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
    show_limits
    bench_fail "$CURRENT" "$*"
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

# pid_room N: on the process platform, N VM processes (and as many for the floor, one after the
# other) need pids, one each (a VM process is single-threaded; measured): when kernel.pid_max
# leaves too little room, raise it for the run if allowed.
pid_room() {
    local need cur
    cur=$(cat /proc/sys/kernel/pid_max)
    need=$(($1 + $(process_count) + 1000))
    ((need <= cur)) && return 0
    if [[ ${SCALE_RAISE_PID_MAX:-1} == 1 && -w /proc/sys/kernel/pid_max ]]; then
        [[ -n $PID_MAX_SAVED ]] || PID_MAX_SAVED=$cur
        if echo "$need" >/proc/sys/kernel/pid_max 2>/dev/null; then
            echo "== sysctl kernel.pid_max=$need (was $cur; restored on exit)" >&2
            return 0
        fi
    fi
    echo "scale: warning: kernel.pid_max is $cur, and $1 VM processes want about $need pids;" \
        "not raised (root and SCALE_RAISE_PID_MAX=1 raise it)" >&2
}

# measure_n PLATFORM N: one floor run and one monitor run of N VMs; prints the report and sets
# LAST_SCALE to its machine-readable line.
LAST_SCALE=
measure_n() {
    local platform=$1 n=$2 tool pattern out floor status summary
    case $platform in
    kvm) tool=raw_scale ;;
    process) tool=idle_procs ;;
    esac
    [[ $platform == process ]] && pid_room "$n"
    settle_memory 12
    # The floor idles longer than the window measured and the /proc walk after it (about a
    # second per 1,000 processes on a busy machine), so its end never falls inside either.
    local floor_idle=$((IDLE_S + 4 + 2 * n / 1000))
    echo "== floor: $tool $n $floor_idle $WORKERS" >&2
    meter_run "$WORK/floor" "$BENCH_BIN/$tool" "$n" "$floor_idle" "$WORKERS"
    wait_line "$WORK/floor" "^$tool: idling" $((1800 * 1000000)) "$tool $n"
    f_idle=$(idle_window) || metered_fail "$WORK/floor" "cannot read the floor's CPU time"
    f_tree=$(meter_tree_kib)
    wait "$METER_PID"
    status=$?
    METER_PID=
    meter_release
    out=$(cat "$WORK/floor")
    echo "$out" >&2
    [[ $status -eq 0 ]] || {
        show_limits
        bench_fail "$CURRENT" "$tool $n failed (status $status)"
    }
    floor=$(grep "^FLOOR $tool" <<<"$out")
    f_boot_ms=$(kv boot_ms "$floor")
    if [[ $platform == kvm ]]; then
        f_mem=$(kv mem_kib_per_vm "$floor")
        f_check=$(fmt %.1f "$(kv kernel_kib_per_vm "$floor") + $(kv rss_kib_per_vm "$floor")")
    else
        f_mem=$(kv mem_kib_per_proc "$floor")
        f_check=$(fmt %.1f "${f_tree:-0} / $n")
    fi
    [[ -n $f_boot_ms && -n $f_mem ]] || bench_fail "$CURRENT" "no FLOOR line from $tool"
    f_vms_s=$(fmt %.0f "$n / ($f_boot_ms / 1000)")

    # Each guest idles with 1 s timeouts for SECS seconds from its own boot; SECS leaves room
    # for a boot 4 times the floor's plus the measurement and the /proc walk, so no VM ends
    # while we measure (at 10,000 the process platform booted in 2.5 times its floor).
    secs=$(awk -v b="$f_boot_ms" -v i="$IDLE_S" -v n="$n" 'BEGIN {
        s = int(b / 1000 * 4) + i + 8 + int(2 * n / 1000); print (s < 13 ? 13 : s) }')
    settle_memory 12
    avail0=$(mem_available_kib) kern0=$(kernel_nonlru_kib)
    echo "== denali: run ${PLATFORM_OPTS[*]} -n $n -m 2M -j $WORKERS --console null --stats" \
        "$GUESTS/idle.elf $secs 1" >&2
    meter_run "$WORK/out" "$DENALI" run "${PLATFORM_OPTS[@]}" -n "$n" -m 2M -j "$WORKERS" \
        --console null --stats "$GUESTS/idle.elf" "$secs" 1
    t_start=$(now_us)
    limit_us=$(awk -v b="$f_boot_ms" 'BEGIN { printf "%d", (b * 5 + 30000) * 1000 }')
    wait_line "$WORK/out" "denali: all $n VMs booted in [0-9.]* ms" "$limit_us" "the monitor"
    d_boot_ms=$(awk '{ print $(NF - 1) }' <<<"$LINE")
    avail1=$(mem_available_kib) kern1=$(kernel_nonlru_kib)
    rss=$(proc_rss_kib "$METER_PID")
    d_idle=$(idle_window) || metered_fail "$WORK/out" "cannot read the monitor's CPU time"
    d_tree=$(meter_tree_kib)
    kill -0 "$METER_PID" 2>/dev/null || metered_fail "$WORK/out" "the monitor ended while idling"
    if (($(now_us) - t_start >= (secs - 1) * 1000000)); then
        echo "scale: warning: the measurement ended ${secs}s or less after the start; the first" \
            "VMs may have finished idling, so idle CPU and memory are understated" >&2
    fi
    wait "$METER_PID"
    status=$?
    METER_PID=
    meter_release
    grep -v '^\[vm ' "$WORK/out" | grep -v '^denali: vm [0-9]* ' | tail -n 5 >&2
    summary=$(grep -o "denali: $n VMs\?: [0-9]* exited 0, [0-9]* exited non-zero, [0-9]* stopped" \
        "$WORK/out" | tail -n 1)
    [[ -n $summary ]] || bench_fail "$CURRENT" "no 'denali: $n VMs: ...' summary line (status $status)"
    read -r _ _ _ ok _ _ bad _ _ stopped _ <<<"${summary//,/}"
    stats=$(grep -o 'denali-stats:.*' "$WORK/out" | tail -n 1)
    ran_on=$(kv platform "$stats")
    [[ -z $ran_on || $ran_on == "$platform" ]] ||
        bench_fail "$CURRENT" "asked for platform $platform, the monitor ran $ran_on"
    if ((bad + stopped > 0)); then
        echo "scale: $((bad + stopped)) of $n VMs did not exit 0; the first:" >&2
        grep -E '^denali: vm [0-9]+ (stopped|exited)' "$WORK/out" | head -n 3 >&2
        show_limits
    fi

    d_vms_s=$(fmt %.0f "$n / ($d_boot_ms / 1000)")
    d_mem=$(fmt %.1f "($avail0 - $avail1) / $n")
    d_rss=$(fmt %.1f "$rss / $n")
    # Cross-check, not judged. kvm: kernel memory outside the LRU lists (KVM's pages) plus the
    # monitor's RSS (guest RAM is its anonymous memory). process: the processes' own memory from
    # /proc (Pss, page tables, kernel stacks; see meter_tree_kib), which other processes on the
    # machine cannot disturb, measured for monitor and floor alike while they idle.
    if [[ $platform == kvm ]]; then
        d_check=$(fmt %.1f "($kern1 - $kern0) / $n + $d_rss")
    else
        d_check=$(fmt %.1f "${d_tree:-0} / $n")
    fi
    noisy=0
    if ! awk -v a="$d_mem" -v b="$d_check" -v c="$f_mem" -v d="$f_check" 'BEGIN {
        exit !(a > 0.75 * b && a < 1.25 * b && c > 0.75 * d && c < 1.25 * d) }'; then
        noisy=1
    fi
    boot_ratio=$(ratio "$d_boot_ms" "$f_boot_ms")
    mem_ratio=$(ratio "$d_mem" "$f_mem")
    idle_ratio=$(ratio "$d_idle" "$f_idle")
    mem_over=$(fmt %.1f "$d_mem - $f_mem")

    exits_ok=0
    [[ $ok == "$n" && $bad == 0 && $stopped == 0 && $status -eq 0 ]] && exits_ok=1
    boot_ok=0
    le "$boot_ratio" "$GOAL_BOOT" && boot_ok=1
    mem_ok=0 idle_ok=0
    if [[ $platform == kvm ]]; then
        le "$mem_over" "$GOAL_MEM_OVER_KIB" && mem_ok=1
        le "$f_mem" 0 && mem_ok=NA
        le "$idle_ratio" "$GOAL_IDLE" && idle_ok=1
        mem_goal="denali - floor $mem_over KiB (goal <= $GOAL_MEM_OVER_KIB)"
        idle_goal="ratio $idle_ratio (goal <= $GOAL_IDLE)"
    else
        le "$d_mem" "$GOAL_MEM_KIB" && mem_ok=1
        le "$d_idle" "$GOAL_IDLE_CORES" && idle_ok=1
        mem_goal="goal <= $GOAL_MEM_KIB KiB; denali - floor $mem_over KiB"
        idle_goal="goal <= $GOAL_IDLE_CORES of a core; ratio $idle_ratio"
    fi
    # A drop of nothing or less means other processes freed memory meanwhile: MemAvailable said
    # nothing about the VMs, so there is no verdict (NA) rather than a pass.
    if le "$d_mem" 0; then
        mem_ok=NA
        mem_goal+="; MemAvailable rose during the run (other processes): no verdict"
    fi

    echo "scale ($platform) n=$n: $summary (status $status)"
    echo "  boot:   denali $d_boot_ms ms ($d_vms_s VMs/s, $WORKERS workers), floor $tool" \
        "$f_boot_ms ms ($f_vms_s/s, $WORKERS threads), ratio $boot_ratio (goal <= $GOAL_BOOT)"
    echo "  memory: MemAvailable drop per VM: denali $d_mem KiB (monitor RSS $d_rss KiB/VM)," \
        "floor $f_mem KiB; $mem_goal; ratio $mem_ratio"
    echo "          cross-check (not judged): denali $d_check KiB/VM, floor $f_check KiB/VM$(
        ((noisy)) && echo "; disagrees with MemAvailable by over 25%: the memory figures are noisy")"
    echo "  idle:   CPU over ${IDLE_S}s ($CPU_METER; monitor and everything it started): denali" \
        "$d_idle of a core, floor $f_idle; $idle_goal"
    # A floor that could not make its wake-ups in time was saturated: its CPU is a lower bound.
    local wakes due
    wakes=$(kv wakes "$floor") due=$(kv wakes_due "$floor")
    if [[ -n $wakes && -n $due && $wakes != "$due" ]]; then
        echo "          the floor made $wakes of its $due wake-ups in time: the machine could not" \
            "wake $n processes a second, so the floor's CPU is what the machine had, not its need"
    fi
    echo "  pass:   exits=$exits_ok boot=$boot_ok memory=$mem_ok idle=$idle_ok"
    LAST_SCALE="SCALE platform=$platform n=$n boot_ratio=$boot_ratio boot_ms=$d_boot_ms"
    LAST_SCALE+=" floor_boot_ms=$f_boot_ms mem_kib_per_vm=$d_mem rss_kib_per_vm=$d_rss"
    LAST_SCALE+=" floor_mem_kib_per_vm=$f_mem mem_over_floor_kib=$mem_over check_kib_per_vm=$d_check"
    LAST_SCALE+=" floor_check_kib_per_vm=$f_check mem_noisy=$noisy idle_cpu_frac=$d_idle"
    LAST_SCALE+=" floor_idle_cpu_frac=$f_idle idle_ratio=$idle_ratio all_exit0=$exits_ok"
    LAST_SCALE+=" pass_boot=$boot_ok pass_mem=$mem_ok pass_idle=$idle_ok"
    echo "$LAST_SCALE"
}

# measure PLATFORM: every count, then the summary line: the largest N's figures; each verdict
# judges one figure at every N (boot: the ratio, goal; memory: mem_over_floor_kib on kvm,
# mem_kib_per_vm on process; idle: idle_ratio on kvm, idle_cpu_frac on process), and pass needs
# all three and every VM exiting 0.
measure() {
    local platform=$1 tool n
    CURRENT=${NAME}_$platform
    # A subshell per platform: its own cleanup (the metered command, pid_max).
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    case $platform in
    kvm) tool=raw_scale ;;
    process) tool=idle_procs ;;
    *) bench_fail "$CURRENT" "no floor for platform '$platform'" ;;
    esac
    bench_need "$CURRENT" "$BENCH_BIN/$tool"
    [[ $platform == process ]] && bench_need "$CURRENT" "$BENCH_BIN/idle_child"
    platform_opts "$platform"
    # The bound of the process platform's boot ratio, same run: one VM process's own start
    # (platform_boot: the monitor's vm_boot and the platform, no scheduler) against a bare spawn
    # (spawn_floor), 1,000 each with the same threads.
    local bound=NA alone spawn
    if [[ $platform == process && -x $BENCH_BIN/platform_boot && -x $BENCH_BIN/spawn_floor ]]; then
        alone=$(DENALI_VMPROC=${DENALI_VMPROC:-$(dirname "$DENALI")/denali-vmproc} \
            "$BENCH_BIN/platform_boot" process "$GUESTS/boot.elf" 1000 "$WORKERS" | grep '^FLOOR ')
        spawn=$("$BENCH_BIN/spawn_floor" 1000 "$WORKERS" | grep '^FLOOR ')
        bound=$(ratio "$(kv p50_us "$alone")" "$(kv p50_us "$spawn")")
        echo "scale ($platform): bound, a VM process's own start against a bare spawn, p50 over" \
            "1,000 ($WORKERS threads): $(kv p50_us "$alone") us against $(kv p50_us "$spawn") us," \
            "$bound" >&2
    fi
    local all_boot=1 all_mem=1 all_idle=1 all_exits=1 last
    for n in "${COUNTS[@]}"; do
        measure_n "$platform" "$n"
        last=$LAST_SCALE
        [[ $(kv pass_boot "$last") == 1 ]] || all_boot=0
        case $(kv pass_mem "$last") in
        1) ;;
        NA) [[ $all_mem == 0 ]] || all_mem=NA ;;
        *) all_mem=0 ;;
        esac
        [[ $(kv pass_idle "$last") == 1 ]] || all_idle=0
        [[ $(kv all_exit0 "$last") == 1 ]] || all_exits=0
    done
    # pass: 0 when any verdict fails, NA when none fails but memory could not be judged, else 1.
    local pass=$((all_boot && all_idle && all_exits))
    if ((pass)); then
        pass=$all_mem
    fi
    local judged_mem=mem_over_floor_kib goal_mem=$GOAL_MEM_OVER_KIB
    local judged_idle=idle_ratio goal_idle=$GOAL_IDLE
    if [[ $platform == process ]]; then
        judged_mem=mem_kib_per_vm goal_mem=$GOAL_MEM_KIB
        judged_idle=idle_cpu_frac goal_idle=$GOAL_IDLE_CORES
    fi
    bench_line "BENCH $CURRENT ratio=$(kv boot_ratio "$last") platform=$platform n=$(kv n "$last")" \
        "workers=$WORKERS boot_ms=$(kv boot_ms "$last") floor_boot_ms=$(kv floor_boot_ms "$last")" \
        "mem_kib_per_vm=$(kv mem_kib_per_vm "$last") floor_mem_kib_per_vm=$(kv floor_mem_kib_per_vm "$last")" \
        "mem_over_floor_kib=$(kv mem_over_floor_kib "$last") mem_noisy=$(kv mem_noisy "$last")" \
        "idle_cpu_frac=$(kv idle_cpu_frac "$last") floor_idle_cpu_frac=$(kv floor_idle_cpu_frac "$last")" \
        "idle_ratio=$(kv idle_ratio "$last") cpu_meter=$CPU_METER all_exit0=$all_exits" \
        "goal=$GOAL_BOOT boot_bound_ratio=$bound judged_mem=$judged_mem goal_mem=$goal_mem" \
        "judged_idle=$judged_idle" \
        "goal_idle=$goal_idle pass_boot=$all_boot pass_mem=$all_mem pass_idle=$all_idle counts=$(
            IFS=,
            echo "${COUNTS[*]}"
        ) pass=$pass"
}

CURRENT=$NAME
skip() { bench_skip "${NAME}_$1" "$1" "$GOAL_BOOT" "$2"; }

for_each_platform measure skip
