# Shared helpers for the network drivers (sourced after lib.sh): fleets, readiness, zipf runs, stats.
# shellcheck shell=bash

NATIVE=${NATIVE:-build/native}
# The load every web driver applies (the Denali paper's 2,258-byte object, Zipf s = 1.0).
WEB_SIZE=2258
WEB_ZIPF_S=1.0
WEB_CONC=${WEB_CONC:-64}
WEB_DURATION=${WEB_DURATION:-5}
WEB_WARMUP=${WEB_WARMUP:-1}
WEB_RUNS=${WEB_RUNS:-3}
# Seconds a fleet has to boot and answer on every target before the driver gives up.
WEB_READY_S=${WEB_READY_S:-90}
# Seconds between SIGINT and SIGKILL when stopping a fleet (1,000 VMs take ~2 s to tear down).
WEB_STOP_S=${WEB_STOP_S:-20}

NET_NAME=
NET_WORK=
# A command prefix for everything that talks to the fleet (the monitor, curl, zipf), e.g.
# (ip netns exec NS) to keep a TAP fleet in a network namespace of its own; empty by default.
NET_EXEC=()
FLEET_PID=
FLEET_OUT=
NATIVE_PID=
FLEET_T0=0
FLEET_HUNG=0
FLEET_HANGS=0
TICK_HZ=$(getconf CLK_TCK)

# net_init NAME: a scratch directory and a trap that always stops what the driver started.
net_init() {
    NET_NAME=$1
    NET_WORK=$(mktemp -d "/tmp/denali-bench-$NET_NAME.XXXXXX")
    trap net_cleanup EXIT
    trap 'exit 130' INT TERM
}

net_cleanup() {
    fleet_kill 5
    native_stop
    neigh_restore
    [[ -z $NET_WORK ]] || rm -rf "$NET_WORK"
}

# net_fail MESSAGE: shows the end of the current fleet's output, then fails the driver.
net_fail() {
    if [[ -n $FLEET_OUT && -s $FLEET_OUT ]]; then
        echo "$NET_NAME: last lines from the monitor:" >&2
        grep -v 'stopped: interrupted (SIGINT)' "$FLEET_OUT" | tail -n 15 >&2
    fi
    bench_fail "$NET_NAME" "$*"
}

# web_check_values: the WEB_* settings are positive numbers.
web_check_values() {
    local v
    for v in "$WEB_CONC" "$WEB_RUNS"; do
        [[ $v =~ ^[1-9][0-9]*$ ]] || bench_fail "$NET_NAME" "bad WEB_CONC/WEB_RUNS value '$v'"
    done
    for v in "$WEB_DURATION" "$WEB_WARMUP" "$WEB_READY_S" "$WEB_STOP_S"; do
        [[ $v =~ ^[0-9]+([.][0-9]+)?$ ]] || bench_fail "$NET_NAME" "bad WEB_* duration '$v'"
    done
}

# ports_free FIRST LAST: fails the driver when any 127.0.0.1 TCP port in FIRST..LAST is listening.
ports_free() {
    local busy
    busy=$(ss -Htln "( sport >= :$1 and sport <= :$2 )" 2>/dev/null | head -n 3)
    [[ -z $busy ]] || bench_fail "$NET_NAME" "ports $1-$2 are in use (set WEB_PORT_BASE):" \
        "$(tr -s ' \n' ' ' <<<"$busy")"
}

# vm_ip I: VM I's LAN address, 10.77.0.16 + I counting on into the third octet and beyond.
vm_ip() {
    local a=$(((10 << 24 | 77 << 16) + 16 + $1))
    echo "$((a >> 24)).$((a >> 16 & 255)).$((a >> 8 & 255)).$((a & 255))"
}

# tap_usable: succeeds when --net tap can work here: root, /dev/net/tun, and no interface already
# holding the gateway address (another run's TAP would share the route to 10.77.0.0/16).
tap_usable() {
    [[ $(id -u) == 0 && -c /dev/net/tun ]] || return 1
    ! ip -o -4 addr show 2>/dev/null | grep -q ' 10\.77\.0\.1/'
}

