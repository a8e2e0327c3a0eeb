#!/usr/bin/env bash
# The long tail (Denali's Zipf argument): N httpd services in one run, the popular ones in memory and
# the tail hibernated, under a Zipf load over all of them.
# Usage: bench/long_tail.sh [N]   (default 5000; process platform)
# The services are reached one of two ways (TAIL_NET):
# - user: one published host port per VM from TAIL_PORT_BASE (30000), so N <= 2,768 (the ports
#   below the ephemeral range); the default up to there;
# - tap: every service at its own address, 10.77.0.16 + i, through a TAP device (TAIL_TAP, dtail0)
#   in a network namespace of the driver's own, so the LAN never meets the host's interfaces or
#   another run's TAP; needs root. The default beyond the ports. Before the load, every service
#   is asked for its page once (GET /, 64 in flight, most of them woken from swap): the sweep.
# At most TAIL_MAX_RESIDENT VMs (default 12000) are in memory at once (--max-resident): creating
# waits while the earlier ones hibernate (--hibernate-after TAIL_HIBERNATE_S, default 3).
# Prints requests/s, latency, errors, hibernations and wake-ups, VM processes at most, MemAvailable's
# fall a service with the tail hibernated, the guest memory held, the monitor's RSS, the swap file's
# disk use, and the N this machine's memory and disk would bound at those costs; summary line
# long_tail with ratio = errors / requests (goal 0: every service answers).
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=bench/net_lib.sh
. "$(dirname "$0")/net_lib.sh"

NAME=long_tail
N=${1:-5000}
PORT_BASE=${TAIL_PORT_BASE:-30000}
HIBERNATE_S=${TAIL_HIBERNATE_S:-3}
MAX_RESIDENT=${TAIL_MAX_RESIDENT:-12000}
TAP=${TAIL_TAP:-dtail0}
[[ $N =~ ^[1-9][0-9]*$ ]] || bench_fail $NAME "bad N '$N'"
[[ $MAX_RESIDENT =~ ^[1-9][0-9]*$ ]] || bench_fail $NAME "bad TAIL_MAX_RESIDENT '$MAX_RESIDENT'"
TAIL_NET=${TAIL_NET:-$( ((PORT_BASE + N <= 32768)) && echo user || echo tap)}
case $TAIL_NET in
user) ((PORT_BASE + N <= 32768)) || bench_fail $NAME "ports $PORT_BASE+$N reach the ephemeral range" \
    "(TAIL_NET=tap reaches every service by its own address)" ;;
tap) ;;
*) bench_fail $NAME "bad TAIL_NET '$TAIL_NET' (user or tap)" ;;
esac
# Time for all N to boot (creation waits while earlier ones hibernate), and for the sweep.
BOOT_S=${TAIL_BOOT_S:-$((120 + N / 40))}
bench_need $NAME "$DENALI" "$GUESTS/httpd.elf" "$BENCH_BIN/zipf"
command -v curl >/dev/null || bench_fail $NAME "curl is needed to check that the services answer"
net_init $NAME
if [[ " $BENCH_PLATFORMS " != *" process "* ]] || ! platform_available process; then
    bench_skip $NAME process 0 "the process platform is not measured here"
    exit 0
fi
platform_opts process

NETNS='' SAMPLER_PID='' SWEEP_PID=''
tail_cleanup() {
    [[ -z $SAMPLER_PID ]] || kill "$SAMPLER_PID" 2>/dev/null
    [[ -z $SWEEP_PID ]] || kill "$SWEEP_PID" 2>/dev/null
    net_cleanup
    [[ -z $NETNS ]] || ip netns delete "$NETNS" 2>/dev/null
}
trap tail_cleanup EXIT

