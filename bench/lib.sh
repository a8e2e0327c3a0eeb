# Shared helpers for the benchmark drivers (sourced, not run): paths, checks, arithmetic, summary lines.
# shellcheck shell=bash

# Run from the repository root whatever the caller's directory.
BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$BENCH_ROOT" || exit 1

DENALI=${DENALI:-build/denali}
BENCH_BIN=${BENCH_BIN:-build/bench}
GUESTS=${GUESTS:-build/guests}

# Where summary lines are kept for bench/plots.sh: appended, each run's lines after a comment
# naming the date, commit and machine. Empty: not kept (run-all.sh keeps its drivers' lines
# itself, so that every driver's are kept, not only those that call bench_line).
BENCH_RESULTS=${BENCH_RESULTS-build/bench-results/summary.txt}
BENCH_RESULTS_HEADER_DONE=
# What produced the lines, for the header (the rest of its line): the driver and its arguments.
BENCH_SOURCE="$(basename "$0")${*:+ $*}"

# bench_results_header SOURCE: the comment line that opens a run's lines in BENCH_RESULTS
# (source= comes last and takes the rest of the line).
bench_results_header() {
    local commit cpus mem_mib
    commit=$(git -C "$BENCH_ROOT" describe --always --dirty 2>/dev/null) || commit=unknown
    cpus=$(nproc 2>/dev/null || echo NA)
    mem_mib=$(awk '$1 == "MemTotal:" { printf "%d", $2 / 1024 }' /proc/meminfo 2>/dev/null)
    echo "# bench-results date=$(date -u +%Y-%m-%dT%H:%M:%SZ) commit=$commit host=$(hostname 2>/dev/null ||
        echo unknown) cpus=$cpus mem_mib=${mem_mib:-NA} source=$1"
}

# bench_keep LINE...: appends summary lines to BENCH_RESULTS (after this run's header comment, once
# per process); a results file that cannot be written costs a warning, never the measurement.
bench_keep() {
    [[ -n $BENCH_RESULTS && $# -gt 0 ]] || return 0
    {
        mkdir -p "$(dirname "$BENCH_RESULTS")" &&
            {
                [[ -n $BENCH_RESULTS_HEADER_DONE ]] ||
                    bench_results_header "$BENCH_SOURCE"
                printf '%s\n' "$@"
            } >>"$BENCH_RESULTS"
    } 2>/dev/null || {
        echo "bench: warning: cannot append to $BENCH_RESULTS; these summary lines are not kept" >&2
        return 0
    }
    BENCH_RESULTS_HEADER_DONE=1
}

# bench_line WORDS...: prints a summary line (its words joined by spaces, as echo does) and keeps
# it in BENCH_RESULTS.
bench_line() {
    echo "$*"
    bench_keep "$*"
}

# bench_fail NAME MESSAGE: prints the error and a failing summary line, then exits 1.
bench_fail() {
    local name=$1
    shift
    echo "$name: error: $*" >&2
    bench_line "BENCH $name ratio=NA pass=0 error=\"$*\""
    exit 1
}

# bench_need NAME FILE...: fails clearly when a binary or image is missing.
bench_need() {
    local name=$1 f
    shift
    for f in "$@"; do
        if [[ ! -e $f ]]; then
            bench_fail "$name" "missing $f (build it first: make bench-tools, make all)"
        fi
        if [[ $f != *.elf && ! -x $f ]]; then
            bench_fail "$name" "$f is not executable"
        fi
    done
}

# kv KEY TEXT: the value of the first KEY=value field in TEXT (empty when absent).
kv() {
    grep -o "\(^\|[[:space:]]\)$1=[^[:space:]]*" <<<"$2" | head -n 1 | sed 's/^[[:space:]]*[^=]*=//'
}

# calc EXPR: floating-point arithmetic through awk, printed with 6 significant digits.
calc() {
    awk "BEGIN { printf \"%.6g\", $* }"
}

# fmt FORMAT EXPR: arithmetic through awk with a printf format, e.g. fmt %.1f "1 / 3".
fmt() {
    awk "BEGIN { printf \"$1\", ${*:2} }"
}

# ratio A B: A / B with 3 decimals (NA when B is not positive).
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.3f", a / b; else printf "NA" }'
}

# le A B: succeeds when A <= B (floats).
le() {
    awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 <= b + 0) }'
}

