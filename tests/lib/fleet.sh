# Background fleets for the web tests: start_fleet, stop_fleet, wait_http and check_http.
# shellcheck shell=bash
# Sourced after harness.sh. FLEET_LIMIT_S (default 120) bounds each fleet's run, HTTP_WAIT_S
# (default 30) how long wait_http waits; FLEET_ARGS are options every fleet gets.
FLEET_PID=

# start_fleet ARGS...: runs `denali run ARGS...` in the background, output in $WORK/fleet.
start_fleet() {
    timeout -k 10 -s INT "${FLEET_LIMIT_S:-120}" "$DENALI" run --no-progress \
        ${FLEET_ARGS[@]+"${FLEET_ARGS[@]}"} "$@" >"$WORK/fleet" 2>&1 </dev/null &
    FLEET_PID=$!
}

# stop_fleet: SIGINT, then the monitor's output becomes the last output (for expect/fail).
# shellcheck disable=SC2034 # STATUS is read by harness.sh's expect
stop_fleet() {
    [ -n "$FLEET_PID" ] || return 0
    kill -INT "$FLEET_PID" 2>/dev/null
    STATUS=0
    wait "$FLEET_PID" || STATUS=$?
    FLEET_PID=
    cp "$WORK/fleet" "$WORK/out"
}
# stop_fleet, and the temporary directory goes too (this trap replaces tap_tmpdir's)
trap 'stop_fleet; rm -rf "$TAP_TMP"' EXIT

# wait_http URL: true once URL answers (up to HTTP_WAIT_S), false if it never does or the fleet
# died.
wait_http() {
    local _
    for _ in $(seq 1 $((${HTTP_WAIT_S:-30} * 2))); do
        kill -0 "$FLEET_PID" 2>/dev/null || return 1
        curl -s -m 1 -o /dev/null "$1" && return 0
        sleep 0.5
    done
    return 1
}

# check_http NAME EXPECTED-PATTERN CURL-ARGS...: curl's output (with -w extras) matches the pattern.
check_http() {
    local name=$1 pattern=$2
    shift 2
    local got
    got=$(curl -s -m 15 "$@" 2>&1) # generous: a loaded host can take seconds
    if grep -Eq -- "$pattern" <<<"$got"; then
        ok "$name"
    else
        not_ok "$name"
        diag "curl $*" "expected: $pattern" "got: $(head -c 300 <<<"$got")"
    fi
}
