#!/usr/bin/env bash
# Integration test: the client commands (ps, inspect, logs, stats, start, stop, kill, rm, pause,
# resume, events, version, run -d): their usage errors and help without a daemon, then each
# against a real `denali daemon` on a socket of its own.
# shellcheck source=tests/lib/tap.sh
. "$(dirname "$0")/../lib/tap.sh"

if [ ! -x "$DENALI" ]; then
    not_ok "$DENALI exists (run make first)"
    finish
fi
tap_tmpdir
GUESTS=$DENALI_ROOT/build/guests
COMMANDS=(ps inspect logs stats start stop kill rm pause resume events version)
# Never the default socket: another daemon may be serving it.
unset DENALI_API

# --- Without a daemon -------------------------------------------------------------------------

for cmd in "${COMMANDS[@]}"; do
    check_run "$cmd --help: exit 0 and its usage" 0 "usage: denali $cmd" "$DENALI" "$cmd" --help
done
check_run "run -d --help: exit 0 and the detached usage" 0 "usage: denali run -d" \
    "$DENALI" run -d --help
check_run "denali --help names the client commands" 0 "ps | inspect | logs" "$DENALI" --help

# Bad arguments: one line naming the problem and exit 2, before any daemon is asked.
nosock=$TAP_TMP/no-daemon.sock
check_run "ps with an argument: exit 2" 2 "takes no arguments" "$DENALI" ps --api "$nosock" x
check_run "ps --bogus: exit 2" 2 "unknown option '--bogus'" "$DENALI" ps --bogus
check_run "ps --format yaml: exit 2" 2 "--format: expected json or table" \
    "$DENALI" ps --format yaml
check_run "inspect without ids: exit 2" 2 "no VM given" "$DENALI" inspect --api "$nosock"
check_run "logs without an id: exit 2" 2 "no VM given" "$DENALI" logs --api "$nosock"
check_run "logs with two ids: exit 2" 2 "one VM at a time" "$DENALI" logs --api "$nosock" a b
check_run "logs --tail x: exit 2" 2 "--tail" "$DENALI" logs --tail x a
check_run "stop -t -1: exit 2" 2 "--timeout" "$DENALI" stop -t -1 a
check_run "kill -s SIGSTOP: exit 2" 2 "--signal: 'SIGSTOP'" "$DENALI" kill -s SIGSTOP a
check_run "kill without ids: exit 2" 2 "no VM given" "$DENALI" kill --api "$nosock"
check_run "rm -x: exit 2" 2 "unknown option '-x'" "$DENALI" rm -x a
check_run "option without its value: exit 2" 2 "needs a value" "$DENALI" stats --format
check_run "events --since yesterday: exit 2" 2 "--since" "$DENALI" events --since yesterday
check_run "version with an argument: exit 2" 2 "takes no arguments" "$DENALI" version x
check_run "run -d without IMAGE: exit 2" 2 "no IMAGE given" "$DENALI" run -d --api "$nosock"
check_run "run -d --mem 3M: the run parser's words, exit 2" 2 "--mem: '3M'" \
    "$DENALI" run -d --mem 3M "$GUESTS/hello.elf"
check_run "run -d --console: not for a detached run, exit 2" 2 "--console" \
    "$DENALI" run -d --console null "$GUESTS/hello.elf"
check_run "run -d --name with a space: exit 2" 2 "--name: 'a b'" \
    "$DENALI" run -d --name "a b" "$GUESTS/hello.elf"

# No daemon: one line naming the socket and exit 1, whichever way the socket was chosen.
for cmd in ps "inspect x" "logs x" "stats --no-stream" "start x" "stop x" "kill x" "rm x" \
    "pause x" "resume x" "events" "version"; do
    # shellcheck disable=SC2086 # the command and its argument
    check_run "$cmd without a daemon: exit 1 naming the socket" 1 \
        "cannot reach the daemon at $nosock" "$DENALI" $cmd --api "$nosock"
done
check_run "run -d without a daemon: exit 1" 1 "cannot reach the daemon at $nosock" \
    "$DENALI" run -d --api "$nosock" "$GUESTS/hello.elf"
check_run "DENALI_API chooses the socket" 1 "cannot reach the daemon at $nosock" \
    env DENALI_API="$nosock" "$DENALI" ps
tap_run "$DENALI" ps --api "$nosock"
lines=$(printf '%s\n' "$TAP_OUTPUT" | wc -l)
if [ "$lines" -eq 1 ]; then
    ok "the daemon-not-running message is one line"
