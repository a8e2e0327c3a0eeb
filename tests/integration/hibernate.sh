#!/usr/bin/env bash
# Hibernation: idle VMs go whole to the swap file and come back on their deadline or a frame, their memory intact; a damaged swap file stops them with a reason.
set -u
. "$(dirname "$0")/../lib/harness.sh"

PATTERN="$GUESTS/pattern.elf"
SWAP="$WORK/denali.swap"
BASE=$((27900 + ($$ % 80)))

# --- four VMs check a pattern of their id after each of three 1 s idles, hibernated in each
boot -n 4 -m 8M --hibernate-after 0.3 --swap "$SWAP" --stats "$PATTERN" 2 3 1000
expect "hibernated VMs find their memory intact, round after round" 0 \
    'pattern: vm 0: 2 MiB intact after 3 rounds' 'pattern: vm 3: 2 MiB intact after 3 rounds' \
    '4 VMs: 4 exited 0'
h=$(stat_of hibernations) wk=$(stat_of wakes)
[ "${h:-0}" -ge 8 ] && [ "$h" = "$wk" ] && ok "every VM hibernated and woke more than once ($h, $wk)" ||
    fail "every VM hibernated and woke more than once" "hibernations=$h wakes=$wk"
[ "$(stat -c %b "$SWAP")" = 0 ] && ok "the swap file holds nothing once every VM is back" ||
    fail "the swap file holds nothing once every VM is back" "$(stat -c %b "$SWAP") blocks"
[ "$(stat -c %a "$SWAP")" = 600 ] && ok "the swap file is private (mode 600)" ||
    fail "the swap file is private (mode 600)" "$(stat -c %a "$SWAP")"

# --- a swap file emptied under hibernated VMs: they are stopped, never run on wrong memory
"$DENALI" run -n 2 -m 8M --hibernate-after 0.3 --swap "$SWAP" --stats --no-progress \
    "$PATTERN" 2 2 2000 >"$WORK/out" 2>&1 </dev/null &
pid=$!
sleep 1.2
truncate -s 0 "$SWAP"
wait "$pid"
STATUS=$?
expect "a damaged swap file stops the VMs it held, with the reason" 1 \
    '^denali: vm 0 stopped: could not wake from hibernation: reading its memory back from the swap file' \
    '2 VMs: 0 exited 0, 0 exited non-zero, 2 stopped'
[ "$(count_lines 'intact')" = 0 ] && ok "no VM ran on with memory the swap file lost" ||
    fail "no VM ran on with memory the swap file lost"

# --- oversubscribed: 40 VMs fill 4 MiB each (160 MiB) under a 64 MiB --mem-limit and idle
# between checks, hibernated after 0.3 s idle and paged for the limit; every one finds its memory
# intact each round
boot -n 40 -m 8M --mem-limit 64M --hibernate-after 0.3 --swap "$SWAP" --stats --console null \
    "$PATTERN" 4 3 500
expect "40 VMs filling 2.5 times the --mem-limit all run to completion" 0 '40 VMs: 40 exited 0'
[ "$(stat_of hibernations)" -ge 1 ] 2>/dev/null && [ "$(stat_of pages_out)" -ge 1 ] &&
    ok "idle VMs went whole to swap and the limit paged out the rest" ||
    fail "idle VMs went whole to swap and the limit paged out the rest" \
        "hibernations=$(stat_of hibernations) pages_out=$(stat_of pages_out)"

# --- a word of VM 0's saved memory changed in the swap file: it is stopped, VM 1 goes on intact
"$DENALI" run -n 2 -m 8M --hibernate-after 0.3 --swap "$SWAP" --stats --no-progress \
    "$PATTERN" 2 2 2000 >"$WORK/out" 2>&1 </dev/null &
