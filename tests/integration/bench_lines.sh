#!/usr/bin/env bash
# Integration test: the benchmark drivers' summary lines, per platform, against a fake monitor and
# fake floors (shapes only: no timing is asserted and nothing is really measured).
# shellcheck source=tests/lib/tap.sh
. "$(dirname "$0")/../lib/tap.sh"
tap_tmpdir
cd "$DENALI_ROOT" || exit 1

# A monitor that knows platforms: kvm missing, process there; hcbench reports a fixed time; with
# FAKE_FAIL=1 every run fails.
FAKE=$TAP_TMP/denali
cat >"$FAKE" <<'EOF'
#!/usr/bin/env bash
# A stand-in for build/denali with the interface the drivers use.
if [[ $1 == platforms ]]; then
    echo "kvm: unavailable (fake: no kvm)"
    echo "process: available"
    echo "auto: process (fake)"
    exit 0
fi
[[ ${FAKE_FAIL:-0} == 1 ]] && exit 1
shift
args=()
while (($#)); do
    case $1 in
    --platform | --console | -n | -m | -j) shift 2 ;;
    *) args+=("$1") && shift ;;
    esac
done
[[ ${args[0]} == *hcbench.elf ]] && echo "[vm 0] hcbench: ${args[1]} calls $((args[1] * 15000)) ns"
echo "denali: 1 VM: 1 exited 0, 0 exited non-zero, 0 stopped" >&2
EOF
# A monitor from before the process platform: no `platforms` command.
OLD=$TAP_TMP/denali-old
cat >"$OLD" <<'EOF'
#!/bin/sh
echo "denali: unknown command '$1'" >&2
exit 2
EOF
# Floors that print fixed FLOOR lines.
mkdir -p "$TAP_TMP/bench" "$TAP_TMP/guests"
cat >"$TAP_TMP/bench/futex_pingpong" <<'EOF'
#!/bin/sh
if [ $# -ge 2 ]; then
    echo "FLOOR futex_roundrobin procs=$2 n=$1 mean_ns=150000.0 median_ns=149000.0"
else
    echo "FLOOR futex_pingpong n=$1 mean_ns=12000.0 median_ns=11900.0"
fi
EOF
cat >"$TAP_TMP/bench/raw_exit" <<'EOF'
#!/bin/sh
echo "FLOOR raw_exit n=$1 mean_ns=25000.0 median_ns=24900.0"
EOF
: >"$TAP_TMP/guests/hcbench.elf"
: >"$TAP_TMP/guests/httpd.elf"
printf '#!/bin/sh\nexit 0\n' >"$TAP_TMP/bench/zipf"
chmod +x "$FAKE" "$OLD" "$TAP_TMP/bench/"*
# Lines the drivers keep for bench/plots.sh go here, never among the real results in build/.
export BENCH_BIN=$TAP_TMP/bench GUESTS=$TAP_TMP/guests BENCH_RESULTS=$TAP_TMP/summary.txt

# shellcheck disable=SC2317 # called through the check_* helpers
bench() {
    DENALI=$FAKE "$@"
}

check_output_contains "hypercall: kvm missing gives a skipped line with the monitor's reason" \
    'BENCH hypercall_kvm ratio=NA platform=kvm goal=1.15 pass=NA skipped="fake: no kvm"' \
    bench bench/hypercall.sh 1000
check_output_matches "hypercall: process measured against futex_pingpong, goal 1.2" \
    '^BENCH hypercall_process ratio=1\.250 platform=process denali_ns=15000\.0 floor_ns=12000\.0 floor=futex_pingpong calls=1000 goal=1\.2 pass=0$' \
    bench bench/hypercall.sh 1000
check_status "hypercall: exits 0 when every platform ran or was skipped" 0 \
    bench bench/hypercall.sh 1000
printf '%s\n' "$TAP_OUTPUT" >"$TAP_TMP/hypercall.log"

# kept_lines FILE CMD...: runs CMD keeping its summary lines in FILE, then prints FILE.
# shellcheck disable=SC2317 # called through the check_* helpers
kept_lines() {
    local file=$1
    shift
    rm -f "$file"
    BENCH_RESULTS=$file "$@" >/dev/null 2>&1
    cat "$file"
}
check_output_matches "results: a driver keeps its skipped line after a header naming it" \
    '^# bench-results date=[0-9T:-]+Z commit=[^ ]+ host=[^ ]+ cpus=[0-9]+ mem_mib=[0-9]+ source=hypercall\.sh 1000$' \
    kept_lines "$TAP_TMP/kept.txt" bench bench/hypercall.sh 1000
check_output_contains "results: the kept line is the printed one" \
    'BENCH hypercall_kvm ratio=NA platform=kvm goal=1.15 pass=NA skipped="fake: no kvm"' \
    cat "$TAP_TMP/kept.txt"
check_output_contains "results: an error line is kept too" \
    'BENCH hypercall_process ratio=NA pass=0 error="denali exited with status 1"' \
    kept_lines "$TAP_TMP/kept.txt" env FAKE_FAIL=1 DENALI="$FAKE" bench/hypercall.sh 1000
check_run "results: an empty BENCH_RESULTS keeps nothing" 1 "" \
    kept_lines "$TAP_TMP/kept-none.txt" env BENCH_RESULTS= DENALI="$FAKE" bench/hypercall.sh 1000

check_run "hypercall: a failing monitor gives an error line and exit 1" 1 \
    'BENCH hypercall_process ratio=NA pass=0 error="denali exited with status 1"' \
    env FAKE_FAIL=1 DENALI="$FAKE" bench/hypercall.sh 1000
check_output_contains "hypercall: a monitor without \`denali platforms\` has no process platform" \
    'skipped="this monitor has no process platform' \
    env BENCH_PLATFORMS=process DENALI="$OLD" bench/hypercall.sh 1000

check_output_contains "platforms.sh: a skipped platform's cell carries its reason" \
    'PLATFORM_ROW row=hypercall kvm="skipped: fake: no kvm" process="15000 ns/call (1.25x floor)"' \
    bench/platforms.sh "$TAP_TMP/hypercall.log"
check_output_contains "platforms.sh: a figure without a line is 'not run'" \
    'PLATFORM_ROW row=web_n1000 kvm="not run" process="not run"' \
    bench/platforms.sh "$TAP_TMP/hypercall.log"

check_run "cliff: a bad setting gives an error line and exit 1" 1 \
    "BENCH cliff ratio=NA pass=0 error=\"bad CLIFF_WS_MIB '0' (MiB, 1..1024)\"" \
    env CLIFF_WS_MIB=0 DENALI="$FAKE" bench/cliff.sh
check_run "cliff: published ports among the ephemeral ones are refused" 1 \
    'BENCH cliff ratio=NA pass=0 error="ports' \
    env CLIFF_PORT_BASE="$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range)" DENALI="$FAKE" bench/cliff.sh
if command -v curl >/dev/null; then
    check_run "cliff: without the process platform it gives a skipped line, exit 0" 0 \
        'BENCH cliff ratio=NA platform=process goal=0.5 pass=NA skipped="the process platform is not measured here"' \
        env BENCH_PLATFORMS=kvm DENALI="$FAKE" bench/cliff.sh
    check_run "web_scale: a platform the machine lacks gives a skipped line, exit 0" 0 \
        'BENCH web_scale ratio=NA platform=kvm goal=0.80 pass=NA skipped="fake: no kvm"' \
        env DENALI_PLATFORM=kvm DENALI="$FAKE" bench/web_scale.sh 1
else
    skip "web_scale: a platform the machine lacks gives a skipped line" "no curl"
fi

check_run "disk_web: a bad VM count gives an error line and exit 1" 1 \
    "BENCH disk_web ratio=NA pass=0 error=\"bad N '1001' (1..1000)\"" \
    env DENALI="$FAKE" bench/disk_web.sh 1001
if command -v curl >/dev/null && command -v mke2fs >/dev/null; then
    check_run "disk_web: a platform the machine lacks gives a skipped line, exit 0" 0 \
        'BENCH disk_web_kvm ratio=NA platform=kvm goal=16 pass=NA skipped="fake: no kvm"' \
        env BENCH_PLATFORMS=kvm DENALI="$FAKE" bench/disk_web.sh 10
else
    skip "disk_web: a platform the machine lacks gives a skipped line" "no curl or mke2fs"
fi

# api.sh needs a daemon: one that cannot start is its error line, with the daemon's own words.
NODAEMON=$TAP_TMP/denali-nodaemon
printf '#!/bin/sh\n[ "$1" = daemon ] && { echo "denali: daemon: not built yet" >&2; exit 2; }\nexec "%s" "$@"\n' \
    "$FAKE" >"$NODAEMON"
chmod +x "$NODAEMON"
: >"$TAP_TMP/guests/idle.elf"
printf '#!/bin/sh\nexit 1\n' >"$TAP_TMP/bench/api_bench"
chmod +x "$TAP_TMP/bench/api_bench"
check_run "api: a daemon that cannot start gives an error line naming why, exit 1" 1 \
    'BENCH api ratio=NA pass=0 error="denali daemon did not start: denali: daemon: not built yet"' \
    env DENALI="$NODAEMON" bench/api.sh 10
finish