else
    not_ok "the daemon-not-running message is one line"
    tap_explain "$DENALI" ps --api "$nosock"
fi

# --- Against a daemon -------------------------------------------------------------------------

SOCK=$TAP_TMP/api.sock
DAEMON_PID=
# shellcheck disable=SC2317 # run by the EXIT trap
stop_daemon() {
    if [ -n "$DAEMON_PID" ]; then
        kill "$DAEMON_PID" 2>/dev/null
        wait "$DAEMON_PID" 2>/dev/null
    fi
    rm -rf "$TAP_TMP"
}
trap stop_daemon EXIT
"$DENALI" daemon --api "$SOCK" --state-dir "$TAP_TMP/state" >"$TAP_TMP/daemon.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 100); do
    [ -S "$SOCK" ] && break
    kill -0 "$DAEMON_PID" 2>/dev/null || break
    sleep 0.1
done
DAEMON_CASES=(version "run -d" ps inspect logs "logs -f" stats pause/resume stop kill rm
    "run -d -n 3" "run -d progress" start events)
if [ ! -S "$SOCK" ]; then
    wait "$DAEMON_PID" 2>/dev/null
    DAEMON_PID=
    if grep -q "daemon: not built yet" "$TAP_TMP/daemon.log"; then
        for case in "${DAEMON_CASES[@]}"; do
            skip "$case against a daemon" "denali daemon: not built yet"
        done
    else
        not_ok "denali daemon serves $SOCK"
        diag "$(head -n 20 "$TAP_TMP/daemon.log")"
    fi
    finish
fi
ok "denali daemon serves its socket"
export DENALI_API=$SOCK

# state_of ID: the VM's state, from inspect.
state_of() {
    "$DENALI" inspect "$1" 2>/dev/null | sed -n 's/^ *"state": "\([a-z]*\)".*/\1/p' | head -n 1
}

# wait_state ID STATE...: waits (up to 30 s) until the VM is in one of the states.
wait_state() {
    local id=$1 s i
    shift
    for ((i = 0; i < 300; i++)); do
        s=$(state_of "$id")
        for want in "$@"; do
            [ "$s" = "$want" ] && return 0
        done
        sleep 0.1
    done
    diag "$id is '$s' after 30 s, not $*"
    return 1
}

check_run "version: the client's and the daemon's" 0 "API version:" "$DENALI" version
check_output_contains "version --format json has the server's api_version" '"api_version": 1' \
    "$DENALI" version --format json

tap_run "$DENALI" run -d --name sleeper "$GUESTS/idle.elf" 120
SLEEPER=$TAP_OUTPUT
if [ "$TAP_STATUS" -eq 0 ] && [[ $SLEEPER =~ ^f[0-9]+\.0$ ]]; then
    ok "run -d prints the new VM's id"
else
    not_ok "run -d prints the new VM's id"
    tap_explain "$DENALI" run -d --name sleeper "$GUESTS/idle.elf" 120
    finish
fi
if wait_state "$SLEEPER" running; then
    ok "run -d: the VM runs"
else
    not_ok "run -d: the VM runs"
fi
check_output_matches "ps lists it running, with its name and image" \
    "^$SLEEPER +sleeper +idle\.elf +running +Up" "$DENALI" ps
check_output_matches "ps has docker's columns" \
    "^ID +NAME +IMAGE +STATE +STATUS +PLATFORM +ADDRESS +PORTS" "$DENALI" ps
check_output_matches "ps -q prints its id alone" "^$SLEEPER\$" "$DENALI" ps -q
check_output_contains "ps --format json gives the API's VM objects" "\"id\": \"$SLEEPER\"" \
    "$DENALI" ps --format json
check_output_contains "inspect by id: its JSON" "\"image\": \"$GUESTS/idle.elf\"" \
    "$DENALI" inspect "$SLEEPER"
check_output_contains "inspect by name: the same VM" "\"id\": \"$SLEEPER\"" \
    "$DENALI" inspect sleeper
check_run "inspect of an unknown VM: exit 1 naming it" 1 "no-such-vm" \
    "$DENALI" inspect no-such-vm
check_output_matches "inspect of an unknown VM prints an empty array as docker does: []" '^\[\]$' \
    "$DENALI" inspect no-such-vm
tap_run "$DENALI" inspect "$SLEEPER" no-such-vm
if [ "$TAP_STATUS" -eq 1 ] && [[ $TAP_OUTPUT == *"\"id\": \"$SLEEPER\""* ]]; then
    ok "inspect of a known and an unknown VM: the known one's JSON, exit 1"
