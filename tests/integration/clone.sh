#!/usr/bin/env bash
# Clones (--clone): VM 0 boots to its ready call and every VM resumes from its snapshot with its own identity.
set -u
. "$(dirname "$0")/../lib/harness.sh"

READY="$GUESTS/ready.elf"
HTTPD="$GUESTS/httpd.elf"
BASE=$((26500 + ($$ % 400) * 8))

# --- 100 clones: each its own id, address and random stream; only the template boots
boot -n 100 -m 2M --clone "$READY"
expect "100 clones of ready.elf all exit 0" 0 '100 VMs: 100 exited 0'
n=$(count_lines 'template booted')
[ "$n" = 1 ] && ok "only the template ran up to its ready call" ||
    fail "only the template ran up to its ready call" "$n lines say 'template booted'"
n=$(count_lines 'clone=1 ')
[ "$n" = 100 ] && ok "all 100 resumed as clones (ready returned 1)" ||
    fail "all 100 resumed as clones (ready returned 1)" "$n lines with clone=1"
ids=$(sed -n 's/.*\] vm \([0-9]*\) of 100 clone=1 .*/\1/p' "$WORK/out" | sort -n | uniq | tr '\n' ' ')
[ "$ids" = "$(seq 0 99 | tr '\n' ' ')" ] && ok "every clone names its own VM id, 0 to 99" ||
    fail "every clone names its own VM id, 0 to 99" "ids: $ids"
n=$(sed -n 's/.* random=\([0-9a-f]*\)$/\1/p' "$WORK/out" | sort -u | wc -l)
[ "$n" = 100 ] && ok "no two clones share random numbers" ||
    fail "no two clones share random numbers" "$n distinct of 100"
n=$(sed -n 's/.* ipv4=\([0-9a-f]*\) .*/\1/p' "$WORK/out" | sort -u | wc -l)
[ "$n" = 100 ] && ok "no two clones share an address" || fail "no two clones share an address" "$n distinct"
# The vregs line of VM i: its id, and the address the LAN gives VM i (10.77.0.16 + i here).
bad=$(sed -n 's/.*\] vm \([0-9]*\) of 100 clone=1 mac=\([0-9a-f]*\) .*/\1 \2/p' "$WORK/out" |
    awk '{ if (sprintf("%02x", $1 % 256) != $2) print }' | head -n 3)
[ -z "$bad" ] && ok "each clone's MAC is its own VM's" || fail "each clone's MAC is its own VM's" "$bad"

# --- without --clone the same image boots every VM from scratch
boot -n 2 "$READY"
expect "without --clone the ready call returns 0 and every VM boots" 0 'vm 1 of 2 clone=0'
n=$(count_lines 'template booted')
[ "$n" = 2 ] && ok "without --clone every VM runs its start" || fail "without --clone every VM runs its start" "$n"

# --- a template that never reaches its ready call: the others are stopped with a reason
boot -n 3 --clone "$GUESTS/hello.elf"
expect "a template that exits before its ready call: the others are stopped, exit 1" 1 \
    'vm 2 stopped: not cloned: vm 0 ended before its ready call' '1 exited 0, 0 exited non-zero, 2 stopped'

# --- httpd clones: each published port reaches its own clone, which names itself
FLEET_PID=
timeout -k 10 -s INT 120 "$DENALI" run --no-progress --clone -n 4 -m 4M \
    -p "$BASE-$((BASE + 3)):80" "$HTTPD" >"$WORK/fleet" 2>&1 </dev/null &
FLEET_PID=$!
trap '[ -n "$FLEET_PID" ] && kill -INT "$FLEET_PID" 2>/dev/null; wait; rm -rf "$TAP_TMP"' EXIT
up=0
for _ in $(seq 1 60); do
    curl -s -m 1 -o /dev/null "http://127.0.0.1:$((BASE + 3))/" && { up=1; break; }
    kill -0 "$FLEET_PID" 2>/dev/null || break
    sleep 0.5
done
if [ $up = 1 ]; then
    for i in 0 1 2 3; do
        got=$(curl -s -m 5 "http://127.0.0.1:$((BASE + i))/")
        if grep -q "Denali VM $i of 4" <<<"$got"; then
            ok "curl to clone $i's published port: it names VM $i"
        else
            not_ok "curl to clone $i's published port: it names VM $i"
            diag "got: $(head -c 200 <<<"$got")"
        fi
    done
else
    not_ok "httpd clones answer on their published ports"
    tail -n 15 "$WORK/fleet" | sed 's/^/#   /'
fi
kill -INT "$FLEET_PID" 2>/dev/null
wait "$FLEET_PID" 2>/dev/null
FLEET_PID=
n=$(grep -Ec 'httpd: VM [0-3] listening on 10\.' "$WORK/fleet" || true)
[ "$n" = 4 ] && ok "each httpd clone reports its own VM id and address once resumed" ||
    fail "each httpd clone reports its own VM id and address once resumed" "$n lines"

finish
