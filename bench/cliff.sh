#!/usr/bin/env bash
# The Denali cliff: Zipf web throughput against N VMs serving W MiB working sets, in core and paged.
# Usage: bench/cliff.sh   (process platform; settings in CLIFF_* variables, see bench/README.md)
# For each N, one fleet with no limit (in core: the floor) and one with --mem-limit L --swap FILE,
# under the same Zipf load; N is chosen so that N x W runs from under L to 2 x L, through 1.5 x L.
# Prints both throughputs and their ratio per N, writes them to CLIFF_DATA for bench/plot_cliff.sh,
# and ends with one summary line: ratio = with paging / in core at N x W = 1.5 x L (goal 0.5).
set -uo pipefail
# The cliff's own defaults for the shared load settings (one zipf run a fleet and one retry when
# disturbed, to keep 14 fleets within minutes; a longer warm-up, so that a paging fleet has
# settled); WEB_RUNS, WEB_RETRIES and WEB_WARMUP still override them.
WEB_RUNS=${WEB_RUNS:-${CLIFF_RUNS:-1}}
WEB_RETRIES=${WEB_RETRIES:-1}
WEB_WARMUP=${WEB_WARMUP:-2}
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=bench/net_lib.sh
. "$(dirname "$0")/net_lib.sh"

NAME=cliff
GOAL=0.5         # throughput with paging against in core, at 1.5 x overcommit
GOAL_AT=1.5      # the overcommit (N x W / L) judged
GOAL_ERR=0.001   # errors per request tolerated for pass
LIMIT_SLACK=1.10 # the guest RAM held under load, on average, may pass the limit by this at most
WS_MIB=${CLIFF_WS_MIB:-2}
LIMIT_MIB=${CLIFF_LIMIT_MIB:-128}
OVERCOMMITS=${CLIFF_OVERCOMMITS:-0.5 0.75 1 1.25 1.5 1.75 2}
PORT_BASE=${CLIFF_PORT_BASE:-19000}
DATA=${CLIFF_DATA:-build/bench-results/cliff.dat}
SAMPLE_S=0.5

net_init $NAME
SAMPLER=
trap '[[ -z $SAMPLER ]] || kill "$SAMPLER" 2>/dev/null; net_cleanup' EXIT
web_check_values
if ! [[ $WS_MIB =~ ^[1-9][0-9]{0,3}$ ]] || ((WS_MIB > 1024)); then
    bench_fail $NAME "bad CLIFF_WS_MIB '$WS_MIB' (MiB, 1..1024)"
fi
[[ $LIMIT_MIB =~ ^[1-9][0-9]{0,5}$ ]] || bench_fail $NAME "bad CLIFF_LIMIT_MIB '$LIMIT_MIB' (MiB)"
# Guest memory per VM: the working set, and 4 MiB for the image, lwIP's heap, the NIC's rings and
# the connection table; a multiple of 2 MiB, as the monitor wants.
MEM_MIB=${CLIFF_MEM_MIB:-$(((WS_MIB + 4 + 1) / 2 * 2))}
if ! [[ $MEM_MIB =~ ^[1-9][0-9]{0,3}$ ]] || ((MEM_MIB % 2 != 0 || MEM_MIB <= WS_MIB)); then
    bench_fail $NAME "bad CLIFF_MEM_MIB '$MEM_MIB' (an even MiB count above CLIFF_WS_MIB)"
fi

# The fleet sizes: N = f x L / W for each overcommit f (rounded), the judged one always among them.
declare -A SEEN=()
COUNTS=()
# vms_at F: the fleet size whose working sets make F times the limit.
vms_at() {
    awk -v f="$1" -v l="$LIMIT_MIB" -v w="$WS_MIB" 'BEGIN { printf "%d", f * l / w + 0.5 }'
}
GOAL_N=$(vms_at $GOAL_AT)
for f in $OVERCOMMITS $GOAL_AT; do
    [[ $f =~ ^[0-9]+([.][0-9]+)?$ ]] || bench_fail $NAME "bad overcommit '$f' in CLIFF_OVERCOMMITS"
    n=$(vms_at "$f")
    ((n >= 1 && n <= 1000)) || bench_fail $NAME "overcommit $f gives $n VMs" \
        "(1..1000: change CLIFF_LIMIT_MIB or CLIFF_WS_MIB)"
    [[ -n ${SEEN[$n]:-} ]] && continue
    SEEN[$n]=1
    COUNTS+=("$n")
