#!/usr/bin/env bash
# Web-serving VMs end to end: HTTP from the host via --publish and via a TAP device, and VM-to-VM TCP over the LAN.
set -u
. "$(dirname "$0")/../lib/harness.sh"

HTTPD="$GUESTS/httpd.elf"
LANPEER="$GUESTS/lanpeer.elf"
ZIPF="$DENALI_ROOT/build/bench/zipf"
# A port range of our own, away from the main job's 8000s, the benchmarks' 21000-25999 and the
# kernel's ephemeral ports (32768 up), where earlier connections' TIME-WAIT could hold a port.
BASE=$((26000 + ($$ % 700) * 8))
FLEET_ARGS=(--stats)
# shellcheck source=tests/lib/fleet.sh
. "$DENALI_ROOT/tests/lib/fleet.sh"

# wait_port PORT: true once 127.0.0.1:PORT accepts a TCP connection (up to 30 s), false if it never does or the fleet died.
wait_port() {
    local _
    for _ in $(seq 1 60); do
        kill -0 "$FLEET_PID" 2>/dev/null || return 1
        python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()' \
            "$1" 2>/dev/null && return 0
        sleep 0.5
    done
    return 1
}

# --- host to VM through --net user (libslirp) and --publish
start_fleet -n 3 -m 4M -p "$BASE-$((BASE + 2)):80" "$HTTPD"
if wait_http "http://127.0.0.1:$((BASE + 2))/"; then
    ok "--publish: three httpd VMs answer on consecutive host ports"
    check_http "--publish: port BASE+1 reaches VM 1" 'Denali VM 1 of 3' "http://127.0.0.1:$((BASE + 1))/"
    check_http "--publish: port BASE+2 reaches VM 2" 'Denali VM 2 of 3' "http://127.0.0.1:$((BASE + 2))/"
    check_http "a 2,258-byte document has exactly that length" '^200 2258$' \
        -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$BASE/doc/2258"
    check_http "a 1 MB document arrives whole" '^200 1000000$' \
        -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$BASE/doc/1000000"
    # The bodies a working set (-w, below) must reproduce byte for byte.
    for size in 2258 3000000; do
        curl -s -m 10 "http://127.0.0.1:$BASE/doc/$size" | md5sum >"$WORK/doc-$size.md5"
    done
    check_http "an unknown path is 404" '^404$' -o /dev/null -w '%{http_code}' \
        "http://127.0.0.1:$BASE/nope"
    check_http "HEAD gives the length and no body" '^200 0$' -I -o /dev/null \
        -w '%{http_code} %{size_download}' "http://127.0.0.1:$BASE/doc/500"
    check_http "two requests share one keep-alive connection" '^200 1;200 0;$' \
        -w '%{http_code} %{num_connects};' -o /dev/null "http://127.0.0.1:$BASE/" \
        -o /dev/null "http://127.0.0.1:$BASE/doc/10"
    if "$ZIPF" --ports "127.0.0.1:$BASE-$((BASE + 2))" -d 1 --warmup 0.2 -c 8 >"$WORK/zipf" 2>&1 &&
        grep -Eq 'errors=0$' "$WORK/zipf"; then
        ok "a Zipf load over the three VMs completes without errors"
    else
        not_ok "a Zipf load over the three VMs completes without errors"
        tail -n 12 "$WORK/zipf" | sed 's/^/#   /'
    fi
else
    not_ok "--publish: three httpd VMs answer on consecutive host ports"
fi
stop_fleet
expect "the fleet stops on SIGINT and counts its frames" 1 \
    '^denali: 3 VMs: 0 exited 0, 0 exited non-zero, 3 stopped$' \
    '^denali-net: tx_frames=[1-9]' '^denali-uplink: kind=slirp '

# --- httpd -w: documents copied out of a working set of the VM's own memory, from a page drawn per
# request; the bodies are those without -w, also one that wraps around the 1 MiB set three times.
start_fleet -n 1 -m 6M -p "$((BASE + 3)):80" "$HTTPD" -w 1
if wait_http "http://127.0.0.1:$((BASE + 3))/"; then
    same=()
    for size in 2258 2258 3000000; do
        got=$(curl -s -m 10 "http://127.0.0.1:$((BASE + 3))/doc/$size" | md5sum)
        [ "$got" = "$(cat "$WORK/doc-$size.md5" 2>/dev/null)" ] && same+=("$size")
    done
    if [ "${#same[@]}" = 3 ]; then
        ok "httpd -w 1: /doc bodies from the working set are those without -w, one wrapping around it"
    else
        not_ok "httpd -w 1: /doc bodies from the working set are those without -w, one wrapping around it"
        diag "identical: ${same[*]:-none} of 2258 2258 3000000"
    fi
    check_http "httpd -w 1: HEAD gives the length and no body" '^200 0$' -I -o /dev/null \
        -w '%{http_code} %{size_download}' "http://127.0.0.1:$((BASE + 3))/doc/500"
