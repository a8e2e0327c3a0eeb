#!/usr/bin/env bash
# One httpd VM (through the slirp uplink, and the TAP uplink when root) against the same httpd native.
# Usage: bench/web_native.sh   (ports WEB_PORT_BASE, default 24000: native; +1: the VM over slirp)
# The floor is build/native/httpd on 127.0.0.1, run before and after the VM (median of both);
# zipf sends the same Zipf load to the single target (--target). WEB_NATIVE_TAP=0 skips the TAP.
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=bench/net_lib.sh
. "$(dirname "$0")/net_lib.sh"

NAME=web_native
GOAL=0.50 # the VM's throughput against the native server's
GOAL_ERR=0.001
PORT_BASE=${WEB_PORT_BASE:-24000}
NATIVE_PORT=$PORT_BASE
VM_PORT=$((PORT_BASE + 1))
TAP_NAME=${WEB_TAP:-dnbench0}
net_init $NAME
web_check_values
bench_need $NAME "$DENALI" "$GUESTS/httpd.elf" "$BENCH_BIN/zipf" "$NATIVE/httpd"
command -v curl >/dev/null || bench_fail $NAME "curl is needed to check that the servers answer"

# run_native LABEL: build/native/httpd on 127.0.0.1:NATIVE_PORT, WEB_RUNS zipf runs.
run_native() {
    ports_free "$NATIVE_PORT" "$NATIVE_PORT"
    native_start "$NATIVE/httpd" -q -p "$NATIVE_PORT"
    wait_http "$NATIVE_PID" ports "127.0.0.1:$NATIVE_PORT" 1
    zipf_measure "$NATIVE_PID" "$1" --target "127.0.0.1:$NATIVE_PORT"
    native_stop
}

# run_vm LABEL NET: one httpd VM over --net user (published VM_PORT) or --net tap.
run_vm() {
    local label=$1 net=$2 target
    local args=(-n 1 -m 4M --stats --console null --no-progress)
    if [[ $net == user ]]; then
        ports_free "$VM_PORT" "$VM_PORT"
        args+=(--net user -p "$VM_PORT:80")
        target=127.0.0.1:$VM_PORT
    else
        args+=(--net "tap:$TAP_NAME")
        target=$(vm_ip 0):80
    fi
    fleet_start "$label" "${args[@]}" "$GUESTS/httpd.elf" -q
    if [[ $net == user ]]; then
        wait_http "$FLEET_PID" ports "$target" 1
    else
        wait_http "$FLEET_PID" addrs 80 1
    fi
    zipf_measure "$FLEET_PID" "$label" --target "$target"
    fleet_stop "$WEB_STOP_S"
    ((FLEET_BAD == 0)) || net_fail "the VM ended before the SIGINT"
    echo "  $label: $FLEET_STATS" >&2
    echo "  $label: $FLEET_NET" >&2
}

use_tap=0
if [[ ${WEB_NATIVE_TAP:-1} == 1 ]]; then
    if tap_usable; then
        use_tap=1
    else
        echo "$NAME: skipping the TAP uplink: needs root, /dev/net/tun and no other interface" \
            "holding 10.77.0.1" >&2
    fi
fi

run_native native
run_vm vm-user user
((use_tap)) && run_vm vm-tap tap
run_native native

floor=$(med "${R_RPS[native]}")
rps_user=$(med "${R_RPS[vm-user]}")
r_user=$(ratio "$rps_user" "$floor")
errors=$((R_ERR[native] + R_ERR[vm-user] + ${R_ERR[vm-tap]:-0}))
requests=$((R_REQ[native] + R_REQ[vm-user] + ${R_REQ[vm-tap]:-0}))
err_rate=$(calc "$errors / ($requests + $errors + 1)")
pass=0
le "$GOAL" "$r_user" && le "$err_rate" "$GOAL_ERR" && pass=1
echo "web_native: one server, $WEB_CONC requests in flight, GET /doc/$WEB_SIZE," \
    "${WEB_DURATION}s after ${WEB_WARMUP}s warmup, median of $WEB_RUNS runs (native: of $((2 * WEB_RUNS)))"
echo "  native httpd:     $(result_line native)"
echo "  VM over slirp:    $(result_line vm-user); ratio VM/native $r_user (goal >= $GOAL)"
tap_fields=
if ((use_tap)); then
    rps_tap=$(med "${R_RPS[vm-tap]}")
    r_tap=$(ratio "$rps_tap" "$floor")
    echo "  VM over the TAP:  $(result_line vm-tap); ratio VM/native $r_tap"
    tap_fields="rps_vm_tap=$(fmt %.0f "$rps_tap") ratio_tap=$r_tap"
    le "$GOAL" "$r_tap" || pass=0
fi
echo "  errors $errors (rate $err_rate; pass needs <= $GOAL_ERR)"
((DISTURBED == 0)) || echo "  disturbed: $DISTURBED runs kept although other processes used" \
    "over $WEB_OTHER_MAX cores meanwhile; the figures are rough"
echo "BENCH $NAME ratio=$r_user rps_native=$(fmt %.0f "$floor") rps_vm_user=$(fmt %.0f "$rps_user")" \
    "ratio_user=$r_user $tap_fields p99_native_us=$(med "${R_P99[native]}")" \
    "p99_vm_user_us=$(med "${R_P99[vm-user]}") errors=$errors disturbed_runs=$DISTURBED" \
    "goal=$GOAL pass=$pass"
