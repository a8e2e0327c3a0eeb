#!/usr/bin/env bash
# `denali daemon` and its HTTP API (docs/API.md): every endpoint and error code, each answer checked
# against docs/api/openapi.json; untrusted clients (malformed JSON, unknown fields, huge bodies,
# slow clients, clients leaving mid-stream); the socket's modes; running VMs through their fleets.
set -u
. "$(dirname "$0")/../lib/tap.sh"
tap_tmpdir

CHECKER="$DENALI_ROOT/build/tests/tools/openapi_check"
SPEC="$DENALI_ROOT/docs/api/openapi.json"
GUESTS="$DENALI_ROOT/build/guests"
TEST_GUESTS="$DENALI_ROOT/build/tests/guests"
SOCK="$TAP_TMP/run/api.sock"
STATE="$TAP_TMP/state"
DAEMON_PID=
BACKGROUND=()

for need in "$CHECKER" "$GUESTS/hello.elf" "$GUESTS/idle.elf" "$TEST_GUESTS/loop_forever.elf"; do
    if [ ! -e "$need" ]; then
        not_ok "$need exists (run make first)"
        finish
    fi
done

cleanup() {
    local pid
    for pid in "${BACKGROUND[@]}" $DAEMON_PID; do
        kill "$pid" 2>/dev/null
    done
    wait 2>/dev/null
    rm -rf "$TAP_TMP"
}
trap cleanup EXIT

