#!/usr/bin/env bash
# Paging: busy VMs over --mem-limit have their coldest pages in the swap file and find them intact; a damaged swap file stops them with a reason.
set -u
. "$(dirname "$0")/../lib/harness.sh"

PATTERN="$GUESTS/pattern.elf"
SWAP="$WORK/denali.swap"


# --- eight busy VMs (no idle time to hibernate in) fill 2 MiB each, 16 MiB in all, under a
# limit of a quarter of that, and check every word of it 10 times
boot -n 8 -m 16M --mem-limit 4M --swap "$SWAP" --stats --console null "$PATTERN" 2 10 0
expect "busy VMs four times over the --mem-limit all find their memory intact" 0 \
    '8 VMs: 8 exited 0'
# The pager keeps the limit at every fault; beside it only the pages the monitor writes itself
# (each VM's set-up and virtual registers, a few pages) are not counted in advance.
peak=$(stat_of guest_ram_peak_kb)
[ -n "$peak" ] && [ "$peak" -le $((4096 + 8 * 64)) ] && [ "$(stat_of fault_waits)" -gt 0 ] &&
    ok "guest RAM never passed the limit: faults waited for room ($peak KiB at most)" ||
    fail "guest RAM never passed the limit" \
        "guest_ram_peak_kb=$peak fault_waits=$(stat_of fault_waits) (limit 4096 KiB)"
out=$(stat_of pages_out) back=$(stat_of pages_in)
[ "${out:-0}" -ge 2048 ] && [ "${back:-0}" -ge 2048 ] &&
    ok "pages went out to the swap file and came back on touch ($out out, $back in)" ||
    fail "pages went out to the swap file and came back on touch" "pages_out=$out pages_in=$back"
[ "$(stat_of hibernations)" = 0 ] && ok "it was paging, not hibernation, that kept the limit" ||
    fail "it was paging, not hibernation, that kept the limit" "hibernations=$(stat_of hibernations)"
[ "$(stat_of paging_failures)" = 0 ] && ok "no page failed to come back" ||
    fail "no page failed to come back" "paging_failures=$(stat_of paging_failures)"
[ "$(stat -c %b "$SWAP")" = 0 ] && ok "the swap file holds nothing once the VMs are gone" ||
    fail "the swap file holds nothing once the VMs are gone" "$(stat -c %b "$SWAP") blocks"
peak=$(stat_of swapped_peak_kb)
[ "${peak:-0}" -gt 0 ] && [ "$peak" -le $((8 * 2 * 1024 + 8 * 64)) ] &&
    ok "the swap file never held more than the VMs' memory ($peak KiB at most)" ||
    fail "the swap file never held more than the VMs' memory" "swapped_peak_kb=$peak"

# --- a paged fleet that also idles: hibernation and paging together, still intact
boot -n 12 -m 16M --mem-limit 8M --swap "$SWAP" --stats --console null "$PATTERN" 2 20 20
expect "VMs that idle and run, paged and hibernated, all find their memory intact" 0 \
    '12 VMs: 12 exited 0'

# --- clones over the limit: their pages are the snapshot's and their own (the VM process's, or on
# kvm the monitor's copy-on-write view), so pressure hibernates each whole, and once woken, a VM of
# its own, it is paged like any other
boot -n 8 --clone -m 8M --mem-limit 8M --swap "$SWAP" --stats --net none "$PATTERN" 2 6 200
expect "clones twice over the --mem-limit all find their memory intact" 0 \
    'pattern: vm 0: 2 MiB intact after 6 rounds' 'pattern: vm 7: 2 MiB intact after 6 rounds' \
    '8 VMs: 8 exited 0'
h=$(stat_of hibernations) out=$(stat_of pages_out)
[ "${h:-0}" -ge 1 ] && [ "${out:-0}" -gt 0 ] && [ "$(stat_of paging_failures)" = 0 ] &&
    ok "pressure hibernated clones, which were then paged ($h hibernations, $out pages out)" ||
    fail "pressure hibernated clones, which were then paged" \
        "hibernations=$h pages_out=$out paging_failures=$(stat_of paging_failures)"

# --- a paged VM's process lent the monitor its userfaultfd and holds no descriptor itself
if [ "$DENALI_PLATFORM" = process ]; then
    "$DENALI" run -n 2 -m 16M --mem-limit 4M --swap "$SWAP" --no-progress "$PATTERN" 4 100000 0 \
        >"$WORK/out" 2>&1 </dev/null &
    pid=$!
    for _ in $(seq 1 100); do
        [ "$(pgrep -c -P "$pid")" -ge 2 ] && break
        sleep 0.1
    done
    sleep 0.5
    fds= seen=0
    for child in $(pgrep -P "$pid"); do
        seen=$((seen + 1))
        fds+="$(ls "/proc/$child/fd" 2>/dev/null | tr '\n' ' ')"
    done
    kill -INT "$pid"
    wait "$pid"
    [ "$seen" -ge 1 ] && [ -z "${fds// /}" ] &&
        ok "a paged VM's process holds no descriptor ($seen looked at)" ||
        fail "a paged VM's process holds no descriptor" "$seen processes, descriptors: $fds"
else
    skip "a paged VM's process holds no descriptor" "a kvm VM has no process of its own"
fi

# --- the swap file overwritten under paged VMs: they stop with the reason, never run on it
# Two VMs walk their memory under a 4 MiB limit until the time limit; "$@" damages the swap file
# once pages are in it. A VM with pages out then must stop on the first of them it touches (one
# that happened to hold none at that moment may run on to the time limit on memory still its own).
run_damaged() {
    "$DENALI" run -n 2 -m 16M --mem-limit 4M --swap "$SWAP" --stats --no-progress -t 20 \
        "$PATTERN" 4 100000 0 >"$WORK/out" 2>&1 </dev/null &
    local pid=$! i
    for i in $(seq 1 100); do
        [ "$(stat -c %b "$SWAP" 2>/dev/null || echo 0)" -gt 64 ] && break
        sleep 0.1
    done
    # Again and again for 3 s: one damage could land when no page happens to be out.
    for i in $(seq 1 30); do
        "$@"
        sleep 0.1
    done
    wait "$pid"
    STATUS=$?
}
run_damaged sh -c "head -c 4194304 /dev/urandom | dd of='$SWAP' conv=notrunc status=none"
expect "a changed swap file stops the VMs whose pages changed, with the reason" 1 \
    'stopped: paging: the swap file gave back other bytes for page 0x' \
    '2 VMs: 0 exited 0, 0 exited non-zero, 2 stopped'
[ "$(count_lines 'intact')" = 0 ] && [ "$(count_lines 'expected')" = 0 ] &&
    ok "no VM saw a wrong word" || fail "no VM saw a wrong word"
run_damaged truncate -s 0 "$SWAP"
expect "an emptied swap file stops the VMs it held pages of, with the reason" 1 \
    'stopped: paging: (page 0x[0-9a-f]+ could not be read back from|the swap file gave back other bytes)' \
    '2 VMs: 0 exited 0, 0 exited non-zero, 2 stopped'
[ "$(count_lines 'expected')" = 0 ] && ok "no VM ran on a page the swap file lost" ||
    fail "no VM ran on a page the swap file lost"

finish
