#!/bin/bash
# The main job: installs what is missing, builds, boots 1,000 web-serving VMs and drives a Zipf load at them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
make -j2 all

COUNT=${DENALI_COUNT:-1000}
PORT=${DENALI_PORT:-8000}
DURATION=${DENALI_DURATION:-5}
CONCURRENCY=${DENALI_CONCURRENCY:-64}
LAST=$((PORT + COUNT - 1))

work=$(mktemp -d)
monitor_pid=
cleanup() {
    [ -n "$monitor_pid" ] && kill -INT "$monitor_pid" 2>/dev/null && wait "$monitor_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

echo "== booting $COUNT httpd VMs: build/denali run -n $COUNT -m 4M --net user" \
    "--publish $PORT-$LAST:80 build/guests/httpd.elf"
build/denali run -n "$COUNT" -m 4M --stats --no-progress --console "dir:$work/console" \
    --publish "$PORT-$LAST:80" build/guests/httpd.elf >"$work/monitor.out" 2>&1 &
monitor_pid=$!

# Up when the last VM's published port answers (VMs boot in order).
up=0
for _ in $(seq 1 240); do
    if ! kill -0 "$monitor_pid" 2>/dev/null; then
        break
    fi
    if curl -s -m 1 -o /dev/null "http://127.0.0.1:$LAST/"; then
        up=1
        break
    fi
    sleep 0.5
done
if [ "$up" != 1 ]; then
    echo "run-main: the fleet did not come up; monitor output:" >&2
    tail -n 20 "$work/monitor.out" >&2
    exit 1
fi
echo "== VM 0 says: $(curl -s -m 2 "http://127.0.0.1:$PORT/" | grep -o '<h1>[^<]*</h1>' | sed 's/<[^>]*>//g')"
echo "== VM $((COUNT - 1)) says: $(curl -s -m 2 "http://127.0.0.1:$LAST/" | grep -o '<h1>[^<]*</h1>' | sed 's/<[^>]*>//g')"

echo "== Zipf load: build/bench/zipf --ports 127.0.0.1:$PORT-$LAST -s 1.0 --size 2258" \
    "-c $CONCURRENCY -d $DURATION"
zipf_status=0
build/bench/zipf --ports "127.0.0.1:$PORT-$LAST" -s 1.0 --size 2258 -c "$CONCURRENCY" \
    -d "$DURATION" >"$work/zipf.out" 2>&1 || zipf_status=$?
kill -INT "$monitor_pid"
wait "$monitor_pid" 2>/dev/null || true
monitor_pid=

field() { # field NAME LINE-PREFIX FILE: the value of NAME=... on the line starting with the prefix
    grep "^$2" "$3" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$1=//p"
}
zipf_line=$(grep '^ZIPF ' "$work/zipf.out" || true)
if [ -z "$zipf_line" ]; then
    echo "run-main: zipf printed no summary:" >&2
    cat "$work/zipf.out" >&2
    exit 1
fi
reached=$(sed -n 's/^ *targets reached *//p' "$work/zipf.out")
served=$(grep -c 'listening on' "$work"/console/vm-*.log 2>/dev/null | grep -c ':1$' || true)

# On the process platform each VM is a process of its own, outside the monitor's getrusage.
own=
[ "$(field platform denali-stats: "$work/monitor.out")" = process ] && own=" (the monitor process alone)"
echo
echo "== results: $COUNT web-serving VMs in one monitor, Zipf load from the host"
printf '  %-32s %s\n' \
    "platform" "$(field platform denali-stats: "$work/monitor.out") ($(sed -n 's/^denali: platform [a-z]* (\(.*\))$/\1/p' "$work/monitor.out"))" \
    "VMs serving HTTP" "$served of $COUNT" \
    "all booted in" "$(field all_booted_ms denali-stats: "$work/monitor.out") ms" \
    "boot p50 / p99" "$(field boot_p50_us denali-stats: "$work/monitor.out") us / $(field boot_p99_us denali-stats: "$work/monitor.out") us" \
    "requests (after warm-up)" "$(field requests ZIPF "$work/zipf.out")" \
    "requests/s" "$(field rps ZIPF "$work/zipf.out")" \
    "MB/s (2,258-byte documents)" "$(field mbps ZIPF "$work/zipf.out")" \
    "latency p50 / p99" "$(field p50_us ZIPF "$work/zipf.out") us / $(field p99_us ZIPF "$work/zipf.out") us" \
    "errors" "$(field errors ZIPF "$work/zipf.out")" \
    "VMs that got requests" "$reached" \
    "monitor RSS (max)" "$(field max_rss_kb denali-stats: "$work/monitor.out") KiB$own" \
    "monitor CPU" "$(field cpu_ms denali-stats: "$work/monitor.out") ms in $(field wall_ms denali-stats: "$work/monitor.out") ms$own" \
    "frames switched (tx / rx)" "$(field tx_frames denali-net: "$work/monitor.out") / $(field rx_frames denali-net: "$work/monitor.out")"
echo
echo "monitor summary (the fleet is stopped with SIGINT once the load ends):"
grep '^denali: [0-9]* VMs:' "$work/monitor.out" || true
echo "$zipf_line"
exit "$zipf_status"