# neigh_room N: succeeds when the host's neighbour (ARP) table can hold N addresses on the TAP;
# the default gc_thresh3 (1024) makes the kernel drop the rest, so most of a big fleet never
# answers. With WEB_RAISE_NEIGH=1 (root) the thresholds are raised for the run and restored after.
NEIGH_SAVED=
neigh_room() {
    local need=$(($1 + 64)) t3
    t3=$(sysctl -n net.ipv4.neigh.default.gc_thresh3 2>/dev/null) || return 1
    ((t3 >= need)) && return 0
    [[ ${WEB_RAISE_NEIGH:-0} == 1 ]] || return 1
    [[ -n $NEIGH_SAVED ]] || NEIGH_SAVED="$(sysctl -n net.ipv4.neigh.default.gc_thresh2) $t3"
    echo "== sysctl net.ipv4.neigh.default.gc_thresh2=$need gc_thresh3=$((2 * need)) (restored on exit)" >&2
    sysctl -q -w "net.ipv4.neigh.default.gc_thresh2=$need" \
        "net.ipv4.neigh.default.gc_thresh3=$((2 * need))" >/dev/null
}

neigh_restore() {
    [[ -n $NEIGH_SAVED ]] || return 0
    sysctl -q -w "net.ipv4.neigh.default.gc_thresh2=${NEIGH_SAVED% *}" \
        "net.ipv4.neigh.default.gc_thresh3=${NEIGH_SAVED#* }" >/dev/null
    NEIGH_SAVED=
}

# fleet_start LABEL DENALI-RUN-ARGS...: starts the monitor in the background (FLEET_PID, FLEET_OUT).
fleet_start() {
    local label=$1
    shift
    FLEET_OUT=$NET_WORK/$label.out
    echo "== $DENALI run $*" >&2
    FLEET_T0=$(now_us)
    "${NET_EXEC[@]}" "$DENALI" run "$@" >"$FLEET_OUT" 2>&1 &
    FLEET_PID=$!
}

# fleet_kill [STOP_S]: stops a monitor still running: SIGINT, then SIGKILL after STOP_S seconds
# (default WEB_STOP_S). Sets FLEET_HUNG=1 when SIGKILL was needed.
fleet_kill() {
    local i stop_s=${1:-$WEB_STOP_S}
    FLEET_HUNG=0
    [[ -n $FLEET_PID ]] || return 0
    if kill -0 "$FLEET_PID" 2>/dev/null; then
        kill -INT "$FLEET_PID" 2>/dev/null
        for ((i = 0; i < ${stop_s%.*} * 10; i++)); do
            kill -0 "$FLEET_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$FLEET_PID" 2>/dev/null; then
            echo "$NET_NAME: warning: monitor $FLEET_PID still running ${stop_s}s after SIGINT;" \
                "killing it (see Stopping in bench/README.md)" >&2
            kill -KILL "$FLEET_PID" 2>/dev/null
            FLEET_HUNG=1
        fi
    fi
    wait "$FLEET_PID" 2>/dev/null
    FLEET_PID=
}

# fleet_stop [STOP_S]: stops the fleet with SIGINT and reads its summary: FLEET_STATS (denali-stats),
# FLEET_NET (denali-net), FLEET_UPLINK (denali-uplink), FLEET_BAD (VMs that ended or were stopped
# for any reason but the SIGINT). When the monitor had to be killed, FLEET_STATS is made from /proc
# just before the SIGINT (cpu_ms, wall_ms, max_rss_kb) and FLEET_HANGS counts it.
# shellcheck disable=SC2034 # FLEET_NET and FLEET_UPLINK are for the drivers
fleet_stop() {
    local c w hwm stop_s=${1:-$WEB_STOP_S}
    # Let connections wind down first: fewer VMs are mid-slice when the stop comes.
    sleep 0.5
    c=$(proc_tree_cpu_us "$FLEET_PID")
    kill -0 "$FLEET_PID" 2>/dev/null || net_fail "the monitor ended before it was stopped"
    w=$(now_us)
    hwm=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$FLEET_PID/status" 2>/dev/null)
    fleet_kill "$stop_s"
    FLEET_STATS=$(grep -o 'denali-stats:.*' "$FLEET_OUT" | tail -n 1)
    FLEET_NET=$(grep -o 'denali-net:.*' "$FLEET_OUT" | tail -n 1)
    FLEET_UPLINK=$(grep -o 'denali-uplink:.*' "$FLEET_OUT" | tail -n 1)
    if [[ -z $FLEET_STATS ]]; then
        ((FLEET_HUNG)) || net_fail "the monitor printed no denali-stats line"
        FLEET_HANGS=$((FLEET_HANGS + 1))
        FLEET_STATS="denali-stats: (from /proc, the monitor hung) cpu_ms=$(fmt %.1f "$c / 1000")"
        FLEET_STATS+=" wall_ms=$(fmt %.1f "($w - $FLEET_T0) / 1000") max_rss_kb=$hwm"
    fi
    FLEET_BAD=$(grep -E '^denali: vm [0-9]+ (stopped|exited)' "$FLEET_OUT" |
        grep -vc 'stopped: interrupted (SIGINT)')
    if ((FLEET_BAD > 0)); then
        echo "$NET_NAME: warning: $FLEET_BAD VMs ended on their own:" >&2
        grep -E '^denali: vm [0-9]+ (stopped|exited)' "$FLEET_OUT" |
            grep -v 'stopped: interrupted (SIGINT)' | head -n 5 >&2
    fi
}

