#!/usr/bin/env bash
# --ksm: the monitor and every VM process it starts become candidates for the kernel's same-page merging; without it none are.
set -u
. "$(dirname "$0")/../lib/harness.sh"

PATTERN="$GUESTS/pattern.elf"

# merge_any PID: "yes" or "no" from /proc/PID/ksm_stat (empty where the kernel has none).
merge_any() {
    sed -n 's/^ksm_merge_any: //p' "/proc/$1/ksm_stat" 2>/dev/null
}

# run_and_look ARGS...: starts `denali run ARGS...`, and once its VMs run records the merge flag of
# the monitor (in $WORK/monitor) and of each of its VM processes (in $WORK/vms); then waits for it.
run_and_look() {
    "$DENALI" run --no-progress --net none "$@" >"$WORK/out" 2>&1 </dev/null &
    local pid=$! _ kids=
    for _ in $(seq 1 100); do
        kids=$(pgrep -P "$pid")
        if [ "$DENALI_PLATFORM" = kvm ] || [ "$(echo "$kids" | grep -c .)" -ge 2 ]; then
            break
        fi
        sleep 0.1
    done
    merge_any "$pid" >"$WORK/monitor"
    : >"$WORK/vms"
    for kid in $kids; do
        merge_any "$kid" >>"$WORK/vms"
    done
    STATUS=0
    wait "$pid" || STATUS=$?
}

# Linux 6.1 (Debian 12's) has ksm_stat but not whole-process merging, which came with its
# ksm_merge_any line in 6.4.
if ! grep -q '^ksm_merge_any:' /proc/self/ksm_stat 2>/dev/null; then
    boot --ksm -n 1 --net none "$PATTERN" 1 1 0
    expect "--ksm on a kernel without per-process merging: refused with the reason" 2 \
        'denali: --ksm: this kernel cannot merge'
    finish
fi

run_and_look --ksm -n 2 "$PATTERN" 1 1 1500
expect "--ksm: the VMs run and end as usual" 0 '2 VMs: 2 exited 0'
[ "$(cat "$WORK/monitor")" = yes ] && ok "--ksm: the monitor's memory may be merged" ||
    fail "--ksm: the monitor's memory may be merged" "ksm_merge_any: $(cat "$WORK/monitor")"
if [ "$DENALI_PLATFORM" = process ]; then
    [ "$(grep -c '^yes$' "$WORK/vms")" -ge 2 ] && ! grep -q '^no$' "$WORK/vms" &&
        ok "--ksm: every VM process's memory may be merged" ||
        fail "--ksm: every VM process's memory may be merged" "$(tr '\n' ' ' <"$WORK/vms")"
else
    skip "--ksm: every VM process's memory may be merged" "kvm has no VM processes"
fi
if [ "$(cat /sys/kernel/mm/ksm/run 2>/dev/null)" != 1 ]; then
    grep -q "denali: --ksm: the kernel's KSM is not running" "$WORK/out" &&
        ok "--ksm says when the kernel's KSM is not running" ||
        fail "--ksm says when the kernel's KSM is not running" "$(head -n 3 "$WORK/out")"
else
    skip "--ksm says when the kernel's KSM is not running" "it runs on this host"
fi

run_and_look -n 2 "$PATTERN" 1 1 1500
expect "without --ksm: the VMs run" 0 '2 VMs: 2 exited 0'
[ "$(cat "$WORK/monitor")" = no ] && { [ "$DENALI_PLATFORM" = kvm ] || ! grep -q '^yes$' "$WORK/vms"; } &&
    ok "without --ksm (the default) nothing may be merged: no side channel" ||
    fail "without --ksm (the default) nothing may be merged" \
        "monitor $(cat "$WORK/monitor"), VMs $(tr '\n' ' ' <"$WORK/vms")"
finish