pid=$!
sleep 1.2
printf 'XXXXXXXX' | dd of="$SWAP" bs=1 seek=$((0x200000)) conv=notrunc status=none
wait "$pid"
STATUS=$?
expect "a changed swap file stops the VM whose bytes changed, the other goes on" 1 \
    '^denali: vm 0 stopped: could not wake from hibernation: the swap file gave back other bytes' \
    'pattern: vm 1: 2 MiB intact after 2 rounds' '2 VMs: 1 exited 0, 0 exited non-zero, 1 stopped'

# --- clones: their own pages (written after the ready call) and the snapshot's go to the swap file
# together, and each wakes as a VM of its own, its pattern and its id (the registers) intact
boot -n 4 --clone -m 8M --hibernate-after 0.3 --swap "$SWAP" --stats --net none "$PATTERN" 2 3 1000
expect "hibernated clones find their own memory intact, round after round" 0 \
    'pattern: vm 1: 2 MiB intact after 3 rounds' 'pattern: vm 3: 2 MiB intact after 3 rounds' \
    '4 VMs: 4 exited 0'
h=$(stat_of hibernations) wk=$(stat_of wakes)
[ "${h:-0}" -ge 8 ] && [ "$h" = "$wk" ] && ok "clones hibernate and wake ($h, $wk)" ||
    fail "clones hibernate and wake" "hibernations=$h wakes=$wk"

# --- web server clones, hibernated, answer each as its own VM (the template's heap, lwIP's
# state and the clone's identity all came back)
"$DENALI" run -n 3 --clone --hibernate-after 0.3 --swap "$SWAP" --stats --no-progress \
    -p "$((BASE + 10))-$((BASE + 12)):80" "$GUESTS/httpd.elf" -q >"$WORK/out" 2>&1 </dev/null &
pid=$!
sleep 2
answers=$(for i in 0 1 2; do
    curl -s -m 10 "http://127.0.0.1:$((BASE + 10 + i))/" | grep -c "<h1>Denali VM $i of 3"
done | grep -c '^1$')
kill -INT "$pid"
wait "$pid"
h=$(stat_of hibernations)
[ "$answers" = 3 ] && [ "${h:-0}" -ge 3 ] &&
    ok "hibernated httpd clones each answer as their own VM ($h hibernations)" ||
    fail "hibernated httpd clones each answer as their own VM" "$answers of 3, hibernations=$h"

# --- bad usage
boot --hibernate-after 1 "$PATTERN"
expect "--hibernate-after without --swap is a usage error" 2 'needs --swap FILE'
boot --hibernate-after 1 --swap /nonexistent-dir/swap "$PATTERN"
expect "an unwritable --swap is refused before any VM starts" 2 '--swap /nonexistent-dir/swap: '

# --- idle web servers, hibernated, stay asleep: nothing of their own (httpd's poll, lwIP's ARP
# and reassembly ticks) wakes them, so a long tail of them costs nothing (their deadlines would
# come every 3 s here: ten times --hibernate-after); and after 22 s asleep, past TCP's 20 s for a
# half-open connection, each still answers its first request (the ticks it slept through must
# not age the connection the request opens)
"$DENALI" run -n 3 -m 4M --hibernate-after 0.3 --swap "$SWAP" --stats --no-progress \
    -p "$BASE-$((BASE + 2)):80" "$GUESTS/httpd.elf" -q >"$WORK/out" 2>&1 </dev/null &
pid=$!
sleep 22
answers=$(for i in 0 1 2; do
    curl -s -m 10 "http://127.0.0.1:$((BASE + i))/"
done | grep -c '<h1>Denali VM [0-2] of 3')
kill -INT "$pid"
wait "$pid"
h=$(stat_of hibernations) wk=$(stat_of wakes)
[ "${h:-0}" -ge 3 ] && [ "${wk:-99}" -le 6 ] &&
    ok "idle httpd VMs, hibernated, are not woken by timers of their own ($h, $wk)" ||
    fail "idle httpd VMs, hibernated, are not woken by timers of their own" \
        "hibernations=$h wakes=$wk (the requests and the connections' ends: 3 to 6)"
