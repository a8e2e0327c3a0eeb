#!/usr/bin/env bash
# Hibernation benchmark: host memory per hibernated VM, and the first request to a hibernated web
# server against the same request to one in memory.
# Usage: bench/hibernate.sh [N [M]]   (defaults 1000 idle VMs, 50 web servers; process platform)
# Summary lines:
#   hibernate_memory  host memory per hibernated VM: pattern.elf VMs of 4 MiB that filled 2 MiB,
#                     all hibernated; the monitor's RSS and page tables and its guest-RAM memfd,
#                     N VMs against N/10 (so its fixed memory cancels out), over 16 KiB: goal
#                     <= 1.0. MemAvailable's fall and the swap file's disk use are printed too.
#   hibernate_wake    p50 of a first request (curl, connect to answer) to each of M hibernated
#                     httpd VMs, over 10 ms: goal <= 1.0; the same request to a VM in memory is
#                     printed as the floor.
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=bench/net_lib.sh
. "$(dirname "$0")/net_lib.sh"

NAME=hibernate
N=${1:-1000}
M=${2:-50}
PORT_BASE=${HIBERNATE_PORT_BASE:-23500}
[[ $N =~ ^[1-9][0-9]*$ && $M =~ ^[1-9][0-9]*$ ]] || bench_fail $NAME "bad N or M"
bench_need $NAME "$DENALI" "$GUESTS/pattern.elf" "$GUESTS/httpd.elf"
net_init $NAME
SWAP=$NET_WORK/denali.swap

if [[ " $BENCH_PLATFORMS " != *" process "* ]] || ! platform_available process; then
    bench_skip ${NAME}_memory process 1.0 "the process platform is not measured here"
    bench_skip ${NAME}_wake process 1.0 "the process platform is not measured here"
    exit 0
fi
platform_opts process

# wait_hibernated PID COUNT: until the monitor has no VM process left and the swap file holds
# COUNT VMs' 2 MiB (no VM process alone is also true while VMs are still being created).
wait_hibernated() {
    local i want=$(($2 * 2048 * 95 / 100))
    for ((i = 0; i < 1200; i++)); do
        if (($(pgrep -c -P "$1") == 0)) && (($(stat -c '%b * %B' "$SWAP") / 1024 >= want)); then
            return 0
        fi
        sleep 0.1
    done
    net_fail "VMs still in memory after 120 s: $(pgrep -c -P "$1") of $2"
}

# hibernated_kib COUNT: with COUNT pattern VMs (4 MiB, 2 MiB filled) all hibernated, what the host
# holds for the run: the monitor's resident memory and page tables, and the guest RAM its memfd
# still holds (no VM process is left). Sets HELD_KIB and AVAIL_DROP_KIB (MemAvailable's fall).
hibernated_kib() {
    local n=$1 avail0 fd
    settle_memory
    avail0=$(mem_available_kib)
    fleet_start "memory-$n" "${PLATFORM_OPTS[@]}" -n "$n" -m 4M --net none --console null \
        --no-progress --stats --hibernate-after 1 --swap "$SWAP" "$GUESTS/pattern.elf" 2 1 600000
    wait_hibernated "$FLEET_PID" "$n"
    # The memory freed by punching and by the VM processes' exit reaches MemFree over seconds here
    # (hundreds of KiB a VM at first, falling steadily): let it settle before reading it.
    settle_memory 60
    fd=$(find "/proc/$FLEET_PID/fd" -lname '*denali-guest-ram*' | head -n 1)
    HELD_KIB=$(($(awk '$1 == "VmRSS:" || $1 == "VmPTE:" { s += $2 } END { print s }' \
        "/proc/$FLEET_PID/status") + $(stat -L -c '%b * %B' "$fd") / 1024))
    AVAIL_DROP_KIB=$((avail0 - $(mem_available_kib)))
    DISK_KIB=$(($(stat -c '%b * %B' "$SWAP") / 1024))
    fleet_stop $((WEB_STOP_S + n / 200))
}

