#!/usr/bin/env bash
# Disk web benchmark: N httpd VMs serving a 2,258-byte file from one shared read-only ext2 image; host memory per VM against the same fleet with no disk, and requests/s for the file against /doc/2258.
# Usage: bench/disk_web.sh [N]   (default 1000, at most 1000: one published port a VM)
# Per platform this machine has (BENCH_PLATFORMS), two fleets of N `httpd -q` VMs (-m 4M, --net
# user, VM i's port 80 published on 127.0.0.1:DISKWEB_PORT_BASE + i, default 17000), one after the
# other: the floor with no disk, then the same fleet with `--disk IMAGE,ro` (an ext2 image holding
# /www/2258.txt, DISKWEB_BLOCK_SIZE-byte blocks, default 1024). Each gets the same light load, one
# GET /doc/2258 and one GET /2258.txt to every VM (the disk fleet reads the file from its disk, the
# floor answers 404 without one), then its host memory is read from /proc (which other users of
# the machine cannot move): the guest RAM the monitor's memfd holds, the monitor's and the VM
# processes' own memory, page tables and kernel stacks; MemAvailable's fall as a cross-check. Then
# the disk fleet gets WEB_RUNS zipf runs (the web drivers' load: Zipf s = 1 over the N VMs, 64 in
# flight) for the file and as many for /doc/2258, alternating. One summary line:
#   BENCH disk_web_P ratio=<disk/no-disk memory per VM> judged=extra_kib_per_vm
#     extra_kib_per_vm=<disk - no-disk, KiB a VM> ... file_rps= doc_rps= rps_ratio= goal=16 pass=
# pass: the judged figure within 16 KiB, every VM served the file, errors under 0.1% of requests.
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=bench/net_lib.sh
. "$(dirname "$0")/net_lib.sh"

NAME=disk_web
GOAL_KIB=16
GOAL_ERR=0.001
N=${1:-1000}
PORT_BASE=${DISKWEB_PORT_BASE:-17000}
BLOCK_SIZE=${DISKWEB_BLOCK_SIZE:-1024}
# The file's URL path, as long as /doc/2258 so that the two requests differ in what serves them.
FILE_URL=/$WEB_SIZE.txt
net_init $NAME
web_check_values
[[ $N =~ ^[1-9][0-9]*$ && $N -le 1000 ]] || bench_fail $NAME "bad N '$N' (1..1000)"
[[ $BLOCK_SIZE =~ ^(1024|2048|4096)$ ]] ||
    bench_fail $NAME "bad DISKWEB_BLOCK_SIZE '$BLOCK_SIZE' (1024, 2048 or 4096)"
if [[ ! $PORT_BASE =~ ^[1-9][0-9]*$ ]] || ((PORT_BASE + N - 1 > 65535)); then
    bench_fail $NAME "bad DISKWEB_PORT_BASE '$PORT_BASE'"
fi
LAST=$((PORT_BASE + N - 1))
bench_need $NAME "$DENALI" "$GUESTS/httpd.elf" "$BENCH_BIN/zipf"
command -v curl >/dev/null || bench_fail $NAME "curl is needed to load the fleets"
command -v mke2fs >/dev/null || bench_fail $NAME "mke2fs (e2fsprogs) is needed to make the image"

# The image: the file under /www (httpd's default root), made as the README's Files section does.
IMAGE=$NET_WORK/site.img
mkdir -p "$NET_WORK/site/www"
awk -v size="$WEB_SIZE" 'BEGIN {
    for (i = 0; length(s) < size; i++) s = s sprintf("line %04d of the file served from the disk\n", i)
    printf "%s", substr(s, 1, size - 1) "\n" }' >"$NET_WORK/site/www$FILE_URL"
[[ $(wc -c <"$NET_WORK/site/www$FILE_URL") == "$WEB_SIZE" ]] ||
    bench_fail $NAME "could not write the $WEB_SIZE-byte file"
mke2fs -q -t ext2 -b "$BLOCK_SIZE" -E root_owner=0:0 -d "$NET_WORK/site" "$IMAGE" 16M \
    >/dev/null 2>"$NET_WORK/mke2fs.err" ||
    bench_fail $NAME "mke2fs failed: $(tr '\n' ' ' <"$NET_WORK/mke2fs.err")"
# In the page cache before either fleet, so neither pays for reading it into memory.
cat "$IMAGE" >/dev/null