else
    not_ok "httpd -w 1: the VM answers"
fi
stop_fleet
boot -n 1 -m 4M --net none "$HTTPD" -w 0
expect "httpd -w 0 is refused with the range" 1 "httpd: bad working set '0' \\(1\\.\\.1024 MiB\\)"
boot -n 1 -m 4M --net none "$HTTPD" -w 2M
expect "httpd -w with a unit is refused" 1 "httpd: bad working set '2M'"
boot -n 1 -m 4M -t 20 "$HTTPD" -w 8
expect "httpd -w larger than the VM's memory is a clear error" 1 \
    'httpd: cannot allocate a working set of 8 MiB'

# A published port already taken is a clear error before any VM runs.
# The holder says when it listens: a fixed delay loses the race on a loaded machine.
python3 -c 'import socket,sys,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); open(sys.argv[2], "w").close(); time.sleep(20)' \
    "$((BASE + 5))" "$WORK/holding" &
holder=$!
for _ in $(seq 1 100); do [ -e "$WORK/holding" ] && break; sleep 0.1; done
boot -n 1 -p "$((BASE + 5)):80" "$HTTPD"
kill "$holder" 2>/dev/null
expect "a published port in use is refused with a reason" 2 \
    "cannot listen on 127\.0\.0\.1:$((BASE + 5)).*in use"

# --- No VM can take the monitor's descriptors: slirp holds at most 256 host sockets for one VM.
# VM 0 sends from 400 UDP ports (slirp keeps a socket per port for minutes); VM 1's UDP goes on.
python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.settimeout(90)
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(data, peer)' "$((BASE + 7))" 2>/dev/null &
udp_echo=$!
sleep 0.3
boot -n 2 -m 4M -t 60 --stats "$TEST_GUESTS/socket_hog.elf" "$((BASE + 7))" 400
kill "$udp_echo" 2>/dev/null
expect "a VM past its 256 host sockets: its extra datagrams are dropped and counted, the others' UDP works" 0 \
    '^\[vm 0\] socket_hog: vm 0 echo ok$' \
    '^\[vm 0\] socket_hog: vm 0 sent from 400 ports$' \
    '^\[vm 0\] socket_hog: vm 0 echo after lost$' \
    '^\[vm 1\] socket_hog: vm 1 echo ok$' \
    'guest_sockets_peak=25[6-9] guest_sockets_cap=256/' \
    'dropped_socket_cap=1[4-9][0-9]$'