# native_start ARGS...: starts a native server in the background (NATIVE_PID).
native_start() {
    echo "== $*" >&2
    "$@" >"$NET_WORK/native.out" 2>&1 &
    NATIVE_PID=$!
}

native_stop() {
    [[ -n $NATIVE_PID ]] || return 0
    kill "$NATIVE_PID" 2>/dev/null
    wait "$NATIVE_PID" 2>/dev/null
    NATIVE_PID=
}

# wait_http PID KIND SPEC COUNT: waits until GET / answers 200 on all COUNT targets, failing the
# driver when process PID ends or WEB_READY_S (plus 1 s per 100 targets, for booting) passes first. KIND ports: SPEC = HOST:PORT0, target
# i on PORT0 + i; KIND addrs: SPEC = PORT, target i on vm_ip i. Checks run 200 at a time with
# parallel curl, so a target not listening yet costs one connect timeout, not one per target.
wait_http() {
    local pid=$1 kind=$2 spec=$3 count=$4 t0 i url code pending=() next=() urls=() limit_s
    t0=$(now_us)
    limit_s=$((${WEB_READY_S%.*} + count / 100))
    for ((i = 0; i < count; i++)); do
        pending+=("$i")
    done
    echo "== waiting for $count targets to answer" >&2
    while ((${#pending[@]} > 0)); do
        kill -0 "$pid" 2>/dev/null || net_fail "the server ended before all $count targets answered"
        if (($(now_us) - t0 > limit_s * 1000000)); then
            net_fail "only $((count - ${#pending[@]})) of $count targets answered within" \
                "${limit_s}s (first silent: target ${pending[0]})"
        fi
        urls=()
        for i in "${pending[@]:0:200}"; do
            if [[ $kind == ports ]]; then
                urls+=(-o /dev/null "http://${spec%:*}:$((${spec##*:} + i))/#$i")
            else
                urls+=(-o /dev/null "http://$(vm_ip "$i"):$spec/#$i")
            fi
        done
        next=("${pending[@]:200}")
        while read -r code url; do
            [[ $code == 200 ]] || next+=("${url##*#}")
        done < <("${NET_EXEC[@]}" curl -s --parallel --parallel-max 50 --connect-timeout 2 -m 3 \
            -w '%{http_code} %{url}\n' "${urls[@]}" 2>/dev/null)
        if ((${#next[@]} == ${#pending[@]})); then
            sleep 0.3
        fi
        pending=("${next[@]}")
    done
    echo "== all $count answered after $(fmt %.1f "($(now_us) - $t0) / 1000000") s" >&2
}

# host_busy_ticks: CPU ticks the whole host spent busy (user, nice, system, irq, softirq, steal).
host_busy_ticks() {
    awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

# child_ticks: CPU ticks of the driver's reaped children (utime + stime of those waited for).
child_ticks() {
    local stat
    stat=$(cat "/proc/$$/stat") || return 1
    stat=${stat##*) }
    awk '{ print $14 + $15 }' <<<"$stat"
}

# zipf_run PID LABEL ZIPF-TARGET-ARGS...: one zipf run with the common load; the CPU of process PID
# and every process under it (a process-platform monitor's VM processes) is measured over it. Sets
# ZIPF_LINE (the ZIPF summary), ZIPF_CPU (the server's cores over the run) and ZIPF_OTHER (cores the
# rest of the machine used meanwhile: neither the server nor zipf); fails the driver when zipf
# printed no summary.
zipf_run() {
    local pid=$1 label=$2 out c0 c1 w0 w1 h0 h1 z0 z1
    shift 2
    out=$NET_WORK/$label.zipf
    echo "== $BENCH_BIN/zipf $* -s $WEB_ZIPF_S --size $WEB_SIZE -c $WEB_CONC -d $WEB_DURATION" \
        "--warmup $WEB_WARMUP ${ZIPF_EXTRA:-}" >&2
    c0=$(proc_tree_cpu_us "$pid")
    kill -0 "$pid" 2>/dev/null || net_fail "the server ended before $label"
    h0=$(host_busy_ticks) z0=$(child_ticks)
    w0=$(now_us)
    # shellcheck disable=SC2086 # ZIPF_EXTRA is a list of options
    "${NET_EXEC[@]}" "$BENCH_BIN/zipf" "$@" -s "$WEB_ZIPF_S" --size "$WEB_SIZE" -c "$WEB_CONC" \
        -d "$WEB_DURATION" --warmup "$WEB_WARMUP" ${ZIPF_EXTRA:-} >"$out" 2>&1
    c1=$(proc_tree_cpu_us "$pid")
    kill -0 "$pid" 2>/dev/null || net_fail "the server ended during $label"
    h1=$(host_busy_ticks) z1=$(child_ticks)
    w1=$(now_us)
    ZIPF_LINE=$(grep '^ZIPF ' "$out" | tail -n 1)
    # Requests the fleet served, warm-up included (for exits per request).
    ZIPF_SERVED=$(($(kv requests "$ZIPF_LINE") + $(awk '$1 == "warmup" { print $2 }' "$out")))
    if [[ -z $ZIPF_LINE || -z $(kv rps "$ZIPF_LINE") ]]; then
        tail -n 5 "$out" >&2
        net_fail "zipf printed no ZIPF line ($label)"
    fi
    ZIPF_CPU=$(fmt %.2f "($c1 - $c0) / ($w1 - $w0)")
    ZIPF_OTHER=$(fmt %.2f "(($h1 - $h0) - ($z1 - $z0)) / $TICK_HZ / (($w1 - $w0) / 1000000) - $ZIPF_CPU")
    grep -E '^ *(requests/s|latency|errors) ' "$out" | sed "s/^ */  $label: /" >&2
    echo "  $label: server CPU $ZIPF_CPU cores, rest of the machine $ZIPF_OTHER cores" >&2
    if (($(kv errors "$ZIPF_LINE") > 0)); then
        echo "$NET_NAME: warning: $label: $(grep '^ *errors ' "$out" | sed 's/^ *//')" >&2
    fi
}

# The machine is shared: a run during which other processes used more than WEB_OTHER_MAX cores
# is repeated, up to WEB_RETRIES times; the last try counts either way, flagged as disturbed.
WEB_OTHER_MAX=${WEB_OTHER_MAX:-0.3}
WEB_RETRIES=${WEB_RETRIES:-2}
DISTURBED=0

# zipf_measure PID LABEL ZIPF-TARGET-ARGS...: WEB_RUNS undisturbed zipf runs (as far as retries
# allow), each recorded under LABEL.
zipf_measure() {
    local pid=$1 label=$2 r t
    shift 2
    for ((r = 1; r <= WEB_RUNS; r++)); do
        for ((t = 0; t <= WEB_RETRIES; t++)); do
            zipf_run "$pid" "$label-$r" "$@"
            le "$ZIPF_OTHER" "$WEB_OTHER_MAX" && break
            if ((t < WEB_RETRIES)); then
                echo "$NET_NAME: $label-$r: other processes used $ZIPF_OTHER cores; repeating" >&2
                sleep 2
            else
                echo "$NET_NAME: warning: $label-$r: still disturbed ($ZIPF_OTHER cores);" \
                    "keeping it" >&2
                DISTURBED=$((DISTURBED + 1))
            fi
        done
        record "$label"
    done
}

# Results of repeated runs, by configuration label: space-separated values per metric.
declare -A R_RPS R_MBPS R_P50 R_P99 R_ERR R_REQ R_CPU R_OTHER R_SERVED

# record LABEL: appends the last zipf run's figures to LABEL's results.
record() {
    R_RPS[$1]+=" $(kv rps "$ZIPF_LINE")"
    R_MBPS[$1]+=" $(kv mbps "$ZIPF_LINE")"
    R_P50[$1]+=" $(kv p50_us "$ZIPF_LINE")"
    R_P99[$1]+=" $(kv p99_us "$ZIPF_LINE")"
    R_ERR[$1]=$((${R_ERR[$1]:-0} + $(kv errors "$ZIPF_LINE")))
    R_REQ[$1]=$((${R_REQ[$1]:-0} + $(kv requests "$ZIPF_LINE")))
    R_SERVED[$1]=$((${R_SERVED[$1]:-0} + ZIPF_SERVED))
    R_CPU[$1]+=" $ZIPF_CPU"
    R_OTHER[$1]+=" $ZIPF_OTHER"
}

# med LIST: the median of a space-separated list (NA when empty), without exponent notation.
med() {
    local v
    read -ra v <<<"$1"
    ((${#v[@]} > 0)) || {
        echo NA
        return
    }
    printf '%s\n' "${v[@]}" | sort -g | awk '{ v[NR] = $1 } END {
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.10g", m }'
}

# result_line LABEL: LABEL's medians in one line, for humans.
result_line() {
    echo "rps $(med "${R_RPS[$1]}") (runs:${R_RPS[$1]}), MB/s $(med "${R_MBPS[$1]}")," \
        "p50 $(med "${R_P50[$1]}") us, p99 $(med "${R_P99[$1]}") us, errors ${R_ERR[$1]}," \
        "server CPU $(med "${R_CPU[$1]}") cores, others $(med "${R_OTHER[$1]}") cores"
}

# published_fleet_setup VMS: the start shared by drivers that run fleets of VMS httpd VMs published
# from $PORT_BASE (web_batch, web_idle): scratch space, checked settings and tools; sets LAST.
published_fleet_setup() {
    net_init "$NAME"
    web_check_values
    [[ $1 =~ ^[1-9][0-9]*$ && $1 -le 1000 ]] || bench_fail "$NAME" "bad VM count '$1' (1..1000)"
    bench_need "$NAME" "$DENALI" "$GUESTS/httpd.elf" "$BENCH_BIN/zipf"
    command -v curl >/dev/null || bench_fail "$NAME" "curl is needed to check that the fleet answers"
    LAST=$((PORT_BASE + $1 - 1))
}

# published_fleet_mode MODE [DENALI-OPTIONS...] -- [HTTPD-ARGS...]: one fleet of $VMS httpd VMs
# published on $PORT_BASE..$LAST, WEB_RUNS zipf runs recorded under MODE; adds the fleet's CPU,
# wall time and RSS to the caller's associative arrays CPU_MS, WALL_MS and RSS.
# shellcheck disable=SC2004,SC2034 # the arrays are the caller's, declared with declare -A
published_fleet_mode() {
    local mode=$1 rss run_opts=()
    shift
    while (($# > 0)) && [[ $1 != -- ]]; do
        run_opts+=("$1")
        shift
    done
    (($# > 0)) && shift
    ports_free "$PORT_BASE" "$LAST"
    fleet_start "$mode" -n "$VMS" -m 4M --stats --console null --no-progress --net user \
        "${run_opts[@]}" -p "$PORT_BASE-$LAST:80" "$GUESTS/httpd.elf" "$@"
    wait_http "$FLEET_PID" ports "127.0.0.1:$PORT_BASE" "$VMS"
    zipf_measure "$FLEET_PID" "$mode" --ports "127.0.0.1:$PORT_BASE-$LAST"
    rss=$(proc_rss_kib "$FLEET_PID")
    fleet_stop "$WEB_STOP_S"
    ((FLEET_BAD == 0)) || net_fail "$FLEET_BAD of $VMS VMs ended before the SIGINT"
    echo "  $mode: RSS under load $rss KiB; $FLEET_STATS" >&2
    echo "  $mode: $FLEET_NET" >&2
    CPU_MS[$mode]=$(calc "${CPU_MS[$mode]:-0} + $(kv cpu_ms "$FLEET_STATS")")
    WALL_MS[$mode]=$(calc "${WALL_MS[$mode]:-0} + $(kv wall_ms "$FLEET_STATS")")
    RSS[$mode]=$rss
}
