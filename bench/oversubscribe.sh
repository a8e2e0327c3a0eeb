#!/usr/bin/env bash
# Oversubscription: VMs whose touched guest memory is twice the host's RAM run to completion under
# --mem-limit, their memory checked, the rest of it in the swap file.
# Usage: bench/oversubscribe.sh [FACTOR [MIB]]   (defaults 2 and 32; process platform)
#   FACTOR  the guest memory all VMs touch together, in multiples of the host's MemTotal
#   MIB     what each VM fills (pattern.elf MIB 1 PAUSE: fill, idle, check every word, exit)
# Environment: OVERSUB_LIMIT (--mem-limit, default MemTotal/4), OVERSUB_PAUSE_MS (default 200).
# Prints the VMs, the memory they touched, the time, the verified throughput, the guest memory held
# at most, hibernations and pages swapped; summary line oversubscribe with
# ratio = touched guest memory / MemTotal (goal >= FACTOR) and pass=1 only when every VM checked
# its memory intact. The swap file needs up to the touched memory on disk: the driver refuses to
# start without it (and names the figure).
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=bench/net_lib.sh
. "$(dirname "$0")/net_lib.sh"

NAME=oversubscribe
FACTOR=${1:-2}
MIB=${2:-32}
PAUSE_MS=${OVERSUB_PAUSE_MS:-200}
[[ $FACTOR =~ ^[0-9]+(\.[0-9]+)?$ ]] && le 0.01 "$FACTOR" || bench_fail $NAME "bad FACTOR '$FACTOR'"
[[ $MIB =~ ^[1-9][0-9]*$ && $MIB -le 1024 ]] || bench_fail $NAME "bad MIB '$MIB' (1..1024)"
bench_need $NAME "$DENALI" "$GUESTS/pattern.elf"
net_init $NAME
if [[ " $BENCH_PLATFORMS " != *" process "* ]] || ! platform_available process; then
    bench_skip $NAME process "$FACTOR" "the process platform is not measured here"
    exit 0
fi
platform_opts process

total_kib=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
LIMIT_MIB=${OVERSUB_LIMIT:-$((total_kib / 4 / 1024))}
[[ $LIMIT_MIB =~ ^[1-9][0-9]*$ ]] || bench_fail $NAME "bad OVERSUB_LIMIT '$LIMIT_MIB' (MiB)"
N=$(awk -v t="$total_kib" -v f="$FACTOR" -v m="$MIB" 'BEGIN { n = t * f / 1024 / m; print (n == int(n)) ? n : int(n) + 1 }')
touched_mib=$((N * MIB))
# The guest's own pages (stack, heap's bookkeeping, the NIC) beside what it fills.
MEM_MIB=$((MIB + MIB / 4 + 4))
need_kib=$(((touched_mib + 1024) * 1024))
avail_disk_kib=$(df -Pk "$NET_WORK" | awk 'NR == 2 { print $4 }')
if ((avail_disk_kib < need_kib)); then
    bench_skip $NAME process "$FACTOR" "the swap file needs up to $((need_kib / 1024)) MiB on" \
        "disk, $((avail_disk_kib / 1024)) MiB are free under $NET_WORK"
    exit 0
fi

echo "oversubscribe (process): $N VMs fill $MIB MiB each: $touched_mib MiB touched against" \
    "MemTotal $((total_kib / 1024)) MiB, --mem-limit ${LIMIT_MIB}M"
start=$(now_us)
timeout 3600 "$DENALI" run "${PLATFORM_OPTS[@]}" -n "$N" -m "${MEM_MIB}M" --net none \
    --console null --stats --mem-limit "${LIMIT_MIB}M" --swap "$NET_WORK/denali.swap" \
    "$GUESTS/pattern.elf" "$MIB" 1 "$PAUSE_MS" >"$NET_WORK/out" 2>&1 </dev/null
status=$?
elapsed_us=$(($(now_us) - start))
stats=$(grep -o 'denali-stats:.*' "$NET_WORK/out" | tail -n 1)
summary=$(grep -E '^denali: [0-9]+ VMs?:' "$NET_WORK/out" | tail -n 1)
intact=$(grep -Eo '^denali: [0-9]+ VMs?: [0-9]+ exited 0' "$NET_WORK/out" | awk '{ print $(NF - 2) }')
[[ -n $stats ]] || { tail -n 5 "$NET_WORK/out" >&2; bench_fail $NAME "the fleet gave no stats (status $status)"; }
r=$(ratio "$touched_mib" "$((total_kib / 1024))")
pass=0
[[ $status == 0 && ${intact:-0} == "$N" ]] && le "$FACTOR" "$r" && pass=1
secs=$(fmt %.1f "$elapsed_us / 1e6")
echo "oversubscribe (process): $summary in $secs s ($(fmt %.0f "$touched_mib / ($elapsed_us / 1e6)")" \
    "MiB checked/s); guest memory held at most $(($(kv guest_ram_peak_kb "$stats") / 1024)) MiB;" \
    "hibernations $(kv hibernations "$stats"), pages out $(kv pages_out "$stats"), in" \
    "$(kv pages_in "$stats")"
echo "BENCH $NAME ratio=$r platform=process vms=$N mib_each=$MIB touched_mib=$touched_mib" \
    "mem_total_mib=$((total_kib / 1024)) limit_mib=$LIMIT_MIB intact=${intact:-0} seconds=$secs" \
    "held_peak_mib=$(($(kv guest_ram_peak_kb "$stats") / 1024))" \
    "hibernations=$(kv hibernations "$stats") pages_out=$(kv pages_out "$stats")" \
    "goal=$FACTOR pass=$pass"
