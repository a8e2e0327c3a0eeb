# Background fleets for the web tests: start_fleet, stop_fleet, wait_http, check_http and
# free_port_block.
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

# free_port_block COUNT [FIRST LAST]: prints the first port of COUNT consecutive loopback ports in
# FIRST-LAST (default 28000-30999) that can all be listened on now (as slirp binds them, with
# SO_REUSEADDR): below the kernel's ephemeral ports, which clients of other jobs' benchmarks take,
# and above the benchmarks' ports. Where the search starts depends on the test's pid.
free_port_block() {
    python3 - "$1" "$$" "${2:-28000}" "${3:-30999}" <<'EOF'
import socket, sys

count, salt, first, last = (int(a) for a in sys.argv[1:5])
blocks = (last - first + 1) // count
for i in range(blocks):
    base = first + ((salt + i) % blocks) * count
    held = []
    try:
        for port in range(base, base + count):
            s = socket.socket()
            held.append(s)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            s.listen()
    except OSError:
        continue
    finally:
        for s in held:
            s.close()
    print(base)
    sys.exit(0)
sys.exit(1)
EOF
}
