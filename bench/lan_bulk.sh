#!/usr/bin/env bash
# LAN bulk benchmark: VM-to-VM TCP throughput over the monitor's switch against host loopback TCP.
# Usage: bench/lan_bulk.sh [MIB]   (default 64 MiB per transfer)
# VM side: denali run -n 2 -m 8M lanpeer.elf bulk MIB (VM 1 sends to VM 0's discard port through
# the switch). Floor: build/bench/tcp_bulk to build/native/echo -d on 127.0.0.1:LAN_PORT (default
# 25000). Both run LAN_RUNS times (default 5), interleaved; their medians are compared.
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=bench/net_lib.sh
. "$(dirname "$0")/net_lib.sh"

NAME=lan_bulk
MIB=${1:-64}
RUNS=${LAN_RUNS:-5}
PORT=${LAN_PORT:-25000}
net_init $NAME
[[ $MIB =~ ^[1-9][0-9]*$ && $MIB -le 4096 ]] || bench_fail $NAME "bad size '$MIB' MiB (1..4096)"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || bench_fail $NAME "bad LAN_RUNS '$RUNS'"
bench_need $NAME "$DENALI" "$GUESTS/lanpeer.elf" "$BENCH_BIN/tcp_bulk" "$NATIVE/echo"

# vm_run I: one two-VM lanpeer bulk transfer; appends its MB/s and the monitor's CPU ms (the whole
# run, boot and connect included) to VM_*.
VM_MBPS=() VM_CPU=()
vm_run() {
    local out=$NET_WORK/vm-$1.out line status stats
    echo "== $DENALI run -n 2 -m 8M --stats --no-progress --time-limit 90 $GUESTS/lanpeer.elf bulk $MIB" >&2
    "$DENALI" run -n 2 -m 8M --stats --no-progress --time-limit 90 "$GUESTS/lanpeer.elf" bulk "$MIB" \
        >"$out" 2>&1
    status=$?
    line=$(grep -o 'lanpeer: VM 1 bulk .* MB/s' "$out" | tail -n 1)
    if [[ $status -ne 0 || -z $line ]]; then
        tail -n 10 "$out" >&2
        bench_fail $NAME "lanpeer bulk run $1 failed (status $status)"
    fi
    stats=$(grep -o 'denali-stats:.*' "$out" | tail -n 1)
    echo "  vm-$1: $line; $(kv cpu_ms "$stats") ms CPU in $(kv wall_ms "$stats") ms" >&2
    VM_MBPS+=("$(awk '{ print $(NF - 1) }' <<<"$line")")
    VM_CPU+=("$(kv cpu_ms "$stats")")
}

# native_run I: one tcp_bulk transfer to the discard server; appends its MB/s to NATIVE_MBPS.
NATIVE_MBPS=()
native_run() {
    local line
    echo "== $BENCH_BIN/tcp_bulk 127.0.0.1:$PORT $MIB" >&2
    line=$("$BENCH_BIN/tcp_bulk" "127.0.0.1:$PORT" "$MIB") || bench_fail $NAME "tcp_bulk run $1 failed"
    echo "  native-$1: $line" >&2
    [[ -n $(kv mbps "$line") ]] || bench_fail $NAME "no TCP_BULK line from tcp_bulk"
    NATIVE_MBPS+=("$(kv mbps "$line")")
}

ports_free "$PORT" "$PORT"
native_start "$NATIVE/echo" -d -q -p "$PORT"
for ((i = 0; i < 50; i++)); do
    ss -Htln "( sport = :$PORT )" 2>/dev/null | grep -q . && break
    kill -0 "$NATIVE_PID" 2>/dev/null || bench_fail $NAME "the native discard server ended"
    sleep 0.1
done
for ((i = 1; i <= RUNS; i++)); do
    native_run "$i"
    vm_run "$i"
done
native_stop

vm=$(median "${VM_MBPS[@]}")
native=$(median "${NATIVE_MBPS[@]}")
r=$(ratio "$vm" "$native")
echo "lan_bulk: one TCP connection, $MIB MiB, median of $RUNS runs each"
echo "  VM to VM over the LAN: $vm MB/s (runs: ${VM_MBPS[*]}); monitor CPU $(median "${VM_CPU[@]}") ms" \
    "per run ($(fmt %.1f "$(median "${VM_CPU[@]}") / $MIB") ms per MiB, boot and connect included)"
echo "  host loopback TCP:     $native MB/s (runs: ${NATIVE_MBPS[*]})"
echo "  ratio LAN/loopback $r (no goal: information)"
# No goal, so no verdict: pass=NA (a 1 here would read as a goal met).
echo "BENCH $NAME ratio=$r mbps_lan=$vm mbps_loopback=$native mib=$MIB runs=$RUNS goal=NA pass=NA"