# --- memory: the cost of one more hibernated VM, from two fleet sizes (the monitor's own fixed
# memory cancels out); MemAvailable printed alongside (noisy: freed memory reaches it late here)
small=$((N / 10 > 0 ? N / 10 : 1))
hibernated_kib "$small"
held_small=$HELD_KIB
hibernated_kib "$N"
per_vm=$(fmt %.1f "($HELD_KIB - $held_small) / ($N - $small)")
((N > small)) || per_vm=$(fmt %.1f "$HELD_KIB / $N")
r_mem=$(ratio "$per_vm" 16)
pass_mem=0
le "$r_mem" 1 && pass_mem=1
echo "hibernate (process): one more hibernated VM holds $per_vm KiB of host memory (the monitor's" \
    "RSS and page tables and its guest RAM, $small against $N VMs; goal <= 16 KiB); MemAvailable" \
    "fell $(fmt %.1f "$AVAIL_DROP_KIB / $N") KiB a VM; swap file $(fmt %.1f "$DISK_KIB / $N") KiB" \
    "a VM on disk"
echo "BENCH ${NAME}_memory ratio=$r_mem platform=process kib_per_vm=$per_vm" \
    "avail_kib_per_vm=$(fmt %.1f "$AVAIL_DROP_KIB / $N") swap_kib_per_vm=$(fmt %.1f "$DISK_KIB / $N")" \
    "vms=$N goal=1.0 pass=$pass_mem"

# --- wake: the first request to each of M hibernated web servers
# first_request URL: connect-to-answer time of one GET, in microseconds (curl's own clock).
first_request() {
    curl -s -o /dev/null -m 10 -w '%{time_total}\n' "$1" | awk '{ printf "%.0f\n", $1 * 1e6 }'
}
ports_free "$PORT_BASE" $((PORT_BASE + M - 1))
fleet_start wake "${PLATFORM_OPTS[@]}" -n "$M" -m 4M --console null --no-progress --stats \
    --hibernate-after 1 --swap "$SWAP" -p "$PORT_BASE-$((PORT_BASE + M - 1)):80" \
    "$GUESTS/httpd.elf" -q
wait_http "$FLEET_PID" ports "127.0.0.1:$PORT_BASE" "$M"
for ((i = 0; i < 1200; i++)); do
    (($(pgrep -c -P "$FLEET_PID") == 0)) && break
    sleep 0.1
done
(($(pgrep -c -P "$FLEET_PID") == 0)) || net_fail "web servers still in memory after 120 s"
cold=() warm=()
for ((i = 0; i < M; i++)); do
    cold+=("$(first_request "http://127.0.0.1:$((PORT_BASE + i))/")")
    # The same VM again at once, now in memory: the floor of one request through the same path.
    warm+=("$(first_request "http://127.0.0.1:$((PORT_BASE + i))/")")
done
fleet_stop $((WEB_STOP_S + M / 200))
mapfile -t cold < <(printf '%s\n' "${cold[@]}" | sort -n)
mapfile -t warm < <(printf '%s\n' "${warm[@]}" | sort -n)
c50=${cold[$(((M - 1) / 2))]} c99=${cold[$(((M - 1) * 99 / 100))]}
w50=${warm[$(((M - 1) / 2))]}
r_wake=$(ratio "$c50" 10000)
pass_wake=0
le "$r_wake" 1 && pass_wake=1
echo "hibernate (process): first request to a hibernated httpd, p50 $c50 us, p99 $c99 us" \
    "(goal p50 <= 10 ms); the same request to it in memory: p50 $w50 us; woken" \
    "$(kv wakes "$FLEET_STATS") times"
echo "BENCH ${NAME}_wake ratio=$r_wake platform=process p50_us=$c50 p99_us=$c99" \
    "in_memory_p50_us=$w50 ratio_to_in_memory=$(ratio "$c50" "$w50") vms=$M goal=1.0" \
    "pass=$pass_wake"