done
mapfile -t COUNTS < <(printf '%s\n' "${COUNTS[@]}" | sort -n)
N_MAX=${COUNTS[-1]}
((N_MAX * MEM_MIB <= 4096)) ||
    bench_fail $NAME "$N_MAX VMs of $MEM_MIB MiB pass 4 GiB of guest memory (lower CLIFF_LIMIT_MIB)"
if ! [[ $PORT_BASE =~ ^[1-9][0-9]{0,4}$ ]] || ((PORT_BASE < 1024 || PORT_BASE + N_MAX > 65536)); then
    bench_fail $NAME "bad CLIFF_PORT_BASE '$PORT_BASE' for $N_MAX VMs"
fi
# Published ports among the kernel's ephemeral ones can be taken by any client's connection (a
# fleet failed so: "cannot listen on 127.0.0.1:40008 ... in use").
read -r EPH_LO EPH_HI </proc/sys/net/ipv4/ip_local_port_range
((PORT_BASE + N_MAX - 1 < EPH_LO || PORT_BASE > EPH_HI)) ||
    bench_fail $NAME "ports $PORT_BASE-$((PORT_BASE + N_MAX - 1)) overlap the ephemeral ports" \
        "$EPH_LO-$EPH_HI (set CLIFF_PORT_BASE)"

bench_need $NAME "$DENALI" "$GUESTS/httpd.elf" "$BENCH_BIN/zipf"
command -v curl >/dev/null || bench_fail $NAME "curl is needed to check that the fleet answers"
# Process platform only: the held-memory probe below reads the process platform's guest-RAM memfd
# (kvm pages too, but this driver was never run on a machine with /dev/kvm).
if [[ " $BENCH_PLATFORMS " != *" process "* ]] || ! platform_available process; then
    bench_skip $NAME process $GOAL "the process platform is not measured here"
    exit 0
fi
platform_opts process
mkdir -p "$(dirname "$DATA")" || bench_fail $NAME "cannot create $(dirname "$DATA")"

