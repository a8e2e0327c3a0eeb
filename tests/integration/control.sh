#!/usr/bin/env bash
# The daemon's control channel (--control-fd): per-VM stop, kill, pause, resume and stats, and events.
set -u
. "$(dirname "$0")/../lib/harness.sh"

PROBE="$DENALI_ROOT/build/tests/tools/control_probe"
IDLE="$GUESTS/idle.elf"
SPIN="$TEST_GUESTS/loop_forever.elf"
if [ ! -x "$PROBE" ]; then
    not_ok "$PROBE exists (run make first)"
    finish
fi

# probe STEP... -- RUN-ARGS...: drives `denali run --control-fd 3 RUN-ARGS`; events in $WORK/out,
# ending with `monitor exit N`. $STATUS is the probe's: 0 when every step (each wait) succeeded.
probe() {
    local steps=()
    while [ "$1" != -- ]; do
        steps+=("$1")
        shift
    done
    shift
    STATUS=0
    timeout 120 "$PROBE" "${steps[@]}" -- "$DENALI" run --control-fd 3 --net none --no-progress \
        "$@" >"$WORK/out" 2>&1 </dev/null || STATUS=$?
}

# --- events: created before started, exited with the guest's status
probe wait:'"exited","vm":1' -- -n 2 "$IDLE" 0.2 0.1
expect "events: created, started and exited (status 0) for each VM" 0 \
    '^\{"event":"created","vm":0\}' '^\{"event":"started","vm":1\}' \
    '^\{"event":"exited","vm":0,"status":0\}' '^\{"event":"exited","vm":1,"status":0\}' \
    '^monitor exit 0'
first_created=$(grep -n '"created","vm":0' "$WORK/out" | head -n 1 | cut -d: -f1)
first_started=$(grep -n '"started","vm":0' "$WORK/out" | head -n 1 | cut -d: -f1)
[ -n "$first_created" ] && [ -n "$first_started" ] && [ "$first_created" -lt "$first_started" ] &&
    ok "a VM's created event comes before its started event" ||
    fail "a VM's created event comes before its started event" "lines $first_created, $first_started"

# --- stats, graceful stop: an idling guest ends with ilwaco's 143 on DENALI_EVENT_SHUTDOWN
probe wait:'"started","vm":0' send:'{"op":"stats"}' wait:'"stats","vm":0' \
    send:'{"op":"stop","vm":0,"timeout_ms":10000}' wait:'"exited","vm":0' -- -n 1 "$IDLE" 100 0.1
expect "stop: an idling guest exits 143 on the shutdown event, before its timeout" 0 \
    '"stats","vm":0,"state":"running","exits":[1-9]' '^\{"event":"exited","vm":0,"status":143\}'

# --- stop of a guest that never idles: killed when its timeout runs out
probe wait:'"started","vm":0' send:'{"op":"stop","vm":0,"timeout_ms":300}' wait:'"stopped","vm":0' \
    -- -n 1 "$SPIN"
expect "stop: a guest that never idles is killed after its timeout (status 137)" 0 \
    '"stopped","vm":0,"status":137,"reason":"killed: it did not stop within its stop timeout"'

# --- pause: a spinning guest gets no CPU while paused (its exit count stands still), then resumes
probe wait:'"started","vm":0' send:'{"op":"pause","vm":0}' wait:'"paused","vm":0' sleep:200 \
    send:'{"op":"stats","vm":0}' wait:'"stats"' sleep:500 send:'{"op":"stats","vm":0}' \
    wait:'"stats"' send:'{"op":"pause","vm":0}' wait:'"error"' send:'{"op":"resume","vm":0}' \
    wait:'"resumed","vm":0' sleep:300 send:'{"op":"stats","vm":0}' wait:'"stats"' \
    send:'{"op":"kill","vm":0}' wait:'"stopped","vm":0' -- -n 1 "$SPIN"
mapfile -t exits < <(grep -o '"stats","vm":0,"state":"[a-z]*","exits":[0-9]*' "$WORK/out")
if [ "${#exits[@]}" = 3 ] && [[ ${exits[0]} == *paused* ]] && [ "${exits[0]##*:}" = "${exits[1]##*:}" ] &&
    [[ ${exits[2]} == *running* ]] && [ "${exits[2]##*:}" -gt "${exits[1]##*:}" ]; then
    ok "pause: no exits while paused (one quantum each is an exit), more after resume"
else
    fail "pause: no exits while paused, more after resume" "${exits[*]:-no stats}"
fi
expect "pause twice is refused; kill stops the VM with 137" 0 '"error","op":"pause","vm":0' \
    '"stopped","vm":0,"status":137,"reason":"killed"'

# --- bad commands are answered with an error and change nothing
probe wait:'"started","vm":0' raw:'{"op":' wait:'"error"' raw:'[1,2]' wait:'"error"' \
    send:'{"op":"kill","vm":9}' wait:'"error"' send:'{"op":"frobnicate","vm":0}' wait:'"error"' \
    send:'{"op":"pause","vm":-1}' wait:'"error"' send:'{"op":"stop","vm":0,"timeout_ms":"x"}' \
    wait:'"error"' send:'{"op":"pause"}' wait:'"error"' wait:'"exited","vm":0' -- \
    -n 1 "$IDLE" 0.5 0.1
expect "malformed and out-of-range commands get an error event; the VM runs on and exits 0" 0 \
    '"message":"a command must be one JSON object"' '"message":"no vm 9: the fleet has 1"' \
    '"op":"frobnicate","vm":0,"message":"unknown op"' '"message":"\\"vm\\" must be a VM index"' \
    '"timeout_ms\\" must be' '"message":"\\"vm\\" is missing"' '"exited","vm":0,"status":0'

# --- the daemon going away stops every VM
probe wait:'"started","vm":1' close -- -n 2 "$SPIN"
expect "the channel closing stops every VM with the reason" 0 '^monitor exit 1' \
    'vm 0 stopped: the daemon closed its control channel' \
    'vm 1 stopped: the daemon closed its control channel'

# --- the descriptor must be the daemon's socket
boot --control-fd 5 --net none "$IDLE" 0 5</dev/null
expect "--control-fd on something that is not a SOCK_SEQPACKET socket: exit 2" 2 \
    'not a SOCK_SEQPACKET socket'
finish
