#!/usr/bin/env bash
# Sharing benchmark: host memory per VM of N httpd clones against N cold-booted httpd VMs, each
# fleet after the same light load (a uniform zipf run over all of them).
# Usage: bench/clone_share.sh [N]   (default 1000; process platform; kvm reports skipped)
# Summary line clone_share: clone Pss per VM / cold Pss per VM (Pss and page tables of the monitor
# and its VM processes, from /proc: shared pages split among those mapping them). Goal <= 0.5.
# MemAvailable per VM is printed for each fleet too (noisier: other processes move it).
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
    read -r "PSS[$label]" "NONGUEST[$label]" < <(tree_pss_kib "$FLEET_PID")
    AVAIL[$label]=$((before - $(mem_available_kib)))
    fleet_stop $((WEB_STOP_S + N / 200))
    echo "  $label: Pss $(fmt %.1f "${PSS[$label]} / $N") KiB/VM, MemAvailable" \
        "$(fmt %.1f "${AVAIL[$label]} / $N") KiB/VM" >&2
}

fleet cold
fleet clone --clone
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