else
    not_ok "inspect of a known and an unknown VM: the known one's JSON, exit 1"
    tap_explain "$DENALI" inspect "$SLEEPER" no-such-vm
fi

# logs: a VM that has ended, then -f following one until it ends.
HELLO=$("$DENALI" run -d "$GUESTS/hello.elf" 2>&1)
wait_state "$HELLO" exited stopped
check_run "logs of an ended VM: its console" 0 "hello from vm 0 of 1" "$DENALI" logs "$HELLO"
check_output_matches "ps -a shows it Exited (0)" "^$HELLO .*Exited \(0\)" "$DENALI" ps -a
tap_run "$DENALI" ps
if [[ $TAP_OUTPUT != *"$HELLO "* ]]; then
    ok "ps without -a leaves the ended VM out"
else
    not_ok "ps without -a leaves the ended VM out"
    tap_explain "$DENALI" ps
fi
NAPPER=$("$DENALI" run -d "$GUESTS/idle.elf" 2 2>&1)
check_run "logs -f follows a VM until it ends" 0 "idle: vm 0 slept" \
    "$DENALI" logs -f "$NAPPER"
tap_run "$DENALI" logs --tail 0 "$HELLO"
if [ -z "$TAP_OUTPUT" ]; then ok "logs --tail 0 prints no line"; else not_ok "logs --tail 0 prints no line"; fi
check_run "logs of an unknown VM: exit 1" 1 "no-such-vm" "$DENALI" logs no-such-vm

# stats
check_output_matches "stats --no-stream: a row for the running VM" "^$SLEEPER +running +[0-9]+" \
    "$DENALI" stats --no-stream
check_output_contains "stats --no-stream --format json: STATS objects" '"memory_bytes"' \
    "$DENALI" stats --no-stream --format json "$SLEEPER"
tap_run timeout 3 "$DENALI" stats "$SLEEPER"
if [[ $TAP_OUTPUT == *"$SLEEPER"* && $TAP_OUTPUT == *EXITS/S* ]]; then
    ok "stats streams tables of the VM (not a terminal: one after another)"
else
    not_ok "stats streams tables of the VM"
    tap_explain timeout 3 "$DENALI" stats "$SLEEPER"
fi

# pause and resume
check_run "pause: exit 0, prints the id" 0 "$SLEEPER" "$DENALI" pause "$SLEEPER"
if wait_state "$SLEEPER" paused; then ok "pause: the VM is paused"; else not_ok "pause: the VM is paused"; fi
check_output_contains "ps says (Paused)" "(Paused)" "$DENALI" ps
check_run "pause of a paused VM: exit 1 with the daemon's reason" 1 "$SLEEPER" \
    "$DENALI" pause "$SLEEPER"
check_run "resume: exit 0" 0 "$SLEEPER" "$DENALI" resume "$SLEEPER"
if wait_state "$SLEEPER" running; then ok "resume: the VM runs again"; else not_ok "resume: the VM runs again"; fi

# stop, kill, rm
STOPPED=$("$DENALI" run -d "$GUESTS/idle.elf" 120 2>&1)
wait_state "$STOPPED" running
check_run "stop -t 5: exit 0" 0 "$STOPPED" "$DENALI" stop -t 5 "$STOPPED"
if wait_state "$STOPPED" exited stopped; then ok "stop: the VM ends"; else not_ok "stop: the VM ends"; fi
KILLED=$("$DENALI" run -d "$GUESTS/idle.elf" 120 2>&1)
wait_state "$KILLED" running
check_run "kill: exit 0" 0 "$KILLED" "$DENALI" kill "$KILLED"
if wait_state "$KILLED" stopped; then ok "kill: the VM is stopped"; else not_ok "kill: the VM is stopped"; fi
check_output_matches "ps -a: Stopped (137) ... killed" "^$KILLED .*Stopped \(137\).*killed" \
    "$DENALI" ps -a
check_run "kill of an ended VM: exit 1" 1 "$KILLED" "$DENALI" kill "$KILLED"
check_run "rm of a live VM: exit 1 with the daemon's reason" 1 "$SLEEPER" "$DENALI" rm "$SLEEPER"
check_run "rm of ended VMs: exit 0" 0 "$KILLED" "$DENALI" rm "$KILLED" "$STOPPED"
check_run "a removed VM is gone" 1 "$KILLED" "$DENALI" inspect "$KILLED"
tap_run "$DENALI" rm "$HELLO" no-such-vm
if [ "$TAP_STATUS" -eq 1 ] && [[ $TAP_OUTPUT == *no-such-vm* ]] &&
    ! "$DENALI" inspect "$HELLO" >/dev/null 2>&1; then
    ok "rm of a known and an unknown VM: the known one removed, the other reported, exit 1"