[ "$answers" = 3 ] && ok "after 22 s asleep every httpd answers its first request" ||
    fail "after 22 s asleep every httpd answers its first request" "$answers of 3 answered"

# --- --max-resident: 40 web servers, at most 8 in memory at once; the others are created as
# earlier ones hibernate, and every one boots to its ready call
"$DENALI" run -n 40 -m 4M --max-resident 8 --hibernate-after 0.3 --swap "$SWAP" --stats \
    --no-progress --console null "$GUESTS/httpd.elf" -q >"$WORK/out" 2>&1 </dev/null &
pid=$!
most=0
for _ in $(seq 1 150); do
    n=$(pgrep -c -P "$pid")
    [ "$n" -gt "$most" ] && most=$n
    grep -q 'all 40 VMs booted' "$WORK/out" && break
    sleep 0.1
done
sleep 1
kill -INT "$pid"
wait "$pid"
peak=$(stat_of resident_peak) ready=$(stat_of ready_vms)
[ "$ready" = 40 ] && [ "${peak:-99}" -le 8 ] && [ "$most" -le 8 ] &&
    grep -q '8 VMs in memory at most (bound: --max-resident)' "$WORK/out" &&
    ok "--max-resident 8: all 40 web servers boot, never more than 8 processes at once" ||
    fail "--max-resident 8: all 40 web servers boot, never more than 8 processes at once" \
        "ready_vms=$ready resident_peak=$peak processes seen at most: $most"

# --- while many boot, those made earlier hibernate meanwhile: creating takes every other turn of a
# worker while VMs wait in the queue (it used to take them all, and no VM hibernated before the
# last was made, so all 600 were processes at once)
"$DENALI" run -n 600 -m 4M --hibernate-after 0.2 --swap "$SWAP" --stats --no-progress \
    --console null --net none "$GUESTS/idle.elf" 600 600 >"$WORK/out" 2>&1 </dev/null &
pid=$!
for _ in $(seq 1 300); do
    grep -q 'all 600 VMs booted' "$WORK/out" && break
    sleep 0.1
done
kill -INT "$pid"
wait "$pid"
peak=$(stat_of resident_peak) h=$(stat_of hibernations)
[ "${peak:-600}" -lt 300 ] && [ "${h:-0}" -ge 300 ] &&
    ok "booting 600, at most $peak are in memory at once: the earlier ones hibernate meanwhile" ||
    fail "booting 600, the earlier ones hibernate meanwhile" "resident_peak=$peak hibernations=$h"

# --- without hibernation, creation waits for VMs to end
boot -n 12 --max-resident 2 --stats --console null --net none "$GUESTS/hello.elf"
expect "--max-resident 2: twelve VMs run two at a time, all to the end" 0 '12 VMs: 12 exited 0' \
    'max_resident=2 resident_bound=--max-resident resident_peak=2'

# --- a frame wakes a hibernated web server, which answers as itself
"$DENALI" run -n 2 -m 4M --hibernate-after 0.3 --swap "$SWAP" --stats --no-progress \
    -p "$BASE-$((BASE + 1)):80" "$GUESTS/httpd.elf" -q >"$WORK/out" 2>&1 </dev/null &
pid=$!
up=0
for _ in $(seq 1 60); do
    curl -s -m 1 -o /dev/null "http://127.0.0.1:$((BASE + 1))/" && { up=1; break; }
    sleep 0.5
done
sleep 2
got=$(curl -s -m 10 "http://127.0.0.1:$((BASE + 1))/")
kill -INT "$pid"
wait "$pid"
if [ $up = 1 ] && grep -q 'Denali VM 1 of 2' <<<"$got"; then
    ok "a request to a hibernated httpd wakes it and it answers as itself"
else
    fail "a request to a hibernated httpd wakes it and it answers as itself" "got: ${got:0:120}"
fi
[ "$(stat_of wakes)" -ge 1 ] 2>/dev/null && ok "the request woke a hibernated VM" ||
    fail "the request woke a hibernated VM" "wakes=$(stat_of wakes)"

finish
