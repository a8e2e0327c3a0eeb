#!/usr/bin/env bash
# Real guests boot and behave: output, arguments, exit statuses, console modes, idle, fairness, ABI checks.
set -u
. "$(dirname "$0")/../lib/harness.sh"

boot "$GUESTS/hello.elf"
expect "hello prints its id and count and exits 0" 0 \
    '^\[vm 0\] hello from vm 0 of 1$' '^denali: 1 VM: 1 exited 0, 0 exited non-zero, 0 stopped$'

boot -n 300 -m 2M "$GUESTS/hello.elf"
if [ "$STATUS" = 0 ] && [ "$(count_lines '^\[vm [0-9]+\] hello from vm [0-9]+ of 300$')" = 300 ] &&
    [ "$(grep -Eo '^\[vm [0-9]+\] hello from vm [0-9]+' "$WORK/out" | awk '{ if ($2 " " $6 != ($2 " " $6)) bad=1; split($2, a, "]"); if (a[1] != $6) bad=1 } END { print bad ? "bad" : "good" }')" = good ] &&
    grep -q '^denali: 300 VMs: 300 exited 0, 0 exited non-zero, 0 stopped$' "$WORK/out"; then
    ok "300 hello VMs each print their own id"
else
    fail "300 hello VMs each print their own id"
fi

boot "$TEST_GUESTS/args.elf" one "two words" --three -n 4
expect "guest arguments arrive intact, option-like ones included" 0 \
    '^\[vm 0\] arg 0: args.elf$' '^\[vm 0\] arg 1: one$' '^\[vm 0\] arg 2: two words$' \
    '^\[vm 0\] arg 3: --three$' '^\[vm 0\] arg 4: -n$' '^\[vm 0\] arg 5: 4$'

boot -n 2 "$TEST_GUESTS/exit_code.elf" 7
expect "a non-zero exit is reported and fails the run" 1 \
    '^denali: vm 0 exited 7$' '^denali: vm 1 exited 7$' \
    '^denali: 2 VMs: 0 exited 0, 2 exited non-zero, 0 stopped$'

boot "$TEST_GUESTS/abort.elf"
expect "abort() ends the VM with status 134" 1 '^denali: vm 0 exited 134$'

boot -m 2M "$TEST_GUESTS/selftest.elf"
expect "musl on ilwaco: TLS, malloc, clocks, stdio (selftest)" 0 \
    '^denali: 1 VM: 1 exited 0, 0 exited non-zero, 0 stopped$'

boot --console null -n 3 "$GUESTS/hello.elf"
if [ "$STATUS" = 0 ] && [ "$(count_lines '^\[vm')" = 0 ]; then
    ok "--console null discards guest output"
else
    fail "--console null discards guest output"
fi

boot --console "dir:$WORK/logs" -n 3 "$GUESTS/hello.elf"
if [ "$STATUS" = 0 ] && [ "$(cat "$WORK/logs/vm-2.log" 2>/dev/null)" = "hello from vm 2 of 3" ] &&
    [ "$(count_lines '^\[vm')" = 0 ]; then
    ok "--console dir:PATH writes one file per VM"
else
    fail "--console dir:PATH writes one file per VM"
fi

boot --console "dir:/proc/denali-no-such-dir" "$GUESTS/hello.elf"
expect "an unusable console directory is a clear error" 2 'console dir:/proc/denali-no-such-dir'

boot -n 4 "$TEST_GUESTS/console_flood.elf" 2000
expect "a VM flooding the console leaves the others running" 0 \
    '^\[vm 3\] console_flood: healthy vm 3 done' '^denali: 4 VMs: 4 exited 0'
if [ "$(count_lines '^\[vm 0\] console_flood: line [0-9]+ of 2000$')" = 2000 ]; then
    ok "every flooded line is printed whole"
else
    fail "every flooded line is printed whole" "$(count_lines '^\[vm 0\] console_flood: line') lines"
fi

boot -n 20 -m 2M "$GUESTS/idle.elf" 1 0.25
expect "idle VMs sleep through their virtual time in idle-with-timeout steps" 0 \
    '^\[vm 19\] idle: vm 19 slept 1\.[0-9]+ s in [45] wakeups$' \
    '^denali: 20 VMs: 20 exited 0, 0 exited non-zero, 0 stopped$'