# median VALUES...: the median of numbers (mean of the two middle ones for an even count).
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) exit 1
        if (NR % 2) printf "%.6g", v[(NR + 1) / 2]
        else printf "%.6g", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# now_us: wall clock in microseconds.
now_us() {
    local t=${EPOCHREALTIME/./}
    echo "$((10#$t))"
}

# mem_available_kib: MemAvailable from /proc/meminfo.
mem_available_kib() {
    awk '$1 == "MemAvailable:" { print $2 }' /proc/meminfo
}

# kernel_nonlru_kib: host memory outside the page LRU lists (slab, page tables, KVM's own
# pages), so other processes' anonymous memory and the page cache do not disturb it.
kernel_nonlru_kib() {
    awk '$1 == "MemTotal:" { t = $2 } $1 == "MemFree:" || $1 == "Active:" ||
         $1 == "Inactive:" || $1 == "Unevictable:" { u += $2 } END { print t - u }' /proc/meminfo
}

# settle_memory [MAX_S]: waits (up to MAX_S, default 12 s) until MemAvailable and the kernel's
# memory outside the LRU lists each move less than 8 MiB in a second: freeing a previous run's
# VMs finishes in the background, and a baseline taken meanwhile would flatter the next run.
settle_memory() {
    local max=${1:-12} i a0 k0 a1 k1
    a0=$(mem_available_kib) k0=$(kernel_nonlru_kib)
    for ((i = 0; i < max; i++)); do
        sleep 1
        a1=$(mem_available_kib) k1=$(kernel_nonlru_kib)
        if (((a1 - a0) ** 2 < 8192 ** 2 && (k1 - k0) ** 2 < 8192 ** 2)); then
            return 0
        fi
        a0=$a1 k0=$k1
    done
    echo "bench: warning: host memory still moving after ${max}s; memory figures are rough" >&2
}

# proc_rss_kib PID: VmRSS of a process.
proc_rss_kib() {
    awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status" 2>/dev/null
}

# CPU meter: the CPU time a command and every process and thread it starts use, read the same way
# for a monitor and for its floor, so that their ratio compares like with like (getrusage in one
# and 10 ms /proc ticks in the other would not). Each metered command gets its own cgroup: v2
# (cpu.stat usage_usec) or v1 cpuacct (cpuacct.usage, ns), which also count a process platform's
# VM processes; without a writable cgroup hierarchy, the sum of /proc ticks over the command's
# process tree (live descendants plus those it reaped). CPU_METER names the method.
CPU_METER='' CPU_METER_ROOT='' METER_PID='' METER_GROUP='' METER_SEQ=0

# cpu_meter_init: picks the method once (cgroup2, cgroup1 or proc).
cpu_meter_init() {
    local root probe
    [[ -n $CPU_METER ]] && return 0
    CPU_METER=proc
    for root in "$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)" \
        "$(awk '$3 == "cgroup" && $4 ~ /(^|,)cpuacct(,|$)/ { print $2; exit }' /proc/mounts)"; do
        [[ -n $root && -d $root ]] || continue
        probe=$root/denali-bench-$$-probe
        if mkdir "$probe" 2>/dev/null; then
            if [[ -e $probe/cpu.stat ]]; then
                CPU_METER=cgroup2
            elif [[ -e $probe/cpuacct.usage ]]; then
                CPU_METER=cgroup1
            fi
            rmdir "$probe" 2>/dev/null
            if [[ $CPU_METER != proc ]]; then
                CPU_METER_ROOT=$root
                return 0
            fi
        fi
    done
}

