#!/usr/bin/env bash
# Boot benchmark: Denali's per-VM boot latency and whole-process start to exit, per platform,
# against that platform's floor in the same run.
# Usage: bench/boot.sh [VMS]   (default 1000)
# Per platform this machine has (BENCH_PLATFORMS, default "kvm process"), two summary lines:
#   boot_P        VMS VMs, create to first exit, p50 (and p99) from the monitor's denali-stats:
#                 kvm booted one at a time (-j 1) against raw_boot; process with BOOT_WORKERS
#                 workers (default online CPUs) against spawn_floor with as many threads.
#   start_exit_P  `denali run hello.elf` from process start to exit (start_exit: spawn to reaped),
#                 median of BOOT_PROCESS_RUNS (default 50), interleaved with native_hello, Solo5's spt hello when SOLO5_DIR
#                 is set (process), and raw_boot 1 (kvm). Goal (process): faster than Solo5 spt.
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

NAME=boot
GOAL=1.5         # boot p50, denali / floor
GOAL_SPT=1.0     # process start to exit, denali / Solo5 spt: faster means below 1
VMS=${1:-1000}
PROCESS_RUNS=${BOOT_PROCESS_RUNS:-50}
WORKERS=${BOOT_WORKERS:-$(nproc)}
[[ $VMS =~ ^[1-9][0-9]*$ ]] || bench_fail $NAME "bad VM count '$VMS'"
[[ $PROCESS_RUNS =~ ^[1-9][0-9]*$ ]] || bench_fail $NAME "bad BOOT_PROCESS_RUNS '$PROCESS_RUNS'"
[[ $WORKERS =~ ^[1-9][0-9]*$ && $WORKERS -le 64 ]] || bench_fail $NAME "bad BOOT_WORKERS '$WORKERS'"
# platform_boot is not beside the monitor, so it is told where the VM-process program is.
export DENALI_VMPROC=${DENALI_VMPROC:-$(dirname "$DENALI")/denali-vmproc}
bench_need $NAME "$DENALI" "$GUESTS/boot.elf" "$GUESTS/hello.elf" "$BENCH_BIN/native_hello" \
    "$BENCH_BIN/start_exit"

# Solo5's spt tender and its hello test, when SOLO5_DIR points at a built Solo5 tree (never a
# dependency of this project; SOLO5_SPT and SOLO5_SPT_HELLO override the paths).
SPT='' SPT_HELLO='' SPT_REASON="SOLO5_DIR not set"
if [[ -n ${SOLO5_DIR:-} ]]; then
    SPT=${SOLO5_SPT:-}
    for f in "$SOLO5_DIR/tenders/spt/solo5-spt" "$SOLO5_DIR/bin/solo5-spt" "$SOLO5_DIR/solo5-spt"; do
        [[ -z $SPT && -x $f ]] && SPT=$f
    done
    SPT_HELLO=${SOLO5_SPT_HELLO:-$SOLO5_DIR/tests/test_hello/test_hello.spt}
    if [[ -z $SPT || ! -x $SPT ]]; then
        SPT='' SPT_REASON="no solo5-spt under SOLO5_DIR=$SOLO5_DIR (set SOLO5_SPT)"
    elif [[ ! -r $SPT_HELLO ]]; then
        SPT='' SPT_REASON="no $SPT_HELLO (set SOLO5_SPT_HELLO)"
    fi
fi

# boot_floor TOOL ARGS...: one run of a boot floor; prints its FLOOR line.
boot_floor() {
    local tool=$1 out status
    shift
    echo "== floor: $tool $*" >&2
    out=$("$BENCH_BIN/$tool" "$@")
    status=$?
    echo "$out" >&2
    [[ $status -eq 0 ]] || return 1
    out=$(grep '^FLOOR ' <<<"$out" | tail -n 1)
    [[ -n $(kv p50_us "$out") && -n $(kv p99_us "$out") ]] || return 1
    echo "$out"
}

# Whole-process start to exit, timed by build/bench/start_exit (posix_spawn to waitpid, so no
# shell's fork is in the figure): every command once per round, in turn, so drift on the shared
# machine hits all alike; each one's figure is the median of its rounds, in ms. Sets MS[i] for
# the i-th command given (commands separated by --).
declare -a MS=()
start_to_exit() {
    local out line
    echo "== $BENCH_BIN/start_exit $PROCESS_RUNS $*" >&2
    out=$("$BENCH_BIN/start_exit" "$PROCESS_RUNS" "$@") || return 1
    echo "$out" >&2
    MS=()
    while read -r line; do
        MS[$(kv cmd "$line")]=$(kv median_ms "$line")
    done < <(grep '^START_EXIT ' <<<"$out")
}

