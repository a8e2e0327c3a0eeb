#!/usr/bin/env bash
# Batched virtual interrupts: web throughput of 800 httpd VMs with --net-events batch vs immediate.
# Usage: bench/web_batch.sh [VMS]   (default 800; published ports from WEB_PORT_BASE, 22000)
# Fleets run in the order batch, immediate, immediate, batch (drift on the shared machine cancels),
# WEB_RUNS zipf runs each (default 2 here); each mode's figure is the median of its runs.
set -uo pipefail
WEB_RUNS=${WEB_RUNS:-2} # per fleet; two fleets per mode
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=bench/net_lib.sh
. "$(dirname "$0")/net_lib.sh"

NAME=web_batch
GOAL=1.30 # batched / immediate throughput (the Denali paper)
GOAL_ERR=0.001
VMS=${1:-800}
PORT_BASE=${WEB_PORT_BASE:-22000}
published_fleet_setup "$VMS"

declare -A CPU_MS WALL_MS RSS
# run_mode MODE: one fleet with --net-events MODE, WEB_RUNS zipf runs recorded under MODE.
run_mode() {
    published_fleet_mode "$1" --net-events "$1" -- -q
}

for mode in batch immediate immediate batch; do
    run_mode $mode
done

rps_b=$(med "${R_RPS[batch]}")
rps_i=$(med "${R_RPS[immediate]}")
r=$(ratio "$rps_b" "$rps_i")
errors=$((R_ERR[batch] + R_ERR[immediate]))
err_rate=$(calc "$errors / (${R_REQ[batch]} + ${R_REQ[immediate]} + $errors + 1)")
pass=0
le "$GOAL" "$r" && le "$err_rate" "$GOAL_ERR" && pass=1
echo "web_batch: $VMS httpd VMs, $WEB_CONC requests in flight, Zipf s=$WEB_ZIPF_S, GET /doc/$WEB_SIZE," \
    "${WEB_DURATION}s after ${WEB_WARMUP}s warmup; median of $((2 * WEB_RUNS)) runs per mode"
for mode in batch immediate; do
    echo "  $mode: $(result_line $mode)"
    echo "        monitor over its whole runs: $(fmt %.2f "${CPU_MS[$mode]} / ${WALL_MS[$mode]}") cores," \
        "RSS $(fmt %.0f "${RSS[$mode]} / 1024") MiB"
done
echo "  ratio batch/immediate $r (goal >= $GOAL); errors $errors (rate $err_rate, pass needs <= $GOAL_ERR)"
((DISTURBED == 0)) || echo "  disturbed: $DISTURBED runs kept although other processes used" \
    "over $WEB_OTHER_MAX cores meanwhile; the figures are rough"
bench_line "BENCH $NAME ratio=$r vms=$VMS rps_batch=$(fmt %.0f "$rps_b") rps_immediate=$(fmt %.0f "$rps_i")" \
    "p99_batch_us=$(med "${R_P99[batch]}") p99_immediate_us=$(med "${R_P99[immediate]}")" \
    "errors=$errors disturbed_runs=$DISTURBED stop_hangs=$FLEET_HANGS goal=$GOAL pass=$pass"