else
    not_ok "rm of a known and an unknown VM: the known one removed, the other reported, exit 1"
    tap_explain "$DENALI" rm "$HELLO" no-such-vm
fi
check_run "rm -f of a live VM: exit 0" 0 "$SLEEPER" "$DENALI" rm -f "$SLEEPER"
check_run "rm -f: the VM is gone" 1 "$SLEEPER" "$DENALI" inspect "$SLEEPER"

# A fleet
tap_run "$DENALI" run -d -n 3 --name trio "$GUESTS/idle.elf" 120
FLEET_IDS=$TAP_OUTPUT
if [ "$TAP_STATUS" -eq 0 ] && [ "$(printf '%s\n' "$FLEET_IDS" | grep -cE '^f[0-9]+\.[0-2]$')" -eq 3 ]; then
    ok "run -d -n 3 prints three ids"
else
    not_ok "run -d -n 3 prints three ids"
    tap_explain "$DENALI" run -d -n 3 --name trio "$GUESTS/idle.elf" 120
fi
if [[ $FLEET_IDS != *booting* && $FLEET_IDS != *booted* ]]; then
    ok "run -d -n 3: no progress when stderr is not a terminal"
else
    not_ok "run -d -n 3: no progress when stderr is not a terminal"
fi
all_running=1
for id in $FLEET_IDS; do
    wait_state "$id" running || all_running=0
done
if [ "$all_running" = 1 ]; then ok "run -d -n 3: all three run"; else not_ok "run -d -n 3: all three run"; fi
check_output_contains "a fleet's VM by NAME.INDEX" "\"name\": \"trio.2\"" \
    "$DENALI" inspect trio.2
# shellcheck disable=SC2086 # the ids, one per word
check_run "kill of the whole fleet: exit 0" 0 "" "$DENALI" kill $FLEET_IDS

if command -v script >/dev/null; then
    # script(1) gives the command a terminal; its output is the terminal's.
    tap_run script -qec "$DENALI run -d -n 2 $GUESTS/idle.elf 120" /dev/null
    if [ "$TAP_STATUS" -eq 0 ] && [[ $TAP_OUTPUT == *"booted 2/2"* ]]; then
        ok "run -d -n 2 on a terminal: boot progress until all have started"
    else
        not_ok "run -d -n 2 on a terminal: boot progress until all have started"
        tap_explain script -qec "$DENALI run -d -n 2 $GUESTS/idle.elf 120" /dev/null
    fi
    # shellcheck disable=SC2046 # the ids, one per word
    "$DENALI" kill $(printf '%s\n' "$TAP_OUTPUT" | grep -oE '^f[0-9]+\.[0-9]+') >/dev/null 2>&1
else
    skip "run -d -n 2 on a terminal: boot progress" "no script(1) to give it a terminal"
fi

# start: a fleet created without starting (the API's "start": false; no command creates one).
if command -v curl >/dev/null; then
    body="{\"image\": \"$GUESTS/idle.elf\", \"args\": [\"120\"], \"start\": false}"
    LATER=$(curl -s --unix-socket "$SOCK" -H 'Content-Type: application/json' -d "$body" \
        http://denali/vms | sed -n 's/.*"ids": *\[ *"\([^"]*\)".*/\1/p')
    check_output_matches "ps -a shows a created VM as Created" "^$LATER .*created +Created" \
        "$DENALI" ps -a
    check_run "start: exit 0" 0 "$LATER" "$DENALI" start "$LATER"
    if wait_state "$LATER" running; then ok "start: the VM runs"; else not_ok "start: the VM runs"; fi
    check_run "start of a running VM: exit 1" 1 "$LATER" "$DENALI" start "$LATER"
    "$DENALI" kill "$LATER" >/dev/null 2>&1
else
    skip "start against a daemon" "no curl to create a VM that is not started"
fi

# events: what happened so far, replayed (the stream itself never ends: cut after 3 s).
tap_run timeout 3 "$DENALI" events --since 0
if printf '%s\n' "$TAP_OUTPUT" | grep -Eq "\"type\": ?\"created\".*\"id\": ?\"$SLEEPER\"|\"id\": ?\"$SLEEPER\".*\"type\": ?\"created\""; then
    ok "events --since 0 replays the VMs' events as JSON lines"
else
    not_ok "events --since 0 replays the VMs' events as JSON lines"
    tap_explain timeout 3 "$DENALI" events --since 0
fi

finish