measure() {
    local platform=$1 tool floor_args run_args out status stats bound_ms=""
    case $platform in
    kvm)
        tool=raw_boot floor_args=("$VMS") run_args=(-j 1)
        bench_need "${NAME}_$platform" "$BENCH_BIN/raw_boot" "$BENCH_BIN/platform_boot"
        ;;
    process)
        tool=spawn_floor floor_args=("$VMS" "$WORKERS") run_args=(-j "$WORKERS")
        bench_need "${NAME}_$platform" "$BENCH_BIN/spawn_floor" "$BENCH_BIN/spawn_child" "$BENCH_BIN/platform_boot"
        ;;
    *) bench_fail "${NAME}_$platform" "no floor for platform '$platform'" ;;
    esac
    local name=${NAME}_$platform
    platform_opts "$platform"

    # The floor runs before and after the monitor; their mean absorbs drift during the run.
    floor1=$(boot_floor $tool "${floor_args[@]}") || bench_fail "$name" "$tool failed"
    echo "== denali: run ${PLATFORM_OPTS[*]} -n $VMS -m 2M ${run_args[*]} --console null --stats" \
        "$GUESTS/boot.elf" >&2
    out=$("$DENALI" run "${PLATFORM_OPTS[@]}" -n "$VMS" -m 2M "${run_args[@]}" --console null \
        --stats "$GUESTS/boot.elf" 2>&1)
    status=$?
    grep -v '^\[vm ' <<<"$out" | tail -n 5 >&2
    [[ $status -eq 0 ]] || bench_fail "$name" "denali exited with status $status"
    stats=$(grep -o 'denali-stats:.*' <<<"$out" | tail -n 1)
    [[ -n $stats ]] || bench_fail "$name" "no denali-stats line in the monitor's output"
    denali_p50=$(kv boot_p50_us "$stats")
    denali_p99=$(kv boot_p99_us "$stats")
    [[ -n $denali_p50 && -n $denali_p99 ]] || bench_fail "$name" "denali-stats lacks boot_p50_us/boot_p99_us"
    [[ $(kv vms "$stats") == "$VMS" ]] || bench_fail "$name" "denali-stats reports vms=$(kv vms "$stats"), expected $VMS"
    ran_on=$(kv platform "$stats")
    [[ -z $ran_on || $ran_on == "$platform" ]] ||
        bench_fail "$name" "asked for platform $platform, the monitor ran $ran_on"
    floor2=$(boot_floor $tool "${floor_args[@]}") || bench_fail "$name" "$tool failed"
    floor_p50=$(fmt %.1f "($(kv p50_us "$floor1") + $(kv p50_us "$floor2")) / 2")
    floor_p99=$(fmt %.1f "($(kv p99_us "$floor1") + $(kv p99_us "$floor2")) / 2")

    # The bound, same run: the platform alone (the monitor's vm_boot and the platform's create and
    # first run, no scheduler, as many threads): what the platform itself costs above the floor.
    alone=$(boot_floor platform_boot "$platform" "$GUESTS/boot.elf" "$VMS" "${floor_args[1]:-1}") ||
        bench_fail "$name" "platform_boot failed"
    alone_p50=$(kv p50_us "$alone")
    # One VM at a time, for the start-to-exit bound below.
    alone1=$(boot_floor platform_boot "$platform" "$GUESTS/boot.elf" 200 1) ||
        bench_fail "$name" "platform_boot failed"
    alone1_ms=$(fmt %.3f "$(kv p50_us "$alone1") / 1000")

    r=$(ratio "$denali_p50" "$floor_p50")
    r99=$(ratio "$denali_p99" "$floor_p99")
    pass=0
    le "$r" "$GOAL" && pass=1
    echo "boot ($platform): $VMS VMs, ${run_args[*]}, create to first exit, p50: denali" \
        "$denali_p50 us, floor $tool $floor_p50 us (runs: $(kv p50_us "$floor1")," \
        "$(kv p50_us "$floor2")), ratio $r (goal <= $GOAL)"
    echo "boot ($platform): p99: denali $denali_p99 us, floor $floor_p99 us, ratio $r99"
    echo "boot ($platform): bound, the platform alone (platform_boot, no scheduler): p50" \
        "$alone_p50 us = $(ratio "$alone_p50" "$floor_p50") x the floor; denali is" \
        "$(ratio "$denali_p50" "$alone_p50") x the platform alone"
    echo "BENCH $name ratio=$r platform=$platform denali_p50_us=$denali_p50 floor_p50_us=$floor_p50" \
        "denali_p99_us=$denali_p99 floor_p99_us=$floor_p99 ratio_p99=$r99 floor=$tool vms=$VMS" \
        "platform_alone_p50_us=$alone_p50 bound_ratio=$(ratio "$alone_p50" "$floor_p50")" \
        "parallel=${floor_args[1]:-1} goal=$GOAL pass=$pass"

    # Start to exit: hello in a VM against a native static hello, and against the platform's peer.
    local cmds=("$DENALI" run "${PLATFORM_OPTS[@]}" "$GUESTS/hello.elf" -- "$BENCH_BIN/native_hello")
    local peer=NA peer_name=none goal=NA spass=NA sr=NA
    if [[ $platform == kvm ]]; then
        cmds+=(-- "$BENCH_BIN/raw_boot" 1)
    elif [[ -n $SPT ]]; then
        cmds+=(-- "$SPT" "$SPT_HELLO" Hello_Solo5)
    fi
    # Where the time goes, same run: the monitor alone (it starts, probes the platforms and exits,
    # no VM: nothing can start and end a VM faster) and hello with no network (no slirp).
    local n_before
    n_before=$(($(grep -o -- ' -- ' <<<" ${cmds[*]} " | wc -l) + 1))
    cmds+=(-- "$DENALI" platforms -- "$DENALI" run "${PLATFORM_OPTS[@]}" --net none "$GUESTS/hello.elf")
    start_to_exit "${cmds[@]}" ||
        bench_fail "start_exit_$platform" "a start-to-exit command failed (${cmds[*]})"
    hello_ms=${MS[0]} native_ms=${MS[1]}
    monitor_ms=${MS[$n_before]} net_none_ms=${MS[$((n_before + 1))]}
    echo "start to exit ($platform): the monitor alone (denali platforms) $monitor_ms ms," \
        "hello with --net none $net_none_ms ms"
    if [[ $platform == kvm ]]; then
        peer=${MS[2]} peer_name=raw_boot_1
        echo "start to exit ($platform, median of $PROCESS_RUNS): denali hello $hello_ms ms," \
            "native hello $native_ms ms, bare KVM VM (raw_boot 1) $peer ms; no goal"
    elif [[ -n $SPT ]]; then
        peer=${MS[2]} peer_name=solo5_spt goal=$GOAL_SPT
        sr=$(ratio "$hello_ms" "$peer")
        spass=0
        awk -v r="$sr" -v g="$GOAL_SPT" 'BEGIN { exit !(r + 0 < g + 0) }' && spass=1
        echo "start to exit ($platform, median of $PROCESS_RUNS): denali hello $hello_ms ms," \
            "native hello $native_ms ms, Solo5 spt hello $peer ms; ratio to spt $sr (goal < $GOAL_SPT)"
        # spt runs its guest inside its one process; a monitor and a separate VM process cannot
        # start and end faster than the monitor alone plus one VM's boot on the platform alone.
        bound_ms=$(fmt %.3f "$monitor_ms + $alone1_ms")
        echo "start to exit ($platform): bound, the monitor alone $monitor_ms ms + one VM on the" \
            "platform alone $alone1_ms ms = $bound_ms ms = $(ratio "$bound_ms" "$peer") x spt"
    else
        echo "start to exit ($platform, median of $PROCESS_RUNS): denali hello $hello_ms ms," \
            "native hello $native_ms ms; Solo5 spt skipped: $SPT_REASON (no verdict)"
    fi
    [[ $platform == kvm ]] && sr=$(ratio "$hello_ms" "$peer")
    echo "BENCH start_exit_$platform ratio=$sr platform=$platform denali_ms=$hello_ms" \
        "native_ms=$native_ms ratio_native=$(ratio "$hello_ms" "$native_ms") peer=$peer_name" \
        "monitor_alone_ms=$monitor_ms net_none_ms=$net_none_ms platform_alone_ms=$alone1_ms" \
        "bound_ms=${bound_ms:-NA}" \
        "peer_ms=$peer runs=$PROCESS_RUNS goal=$goal pass=$spass$(
            [[ $platform == process && -z $SPT ]] && echo " skipped_peer=\"$SPT_REASON\"")"
}

# skip PLATFORM REASON: both summary lines of a platform this machine lacks.
skip() {
    local goal=NA
    [[ $1 == process ]] && goal=$GOAL_SPT
    bench_skip "${NAME}_$1" "$1" "$GOAL" "$2"
    bench_skip "start_exit_$1" "$1" "$goal" "$2"
}

for_each_platform measure skip
