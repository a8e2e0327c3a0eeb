#!/usr/bin/env bash
# The long tail (Denali's Zipf argument): N httpd services in one run, the popular ones in memory and
# the tail hibernated, under a Zipf load over all of them.
# Usage: bench/long_tail.sh [N]   (default 5000; process platform; published ports from
# TAIL_PORT_BASE, default 30000, so N is bounded by the ports below 32768 and the monitor's
# descriptors, one per published port)
# Prints requests/s, latency, errors, hibernations and wake-ups, the guest memory the monitor
# held at most, MemAvailable's fall and the swap file's disk use; summary line long_tail with
# ratio = errors / requests (goal 0: every service answers).
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=bench/net_lib.sh
. "$(dirname "$0")/net_lib.sh"

NAME=long_tail
N=${1:-5000}
PORT_BASE=${TAIL_PORT_BASE:-30000}
HIBERNATE_S=${TAIL_HIBERNATE_S:-3}
[[ $N =~ ^[1-9][0-9]*$ ]] || bench_fail $NAME "bad N '$N'"
((PORT_BASE + N <= 32768)) || bench_fail $NAME "ports $PORT_BASE+$N reach the ephemeral range"
bench_need $NAME "$DENALI" "$GUESTS/httpd.elf" "$BENCH_BIN/zipf"
net_init $NAME
if [[ " $BENCH_PLATFORMS " != *" process "* ]] || ! platform_available process; then
    bench_skip $NAME process 0 "the process platform is not measured here"
    exit 0
fi
platform_opts process

settle_memory
avail0=$(mem_available_kib)
ports_free "$PORT_BASE" $((PORT_BASE + N - 1))
fleet_start tail "${PLATFORM_OPTS[@]}" -n "$N" -m 4M --console null --no-progress --stats \
    --hibernate-after "$HIBERNATE_S" --swap "$NET_WORK/denali.swap" \
    -p "$PORT_BASE-$((PORT_BASE + N - 1)):80" "$GUESTS/httpd.elf" -q
wait_http "$FLEET_PID" ports "127.0.0.1:$PORT_BASE" "$N"
# Let the tail go to swap before the load: only the load's own popular services should be back.
sleep $((HIBERNATE_S + 3))
in_memory=$(pgrep -c -P "$FLEET_PID")
avail1=$(mem_available_kib)
WEB_RUNS=1 zipf_measure "$FLEET_PID" tail --ports "127.0.0.1:$PORT_BASE-$((PORT_BASE + N - 1))"
in_memory_after=$(pgrep -c -P "$FLEET_PID")
disk_kib=$(($(stat -c '%b * %B' "$NET_WORK/denali.swap") / 1024))
fleet_stop $((WEB_STOP_S + N / 200))
requests=$(kv requests "$ZIPF_LINE") errors=$(kv errors "$ZIPF_LINE")
r=$(ratio "$errors" "$requests")
pass=0
[[ $errors == 0 ]] && pass=1
echo "long_tail (process): $N httpd services; before the load $in_memory in memory, after it" \
    "$in_memory_after; Zipf s=$WEB_ZIPF_S: $(kv rps "$ZIPF_LINE") requests/s, p50" \
    "$(kv p50_us "$ZIPF_LINE") us, p99 $(kv p99_us "$ZIPF_LINE") us, $errors errors of $requests"
echo "long_tail (process): hibernations $(kv hibernations "$FLEET_STATS"), wake-ups" \
    "$(kv wakes "$FLEET_STATS"); MemAvailable fell $(fmt %.1f "($avail0 - $avail1) / $N") KiB a" \
    "service with the tail hibernated; swap file $((disk_kib / 1024)) MiB on disk"
echo "BENCH $NAME ratio=$r platform=process services=$N rps=$(kv rps "$ZIPF_LINE")" \
    "p50_us=$(kv p50_us "$ZIPF_LINE") p99_us=$(kv p99_us "$ZIPF_LINE") errors=$errors" \
    "requests=$requests in_memory_before=$in_memory in_memory_after=$in_memory_after" \
    "hibernations=$(kv hibernations "$FLEET_STATS") wakes=$(kv wakes "$FLEET_STATS")" \
    "avail_kib_per_service=$(fmt %.1f "($avail0 - $avail1) / $N") swap_mib=$((disk_kib / 1024))" \
    "goal=0 pass=$pass"