# Fairness: CPU-bound VMs get equal shares, judged by their iteration counts. The bound is ±25%:
# a busy host (CI neighbours, a benchmark) skews 2-second runs; starving a VM still fails it.
check_fair() {
    local name=$1
    shift
    boot "$@"
    local counts
    counts=$(grep -Eo 'spin: vm [0-9]+ iterations [0-9]+' "$WORK/out" | awk '{ print $5 }')
    if [ "$STATUS" != 0 ] || [ -z "$counts" ]; then
        fail "$name" "status $STATUS"
        return
    fi
    local verdict
    verdict=$(echo "$counts" | awk '{ n++; s += $1; if (min == "" || $1 < min) min = $1; if ($1 > max) max = $1 }
        END { mean = s / n; if (min >= 0.75 * mean && max <= 1.25 * mean) print "fair"; else printf "unfair: min %.0f max %.0f mean %.0f\n", min, max, mean }')
    if [ "$verdict" = fair ]; then ok "$name"; else fail "$name" "$verdict"; fi
}
check_fair "4 spinning VMs share one worker fairly" -n 4 -j 1 "$GUESTS/spin.elf" 2
check_fair "3 spinning VMs share two workers fairly" -n 3 -j 2 "$GUESTS/spin.elf" 2

# ABI versioning: an image whose note carries another version is refused before any VM starts.
cp "$GUESTS/hello.elf" "$WORK/future.elf"
python3 - "$WORK/future.elf" <<'PY'
import struct, sys
path = sys.argv[1]
data = bytearray(open(path, 'rb').read())
at = data.find(b'Denali\0\0')
assert at > 0
struct.pack_into('<I', data, at + 8, 99)
open(path, 'wb').write(data)
PY
boot "$WORK/future.elf"
expect "an ABI mismatch is refused" 2 'speaks Denali ABI 99, this monitor speaks [0-9]*'

head -c 3000 "$GUESTS/hello.elf" >"$WORK/truncated.elf"
boot -n 5 "$WORK/truncated.elf"
if [ "$STATUS" = 2 ] && [ "$(count_lines '^\[vm')" = 0 ] && grep -q 'outside the file\|truncated' "$WORK/out"; then
    ok "a truncated image is rejected before any VM starts"
else
    fail "a truncated image is rejected before any VM starts"
fi

# Guest TCP/IP (lwIP in ilwaco): sockets over loopback in one VM, with and without a NIC.
boot --net none "$TEST_GUESTS/sockets_selftest.elf"
expect "BSD sockets over loopback without a NIC (sockets_selftest)" 0 \
    '^\[vm 0\] sockets selftest ok \(nic absent\)$' '^denali: 1 VM: 1 exited 0'
boot "$TEST_GUESTS/sockets_selftest.elf"
expect "BSD sockets over loopback beside an attached NIC (sockets_selftest)" 0 \
    '^\[vm 0\] sockets selftest ok \(nic attached\)$' '^denali: 1 VM: 1 exited 0'
boot -n 2 "$TEST_GUESTS/sockets_pair.elf"
expect "TCP and a fragmented datagram between two VMs over the virtual NIC (sockets_pair)" 0 \
    '^\[vm 0\] sockets_pair: server got 204800 bytes, 0 bad$' \
    '^\[vm 0\] sockets_pair: server got a 3000-byte datagram intact$' \
    "^\[vm 1\] sockets_pair: client reply '204800 0'$" '^denali: 2 VMs: 2 exited 0'

# Process platform only: a VM process that dies from outside (here SIGKILL to one of this test's
# own monitor's VM processes) is reported with how it died, and the other VM goes on.
if [ "${DENALI_PLATFORM:-}" = process ]; then
    # Long enough for a loaded machine to start both VMs before the victim's VM would end.
    "$DENALI" run --no-progress -n 2 -m 2M "$GUESTS/idle.elf" 8 1 >"$WORK/out" 2>&1 </dev/null &
    monitor=$!
    victim=
    for _ in $(seq 1 400); do
        victim=$(pgrep -P "$monitor" -x denali-vmproc | head -n 1)
        [ -n "$victim" ] && break
        sleep 0.05
    done
    [ -n "$victim" ] && kill -KILL "$victim"
    STATUS=0
    wait "$monitor" || STATUS=$?
    expect "a VM process killed from outside is reported, the other VM finishes" 1 \
        '^denali: vm [01] stopped: VM process killed by signal 9 \(KILL\)$' \
        '^denali: 2 VMs: 1 exited 0, 0 exited non-zero, 1 stopped$'
else
    skip "a VM process killed from outside is reported" "process platform only"
fi

# Process platform only: VM processes die with their monitor (here SIGKILL to this test's own
# monitor, which can clean nothing up), and none is left behind.
if [ "${DENALI_PLATFORM:-}" = process ]; then
    "$DENALI" run --no-progress -n 3 -m 2M "$GUESTS/idle.elf" 30 1 >"$WORK/out" 2>&1 </dev/null &
    monitor=$!
    vms=
    for _ in $(seq 1 200); do
        vms=$(pgrep -P "$monitor" -x denali-vmproc | tr '\n' ' ')
        [ "$(echo "$vms" | wc -w)" = 3 ] && break
        sleep 0.1
    done
    kill -KILL "$monitor"
    wait "$monitor" 2>/dev/null
    left=$vms
    for _ in $(seq 1 50); do
        left=
        for pid in $vms; do
            # A reused pid would not be a denali-vmproc of ours: check the name too.
            [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = denali-vmproc ] && left="$left $pid"
        done
        [ -z "$left" ] && break
        sleep 0.1
    done
    if [ "$(echo "$vms" | wc -w)" = 3 ] && [ -z "$left" ]; then
        ok "VM processes die with their monitor"
    else
        fail "VM processes die with their monitor" "VM processes: $vms; still alive: $left"
    fi
else
    skip "VM processes die with their monitor" "process platform only"
fi

# Nothing of a guest lies below 0x10000, so VMs run where vm.mmap_min_addr is 65536 (the common
# default; these machines have 4096). Set for this one run as root, and put back.
min_addr=/proc/sys/vm/mmap_min_addr
if [ "${DENALI_PLATFORM:-}" = process ] && [ -w "$min_addr" ]; then
    saved=$(cat "$min_addr")
    echo 65536 >"$min_addr"
    boot -n 2 "$TEST_GUESTS/selftest.elf"
    echo "$saved" >"$min_addr"
    expect "VMs run where vm.mmap_min_addr is 65536" 0 '^denali: 2 VMs: 2 exited 0'
else
    skip "VMs run where vm.mmap_min_addr is 65536" "process platform, as root"
fi

# The process platform needs neither root nor /dev/kvm: the same guests run as an unprivileged
# user (nobody), given a copy of the monitor it may execute.
if [ "${DENALI_PLATFORM:-}" = process ] && [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    mkdir -p "$WORK/unpriv"
    cp "$DENALI" "$(dirname "$DENALI")/denali-vmproc" "$GUESTS/hello.elf" "$GUESTS/ready.elf" \
        "$GUESTS/pattern.elf" "$WORK/unpriv/"
    chmod -R a+rX "$WORK"
    chmod a+rwx "$WORK/unpriv"
    # unpriv ARGS...: `denali run ARGS...` as nobody, from /, output and status as boot leaves them.
    unpriv() {
        STATUS=0
        (cd / && timeout 60 setpriv --reuid=nobody --regid=nogroup --clear-groups \
            "$WORK/unpriv/denali" run "$@") >"$WORK/out" 2>&1 </dev/null || STATUS=$?
    }
    unpriv -n 3 "$WORK/unpriv/hello.elf"
    expect "the process platform runs VMs as an unprivileged user" 0 \
        '^\[vm 2\] hello from vm 2 of 3$' '^denali: 3 VMs: 3 exited 0'
    # Clones fork from a zygote and hibernation writes a swap file: neither needs root either.
    unpriv -n 3 --clone "$WORK/unpriv/ready.elf"
    expect "clones run as an unprivileged user" 0 'vm 2 of 3 clone=1' '^denali: 3 VMs: 3 exited 0'
    unpriv -n 2 -m 8M --hibernate-after 0.3 --swap "$WORK/unpriv/swap" --stats \
        "$WORK/unpriv/pattern.elf" 2 2 800
    expect "hibernation works for an unprivileged user" 0 'hibernations=[1-9]' \
        '2 MiB intact after 2 rounds' '^denali: 2 VMs: 2 exited 0'
else
    skip "the process platform runs VMs as an unprivileged user" "process platform, as root"
    skip "clones run as an unprivileged user" "process platform, as root"
    skip "hibernation works for an unprivileged user" "process platform, as root"
fi

finish