# --- 40 VMs through one published range: slirp runs one instance per 16 VMs, the last one partial
SHARDED=$(free_port_block 40)
start_fleet -n 40 -m 4M -p "$SHARDED-$((SHARDED + 39)):80" "$HTTPD"
if wait_http "http://127.0.0.1:$((SHARDED + 39))/"; then
    wrong=()
    for vm in $(seq 0 39); do
        curl -s -m 5 "http://127.0.0.1:$((SHARDED + vm))/" | grep -q "Denali VM $vm of 40" || wrong+=("$vm")
    done
    if [ ${#wrong[@]} -eq 0 ]; then
        ok "40 VMs: every published port reaches its own VM"
    else
        not_ok "40 VMs: every published port reaches its own VM"
        diag "ports of these VMs gave no page or another VM's: ${wrong[*]}"
    fi
else
    not_ok "40 VMs: every published port reaches its own VM"
fi
stop_fleet
expect "40 VMs are served by three slirp instances" 1 \
    '^denali: 40 VMs: 0 exited 0, 0 exited non-zero, 40 stopped$' \
    '^denali-uplink: kind=slirp instances=3 .* dropped_no_vm=0 '

# --- a guest that stops reading while the host keeps sending must not make the slirp thread spin
# The host writes to an echo VM without reading the echoes: the guest's replies back up, it stops
# reading, and slirp stops reading a socket that stays readable. Then the host reads everything.
start_fleet -n 1 -m 4M -p "$((BASE + 6)):7" "$GUESTS/echo.elf" -q
monitor_pid=$(pgrep -P "$FLEET_PID" | head -n 1)
STALL_NAME="a stalled guest reader costs the monitor little CPU, and every byte arrives once it reads"
if ! wait_port "$((BASE + 6))"; then
    not_ok "$STALL_NAME"
    diag "the echo VM's published port never accepted a connection"
elif python3 - "$((BASE + 6))" "$monitor_pid" >"$WORK/stall" 2>&1 <<'EOF'
import os, socket, sys, time

port, pid = int(sys.argv[1]), int(sys.argv[2])
pattern = bytes(range(251)) * 64  # a period that no buffer size divides


def cpu_ticks():
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.setblocking(False)
sent, last_progress, start = 0, time.time(), time.time()
while time.time() - last_progress < 1.0 and time.time() - start < 30:
    offset = sent % len(pattern)
    try:
        sent += s.send(pattern[offset:] + pattern[:offset])
        last_progress = time.time()
    except BlockingIOError:
        time.sleep(0.02)
before, t0 = cpu_ticks(), time.time()
time.sleep(3)
share = (cpu_ticks() - before) / os.sysconf("SC_CLK_TCK") / (time.time() - t0)
s.setblocking(True)
s.settimeout(20)
received, in_order = 0, True
while received < sent:
    data = s.recv(1 << 16)
    if not data:
        break
    offset = received % len(pattern)
    expected = (pattern * (len(data) // len(pattern) + 2))[offset : offset + len(data)]
    in_order = in_order and data == expected
    received += len(data)
print("sent=%d received=%d in_order=%s stalled_cpu_share=%.2f" % (sent, received, in_order, share))
sys.exit(0 if received == sent and in_order and share < 0.5 and sent > (1 << 20) else 1)
EOF
then
    ok "$STALL_NAME"
    diag "$(cat "$WORK/stall")"
else
    not_ok "$STALL_NAME"
    sed 's/^/#   /' "$WORK/stall"
fi
stop_fleet

# --- host to VM through a TAP device: every VM by its own address
TAP=dnt$$
if [ "$(id -u)" != 0 ] || [ ! -c /dev/net/tun ]; then
    skip "--net tap: VMs reachable at their own addresses" "needs root and /dev/net/tun"
else
    start_fleet -n 2 -m 4M --net "tap:$TAP" "$HTTPD"
    if wait_http "http://10.77.0.17/"; then
        check_http "--net tap: VM 1 answers at 10.77.0.17" 'Denali VM 1 of 2' "http://10.77.0.17/"
        check_http "--net tap: VM 0 answers at 10.77.0.16" 'Denali VM 0 of 2' "http://10.77.0.16/"
    else
        not_ok "--net tap: VMs reachable at their own addresses"
    fi
    stop_fleet
    if ip link show "$TAP" >/dev/null 2>&1; then
        not_ok "the TAP device goes away with the monitor"
    else
        ok "the TAP device goes away with the monitor"
    fi

    # The TAP runs at the VMs' 4,000-byte send MTU, so the host sends a 3,000-byte datagram in
    # one frame: the switch must fragment it for the VM, which echoes it back in one frame.
    start_fleet -n 1 -m 4M --net "tap:$TAP" "$GUESTS/echo.elf" -u
    if python3 - <<'PY' >"$WORK/udp" 2>&1; then
import socket, sys

data = bytes((i * 7 + 3) & 0xFF for i in range(3000))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.5)
for attempt in range(40):  # the VM may still be booting
    try:
        s.sendto(data, ("10.77.0.16", 7))
        reply = s.recv(65536)
    except OSError:
        continue
    print("echoed %d bytes, %s" % (len(reply), "intact" if reply == data else "corrupt"))
    sys.exit(0 if reply == data else 1)
print("no echo")
sys.exit(1)
PY
        stop_fleet
        expect "--net tap: a 3,000-byte datagram from the host is fragmented for the VM and echoed intact" \
            1 '^denali-net: .* drop_oversize=0 .* uplink_fragmented=[1-9]'
    else
        sed 's/^/#   /' "$WORK/udp"
        stop_fleet
        not_ok "--net tap: a 3,000-byte datagram from the host is fragmented for the VM and echoed intact"
    fi
fi

# --- VM to VM across the switch
boot -n 4 -m 4M -t 60 "$LANPEER" echo 100 200
expect "VM-to-VM TCP echo: three clients do 100 verified round trips each with VM 0" 0 \
    '^\[vm 1\] lanpeer: VM 1 echo ok: 100 round trips' \
    '^\[vm 3\] lanpeer: VM 3 echo ok: 100 round trips' \
    '^denali: 4 VMs: 4 exited 0, 0 exited non-zero, 0 stopped$'

boot -n 3 -m 4M -t 60 "$LANPEER" bulk 4
expect "VM-to-VM TCP bulk: two clients send 4 MiB each to VM 0" 0 \
    '^\[vm 0\] lanpeer: server received 8388608 bytes from 2 clients$' \
    '^denali: 3 VMs: 3 exited 0, 0 exited non-zero, 0 stopped$'

boot -n 4 -m 4M -t 60 --net-events immediate "$LANPEER" echo 20 100
expect "immediate event delivery works too" 0 '^denali: 4 VMs: 4 exited 0, 0 exited non-zero, 0 stopped$'

boot -n 4 -m 4M -t 60 --net none "$LANPEER" echo 5 10
expect "--net none: sockets have no network, and the guests say so" 1 \
    '^denali: 4 VMs: 0 exited 0, 4 exited non-zero, 0 stopped$'

finish