# meter_run OUT COMMAND...: starts COMMAND in the background (stdout and stderr to OUT) in a fresh
# cgroup when the method has one; sets METER_PID and METER_GROUP.
meter_run() {
    local out=$1
    shift
    cpu_meter_init
    METER_GROUP=
    if [[ $CPU_METER != proc ]]; then
        METER_SEQ=$((METER_SEQ + 1))
        METER_GROUP=$CPU_METER_ROOT/denali-bench-$$-$METER_SEQ
        mkdir "$METER_GROUP" || bench_fail "${NAME:-bench}" "cannot create cgroup $METER_GROUP"
    fi
    (
        if [[ -n $METER_GROUP ]]; then
            echo "$BASHPID" >"$METER_GROUP/cgroup.procs" || exit 126
        fi
        exec "$@"
    ) >"$out" 2>&1 &
    METER_PID=$!
}

# meter_cpu_us: the CPU time, in microseconds, the metered command and its descendants have used
# so far (empty when it cannot be read).
meter_cpu_us() {
    case $CPU_METER in
    cgroup2) awk '$1 == "usage_usec" { print $2 }' "$METER_GROUP/cpu.stat" 2>/dev/null ;;
    cgroup1) awk '{ printf "%.0f\n", $1 / 1000 }' "$METER_GROUP/cpuacct.usage" 2>/dev/null ;;
    *) proc_tree_cpu_us "$METER_PID" ;;
    esac
}

# proc_tree_cpu_us PID: utime + stime + cutime + cstime of PID and of every live descendant, in
# microseconds (tick resolution).
proc_tree_cpu_us() {
    local hz
    hz=$(getconf CLK_TCK)
    cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$1" -v hz="$hz" '{
        i = index($0, ") "); pid = $1; split(substr($0, i + 2), f, " ")
        parent[pid] = f[2]; t[pid] = f[12] + f[13] + f[14] + f[15] }
        END {
            for (p in t) {
                q = p
                for (d = 0; d < 64 && q != "" && q != 0; d++) {
                    if (q == root) { sum += t[p]; break }
                    q = parent[q]
                }
            }
            printf "%.0f\n", sum * 1e6 / hz }'
}

# meter_release: removes the metered command's cgroup once it has ended (call after waiting for
# METER_PID); the kernel may take a moment to notice the group is empty.
meter_release() {
    local i
    [[ -n $METER_GROUP ]] || return 0
    for ((i = 0; i < 50; i++)); do
        rmdir "$METER_GROUP" 2>/dev/null && break
        sleep 0.1
    done
    [[ -d $METER_GROUP ]] && echo "bench: warning: could not remove $METER_GROUP" >&2
    METER_GROUP=
}

# Platforms. A VM runs on kvm (a KVM VM) or process (a seccomp-locked host process); drivers
# measure each platform this machine has, in the order of BENCH_PLATFORMS (default "kvm process"),
# and print a skipped BENCH line (pass=NA) for the others. `denali platforms` says which exist:
# lines `kvm: available` or `kvm: unavailable (REASON)`. A monitor from before the process platform
# has no such command: it is taken as KVM only, and run without --platform.
BENCH_PLATFORMS=${BENCH_PLATFORMS:-kvm process}
declare -A PLATFORM_STATUS=()
PLATFORMS_KNOWN=0
PLATFORM_OPTS=()