# start_daemon: starts `denali daemon` on $SOCK and waits (bounded) until it answers.
start_daemon() {
    "$DENALI" daemon --api "$SOCK" --state-dir "$STATE" 2>"$TAP_TMP/daemon.log" &
    DAEMON_PID=$!
    for _ in $(seq 100); do
        curl -s -m 2 --unix-socket "$SOCK" http://d/version >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

# call METHOD PATH [BODY-FILE]: one request; sets CODE and TYPE, the body is in $TAP_TMP/body.
call() {
    local data=()
    [ $# -ge 3 ] && data=(--data-binary "@$3" -H 'Content-Type: application/json')
    local out
    out=$(curl -s -m 30 --unix-socket "$SOCK" -X "$1" "${data[@]}" -o "$TAP_TMP/body" \
        -w '%{http_code} %{content_type}' "http://d$2") || true
    CODE=${out%% *}
    TYPE=${out#* }
}

# conforms METHOD PATH: whether the last answer matches the OpenAPI file (reasons in $TAP_TMP/why).
conforms() {
    "$CHECKER" "$SPEC" "$1" "$2" "$CODE" "$TYPE" "$TAP_TMP/body" 2>"$TAP_TMP/why"
}

# expect NAME STATUS METHOD PATH [BODY-TEXT [GREP-PATTERN]]: one request; passes when it answers
# STATUS, conforms to the OpenAPI file, and (if given) its body matches GREP-PATTERN (grep -E).
expect() {
    local name=$1 status=$2 method=$3 path=$4 body=${5-} pattern=${6-}
    if [ $# -ge 5 ] && [ -n "$body" ]; then
        printf '%s' "$body" >"$TAP_TMP/request"
        call "$method" "$path" "$TAP_TMP/request"
    else
        call "$method" "$path"
    fi
    if [ "$CODE" != "$status" ]; then
        not_ok "$name"
        diag "$method $path: status $CODE, expected $status" "body: $(head -c 400 "$TAP_TMP/body")"
    elif ! conforms "$method" "$path"; then
        not_ok "$name"
        diag "$method $path: the answer does not conform to docs/api/openapi.json:"
        diag "$(cat "$TAP_TMP/why")" "body: $(head -c 400 "$TAP_TMP/body")"
    elif [ -n "$pattern" ] && ! grep -Eq -- "$pattern" "$TAP_TMP/body"; then
        not_ok "$name"
        diag "$method $path: the body does not match $pattern" "body: $(head -c 400 "$TAP_TMP/body")"
    else
        ok "$name"
    fi
}

# field NAME: a string or number field of the last body, e.g. field state -> running.
field() {
    grep -o "\"$1\":\"\?[^,\"}]*" "$TAP_TMP/body" | head -n 1 | sed 's/.*:"\{0,1\}//'
}

# wait_state ID STATE: polls GET /vms/ID (bounded: 60 s) until its state is STATE.
wait_state() {
    for _ in $(seq 300); do
        call GET "/vms/$1"
        [ "$(field state)" = "$2" ] && return 0
        sleep 0.2
    done
    return 1
}

# threads: how many threads the daemon has now.
threads() {
    ls "/proc/$DAEMON_PID/task" | wc -l
}

# --- the command line and the socket
check_run "denali daemon --help describes --api and --state-dir" 0 "--state-dir" "$DENALI" daemon --help
check_run "denali daemon refuses an unknown option" 2 "unknown option" "$DENALI" daemon --bogus
if ! start_daemon; then
    not_ok "the daemon starts and answers on its socket"
    diag "$(cat "$TAP_TMP/daemon.log")"
    finish
fi
ok "the daemon starts and answers on its socket"
mode=$(stat -c %a "$SOCK")
dir_mode=$(stat -c %a "$(dirname "$SOCK")")
if [ "$mode" = 660 ] && [ "$dir_mode" = 750 ]; then
    ok "the socket is mode 0660 (not world-writable), its directory 0750"
else
    not_ok "the socket is mode 0660 (not world-writable), its directory 0750"
    diag "socket $mode, directory $dir_mode"
fi
check_run "a second daemon on the same socket is refused" 1 "another daemon answers" \
    "$DENALI" daemon --api "$SOCK" --state-dir "$STATE"
check "the first daemon still answers after the second was refused" \
    curl -sf -m 10 --unix-socket "$SOCK" http://d/version

# --- version, create, list, inspect
HELLO="$GUESTS/hello.elf"
expect "GET /version: 200, the process platform listed" 200 GET /version "" '"platforms":\[[^]]*"process"'
# The checker itself must be able to fail: a wrong type, a missing field, an undeclared status.
printf '{"version": 1}' >"$TAP_TMP/body"
CODE=200 TYPE=application/json
conforms GET /version && not_ok "the OpenAPI checker rejects a body with a wrong type and missing fields" ||
    ok "the OpenAPI checker rejects a body with a wrong type and missing fields"
printf '{"fault_message": "x"}' >"$TAP_TMP/body"
CODE=418
conforms GET /version && not_ok "the OpenAPI checker rejects an undeclared status" ||
    ok "the OpenAPI checker rejects an undeclared status"
expect "POST /vms with start false: 201, two ids" 201 POST /vms \
    "{\"image\": \"$HELLO\", \"count\": 2, \"name\": \"web\", \"start\": false, \"args\": [\"a b\"]}" \
    '"fleet":"f1","ids":\["f1.0","f1.1"\]'
expect "GET /vms: 200, both VMs created" 200 GET /vms "" '"id":"f1.1".*"state":"created"'
expect "GET /vms?fleet=f1: 200, the fleet's VMs" 200 GET "/vms?fleet=f1" "" '"id":"f1.0"'
expect "GET /vms?state=running: 200, none" 200 GET "/vms?state=running" "" '^\[\]$'
expect "GET /vms?state=bogus: 400" 400 GET "/vms?state=bogus" "" 'fault_message'
expect "GET /vms/f1.0: 200, its image, arguments and memory" 200 GET /vms/f1.0 "" \
    "\"image\":\"$HELLO\",\"args\":\[\"a b\"\].*\"memory\":4194304"
expect "GET /vms/web.1 finds a VM by NAME.INDEX" 200 GET /vms/web.1 "" '"id":"f1.1","name":"web.1"'
expect "GET /vms/nope: 404" 404 GET /vms/nope "" 'no VM'
expect "GET /vms/f1.7: 404 (no such index)" 404 GET /vms/f1.7
expect "POST /vms with a duplicate name: 409" 409 POST /vms "{\"image\": \"$HELLO\", \"name\": \"web\"}" 'taken'

# --- bad bodies: 400 with the reason, never a crash
expect "malformed JSON: 400" 400 POST /vms '{"image": ' 'malformed JSON'
expect "not an object: 400" 400 POST /vms '["image"]' 'JSON object'
expect "an unknown field: 400" 400 POST /vms "{\"image\": \"$HELLO\", \"colour\": 1}" "unknown field 'colour'"
expect "a wrong type: 400" 400 POST /vms "{\"image\": \"$HELLO\", \"count\": \"2\"}" 'count: expected an integer'
expect "count out of range: 400" 400 POST /vms "{\"image\": \"$HELLO\", \"count\": 0}" 'count'
expect "no image: 400" 400 POST /vms '{"count": 1}' 'image: required'
expect "a relative image path: 400" 400 POST /vms '{"image": "hello.elf"}' 'absolute path'
expect "a missing image: 400" 400 POST /vms "{\"image\": \"$TAP_TMP/none.elf\"}" 'No such file'
expect "a bad combination gets the run option parser's message: 400" 400 POST /vms \
    "{\"image\": \"$HELLO\", \"hibernate_after\": 1}" 'needs --swap'
expect "restore with clone gets the run option parser's message: 400" 400 POST /vms \
    "{\"restore\": \"$HELLO\", \"clone\": true}" 'a restore already starts clones'
expect "a bad memory size gets the run option parser's message: 400" 400 POST /vms \
    "{\"image\": \"$HELLO\", \"memory\": \"3M\"}" 'multiple of 2M'
if grep -q '^kvm: available' < <("$DENALI" platforms 2>/dev/null); then
    expect "platform kvm where it is available: 201" 201 POST /vms "{\"image\": \"$HELLO\", \"platform\": \"kvm\", \"start\": false}"
else
    expect "platform kvm where it is unavailable: 400" 400 POST /vms "{\"image\": \"$HELLO\", \"platform\": \"kvm\"}" 'not available'
fi
big="$TAP_TMP/big.json"
printf '{"image": "%s", "start": false}' "$HELLO" >"$big"
head -c $((65536 + 1 - $(stat -c %s "$big"))) /dev/zero | tr '\0' ' ' >>"$big"
size=$(stat -c %s "$big")
call POST /vms "$big"
if [ "$size" = 65537 ] && [ "$CODE" = 413 ] && conforms POST /vms; then
    ok "a body of 64 KiB + 1 bytes: 413"
else
    not_ok "a body of 64 KiB + 1 bytes: 413"
    diag "size $size, status $CODE: $(head -c 200 "$TAP_TMP/body")"
fi
truncate -s 65536 "$big"
call POST /vms "$big"
if [ "$CODE" = 201 ]; then
    ok "a body of exactly 64 KiB is read: 201"
else
    not_ok "a body of exactly 64 KiB is read: 201"
    diag "status $CODE: $(head -c 200 "$TAP_TMP/body")"
fi
head -c $((8 << 20)) /dev/zero >"$TAP_TMP/huge"
call POST /vms "$TAP_TMP/huge"
[ "$CODE" = 413 ] && ok "a body of 8 MiB: 413" || not_ok "a body of 8 MiB: 413 (got $CODE)"
# Chunked, so no Content-Length announces the size: the daemon must count.
code=$(curl -s -m 30 --unix-socket "$SOCK" -X POST -H 'Transfer-Encoding: chunked' -T "$TAP_TMP/huge" \
    -o /dev/null -w '%{http_code}' http://d/vms)
[ "$code" = 413 ] && ok "a chunked body of 8 MiB: 413" || not_ok "a chunked body of 8 MiB: 413 (got $code)"

# --- unknown endpoints and wrong methods
expect "an unknown path: 404" 404 GET /nope
expect "an unknown action on a VM: 404" 404 POST /vms/f1.0/explode
expect "PUT /vms: 405" 405 PUT /vms
expect "GET /vms/f1.0/start: 405" 405 GET /vms/f1.0/start
expect "DELETE /version: 405" 405 DELETE /version
expect "POST /metrics: 405" 405 POST /metrics

# --- actions on a created VM
expect "stop a created VM: 409" 409 POST /vms/f1.0/stop "" 'not live'
expect "kill a created VM: 409" 409 POST /vms/f1.0/kill
expect "pause a created VM: 409" 409 POST /vms/f1.0/pause
expect "resume a created VM: 409" 409 POST /vms/f1.0/resume
expect "kill with an unknown signal: 400" 400 POST /vms/f1.0/kill '{"signal": "SIGBOGUS"}' 'signal'
expect "stop with an unknown field: 400" 400 POST /vms/f1.0/stop '{"timeout": 1, "now": true}' 'unknown field'
expect "stop with a negative timeout: 400" 400 POST /vms/f1.0/stop '{"timeout": -1}' 'timeout'
expect "stop with malformed JSON: 400" 400 POST /vms/f1.0/stop '{"timeout": ' 'malformed'
expect "start on an unknown VM: 404" 404 POST /vms/nope/start
expect "logs of a created VM: 200, empty" 200 GET /vms/f1.0/logs
expect "logs with a bad tail: 400" 400 GET "/vms/f1.0/logs?tail=x" "" 'tail'
expect "logs with a bad follow: 400" 400 GET "/vms/f1.0/logs?follow=maybe" "" 'follow'
expect "logs of an unknown VM: 404" 404 GET /vms/nope/logs
expect "stats of a created VM: 200" 200 GET /vms/f1.0/stats "" '"id":"f1.0","state":"created"'
expect "stats of an unknown VM: 404" 404 GET /vms/nope/stats
expect "GET /stats: 200, no live VM" 200 GET /stats "" '^\[\]$'
expect "GET /stats?stream=perhaps: 400" 400 GET "/stats?stream=perhaps"
expect "GET /events?since=5: 400" 400 GET "/events?since=5"
expect "DELETE /vms/f1.1?force=maybe: 400" 400 DELETE "/vms/f1.1?force=maybe"

# --- events, replayed
curl -s -m 2 --unix-socket "$SOCK" -o "$TAP_TMP/body" "http://d/events?since=0"
CODE=200 TYPE=application/x-ndjson
if grep -q '"type":"created","id":"f1.1"' "$TAP_TMP/body" && conforms GET /events; then
    ok "GET /events?since=0 replays the created events as JSON lines"
else
    not_ok "GET /events?since=0 replays the created events as JSON lines"
    diag "$(cat "$TAP_TMP/why")" "$(head -n 5 "$TAP_TMP/body")"
fi

# --- delete
expect "DELETE a created VM: 204" 204 DELETE /vms/f1.1
expect "the deleted VM is gone: 404" 404 GET /vms/f1.1
expect "DELETE it again: 404" 404 DELETE /vms/f1.1
expect "DELETE the other one by name: 204" 204 DELETE /vms/web.0
[ ! -e "$STATE/fleets/f1" ] && ok "a fleet's files go once all its VMs are deleted" ||
    not_ok "a fleet's files go once all its VMs are deleted"
expect "the name is free again once its VMs are deleted: 201" 201 POST /vms \
    "{\"image\": \"$HELLO\", \"name\": \"web\", \"start\": false}"
curl -s -m 2 --unix-socket "$SOCK" -o "$TAP_TMP/body" "http://d/events?since=0"
grep -q '"type":"deleted","id":"f1.1"' "$TAP_TMP/body" && ok "a deleted event was recorded" ||
    not_ok "a deleted event was recorded"

# --- metrics
expect "GET /metrics: 200, Prometheus text" 200 GET /metrics "" '^denali_vms\{state="created"\} [0-9]+$'
if [[ $TYPE != "text/plain; version=0.0.4"* ]]; then
    not_ok "metrics' content type is text/plain; version=0.0.4 (got $TYPE)"
else
    ok "metrics' content type is text/plain; version=0.0.4"
fi
grep -q 'denali_api_requests_total{code="413"} [1-9]' "$TAP_TMP/body" &&
    grep -q 'denali_events_total{type="deleted"} 2' "$TAP_TMP/body" &&
    ok "metrics count answers by code and events by type" ||
    not_ok "metrics count answers by code and events by type"
# scripts/install-deps.sh unpacks Debian's promtool under build/tools when it is not installed.
PROMTOOL=$(command -v promtool || echo "$DENALI_ROOT/build/tools/prometheus/usr/bin/promtool")
if [ -x "$PROMTOOL" ]; then
    tap_run sh -c "'$PROMTOOL' check metrics <'$TAP_TMP/body'"
    [ "$TAP_STATUS" = 0 ] && ok "promtool check metrics accepts /metrics" ||
        { not_ok "promtool check metrics accepts /metrics"; tap_explain "$PROMTOOL" check metrics; }
else
    skip "promtool check metrics accepts /metrics" "promtool is not installed (Debian package prometheus)"
fi

# --- untrusted clients: a slow one and ones that leave mid-stream do not block the others
(printf '{"image": '; sleep 20) | curl -s -m 25 --unix-socket "$SOCK" -X POST -T - \
    -H 'Content-Type: application/json' -o /dev/null http://d/vms &
slow=$!
BACKGROUND+=("$slow")
sleep 0.5
if kill -0 "$slow" 2>/dev/null && curl -sf -m 10 --unix-socket "$SOCK" -o /dev/null http://d/version; then
    ok "a client that sends half a request does not block another"
else
    not_ok "a client that sends half a request does not block another"
fi
kill "$slow" 2>/dev/null
wait "$slow" 2>/dev/null
check "the daemon answers after the slow client hung up" curl -sf -m 10 --unix-socket "$SOCK" http://d/version

idle_threads=$(threads)
for stream in "/events?since=0" "/vms/web/logs?follow=true" "/stats?stream=true"; do
    curl -s -N --unix-socket "$SOCK" -o "$TAP_TMP/stream" "http://d$stream" &
    reader=$!
    BACKGROUND+=("$reader")
    sleep 1
    during=$(threads)
    kill "$reader"
    wait "$reader" 2>/dev/null
    # The stream's thread notices its client left at its next wait (a second at most); bounded poll.
    for _ in $(seq 100); do
        [ "$(threads)" -le "$idle_threads" ] && break
        sleep 0.1
    done
    after=$(threads)
    if curl -sf -m 10 --unix-socket "$SOCK" -o /dev/null http://d/version && [ "$during" -gt "$idle_threads" ] &&
        [ "$after" -le "$idle_threads" ]; then
        ok "a client leaving $stream mid-stream: its thread ends, the daemon serves on"
    else
        not_ok "a client leaving $stream mid-stream: its thread ends, the daemon serves on"
        diag "threads: $idle_threads before, $during during, $after after"
    fi
done
if curl -s -m 3 --unix-socket "$SOCK" -o "$TAP_TMP/stream" "http://d/stats?stream=true"; [ $? = 28 ] &&
    [ "$(grep -c '^\[' "$TAP_TMP/stream")" -ge 2 ]; then
    ok "GET /stats?stream=true gives one JSON array per second"
else
    not_ok "GET /stats?stream=true gives one JSON array per second"
    diag "$(head -n 3 "$TAP_TMP/stream")"
fi

# --- running VMs: fleets under their own monitors
control_probe=$("$DENALI" run --control-fd 3 --console null "$TAP_TMP/none.elf" 3</dev/null 2>&1)
if ! "$DENALI" platforms >/dev/null 2>&1; then
    skip "running VMs through the API" "no platform here: $("$DENALI" platforms 2>&1 | tail -n 1)"
elif [[ $control_probe == *"unknown option '--control-fd'"* ]]; then
    skip "running VMs through the API" "denali run has no --control-fd yet"
else
    expect "create and start two hello VMs: 201" 201 POST /vms "{\"image\": \"$HELLO\", \"count\": 2, \"name\": \"hi\"}"
    fleet=$(field fleet)
    if wait_state hi.1 exited && [ "$(field exit_status)" = 0 ]; then
        ok "a hello VM exits 0"
    else
        not_ok "a hello VM exits 0"
        diag "$(cat "$TAP_TMP/body")" "$(cat "$STATE/fleets/$fleet/monitor.log" 2>/dev/null)"
    fi
    expect "its console: hello from vm 1 of 2" 200 GET /vms/hi.1/logs "" '^hello from vm 1 of 2$'
    expect "its console's last line (tail=1)" 200 GET "/vms/hi.1/logs?tail=1" "" '^hello from vm 1 of 2$'
    check_output_contains "logs follow of an ended VM ends by itself" "hello from vm 0" \
        curl -sf -m 20 --unix-socket "$SOCK" "http://d/vms/hi.0/logs?follow=true"
    expect "start an exited VM: 409" 409 POST /vms/hi.0/start
    expect "kill an exited VM: 409" 409 POST /vms/hi.0/kill

    expect "create a created-only idle VM: 201" 201 POST /vms \
        "{\"image\": \"$GUESTS/idle.elf\", \"args\": [\"300\", \"0.1\"], \"name\": \"idler\", \"start\": false}"
    expect "start it: 204" 204 POST /vms/idler/start
    wait_state idler running && ok "it is running" || not_ok "it is running"
    expect "start it again: 409" 409 POST /vms/idler/start
    expect "resume a running VM: 409" 409 POST /vms/idler/resume
    expect "pause it: 204" 204 POST /vms/idler/pause
    expect "it is paused" 200 GET /vms/idler "" '"state":"paused"'
    expect "pause it again: 409" 409 POST /vms/idler/pause
    expect "resume it: 204" 204 POST /vms/idler/resume
    expect "its stats: 200, exits counted" 200 GET /vms/idler/stats "" '"state":"running","exits":[1-9]'
    expect "GET /stats lists it" 200 GET /stats "" '"id":"f[0-9]+\.0","state":"running"'
    expect "GET /vms?state=running lists it" 200 GET "/vms?state=running" "" '"name":"idler"'
    expect "delete a running VM without force: 409" 409 DELETE /vms/idler
    expect "stop it gracefully: 202" 202 POST /vms/idler/stop '{"timeout": 30}'
    if wait_state idler exited && [ "$(field exit_status)" = 143 ]; then
        ok "an idling guest ends with status 143 on the shutdown event"
    else
        not_ok "an idling guest ends with status 143 on the shutdown event"
        diag "$(cat "$TAP_TMP/body")"
    fi

    expect "create a spinning VM: 201" 201 POST /vms "{\"image\": \"$TEST_GUESTS/loop_forever.elf\", \"name\": \"spin\"}"
    wait_state spin running && ok "the spinning VM runs" || not_ok "the spinning VM runs"
    expect "kill it: 202" 202 POST /vms/spin/kill '{"signal": "SIGKILL"}'
    if wait_state spin stopped && [ "$(field exit_status)" = 137 ] && grep -q '"stop_reason":"killed"' "$TAP_TMP/body"; then
        ok "a killed VM is stopped, status 137, reason killed"
    else
        not_ok "a killed VM is stopped, status 137, reason killed"
        diag "$(cat "$TAP_TMP/body")"
    fi
    expect "create another spinning VM: 201" 201 POST /vms "{\"image\": \"$TEST_GUESTS/loop_forever.elf\", \"name\": \"spin2\"}"
    wait_state spin2 running
    expect "stop with a short timeout: 202" 202 POST /vms/spin2/stop '{"timeout": 0.3}'
    if wait_state spin2 stopped && [ "$(field exit_status)" = 137 ]; then
        ok "a guest that never idles is stopped when its stop timeout runs out"
    else
        not_ok "a guest that never idles is stopped when its stop timeout runs out"
        diag "$(cat "$TAP_TMP/body")"
    fi
    expect "create a third spinning VM: 201" 201 POST /vms "{\"image\": \"$TEST_GUESTS/loop_forever.elf\", \"name\": \"spin3\"}"
    wait_state spin3 running
    expect "DELETE a running VM with force: 204" 204 DELETE "/vms/spin3?force=true"
    expect "it is gone: 404" 404 GET /vms/spin3

    # A fleet on the network: its addresses in inspect, its published ports served.
    port=$((20000 + $$ % 9000))
    expect "create two web servers with published ports: 201" 201 POST /vms \
        "{\"image\": \"$GUESTS/httpd.elf\", \"count\": 2, \"name\": \"www\", \"net\": \"user\", \"publish\": [\"$port-$((port + 1)):80\"]}"
    if wait_state www.1 running && grep -q '"network":{"mode":"user","mac":"02:de:00:00:00:01","ipv4":"10.77.0.17","publish":\["'"$port-$((port + 1))"':80"\]}' "$TAP_TMP/body"; then
        ok "inspect shows a networked VM's MAC, address and published ports"
    else
        not_ok "inspect shows a networked VM's MAC, address and published ports"
        diag "$(cat "$TAP_TMP/body")"
    fi
    page=
    for _ in $(seq 50); do
        page=$(curl -s -m 5 "http://127.0.0.1:$((port + 1))/") && [[ $page == *"Denali VM 1 of 2"* ]] && break
        sleep 0.2
    done
    [[ $page == *"Denali VM 1 of 2"* ]] && ok "VM 1 of the fleet answers on its published port" ||
        not_ok "VM 1 of the fleet answers on its published port"
    expect "its stats count the frames it received" 200 GET /vms/www.1/stats "" '"rx_frames":[1-9]'

    # A monitor that cannot start its VMs: they are stopped with its exit status.
    printf 'not an ELF' >"$TAP_TMP/bad.elf"
    expect "create a VM of a file that is no image: 201" 201 POST /vms "{\"image\": \"$TAP_TMP/bad.elf\", \"name\": \"bad\"}"
    if wait_state bad stopped && grep -q '"stop_reason":"monitor exited with status 2"' "$TAP_TMP/body"; then
        ok "its VM is stopped: monitor exited with status 2"
    else
        not_ok "its VM is stopped: monitor exited with status 2"
        diag "$(cat "$TAP_TMP/body")"
    fi
    curl -s -m 2 --unix-socket "$SOCK" -o "$TAP_TMP/body" "http://d/events?since=0"
    CODE=200 TYPE=application/x-ndjson
    if grep -q '"type":"started","id":"f[0-9]*.0"' "$TAP_TMP/body" && grep -q '"type":"paused"' "$TAP_TMP/body" &&
        grep -q '"type":"resumed"' "$TAP_TMP/body" && grep -q '"type":"exited","id":"[^"]*","status":143' "$TAP_TMP/body" &&
        grep -q '"type":"stopped","id":"[^"]*","status":137,"reason":"killed"' "$TAP_TMP/body" && conforms GET /events; then
        ok "events: started, paused, resumed, exited (status), stopped (status, reason)"
    else
        not_ok "events: started, paused, resumed, exited (status), stopped (status, reason)"
        diag "$(cat "$TAP_TMP/why")" "$(tail -n 12 "$TAP_TMP/body")"
    fi
    expect "metrics count exits per VM" 200 GET /metrics "" '^denali_vm_exits_total\{id="f[0-9]+\.0"\} [1-9]'
fi

# --- a stream quiet for longer than the connection timeout (30 s) still delivers
curl -s -N --unix-socket "$SOCK" -o "$TAP_TMP/quiet" "http://d/events" &
quiet=$!
BACKGROUND+=("$quiet")
sleep 32
expect "a VM created after 32 quiet seconds: 201" 201 POST /vms "{\"image\": \"$HELLO\", \"start\": false, \"name\": \"late\"}"
late=$(field fleet)
for _ in $(seq 50); do
    grep -q "\"type\":\"created\",\"id\":\"$late.0\"" "$TAP_TMP/quiet" && break
    sleep 0.2
done
if kill -0 "$quiet" 2>/dev/null && grep -q "\"type\":\"created\",\"id\":\"$late.0\"" "$TAP_TMP/quiet"; then
    ok "an event stream quiet for longer than the connection timeout still delivers the next event"
else
    not_ok "an event stream quiet for longer than the connection timeout still delivers the next event"
    diag "stream so far: $(cat "$TAP_TMP/quiet")"
fi
kill "$quiet" 2>/dev/null
wait "$quiet" 2>/dev/null

# --- the end: SIGTERM ends every fleet, removes the socket, exits 0
expect "a VM left running for the end: 201" 201 POST /vms "{\"image\": \"$GUESTS/idle.elf\", \"args\": [\"300\"]}"
kill -TERM "$DAEMON_PID"
status=0
wait "$DAEMON_PID" || status=$?
DAEMON_PID=
if [ "$status" = 0 ] && [ ! -e "$SOCK" ]; then
    ok "SIGTERM: the daemon exits 0 and removes its socket"
else
    not_ok "SIGTERM: the daemon exits 0 and removes its socket"
    diag "exit status $status" "$(tail -n 5 "$TAP_TMP/daemon.log")"
fi
left=
for cmdline in /proc/[0-9]*/cmdline; do
    text=$(tr '\0' ' ' <"$cmdline" 2>/dev/null)
    [[ $text == "denali run --control-fd 3 --console dir:$STATE/"* ]] && left+="$cmdline: $text"$'\n'
done
if [ -n "$left" ]; then
    not_ok "no fleet monitor outlives the daemon"
    diag "$left"
else
    ok "no fleet monitor outlives the daemon"
fi

# A socket left by a daemon that was killed is stale: the next daemon replaces it.
"$DENALI" daemon --api "$SOCK" --state-dir "$STATE" 2>>"$TAP_TMP/daemon.log" &
DAEMON_PID=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
DAEMON_PID=
# What an earlier daemon's fleet f1 left is not the new f1's console.
mkdir -p "$STATE/fleets/f1/console"
echo "stale line" >"$STATE/fleets/f1/console/vm-0.log"
if [ -S "$SOCK" ] && start_daemon; then
    ok "a stale socket (its daemon killed) is replaced by the next daemon"
else
    not_ok "a stale socket (its daemon killed) is replaced by the next daemon"
    diag "$(tail -n 5 "$TAP_TMP/daemon.log")"
fi
expect "a new daemon's first fleet is f1: 201" 201 POST /vms "{\"image\": \"$HELLO\", \"start\": false}" '"fleet":"f1"'
call GET /vms/f1.0/logs
[ "$CODE" = 200 ] && ! grep -q stale "$TAP_TMP/body" && ok "its console holds nothing an earlier f1 wrote" ||
    not_ok "its console holds nothing an earlier f1 wrote"
finish
