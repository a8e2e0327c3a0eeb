#!/usr/bin/env bash
# Ballooning: VMs give freed memory back when --mem-limit or SIGUSR2 asks, the host gets it, and the guests use it again intact.
set -u
. "$(dirname "$0")/../lib/harness.sh"

BALLOON="$GUESTS/balloon.elf"

# start_freed ARGS...: `denali run ARGS...` in the background (pid in $pid, output in $WORK/out)
# until two VMs say they used and freed their memory.
start_freed() {
    "$DENALI" run "$@" >"$WORK/out" 2>&1 </dev/null &
    pid=$!
    for _ in $(seq 1 100); do
        [ "$(count_lines 'used and freed')" -ge 2 ] && break
        sleep 0.1
    done
    sleep 0.5
}

# --- --mem-limit: two VMs that used 4 MiB each, a limit of 4 MiB: both are asked, both give
boot -n 2 -m 16M --mem-limit 4M --stats "$BALLOON" 4 2
expect "--mem-limit: the VMs give their freed memory back and use it again intact" 0 \
    '^\[vm 0\] balloon: reused 4096 KiB intact' '^\[vm 1\] balloon: reused 4096 KiB intact' \
    '2 VMs: 2 exited 0'
n=$(stat_of balloon_vms) kb=$(stat_of balloon_released_kb)
[ "${n:-0}" = 2 ] && [ "${kb:-0}" -ge 8192 ] && ok "--mem-limit: both VMs gave back at least 4 MiB" ||
    fail "--mem-limit: both VMs gave back at least 4 MiB" "balloon_vms=$n balloon_released_kb=$kb"

# --- no limit, no request: nothing is asked
boot -n 1 -m 16M --stats "$BALLOON" 2 1
expect "without --mem-limit nothing is asked back" 0 'reused 2048 KiB intact'
[ "$(stat_of balloon_requests)" = 0 ] && ok "without --mem-limit: no balloon request" ||
    fail "without --mem-limit: no balloon request" "balloon_requests=$(stat_of balloon_requests)"

# --- SIGUSR2: one request on demand; the host's copy of guest RAM shrinks
# Not under timeout: the signal goes to the monitor itself (the guests end after 4 s anyway).
start_freed -n 2 -m 16M --stats --no-progress "$BALLOON" 6 4
fd=$(find "/proc/$pid/fd" -lname '*denali-guest-ram*' 2>/dev/null | head -n 1)
before=$([ -n "$fd" ] && stat -L -c %b "$fd")
kill -USR2 "$pid"
sleep 1
after=$([ -n "$fd" ] && stat -L -c %b "$fd")
wait "$pid"
STATUS=$?
expect "SIGUSR2: the VMs give back, then use it again intact" 0 'reused 6144 KiB intact' '2 exited 0'
[ "$(stat_of balloon_requests)" = 1 ] && [ "$(stat_of balloon_vms)" = 2 ] &&
    ok "SIGUSR2: one request, both VMs answered" ||
    fail "SIGUSR2: one request, both VMs answered" "$(grep -o 'balloon_[a-z_0-9]*=[0-9]*' "$WORK/out" | tr '\n' ' ')"
# Blocks of 512 bytes: 12 MiB freed by the two VMs must have left the host's copy.
if [ "$DENALI_PLATFORM" = kvm ]; then
    skip "SIGUSR2: the monitor's guest RAM shrank by what the VMs freed" "kvm RAM is not one memfd"
elif [ -n "$before" ] && [ -n "$after" ] && [ $((before - after)) -ge $((12 * 2048 * 95 / 100)) ]; then
    ok "SIGUSR2: the monitor's guest RAM shrank by what the VMs freed"
else
    fail "SIGUSR2: the monitor's guest RAM shrank by what the VMs freed" "blocks $before -> $after"
fi

# --- clones give back their own copy-on-write pages too
if [ "$DENALI_PLATFORM" = process ]; then
    boot -n 3 -m 16M --clone --mem-limit 4M --stats "$BALLOON" 4 2
    expect "clones give their freed memory back and use it again intact" 0 \
        '^\[vm 2\] balloon: reused 4096 KiB intact' '3 VMs: 3 exited 0'
    [ "$(stat_of balloon_vms)" = 3 ] && ok "all three clones answered" ||
        fail "all three clones answered" "balloon_vms=$(stat_of balloon_vms)"

    # A clone's freed pages are its own process's: they must leave it (RssAnon of the VM processes).
    start_freed -n 2 -m 16M --clone --stats --no-progress "$BALLOON" 6 4
    anon() { cat /proc/$(pgrep -d ' ' -P "$pid" | sed 's/ /\/status \/proc\//g')/status 2>/dev/null |
        awk '$1 == "RssAnon:" { s += $2 } END { print s + 0 }'; }
    before=$(anon)
    kill -USR2 "$pid"
    sleep 1
    after=$(anon)
    wait "$pid"
    STATUS=$?
    expect "clones after SIGUSR2 use their memory again intact" 0 'reused 6144 KiB intact'
    if [ $((before - after)) -ge $((2 * 6144 * 95 / 100)) ]; then
        ok "clones' own processes gave back what they freed (RssAnon $before -> $after KiB)"
    else
        fail "clones' own processes gave back what they freed" "RssAnon $before -> $after KiB"
    fi
fi

finish
