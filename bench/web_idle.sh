#!/usr/bin/env bash
# Idle-with-timeout: web throughput of 800 httpd VMs that idle vs 800 that busy-poll (httpd -b).
# Usage: bench/web_idle.sh [VMS]   (default 800; published ports from WEB_PORT_BASE, 23000)
# Fleets run in the order idle, busy, busy, idle (drift on the shared machine cancels),
# WEB_RUNS zipf runs each (default 2 here); each mode's figure is the median of its runs.
set -uo pipefail
WEB_RUNS=${WEB_RUNS:-2} # per fleet; two fleets per mode
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=bench/net_lib.sh
. "$(dirname "$0")/net_lib.sh"

NAME=web_idle
GOAL=2 # idling / busy-polling throughput (the Denali paper)
GOAL_ERR=0.001
VMS=${1:-800}
PORT_BASE=${WEB_PORT_BASE:-23000}
published_fleet_setup "$VMS"

declare -A CPU_MS WALL_MS RSS
# Busy-polling VMs answer after seconds (every VM spins through its quantum), so requests get 30 s.
ZIPF_EXTRA=${ZIPF_EXTRA:---timeout 30}

# run_mode MODE: one fleet of httpd (idle) or httpd -b (busy), WEB_RUNS zipf runs recorded under MODE.
run_mode() {
    local flags=(-q)
    [[ $1 == busy ]] && flags+=(-b)
    published_fleet_mode "$1" -- "${flags[@]}"
}

for mode in idle busy busy idle; do
    run_mode $mode
done

rps_i=$(med "${R_RPS[idle]}")
rps_b=$(med "${R_RPS[busy]}")
r=$(ratio "$rps_i" "$rps_b")
errors=$((R_ERR[idle] + R_ERR[busy]))
err_rate=$(calc "$errors / (${R_REQ[idle]} + ${R_REQ[busy]} + $errors + 1)")
# Every failed request counts, the busy-polling fleet's timeouts too: they lower its rate and so
# raise the ratio, and a baseline that failed requests is no baseline to beat.
pass=0
le "$GOAL" "$r" && le "$err_rate" "$GOAL_ERR" && pass=1
echo "web_idle: $VMS httpd VMs, $WEB_CONC requests in flight, Zipf s=$WEB_ZIPF_S, GET /doc/$WEB_SIZE," \
    "${WEB_DURATION}s after ${WEB_WARMUP}s warmup; median of $((2 * WEB_RUNS)) runs per mode"
for mode in idle busy; do
    echo "  $mode: $(result_line $mode)"
    echo "        monitor over its whole runs: $(fmt %.2f "${CPU_MS[$mode]} / ${WALL_MS[$mode]}") cores," \
        "RSS $(fmt %.0f "${RSS[$mode]} / 1024") MiB"
done
echo "  ratio idle/busy $r (goal >= $GOAL); errors $errors: idle ${R_ERR[idle]}, busy ${R_ERR[busy]}" \
    "(rate $err_rate over both fleets; pass needs <= $GOAL_ERR)"
((DISTURBED == 0)) || echo "  disturbed: $DISTURBED runs kept although other processes used" \
    "over $WEB_OTHER_MAX cores meanwhile; the figures are rough"
bench_line "BENCH $NAME ratio=$r vms=$VMS rps_idle=$(fmt %.0f "$rps_i") rps_busy=$(fmt %.0f "$rps_b")" \
    "p99_idle_us=$(med "${R_P99[idle]}") p99_busy_us=$(med "${R_P99[busy]}")" \
    "cpu_idle=$(med "${R_CPU[idle]}") cpu_busy=$(med "${R_CPU[busy]}") errors_idle=${R_ERR[idle]}" \
    "errors_busy=${R_ERR[busy]} disturbed_runs=$DISTURBED stop_hangs=$FLEET_HANGS goal=$GOAL pass=$pass"