# platforms_probe: fills PLATFORM_STATUS (available, or the reason it is not) once.
platforms_probe() {
    local out line
    ((${#PLATFORM_STATUS[@]} > 0)) && return 0
    if out=$("$DENALI" platforms 2>/dev/null) && grep -q '^[a-z0-9_]*: ' <<<"$out"; then
        PLATFORMS_KNOWN=1
        while IFS= read -r line; do
            [[ $line =~ ^([a-z0-9_]+):\ (.*)$ ]] || continue
            PLATFORM_STATUS[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
        done <<<"$out"
    else
        PLATFORMS_KNOWN=0
        if [[ -r /dev/kvm && -w /dev/kvm ]]; then
            PLATFORM_STATUS[kvm]=available
        else
            PLATFORM_STATUS[kvm]="unavailable (no /dev/kvm)"
        fi
        PLATFORM_STATUS[process]="unavailable (this monitor has no process platform: no \`denali platforms\`)"
    fi
}

# platform_available P: succeeds when the monitor can run VMs on platform P here.
platform_available() {
    platforms_probe
    [[ ${PLATFORM_STATUS[$1]:-} == available ]]
}

# platform_reason P: why P is unavailable (the text in parentheses, or the whole status).
platform_reason() {
    local s
    platforms_probe
    s=${PLATFORM_STATUS[$1]:-unavailable (not listed by \`denali platforms\`)}
    s=${s#unavailable}
    s=${s# (}
    echo "${s%)}"
}

# platform_opts P: sets PLATFORM_OPTS to the `denali run` options choosing platform P.
# shellcheck disable=SC2034 # PLATFORM_OPTS is for the drivers
platform_opts() {
    platforms_probe
    PLATFORM_OPTS=()
    ((PLATFORMS_KNOWN)) && PLATFORM_OPTS=(--platform "$1")
    return 0
}

# platform_default: the platform `denali run` picks with no --platform: DENALI_PLATFORM when set
# (and not auto), else what `denali platforms` says auto means (its `auto: P (...)` line), else
# kvm where available, else process.
platform_default() {
    local p=${DENALI_PLATFORM:-auto}
    platforms_probe
    if [[ $p == auto ]]; then
        p=${PLATFORM_STATUS[auto]:-}
        p=${p%% *}
    fi
    if [[ -z $p || $p == auto ]]; then
        p=process
        platform_available kvm && p=kvm
    fi
    echo "$p"
}

# bench_skip NAME PLATFORM GOAL REASON...: the summary line of a platform this machine lacks.
bench_skip() {
    local name=$1 platform=$2 goal=$3
    shift 3
    echo "$name: skipped on $platform: $*"
    bench_line "BENCH $name ratio=NA platform=$platform goal=$goal pass=NA skipped=\"$*\""
}

# for_each_platform MEASURE SKIP: runs MEASURE P in a subshell for every platform in
# BENCH_PLATFORMS this machine has (bench_fail there ends that platform only), and SKIP P REASON
# for each it lacks (a driver's skipped summary lines). Returns 1 when any platform failed.
for_each_platform() {
    local measure=$1 skip=$2 p failed=0
    for p in $BENCH_PLATFORMS; do
        if platform_available "$p"; then
            ("$measure" "$p") || failed=1
        else
            "$skip" "$p" "$(platform_reason "$p")"
        fi
    done
    return $failed
}

# meter_pids: the processes of the metered command: its cgroup's, or its process tree's.
meter_pids() {
    if [[ -n $METER_GROUP && -r $METER_GROUP/cgroup.procs ]]; then
        cat "$METER_GROUP/cgroup.procs"
        return
    fi
    cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$METER_PID" '{
        i = index($0, ") "); split(substr($0, i + 2), f, " "); parent[$1] = f[2] }
        END {
            for (p in parent) {
                q = p
                for (d = 0; d < 64 && q != "" && q != 0; d++) {
                    if (q == root) { print p; break }
                    q = parent[q]
                }
            }
        }'
}

# meter_tree_kib: the memory the metered command's processes hold, from /proc alone (so other
# processes on the machine do not disturb it, unlike MemAvailable): proportional set size (shared
# pages split among the processes mapping them), page tables, and a 16 KiB kernel stack per
# thread. Kernel objects besides those (task, mm, VMAs, filters; KVM's own pages) are not in it.
meter_tree_kib() {
    local pids=() p
    mapfile -t pids < <(meter_pids)
    ((${#pids[@]} > 0)) || return 1
    {
        for p in "${pids[@]}"; do
            echo "/proc/$p/smaps_rollup"
            echo "/proc/$p/status"
        done
    } | xargs cat 2>/dev/null | awk '$1 == "Pss:" || $1 == "VmPTE:" { s += $2 }
        $1 == "Threads:" { s += 16 * $2 } END { printf "%.0f\n", s }'
}
