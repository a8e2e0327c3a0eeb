#!/usr/bin/env bash
# Sharing benchmark: host memory per VM of N httpd clones against N cold-booted httpd VMs, each
# fleet after the same light load (a uniform zipf run over all of them).
# Usage: bench/clone_share.sh [N]   (default 1000; process platform; kvm reports skipped)
# Summary line clone_share: clone Pss per VM / cold Pss per VM (Pss and page tables of the monitor
# and its VM processes, from /proc: shared pages split among those mapping them). Goal <= 0.5.
# MemAvailable per VM is printed for each fleet too (noisier: other processes move it).
# Then, where the kernel merges per process (Linux 6.4) and we are root, both fleets again with
# --ksm: line clone_share_ksm (information, no goal) says what KSM adds and what ksmd costs.
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=bench/net_lib.sh
. "$(dirname "$0")/net_lib.sh"

NAME=clone_share
GOAL=0.5
N=${1:-1000}
PORT_BASE=${SHARE_PORT_BASE:-22000}
[[ $N =~ ^[1-9][0-9]*$ ]] || bench_fail $NAME "bad N '$N'"
bench_need $NAME "$DENALI" "$GUESTS/httpd.elf" "$BENCH_BIN/zipf"
net_init $NAME

if [[ " $BENCH_PLATFORMS " != *" process "* ]] || ! platform_available process; then
    bench_skip $NAME process "$GOAL" "the process platform is not measured here"
    exit 0
fi
platform_opts process

# tree_pss_kib PID: "TOTAL NONGUEST": Pss and page tables of PID and its children (the VM
# processes, the zygote); and the part no guest page is in: the monitor's own anonymous and file
# Pss (not its views of guest memory) and every page table.
tree_pss_kib() {
    local pids
    pids=$(awk -v p="$1" '$1 == "PPid:" && $2 == p { split(FILENAME, f, "/"); print f[3] }' \
        /proc/[0-9]*/status 2>/dev/null)
    {
        echo "monitor"
        cat "/proc/$1/smaps_rollup" "/proc/$1/status" 2>/dev/null
        echo "children"
        for p in $pids; do
            cat "/proc/$p/smaps_rollup" "/proc/$p/status" 2>/dev/null
        done
    } | awk '$1 == "monitor" { m = 1 } $1 == "children" { m = 0 }
        $1 == "Pss:" || $1 == "VmPTE:" { s += $2 }
        $1 == "VmPTE:" || (m && ($1 == "Pss_Anon:" || $1 == "Pss_File:")) { g += $2 }
        END { printf "%.0f %.0f\n", s, g }'
}

# KSM (both fleets again with `--ksm`; SHARE_KSM=0 skips them): the kernel's merging thread is
# set to run for them, scanning KSM_PAGES_TO_SCAN pages every 20 ms, and put back as it was.
KSM=/sys/kernel/mm/ksm
KSM_SAVED=
ksm_start() {
    KSM_SAVED="$(cat $KSM/run) $(cat $KSM/pages_to_scan) $(cat $KSM/sleep_millisecs)"
    # net_init's trap still stops the fleets.
    trap 'ksm_restore; net_cleanup' EXIT
    echo "${KSM_PAGES_TO_SCAN:-4000}" >$KSM/pages_to_scan && echo 20 >$KSM/sleep_millisecs &&
        echo 1 >$KSM/run
}
ksm_restore() {
    [ -n "$KSM_SAVED" ] || return 0
    local run pages sleep_ms
    read -r run pages sleep_ms <<<"$KSM_SAVED"
    echo "$run" >$KSM/run
    echo "$pages" >$KSM/pages_to_scan
    echo "$sleep_ms" >$KSM/sleep_millisecs
    KSM_SAVED=
    trap net_cleanup EXIT
}
# ksm_wait: until the merging thread has been over every candidate page twice (a page merges on
# its second look) after the load, at most KSM_WAIT_S (120) s; KSM_CPU_S is ksmd's CPU meanwhile.
ksm_wait() {
    local scans0 t0 ksmd cpu0 cpu1 tick
    scans0=$(cat $KSM/full_scans) t0=$(date +%s)
    ksmd=$(pgrep -x ksmd | head -n 1)
    tick=$(getconf CLK_TCK)
    cpu0=$(awk '{ print $14 + $15 }' "/proc/$ksmd/stat" 2>/dev/null || echo 0)
    while (($(cat $KSM/full_scans) < scans0 + 3 && $(date +%s) - t0 < ${KSM_WAIT_S:-120})); do
        sleep 1
    done
    cpu1=$(awk '{ print $14 + $15 }' "/proc/$ksmd/stat" 2>/dev/null || echo 0)
    KSM_CPU_S=$(fmt %.1f "($cpu1 - $cpu0) / $tick")
    KSM_SCANS=$(($(cat $KSM/full_scans) - scans0)) KSM_WAITED_S=$(($(date +%s) - t0))
    echo "  ksm: $KSM_SCANS full scans in $KSM_WAITED_S s, ksmd used $KSM_CPU_S s of CPU;" \
        "pages_sharing $(cat $KSM/pages_sharing), pages_shared $(cat $KSM/pages_shared)," \
        "zero pages $(cat $KSM/ksm_zero_pages 2>/dev/null || echo NA)" >&2
}