# vm_processes PID: the monitor's VM processes now (children of its worker threads).
vm_processes() {
    cat /proc/"$1"/task/*/children 2>/dev/null | wc -w
}

# guest_held_kib PID: the host memory the monitor's guest-RAM memfd holds (every VM's slot).
guest_held_kib() {
    local f
    for f in /proc/"$1"/fd/*; do
        if [[ $(readlink "$f" 2>/dev/null) == /memfd:denali-guest-ram* ]]; then
            echo $(($(stat -L -c %b "$f") / 2))
            return
        fi
    done
    echo 0
}

# disk_kib FILE: the disk blocks a (sparse) file takes.
disk_kib() {
    local b
    b=$(stat -c '%b * %B' "$1" 2>/dev/null) || b=0
    echo $((b / 1024))
}

# sampler PID SWAP: every 2 s until killed, one line: seconds, VM processes, MemAvailable (KiB),
# swap file on disk (KiB), monitor RSS (KiB).
sampler() {
    local t0
    t0=$(now_us)
    while kill -0 "$1" 2>/dev/null; do
        echo "$((($(now_us) - t0) / 1000000)) $(vm_processes "$1") $(mem_available_kib)" \
            "$(disk_kib "$2") $(proc_rss_kib "$1")"
        sleep 2
    done
}

# wait_booted: until the monitor says all N VMs booted (--stats prints it); sets BOOT_MS.
wait_booted() {
    local t0 line
    t0=$(now_us)
    echo "== waiting for all $N VMs to boot (up to ${BOOT_S}s)" >&2
    while ! line=$(grep -m 1 "all $N VMs booted in" "$FLEET_OUT"); do
        kill -0 "$FLEET_PID" 2>/dev/null || net_fail "the monitor ended before all $N VMs booted"
        (($(now_us) - t0 < BOOT_S * 1000000)) || net_fail "not all $N VMs booted within ${BOOT_S}s" \
            "($(vm_processes "$FLEET_PID") VM processes; $(tail -n 1 "$NET_WORK/samples"))"
        sleep 1
    done
    BOOT_MS=${line##* booted in }
    BOOT_MS=${BOOT_MS%% ms*}
    echo "== all $N booted in $(fmt %.1f "$BOOT_MS / 1000") s" >&2
}

# sweep: GET / from every service once, 64 in flight, with up to two more tries for those that
# did not answer 200; sets SWEEP_MS (the first pass) and SWEEP_FAILED (never answered).
sweep() {
    local cfg=$NET_WORK/sweep.cfg try ids=() next=() code url t0
    for ((try = 0; try < 3; try++)); do
        if ((try == 0)); then
            awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++) { a = 10 * 16777216 + 77 * 65536 + 16 + i
                printf "url = \"http://%d.%d.%d.%d/#%d\"\noutput = \"/dev/null\"\n",
                    int(a / 16777216), int(a / 65536) % 256, int(a / 256) % 256, a % 256, i } }' \
                >"$cfg"
        else
            ((${#ids[@]} > 0)) || break
            echo "== sweep: again for ${#ids[@]} services" >&2
            for i in "${ids[@]}"; do
                echo "url = \"http://$(vm_ip "$i")/#$i\""
                echo 'output = "/dev/null"'
            done >"$cfg"
        fi
        t0=$(now_us)
        "${NET_EXEC[@]}" curl -s --parallel --parallel-max 64 --connect-timeout 20 -m 30 \
            -K "$cfg" -w '%{http_code} %{url}\n' >"$NET_WORK/sweep.out" 2>/dev/null &
        SWEEP_PID=$!
        wait "$SWEEP_PID"
        SWEEP_PID=''
        ((try == 0)) && SWEEP_MS=$((($(now_us) - t0) / 1000))
        next=()
        while read -r code url; do
            [[ $code == 200 ]] || next+=("${url##*#}")
        done <"$NET_WORK/sweep.out"
        ids=("${next[@]}")
        kill -0 "$FLEET_PID" 2>/dev/null || net_fail "the monitor ended during the sweep"
    done
    SWEEP_FAILED=${#ids[@]}
    echo "== sweep: $((N - SWEEP_FAILED)) of $N services answered; the first pass took" \
        "$(fmt %.1f "$SWEEP_MS / 1000") s ($(fmt %.0f "$N * 1000 / $SWEEP_MS") services/s)" >&2
    ((SWEEP_FAILED == 0)) || echo "$NAME: warning: never answered: ${ids[*]:0:10}" >&2
}

net_args=()
if [[ $TAIL_NET == tap ]]; then
    [[ $(id -u) == 0 && -c /dev/net/tun ]] || bench_fail $NAME "TAIL_NET=tap needs root and /dev/net/tun"
    command -v ip >/dev/null || bench_fail $NAME "TAIL_NET=tap needs ip (iproute2)"
    # The ARP entries of N addresses: raised for the run and restored, unless told not to.
    WEB_RAISE_NEIGH=${WEB_RAISE_NEIGH:-1}
    neigh_room "$N" || bench_fail $NAME "the host's neighbour table holds" \
        "$(sysctl -n net.ipv4.neigh.default.gc_thresh3) entries, fewer than $N; set WEB_RAISE_NEIGH=1"
    NETNS=denali-tail-$$
    ip netns add "$NETNS" || bench_fail $NAME "cannot create network namespace $NETNS"
    ip netns exec "$NETNS" ip link set lo up
    NET_EXEC=(ip netns exec "$NETNS")
    net_args=(--net "tap:$TAP")
else
    ports_free "$PORT_BASE" $((PORT_BASE + N - 1))
    net_args=(-p "$PORT_BASE-$((PORT_BASE + N - 1)):80")
fi

SWAP=${TAIL_SWAP_DIR:-$NET_WORK}/denali-tail-$$.swap
settle_memory
avail0=$(mem_available_kib)
disk_free0=$(df -k --output=avail "$(dirname "$SWAP")" | tail -n 1)
fleet_start tail "${PLATFORM_OPTS[@]}" -n "$N" -m 4M --console null --no-progress --stats \
    --hibernate-after "$HIBERNATE_S" --swap "$SWAP" --max-resident "$MAX_RESIDENT" \
    "${net_args[@]}" "$GUESTS/httpd.elf" -q
sampler "$FLEET_PID" "$SWAP" >"$NET_WORK/samples" &
SAMPLER_PID=$!
BOOT_MS=NA SWEEP_MS=0 SWEEP_FAILED=0
if [[ $TAIL_NET == tap ]]; then
    wait_booted
    sweep
else
    wait_http "$FLEET_PID" ports "127.0.0.1:$PORT_BASE" "$N"
fi
# Let the tail go to swap before the load: only the load's own popular services should be back.
sleep $((HIBERNATE_S + 3))
in_memory=$(vm_processes "$FLEET_PID")
avail1=$(mem_available_kib)
held1=$(guest_held_kib "$FLEET_PID") rss1=$(proc_rss_kib "$FLEET_PID") swap1=$(disk_kib "$SWAP")
if [[ $TAIL_NET == tap ]]; then
    WEB_RUNS=1 zipf_measure "$FLEET_PID" tail --addrs "$(vm_ip 0)+$N:80"
else
    WEB_RUNS=1 zipf_measure "$FLEET_PID" tail --ports "127.0.0.1:$PORT_BASE-$((PORT_BASE + N - 1))"
fi
in_memory_after=$(vm_processes "$FLEET_PID")
held2=$(guest_held_kib "$FLEET_PID") swap2=$(disk_kib "$SWAP")
kill "$SAMPLER_PID" 2>/dev/null
wait "$SAMPLER_PID" 2>/dev/null
SAMPLER_PID=
fleet_stop $((WEB_STOP_S + N / 200))
BOOT_MS=$(kv all_booted_ms "$FLEET_STATS")
# The most VM processes, the least MemAvailable and the most swap on disk seen over the run.
read -r procs_max avail_min swap_max < <(awk 'NR == 1 || $2 > p { p = $2 } NR == 1 || $3 < a { a = $3 }
    $4 > s { s = $4 } END { print p + 0, a + 0, s + 0 }' "$NET_WORK/samples")
((swap1 > swap_max)) && swap_max=$swap1
((swap2 > swap_max)) && swap_max=$swap2
requests=$(kv requests "$ZIPF_LINE") errors=$(kv errors "$ZIPF_LINE")
r=$(ratio "$errors" "$requests")
pass=0
[[ $errors == 0 && $SWEEP_FAILED == 0 && $FLEET_BAD == 0 ]] && pass=1
mem_per=$(fmt %.1f "($avail0 - $avail1) / $N")
swap_per=$(fmt %.1f "$swap_max / $N")
# What would bound N here at these costs: MemAvailable and the disk, each spent at its rate a
# service (the VMs in memory at once are bounded apart, by --max-resident and the pids).
n_mem=$(awk -v a="$avail0" -v p="$mem_per" 'BEGIN { printf "%d", (p > 0 ? a / p : 0) }')
n_disk=$(awk -v d="$disk_free0" -v p="$swap_per" 'BEGIN { printf "%d", (p > 0 ? d / p : 0) }')
bound=memory
((n_disk > 0 && (n_mem == 0 || n_disk < n_mem))) && bound=disk
echo "long_tail (process, $TAIL_NET): $N httpd services, all booted in" \
    "$(fmt %.1f "${BOOT_MS:-0} / 1000") s with at most $(kv max_resident "$FLEET_STATS") in memory" \
    "($(kv resident_bound "$FLEET_STATS")); VM processes at most $procs_max (resident_peak" \
    "$(kv resident_peak "$FLEET_STATS")), before the load $in_memory, after it $in_memory_after"
if [[ $TAIL_NET == tap ]]; then
    echo "long_tail (process, $TAIL_NET): every service asked once: $((N - SWEEP_FAILED)) of $N" \
        "answered, $(fmt %.0f "$N * 1000 / $SWEEP_MS") services/s (the first pass" \
        "$(fmt %.1f "$SWEEP_MS / 1000") s, 64 in flight, most woken from swap)"
fi
echo "long_tail (process, $TAIL_NET): Zipf s=$WEB_ZIPF_S over all $N: $(kv rps "$ZIPF_LINE")" \
    "requests/s, p50 $(kv p50_us "$ZIPF_LINE") us, p99 $(kv p99_us "$ZIPF_LINE") us, $errors errors" \
    "of $requests"
echo "long_tail (process, $TAIL_NET): hibernations $(kv hibernations "$FLEET_STATS"), wake-ups" \
    "$(kv wakes "$FLEET_STATS"); with the tail hibernated MemAvailable fell $mem_per KiB a service" \
    "(least during the run: $((avail_min / 1024)) MiB), guest memory held $((held1 / 1024)) MiB" \
    "($((held2 / 1024)) MiB after the load), monitor RSS $((rss1 / 1024)) MiB; swap file" \
    "$((swap1 / 1024)) MiB on disk ($((swap_max / 1024)) MiB at most, $swap_per KiB a service)"
echo "long_tail (process, $TAIL_NET): at these costs this machine holds about $n_mem services by" \
    "memory ($((avail0 / 1024)) MiB available) and $n_disk by disk ($((disk_free0 / 1024)) MiB" \
    "free): $bound bounds N; VMs in memory at once are bounded by the pids" \
    "(kernel.pid_max $(cat /proc/sys/kernel/pid_max)) and --max-resident"
echo "BENCH $NAME ratio=$r platform=process net=$TAIL_NET services=$N rps=$(kv rps "$ZIPF_LINE")" \
    "p50_us=$(kv p50_us "$ZIPF_LINE") p99_us=$(kv p99_us "$ZIPF_LINE") errors=$errors" \
    "requests=$requests boot_ms=$BOOT_MS sweep_ms=$SWEEP_MS sweep_failed=$SWEEP_FAILED" \
    "in_memory_before=$in_memory in_memory_after=$in_memory_after vm_processes_max=$procs_max" \
    "max_resident=$(kv max_resident "$FLEET_STATS") resident_peak=$(kv resident_peak "$FLEET_STATS")" \
    "hibernations=$(kv hibernations "$FLEET_STATS") wakes=$(kv wakes "$FLEET_STATS")" \
    "avail_kib_per_service=$mem_per guest_held_mib=$((held1 / 1024)) rss_mib=$((rss1 / 1024))" \
    "swap_mib=$((swap1 / 1024)) swap_kib_per_service=$swap_per n_by_memory=$n_mem" \
    "n_by_disk=$n_disk bound=$bound goal=0 pass=$pass"