# light_load LABEL EXPECT: one GET /doc/2258 and one GET of the file to every VM (curl, 50 at a
# time). EXPECT is the file's answer: "200 2258" with a disk, "404" without. Fails the driver when
# any answer differs; sets LOAD_S (its wall time).
light_load() {
    local label=$1 expect=$2 i urls=() bad t0
    for ((i = 0; i < N; i++)); do
        urls+=(-o /dev/null "http://127.0.0.1:$((PORT_BASE + i))/doc/$WEB_SIZE")
        urls+=(-o /dev/null "http://127.0.0.1:$((PORT_BASE + i))$FILE_URL")
    done
    echo "== light load ($label): GET /doc/$WEB_SIZE and GET $FILE_URL to each of $N VMs" >&2
    t0=$(now_us)
    curl -s --no-progress-meter --parallel --parallel-max 50 --connect-timeout 5 -m 20 \
        -w '%{http_code} %{size_download} %{url}\n' "${urls[@]}" >"$NET_WORK/$label.load" \
        2>"$NET_WORK/$label.curl-errors"
    LOAD_S=$(fmt %.1f "($(now_us) - $t0) / 1000000")
    bad=$(awk -v file="$FILE_URL" -v size="$WEB_SIZE" -v expect="$expect" '
        $3 ~ "/doc/" { if ($1 != 200 || $2 != size) n++; next }
        { if (expect == "404" ? $1 != 404 : ($1 " " $2) != expect) n++ }
        END { print n + 0 }' "$NET_WORK/$label.load")
    local answered
    answered=$(grep -c . "$NET_WORK/$label.load")
    if ((bad > 0 || answered != 2 * N)); then
        grep -v "^200 $WEB_SIZE " "$NET_WORK/$label.load" | head -n 5 >&2
        net_fail "$label: $bad of $answered answers to the light load were wrong (want $((2 * N)))"
    fi
    echo "  $label: all $((2 * N)) answered as expected in $LOAD_S s" >&2
}

# fleet_host_kib PID: the host memory a fleet holds, from /proc alone (which other users of the
# machine cannot move, unlike MemAvailable), in KiB: "GUEST MONITOR MONITOR_PT VMPROCS VMPROCS_PT
# KSTACKS". GUEST is the guest RAM the monitor's memfd holds (every page a VM touched, counted
# once however many processes map it); MONITOR and VMPROCS the monitor's and its children's (VM
# processes, zygote) own memory besides their views of guest RAM (anonymous and file Pss); _PT
# their page tables; KSTACKS 16 KiB a thread.
fleet_host_kib() {
    local pid=$1 fd guest=0 pids
    fd=$(find "/proc/$pid/fd" -lname '*denali-guest-ram*' 2>/dev/null | head -n 1)
    [[ -n $fd ]] && guest=$(($(stat -L -c '%b * %B' "$fd") / 1024))
    pids=$(awk -v p="$pid" '$1 == "PPid:" && $2 == p { split(FILENAME, f, "/"); print f[3] }' \
        /proc/[0-9]*/status 2>/dev/null)
    {
        echo "monitor"
        cat "/proc/$pid/smaps_rollup" "/proc/$pid/status" 2>/dev/null
        echo "children"
        for p in $pids; do
            cat "/proc/$p/smaps_rollup" "/proc/$p/status" 2>/dev/null
        done
    } | awk -v guest="$guest" '$1 == "monitor" { m = 1 } $1 == "children" { m = 0 }
        $1 == "Pss_Anon:" || $1 == "Pss_File:" { if (m) mo += $2; else vo += $2 }
        $1 == "VmPTE:" { if (m) mp += $2; else vp += $2 }
        $1 == "Threads:" { t += $2 }
        END { printf "%d %.0f %d %.0f %d %d\n", guest, mo, mp, vo, vp, 16 * t }'
}

declare -A TOTAL GUEST MONITOR MONITOR_PT VMPROCS VMPROCS_PT KSTACKS AVAIL
# fleet_memory LABEL [DENALI-OPTIONS...]: boots the fleet, waits for every VM, gives it the light
# load and reads its memory; the fleet is left running (FLEET_PID).
fleet_memory() {
    local label=$1 before expect=404
    shift
    [[ $* == *--disk* ]] && expect="200 $WEB_SIZE"
    settle_memory
    before=$(mem_available_kib)
    ports_free "$PORT_BASE" "$LAST"
    fleet_start "$label" "${PLATFORM_OPTS[@]}" -n "$N" -m 4M --console null --no-progress --stats \
        --net user -p "$PORT_BASE-$LAST:80" "$@" "$GUESTS/httpd.elf" -q
    wait_http "$FLEET_PID" ports "127.0.0.1:$PORT_BASE" "$N"
    light_load "$label" "$expect"
    # Let the requests' connections close and the VMs go idle before reading.
    sleep 2
    read -r "GUEST[$label]" "MONITOR[$label]" "MONITOR_PT[$label]" "VMPROCS[$label]" \
        "VMPROCS_PT[$label]" "KSTACKS[$label]" < <(fleet_host_kib "$FLEET_PID")
    AVAIL[$label]=$((before - $(mem_available_kib)))
    TOTAL[$label]=$((GUEST[$label] + MONITOR[$label] + MONITOR_PT[$label] + VMPROCS[$label] +
        VMPROCS_PT[$label] + KSTACKS[$label]))
    echo "  $label: $(per_vm "${TOTAL[$label]}") KiB/VM: guest RAM $(per_vm "${GUEST[$label]}")," \
        "monitor $(per_vm "${MONITOR[$label]}") + page tables $(per_vm "${MONITOR_PT[$label]}")," \
        "VM processes $(per_vm "${VMPROCS[$label]}") + page tables $(per_vm "${VMPROCS_PT[$label]}")," \
        "kernel stacks $(per_vm "${KSTACKS[$label]}"); MemAvailable fell $(per_vm "${AVAIL[$label]}") KiB/VM" >&2
}

# per_vm KIB: KIB / N with one decimal (NA stays NA).
per_vm() {
    if [[ $1 == NA ]]; then echo NA; else fmt %.1f "$1 / $N"; fi
}

# diff_per_vm A B: (A - B) / N with one decimal (NA when either is NA).
diff_per_vm() {
    if [[ $1 == NA || $2 == NA ]]; then echo NA; else fmt %.1f "($1 - $2) / $N"; fi
}

measure() {
    local platform=$1 r
    platform_opts "$platform"
    # This runs in a subshell (for_each_platform), which the driver's EXIT trap does not cover.
    trap 'fleet_kill 5' EXIT
    # Its failures are this platform's summary line.
    NET_NAME=${NAME}_$platform
    # The floor: the same fleet and load, no disk.
    fleet_memory nodisk
    fleet_stop $((WEB_STOP_S + N / 200))
    ((FLEET_BAD == 0)) || net_fail "nodisk: $FLEET_BAD of $N VMs ended before the SIGINT"
    # The fleet with the shared image; its throughput is measured after its memory, on it alone.
    fleet_memory disk --disk "$IMAGE,ro"
    for ((r = 1; r <= WEB_RUNS; r++)); do
        WEB_RUNS=1 zipf_measure "$FLEET_PID" file --ports "127.0.0.1:$PORT_BASE-$LAST" \
            --path "$FILE_URL"
        WEB_RUNS=1 zipf_measure "$FLEET_PID" doc --ports "127.0.0.1:$PORT_BASE-$LAST"
    done
    fleet_stop $((WEB_STOP_S + N / 200))
    ((FLEET_BAD == 0)) || net_fail "disk: $FLEET_BAD of $N VMs ended before the SIGINT"
    local disk_line disk_requests
    disk_line=$(grep -o 'denali-disk:.*' "$FLEET_OUT" | tail -n 1)
    disk_requests=$(kv requests "$disk_line")
    echo "  disk: $disk_line" >&2

    local extra mem_ratio extra_avail extra_guest extra_monitor extra_vmprocs pass=1 file_rps doc_rps rps_ratio
    local errors requests err_rate served
    extra=$(diff_per_vm "${TOTAL[disk]}" "${TOTAL[nodisk]}")
    mem_ratio=$(ratio "${TOTAL[disk]}" "${TOTAL[nodisk]}")
    extra_avail=$(diff_per_vm "${AVAIL[disk]}" "${AVAIL[nodisk]}")
    extra_guest=$(diff_per_vm "${GUEST[disk]}" "${GUEST[nodisk]}")
    extra_monitor=$(diff_per_vm "$((MONITOR[disk] + MONITOR_PT[disk]))" \
        "$((MONITOR[nodisk] + MONITOR_PT[nodisk]))")
    extra_vmprocs=$(diff_per_vm "$((VMPROCS[disk] + VMPROCS_PT[disk] + KSTACKS[disk]))" \
        "$((VMPROCS[nodisk] + VMPROCS_PT[nodisk] + KSTACKS[nodisk]))")
    file_rps=$(med "${R_RPS[file]}") doc_rps=$(med "${R_RPS[doc]}")
    rps_ratio=$(ratio "$file_rps" "$doc_rps")
    errors=$((R_ERR[file] + R_ERR[doc])) requests=$((R_REQ[file] + R_REQ[doc]))
    err_rate=$(calc "$errors / ($requests + $errors + 1)")
    served=$((R_SERVED[file] + R_SERVED[doc] + 2 * N))
    le "$extra" "$GOAL_KIB" || pass=0
    le "$err_rate" "$GOAL_ERR" || pass=0

    echo "disk_web ($platform): $N httpd VMs (-m 4M), one read-only ext2 image ($BLOCK_SIZE-byte" \
        "blocks) shared by all, after one GET /doc/$WEB_SIZE and one GET $FILE_URL to every VM"
    echo "  host memory of the fleet (guest RAM held, the monitor's and VM processes' own memory," \
        "page tables, kernel stacks): disk $(per_vm "${TOTAL[disk]}") KiB/VM, no disk" \
        "$(per_vm "${TOTAL[nodisk]}") KiB/VM: the disk costs $extra KiB a VM (goal <= $GOAL_KIB)," \
        "ratio $mem_ratio"
    echo "    of which guest RAM (pages the VMs touched) $extra_guest KiB/VM, the monitor's own" \
        "memory and page tables $extra_monitor KiB/VM, the VM processes' $extra_vmprocs KiB/VM"
    echo "    MemAvailable fell: disk $(per_vm "${AVAIL[disk]}") KiB/VM, no disk" \
        "$(per_vm "${AVAIL[nodisk]}") KiB/VM: $extra_avail KiB a VM (cross-check, not judged;" \
        "other users of the machine move it by MiB)"
    echo "  throughput on the disk fleet, Zipf s=$WEB_ZIPF_S, $WEB_CONC in flight, ${WEB_DURATION}s" \
        "after ${WEB_WARMUP}s warmup, median of $WEB_RUNS runs each, alternating:"
    echo "    GET $FILE_URL (from the disk): $(result_line file)"
    echo "    GET /doc/$WEB_SIZE (generated): $(result_line doc)"
    echo "    file against /doc: $rps_ratio (information, no goal); the disk served" \
        "${disk_requests:-NA} block requests in all, $(fmt %.4f "${disk_requests:-0} / $served") a" \
        "request (ilwaco's block cache holds the file)"
    echo "  errors: $errors in $requests requests (pass needs a rate <= $GOAL_ERR)"
    ((DISTURBED == 0)) || echo "  disturbed: $DISTURBED runs kept although other processes used" \
        "over $WEB_OTHER_MAX cores meanwhile; the throughput figures are rough"
    bench_line "BENCH ${NAME}_$platform ratio=$mem_ratio platform=$platform judged=extra_kib_per_vm" \
        "extra_kib_per_vm=$extra disk_kib_per_vm=$(per_vm "${TOTAL[disk]}")" \
        "nodisk_kib_per_vm=$(per_vm "${TOTAL[nodisk]}") extra_guest_kib_per_vm=$extra_guest" \
        "extra_monitor_kib_per_vm=$extra_monitor extra_vmprocs_kib_per_vm=$extra_vmprocs" \
        "extra_avail_kib_per_vm=$extra_avail" \
        "disk_avail_kib_per_vm=$(per_vm "${AVAIL[disk]}") nodisk_avail_kib_per_vm=$(per_vm "${AVAIL[nodisk]}")" \
        "file_rps=$(fmt %.0f "$file_rps") doc_rps=$(fmt %.0f "$doc_rps") rps_ratio=$rps_ratio" \
        "file_p99_us=$(med "${R_P99[file]}") doc_p99_us=$(med "${R_P99[doc]}")" \
        "disk_requests=${disk_requests:-NA} errors=$errors vms=$N block_size=$BLOCK_SIZE" \
        "disturbed_runs=$DISTURBED stop_hangs=$FLEET_HANGS goal=$GOAL_KIB pass=$pass"
}

skip() {
    bench_skip "${NAME}_$1" "$1" "$GOAL_KIB" "$2"
}

for_each_platform measure skip