declare -A PSS AVAIL NONGUEST
# fleet LABEL [--clone]: N httpd VMs on published ports, a light load, then their memory.
fleet() {
    local label=$1 before
    shift
    settle_memory
    before=$(mem_available_kib)
    ports_free "$PORT_BASE" $((PORT_BASE + N - 1))
    fleet_start "$label" "${PLATFORM_OPTS[@]}" -n "$N" -m 4M --console null --no-progress --stats \
        --net user -p "$PORT_BASE-$((PORT_BASE + N - 1)):80" "$@" "$GUESTS/httpd.elf" -q
    wait_http "$FLEET_PID" ports "127.0.0.1:$PORT_BASE" "$N"
    echo "== light load: $BENCH_BIN/zipf --ports 127.0.0.1:$PORT_BASE-$((PORT_BASE + N - 1)) -s 0" \
        "-c 16 -d 2" >&2
    "$BENCH_BIN/zipf" --ports "127.0.0.1:$PORT_BASE-$((PORT_BASE + N - 1))" -s 0 -c 16 -d 2 \
        --warmup 0 | grep -E '^ZIPF ' >&2
    sleep 2
    [[ " $* " == *" --ksm "* ]] && ksm_wait
    read -r "PSS[$label]" "NONGUEST[$label]" < <(tree_pss_kib "$FLEET_PID")
    AVAIL[$label]=$((before - $(mem_available_kib)))
    fleet_stop $((WEB_STOP_S + N / 200))
    echo "  $label: Pss $(fmt %.1f "${PSS[$label]} / $N") KiB/VM, MemAvailable" \
        "$(fmt %.1f "${AVAIL[$label]} / $N") KiB/VM" >&2
}

fleet cold
fleet clone --clone
KSM_RAN=0
if [ "${SHARE_KSM:-1}" != 0 ] && [ -e /proc/self/ksm_stat ] && [ -w $KSM/run ]; then
    ksm_start && fleet cold_ksm --ksm && fleet clone_ksm --clone --ksm && KSM_RAN=1
    ksm_restore
fi
cold=$(fmt %.1f "${PSS[cold]} / $N") clone=$(fmt %.1f "${PSS[clone]} / $N")
r=$(ratio "$clone" "$cold")
# The bound: what a clone fleet would cost if its guests' pages cost nothing at all.
bound=$(ratio "$(fmt %.1f "${NONGUEST[clone]} / $N")" "$cold")
pass=0
le "$r" "$GOAL" && pass=1
echo "clone_share (process): $N httpd VMs after a light load, Pss per VM: clones $clone KiB," \
    "cold $cold KiB, ratio $r (goal <= $GOAL); MemAvailable per VM: clones" \
    "$(fmt %.1f "${AVAIL[clone]} / $N") KiB, cold $(fmt %.1f "${AVAIL[cold]} / $N") KiB"
echo "clone_share (process): bound, the clone fleet's memory no guest page is in (the monitor's" \
    "own, page tables): $(fmt %.1f "${NONGUEST[clone]} / $N") KiB/VM = $bound of cold"
echo "BENCH $NAME ratio=$r platform=process clone_pss_kib=$clone cold_pss_kib=$cold" \
    "clone_avail_kib=$(fmt %.1f "${AVAIL[clone]} / $N") cold_avail_kib=$(fmt %.1f "${AVAIL[cold]} / $N")" \
    "bound_ratio=$bound vms=$N goal=$GOAL pass=$pass"
# What KSM adds, for information: both fleets again with --ksm; ratio = clones / cold, both merged.
if ((KSM_RAN)); then
    ksm=$(fmt %.1f "${PSS[clone_ksm]} / $N") cold_ksm=$(fmt %.1f "${PSS[cold_ksm]} / $N")
    echo "clone_share (process): with --ksm (the last $KSM_SCANS scans took $KSM_WAITED_S s and ksmd" \
        "$KSM_CPU_S s of CPU): clones $ksm KiB a VM ($(fmt %.1f "$clone - $ksm") KiB less than" \
        "without), cold $cold_ksm KiB ($(fmt %.1f "$cold - $cold_ksm") less); ratio" \
        "$(ratio "$ksm" "$cold_ksm")"
    echo "BENCH ${NAME}_ksm ratio=$(ratio "$ksm" "$cold_ksm") platform=process" \
        "clone_ksm_pss_kib=$ksm cold_ksm_pss_kib=$cold_ksm clone_pss_kib=$clone cold_pss_kib=$cold" \
        "clone_saved_kib=$(fmt %.1f "$clone - $ksm") cold_saved_kib=$(fmt %.1f "$cold - $cold_ksm")" \
        "ksm_scans=$KSM_SCANS ksm_wait_s=$KSM_WAITED_S ksmd_cpu_s=$KSM_CPU_S vms=$N goal=NA pass=NA"
else
    echo "BENCH ${NAME}_ksm ratio=NA platform=process vms=$N goal=NA pass=NA" \
        "skipped=\"no per-process KSM here (Linux 6.4), not root, or SHARE_KSM=0\""
fi