# guest_ram_kib PID: the guest RAM the monitor PID holds now: the blocks of its one guest-RAM memfd
# (what --mem-limit bounds on the process platform), else its RSS.
GUEST_RAM_FD=
guest_ram_kib() {
    local f
    if [[ -z $GUEST_RAM_FD || ! -e $GUEST_RAM_FD ]]; then
        GUEST_RAM_FD=
        for f in /proc/"$1"/fd/*; do
            if [[ $(readlink "$f" 2>/dev/null) == /memfd:denali-guest-ram* ]]; then
                GUEST_RAM_FD=$f
                break
            fi
        done
    fi
    if [[ -n $GUEST_RAM_FD ]]; then
        echo $(($(stat -L -c '%b * %B' "$GUEST_RAM_FD" 2>/dev/null || echo 0) / 1024))
    else
        proc_rss_kib "$1"
    fi
}

# held_sample PID FILE: writes a guest_ram_kib sample of PID to FILE every SAMPLE_S seconds until
# killed (started in the background around the zipf runs).
held_sample() {
    GUEST_RAM_FD=
    while kill -0 "$1" 2>/dev/null; do
        guest_ram_kib "$1" >>"$2"
        sleep $SAMPLE_S
    done
}

# run_fleet MODE N: N httpd VMs serving a WS_MIB working set, in core (MODE incore) or under the
# limit with a swap file (MODE paging); WEB_RUNS zipf runs recorded under MODE-N. Sets HELD_MEAN
# and HELD_MAX (MiB of guest RAM held during the load), and HIB and WAKES (hibernations, wake-ups).
run_fleet() {
    local mode=$1 n=$2 label=$1-$2 last=$((PORT_BASE + $2 - 1)) opts=() samples
    local ports=(--ports "127.0.0.1:$PORT_BASE-$last") publish=$PORT_BASE-$last
    if ((n == 1)); then
        ports=(--target "127.0.0.1:$PORT_BASE")
        publish=$PORT_BASE
    fi
    [[ $mode == paging ]] && opts=(--mem-limit "${LIMIT_MIB}M" --swap "$NET_WORK/denali.swap")
    ports_free "$PORT_BASE" "$last"
    fleet_start "$label" "${PLATFORM_OPTS[@]}" -n "$n" -m "${MEM_MIB}M" --stats --console null \
        --no-progress --net user "${opts[@]}" -p "$publish:80" "$GUESTS/httpd.elf" -q -w "$WS_MIB"
    wait_http "$FLEET_PID" ports "127.0.0.1:$PORT_BASE" "$n"
    samples=$NET_WORK/$label.held
    : >"$samples"
    held_sample "$FLEET_PID" "$samples" &
    SAMPLER=$!
    zipf_measure "$FLEET_PID" "$label" "${ports[@]}"
    kill "$SAMPLER" 2>/dev/null
    wait "$SAMPLER" 2>/dev/null
    SAMPLER=
    fleet_stop $((WEB_STOP_S + n / 200))
    ((FLEET_BAD == 0)) || net_fail "$FLEET_BAD of $n VMs ended before the SIGINT ($label)"
    rm -f "$NET_WORK/denali.swap"
    read -r HELD_MEAN HELD_MAX < <(awk '$1 > 0 { s += $1; c++; if ($1 > m) m = $1 }
        END { if (c) printf "%.1f %.1f\n", s / c / 1024, m / 1024; else print "NA NA" }' "$samples")
    HIB=$(kv hibernations "$FLEET_STATS")
    WAKES=$(kv wakes "$FLEET_STATS")
    echo "  $label: guest RAM held under load: mean $HELD_MEAN MiB, max $HELD_MAX MiB;" \
        "hibernations ${HIB:-NA}, wake-ups ${WAKES:-NA}" >&2
}

echo "cliff: W = $WS_MIB MiB a VM (-m ${MEM_MIB}M), L = $LIMIT_MIB MiB, N = ${COUNTS[*]};" \
    "Zipf s=$WEB_ZIPF_S, $WEB_CONC in flight, ${WEB_DURATION} s after ${WEB_WARMUP} s" \
    "(x $WEB_RUNS); process platform"
{
    echo "# The Denali cliff (bench/cliff.sh): web throughput against N, in core and with paging."
    echo "# platform=process ws_mib=$WS_MIB mem_mib=$MEM_MIB limit_mib=$LIMIT_MIB" \
        "zipf_s=$WEB_ZIPF_S size=$WEB_SIZE concurrency=$WEB_CONC duration_s=$WEB_DURATION" \
        "runs=$WEB_RUNS date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
        "commit=$(git rev-parse --short HEAD 2>/dev/null || echo NA)"
    echo "# n overcommit incore_rps paging_rps ratio incore_p99_us paging_p99_us" \
        "incore_held_mib paging_held_mib paging_held_max_mib hibernations wakes incore_errors" \
        "paging_errors"
} >"$DATA.tmp"

declare -A ROW=()
i=0
for n in "${COUNTS[@]}"; do
    # Alternate which mode goes first, so drift on the shared machine hits both alike.
    if ((i % 2 == 0)); then order=(incore paging); else order=(paging incore); fi
    i=$((i + 1))
    for mode in "${order[@]}"; do
        run_fleet "$mode" "$n"
        ROW[$mode-$n-held]=$HELD_MEAN
        ROW[$mode-$n-held_max]=$HELD_MAX
        ROW[$mode-$n-hib]=${HIB:-NA}
        ROW[$mode-$n-wakes]=${WAKES:-NA}
    done
    in_rps=$(med "${R_RPS[incore-$n]}") pg_rps=$(med "${R_RPS[paging-$n]}")
    over=$(fmt %.3f "$n * $WS_MIB / $LIMIT_MIB")
    r=$(ratio "$pg_rps" "$in_rps")
    echo "cliff: N=$n (N x W = $over x L): in core $(fmt %.0f "$in_rps") req/s, with paging" \
        "$(fmt %.0f "$pg_rps") req/s: ratio $r; guest RAM held under load: in core" \
        "${ROW[incore-$n-held]} MiB, with paging ${ROW[paging-$n-held]} MiB (limit $LIMIT_MIB)"
    echo "$n $over $in_rps $pg_rps $r $(med "${R_P99[incore-$n]}") $(med "${R_P99[paging-$n]}")" \
        "${ROW[incore-$n-held]} ${ROW[paging-$n-held]} ${ROW[paging-$n-held_max]}" \
        "${ROW[paging-$n-hib]} ${ROW[paging-$n-wakes]} ${R_ERR[incore-$n]} ${R_ERR[paging-$n]}" \
        >>"$DATA.tmp"
done
mv "$DATA.tmp" "$DATA"

echo
echo "cliff: W = $WS_MIB MiB, L = $LIMIT_MIB MiB; throughput in requests/s (median of $WEB_RUNS)," \
    "guest RAM held under load in MiB (mean)"
printf '%6s %8s %12s %12s %7s %10s %10s %9s %9s %7s %7s\n' N 'N*W/L' in-core paging ratio \
    'p99in(ms)' 'p99pg(ms)' 'held-in' 'held-pg' hibern wakes
for n in "${COUNTS[@]}"; do
    printf '%6d %8.3f %12.0f %12.0f %7s %10.1f %10.1f %9s %9s %7s %7s\n' "$n" \
        "$(calc "$n * $WS_MIB / $LIMIT_MIB")" "$(med "${R_RPS[incore-$n]}")" \
        "$(med "${R_RPS[paging-$n]}")" "$(ratio "$(med "${R_RPS[paging-$n]}")" \
            "$(med "${R_RPS[incore-$n]}")")" "$(calc "$(med "${R_P99[incore-$n]}") / 1000")" \
        "$(calc "$(med "${R_P99[paging-$n]}") / 1000")" "${ROW[incore-$n-held]}" \
        "${ROW[paging-$n-held]}" "${ROW[paging-$n-hib]}" "${ROW[paging-$n-wakes]}"
done
echo "cliff: data in $DATA (bench/plot_cliff.sh draws docs/denali-cliff.png from it)"

# The verdict, at N x W = 1.5 x L: the ratio, the errors of both fleets, and the limit held.
n=$GOAL_N
in_rps=$(med "${R_RPS[incore-$n]}") pg_rps=$(med "${R_RPS[paging-$n]}")
r=$(ratio "$pg_rps" "$in_rps")
requests=$((${R_REQ[incore-$n]} + ${R_REQ[paging-$n]}))
errors=$((${R_ERR[incore-$n]} + ${R_ERR[paging-$n]}))
err_rate=$(ratio "$errors" "$requests")
held=${ROW[paging-$n-held]}
limit_held=NA
if [[ $held != NA ]]; then
    limit_held=0
    le "$held" "$(calc "$LIMIT_MIB * $LIMIT_SLACK")" && limit_held=1
fi
demand=$(ratio "${ROW[incore-$n-held]}" "$LIMIT_MIB")
pass=0
if [[ $r != NA ]] && le "$GOAL" "$r" && [[ $err_rate != NA ]] && le "$err_rate" "$GOAL_ERR" &&
    [[ $limit_held == 1 ]]; then
    pass=1
fi
echo "cliff: at N x W = $GOAL_AT x L (N=$n): with paging $(fmt %.0f "$pg_rps") req/s against" \
    "$(fmt %.0f "$in_rps") in core: $r (goal >= $GOAL); the VMs' memory in core was $demand x L;" \
    "with paging they held $held MiB on average (limit held: $limit_held); $errors errors of" \
    "$requests requests"
echo "BENCH $NAME ratio=$r platform=process ws_mib=$WS_MIB limit_mib=$LIMIT_MIB vms=$n" \
    "overcommit=$GOAL_AT incore_rps=$in_rps paging_rps=$pg_rps" \
    "incore_p99_us=$(med "${R_P99[incore-$n]}") paging_p99_us=$(med "${R_P99[paging-$n]}")" \
    "incore_held_mib=${ROW[incore-$n-held]} paging_held_mib=$held demand=$demand" \
    "limit_held=$limit_held hibernations=${ROW[paging-$n-hib]} wakes=${ROW[paging-$n-wakes]}" \
    "errors=$errors requests=$requests disturbed_runs=$DISTURBED stop_hangs=$FLEET_HANGS" \
    "data=$DATA goal=$GOAL pass=$pass"
