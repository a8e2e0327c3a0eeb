#!/usr/bin/env bash
# Side-by-side table of the two platforms, kvm and process, built from the drivers' BENCH lines.
# Usage: bench/platforms.sh [LOG...]
#   With LOG files (e.g. saved output of bench/run-all.sh or of the drivers): reads their BENCH lines.
#   Without: runs hypercall.sh PLATFORMS_CALLS (100000), boot.sh PLATFORMS_VMS (1000), scale.sh
#   PLATFORMS_SCALE_N (1000) and, per platform, DENALI_PLATFORM=P web_scale.sh 1 1000, then reads
#   theirs. A platform the machine lacks shows as skipped, with the drivers' reason.
# Prints the table and one `PLATFORM_ROW row=... kvm=... process=...` line per row; the verdicts
# stay in the drivers' own BENCH lines.
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

NAME=platforms
LOG=$(mktemp /tmp/denali-bench-platforms.XXXXXX)
trap 'rm -f "$LOG"' EXIT

if (($# > 0)); then
    for f in "$@"; do
        [[ -r $f ]] || bench_fail $NAME "cannot read $f"
    done
    grep -h '^BENCH ' "$@" >"$LOG"
else
    failed=0
    run() {
        echo "######## $*" >&2
        "$@" | tee -a "$LOG" >&2
        [[ ${PIPESTATUS[0]} -eq 0 ]] || failed=1
    }
    run bench/hypercall.sh "${PLATFORMS_CALLS:-100000}"
    run bench/boot.sh "${PLATFORMS_VMS:-1000}"
    run bench/scale.sh "${PLATFORMS_SCALE_N:-1000}"
    for p in $BENCH_PLATFORMS; do
        run env DENALI_PLATFORM="$p" bench/web_scale.sh 1 1000
    done
    ((failed)) && echo "$NAME: some drivers failed; their cells say error" >&2
fi

# line NAME PLATFORM: the last BENCH line of NAME for PLATFORM (matched by name_PLATFORM, or by
# NAME with a platform= field).
line() {
    grep -E "^BENCH ($1_$2|$1) " "$LOG" | grep -E "(^BENCH $1_$2 | platform=$2( |$))" | tail -n 1
}

# quoted KEY TEXT: the value of KEY="..." in TEXT.
quoted() {
    sed -n "s/.* $1=\"\\([^\"]*\\)\".*/\\1/p" <<<"$2"
}

# cell NAME PLATFORM FORMAT: the figure for one table cell; FORMAT is an awk printf format over
# fields of the line given as the remaining arguments (KEY names), e.g. cell hypercall kvm
# "%.0f ns (%.2fx)" denali_ns ratio.
cell() {
    local l reason fmt=$3 keys=("${@:4}") vals=() k v
    l=$(line "$1" "$2")
    if [[ -z $l ]]; then
        echo "not run"
        return
    fi
    reason=$(quoted skipped "$l")
    if [[ -n $reason ]]; then
        echo "skipped: $reason"
        return
    fi
    reason=$(quoted error "$l")
    if [[ -n $reason ]]; then
        echo "error ($reason)"
        return
    fi
    for k in "${keys[@]}"; do
        v=$(kv "$k" "$l")
        if [[ -z $v || $v == NA ]]; then
            echo "not measured ($k)"
            return
        fi
        vals+=("$v")
    done
    # shellcheck disable=SC2059 # the format is the caller's
    printf "$fmt" "${vals[@]}"
}

ROWS=(
    "hypercall|hypercall|%.0f ns/call (%.2fx floor)|denali_ns ratio"
    "boot_p50|boot|%.0f us (%.2fx floor)|denali_p50_us ratio"
    "start_to_exit|start_exit|%.1f ms (native %.1f ms)|denali_ms native_ms"
    "memory_per_vm|scale|%.0f KiB/VM at N=%s|mem_kib_per_vm n"
    "idle_cpu|scale|%.3f cores at N=%s|idle_cpu_frac n"
    "web_n1|web_scale|%.0f req/s|rps_1"
    "web_n1000|web_scale|%.0f req/s (%.2fx N=1)|rps_1000 ratio_1000"
)
LABELS=(
    "hypercall (null call)"
    "boot, p50 create to first exit"
    "hello, process start to exit"
    "host memory per idle VM"
    "CPU, VMs idling with 1 s timeouts"
    "web, N = 1"
    "web, N = 1,000"
)

# A skipped cell shows as "skipped"; its reason is printed once under the table.
declare -A CELL RAW SKIPPED=()
for i in "${!ROWS[@]}"; do
    IFS='|' read -r row name fmt keys <<<"${ROWS[$i]}"
    read -ra keyv <<<"$keys"
    for p in kvm process; do
        CELL[$row,$p]=$(cell "$name" "$p" "$fmt" "${keyv[@]}")
        RAW[$row,$p]=${CELL[$row,$p]}
        if [[ ${CELL[$row,$p]} == skipped:* ]]; then
            SKIPPED[$p]=${CELL[$row,$p]#skipped: }
            CELL[$row,$p]=skipped
        fi
    done
done

w1=34 w2=28
printf "%-${w1}s | %-${w2}s | %s\n" "figure" "kvm" "process"
printf '%s\n' "$(printf -- '-%.0s' $(seq 1 $((w1 + w2 + 40))))"
for i in "${!ROWS[@]}"; do
    row=${ROWS[$i]%%|*}
    printf "%-${w1}s | %-${w2}s | %s\n" "${LABELS[$i]}" "${CELL[$row,kvm]}" "${CELL[$row,process]}"
done
for p in kvm process; do
    [[ -z ${SKIPPED[$p]:-} ]] || echo "$p skipped: ${SKIPPED[$p]}"
done
for i in "${!ROWS[@]}"; do
    row=${ROWS[$i]%%|*}
    echo "PLATFORM_ROW row=$row kvm=\"${RAW[$row,kvm]}\" process=\"${RAW[$row,process]}\""
done
exit "${failed:-0}"
