#!/usr/bin/env bash
# Draws the benchmarks' kept summary lines (BENCH ...) as the Denali paper's figures, PNGs by gnuplot.
set -uo pipefail

usage() {
    cat <<'EOF'
Usage: bench/plots.sh [RESULTS [OUTDIR]]
Draws, from the BENCH lines in RESULTS (default BENCH_RESULTS or build/bench-results/summary.txt,
as bench/run-all.sh and the drivers keep them), into OUTDIR (default docs):
  denali-throughput-vs-vms.png     web throughput against the number of VMs, per platform
                                   (web_scale lines)
  denali-batched-vs-immediate.png  --net-events batch against immediate (web_batch line)
  denali-idle-vs-busy.png          VMs idling with timeouts against busy-polling (web_idle line)
  denali-memory-per-vm.png         memory per VM on each platform, against its floor (scale_* lines)
Each figure uses the latest lines with figures for it; a figure with none is skipped, with the
reason. Exits 1 on a real error only: gnuplot missing, RESULTS unreadable, OUTDIR not writable,
gnuplot failing. GNUPLOT names the gnuplot to run (default: gnuplot from PATH).
EOF
}

fail() {
    echo "plots: error: $*" >&2
    exit 1
}

case ${1:-} in
-h | --help)
    usage
    exit 0
    ;;
-*) fail "unknown option '$1' (see --help)" ;;
esac
(($# <= 2)) || fail "too many arguments (see --help)"

# Paths given are the caller's; everything else is relative to the repository root.
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RESULTS=${1:-${BENCH_RESULTS:-$ROOT/build/bench-results/summary.txt}}
OUTDIR=${2:-$ROOT/docs}

GNUPLOT=${GNUPLOT:-gnuplot}
command -v "$GNUPLOT" >/dev/null ||
    fail "$GNUPLOT is missing (scripts/install-deps.sh installs gnuplot-nox)"
[[ -e $RESULTS ]] || fail "no results file $RESULTS (run make bench, or the drivers, e.g." \
    "bench/web_scale.sh; see bench/README.md)"
[[ -f $RESULTS && -r $RESULTS ]] || fail "cannot read results file $RESULTS"
if ! mkdir -p "$OUTDIR" 2>/dev/null || [[ ! -w $OUTDIR ]]; then
    fail "cannot write to $OUTDIR"
fi

# Every BENCH line in file order, with the header comment it came under.
LINES=() HEADS=()
head_now=
while IFS= read -r line || [[ -n $line ]]; do
    case $line in
    '# bench-results '*) head_now=$line ;;
    'BENCH '*)
        LINES+=("$line")
        HEADS+=("$head_now")
        ;;
    esac
done <"$RESULTS" || fail "cannot read results file $RESULTS"

# value KEY LINE: KEY's value in a summary or header line; a quoted value whole, without quotes;
# source= takes the rest of the line. Empty when absent.
value() {
    local key=$1 text=" $2"
    if [[ $key == source ]]; then
        [[ $text == *" source="* ]] && echo "${text#* source=}"
    elif [[ $text =~ [[:space:]]$key=\"([^\"]*)\" ]]; then
        echo "${BASH_REMATCH[1]}"
    elif [[ $text =~ [[:space:]]$key=([^[:space:]]*) ]]; then
        echo "${BASH_REMATCH[1]}"
    fi
}

is_number() {
    [[ $1 =~ ^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$ ]]
}

# latest NAME PLATFORM KEY...: the index of the last line of driver NAME (and, when PLATFORM is not
# empty, of that platform) whose KEYs are all numbers; none: status 1.
latest() {
    local name=$1 platform=$2 i key
    shift 2
    for ((i = ${#LINES[@]} - 1; i >= 0; i--)); do
        [[ ${LINES[i]} == "BENCH $name "* ]] || continue
        [[ -z $platform || $(value platform "${LINES[i]}") == "$platform" ]] || continue
        for key in "$@"; do
            is_number "$(value "$key" "${LINES[i]}")" || continue 2
        done
        echo "$i"
        return 0
    done
    return 1
}

# why_missing NAME PLATFORM DRIVER: why there are no figures: the last such line's skip or error
# reason, or that the driver left none.
why_missing() {
    local name=$1 platform=$2 driver=$3 i line
    for ((i = ${#LINES[@]} - 1; i >= 0; i--)); do
        line=${LINES[i]}
        [[ $line == "BENCH $name "* ]] || continue
        [[ -z $platform || $(value platform "$line") == "$platform" || -z $(value platform "$line") ]] ||
            continue
        if [[ -n $(value skipped "$line") ]]; then
            echo "skipped: $(value skipped "$line")"
        elif [[ -n $(value error "$line") ]]; then
            echo "error: $(value error "$line")"
        else
            echo "its last line has no figures"
        fi
        return 0
    done
    echo "no $name line (run $driver)"
}

# The platforms named in NAME's lines (NAME_PREFIX for scale_kvm...), kvm and process first.
platforms_of() {
    local pattern=$1 line p
    local -a found=()
    for line in "${LINES[@]}"; do
        [[ $line =~ ^BENCH\ $pattern\  ]] || continue
        p=$(value platform "$line")
        [[ -n $p && " ${found[*]} " != *" $p "* ]] && found+=("$p")
    done
    for p in kvm process; do
        [[ " ${found[*]} " == *" $p "* ]] && echo "$p"
    done
    for p in "${found[@]}"; do
        [[ $p == kvm || $p == process ]] || echo "$p"
    done
}

# provenance INDEX...: the runs the figures came from, for a title: commit, date, machine.
provenance() {
    local i head text
    local -a seen=()
    for i in "$@"; do
        head=${HEADS[i]}
        if [[ -z $head ]]; then
            text="run not recorded"
        else
            text="commit $(value commit "$head"), $(value date "$head" | cut -c 1-10), $(
                value host "$head") ($(value cpus "$head") CPUs)"
        fi
        [[ " ${seen[*]} " == *" $text "* ]] || seen+=("$text")
    done
    joined "; " "${seen[@]}"
}

# disturbed INDEX...: a note on the runs the web drivers kept although other processes used the
# machine meanwhile (disturbed_runs=), for a title; empty when there were none.
disturbed() {
    local i runs=0 n
    for i in "$@"; do
        n=$(value disturbed_runs "${LINES[i]}")
        [[ $n =~ ^[0-9]+$ ]] && runs=$((runs + n))
    done
    ((runs == 0)) || echo "; $runs zipf run$( ((runs == 1)) || echo s) disturbed by other work on the machine"
}

# joined SEPARATOR WORDS...: the words with SEPARATOR between them.
joined() {
    local separator=$1 text
    shift
    text=$(printf "%s$separator" "$@")
    echo "${text%"$separator"}"
}

# group NUMBER: rounded to a whole number with thousands separators (31900.4 -> 31,900).
group() {
    printf '%.0f' "$1" | sed ':a; s/\([0-9]\)\([0-9]\{3\}\)\($\|,\)/\1,\2\3/; ta'
}

# p99_text MICROSECONDS: "p99 4.8 ms" or "p99 2.1 s"; empty when not a positive number.
p99_text() {
    awk -v u="$1" 'BEGIN { if (u + 0 >= 1e6) printf "p99 %.1f s", u / 1e6
        else if (u + 0 > 0) printf "p99 %.1f ms", u / 1000 }'
}

# quote TEXT: TEXT made safe inside a gnuplot double-quoted string, and printed as it is by the
# enhanced text mode (where _ ^ { } @ & ~ are markup: a skip reason may hold KVM_CAP_...).
quote() {
    local text=${1//\\/}
    text=${text//\"/\'}
    # shellcheck disable=SC2001 # one character class, where ${//} would need seven replacements
    sed 's/[_^{}@&~]/\\\\&/g' <<<"$text"
}

# label_lines TEXT...: each TEXT quoted for gnuplot, one a line of a label.
label_lines() {
    local text out=''
    for text in "$@"; do
        out+="${out:+\\n}$(quote "$text")"
    done
    echo "$out"
}

# pngcairo (antialiased, black and white, as the Denali paper's figures) where gnuplot has it, else
# libgd's png.
TERMINAL='pngcairo size 900,600 font "sans,12" monochrome'
"$GNUPLOT" -e 'set terminal pngcairo' 2>/dev/null || TERMINAL='png size 900,600'

WROTE=() SKIPPED=() ERRORS=0
# draw PNG FROM SCRIPT: runs gnuplot on SCRIPT with the terminal and output set; FROM says which
# runs the figures came from, for the report.
draw() {
    local png=$OUTDIR/$1 from=$2 script=$3 log
    if log=$(printf 'set terminal %s\nset output "%s"\n%s\n' "$TERMINAL" "$png" "$script" |
        "$GNUPLOT" 2>&1) && [[ -s $png ]]; then
        WROTE+=("$png (from $from)")
        [[ -z $log ]] || printf '%s\n' "$log" | sed 's/^/plots: gnuplot: /' >&2
    else
        printf '%s\n' "$log" | sed 's/^/plots: gnuplot: /' >&2
        echo "plots: error: gnuplot failed to draw $png" >&2
        ERRORS=$((ERRORS + 1))
    fi
}

skipped() {
    SKIPPED+=("$1: $2")
}

COMMON='set border 3
set xtics nomirror
set ytics nomirror
set grid ytics lt 0 lc rgb "#bbbbbb"'

# Web throughput against the number of VMs: one curve per platform with web_scale figures.
plot_throughput() {
    local png=denali-throughput-vs-vms.png p i n rps line data='' plots='' style=0
    local -a used=() counts missing=()
    for p in $(platforms_of web_scale); do
        if ! i=$(latest web_scale "$p" rps_1); then
            missing+=("$p: $(why_missing web_scale "$p" bench/web_scale.sh)")
            continue
        fi
        used+=("$i")
        line=${LINES[i]}
        mapfile -t counts < <(grep -o ' rps_[0-9]*=[0-9.]*' <<<" $line" | sed 's/ rps_\([0-9]*\)=.*/\1/' |
            sort -n)
        style=$((style + 1))
        # Datablocks are named by number: a platform's name need not be a gnuplot identifier.
        data+="\$curve$style << EOD"$'\n'
        for n in "${counts[@]}"; do
            rps=$(value "rps_$n" "$line")
            is_number "$rps" && data+="$n $rps \"$(group "$rps")\""$'\n'
        done
        data+="EOD"$'\n'
        # The largest N's ratio to N = 1 (ratio= is the goal's N, absent from a shorter run).
        plots+="${plots:+, }\$curve$style using 1:2 title \"$(quote "$p") platform"
        ((counts[-1] == 1)) ||
            plots+=" (N = $(group "${counts[-1]}") at $(value "ratio_${counts[-1]}" "$line") of N = 1)"
        plots+="\" with linespoints lt 1 dt $style lw 2 pt $((style == 1 ? 7 : 6)) ps 1.4 lc rgb \"black\""
        plots+=", \$curve$style using 1:2:3 notitle with labels offset 0, 1 font \",10\""
    done
    if ((${#used[@]} == 0)); then
        ((${#missing[@]} > 0)) || missing=("$(why_missing web_scale "" bench/web_scale.sh)")
        skipped "$png" "no web_scale figures: $(joined "; " "${missing[@]}")"
        return 0
    fi
    local title="Web throughput against the number of VMs"
    title+="\\n{/*0.75 Zipf requests over N httpd VMs, 2,258-byte documents;"
    title+=" $(value concurrency "${LINES[used[0]]}") in flight}"
    title+="\\n{/*0.7 $(quote "$(provenance "${used[@]}")$(disturbed "${used[@]}")")}"
    draw "$png" "$(provenance "${used[@]}")" "$COMMON
$data
set title \"$title\"
set xlabel \"VMs (N, log scale)\"
set ylabel \"throughput (requests/s)\"
set logscale x
set xrange [0.7:*]
set yrange [0:*]
set offsets 0, graph 0.15, graph 0.12, 0
set key top right nobox
$( ((${#missing[@]} == 0)) || echo "set label \"$(label_lines "${missing[@]}")\" at graph 0.02, graph 0.06 left font \",10\"")
plot $plots"
}

# log_range A B: a log axis from the decade below the smaller to a little over the larger, so
# neither bar meets an edge and no empty decade is left on top.
log_range() {
    awk -v a="$1" -v b="$2" 'BEGIN { lo = a < b ? a : b; hi = a < b ? b : a
        printf "set yrange [%g:%g]", 10 ^ int(log(lo) / log(10) - (lo < 1)), hi * 2.5 }'
}

# Two bars, A against B, from one driver's line (web_batch, web_idle).
# plot_pair PNG NAME DRIVER KEY_A LABEL_A KEY_B LABEL_B P99_A P99_B TITLE GOAL_TEXT
plot_pair() {
    local png=$1 name=$2 driver=$3 key_a=$4 label_a=$5 key_b=$6 label_b=$7 p99_a=$8 p99_b=$9
    local title=${10} goal_text=${11} i line a b logscale=''
    if ! i=$(latest "$name" "" "$key_a" "$key_b"); then
        skipped "$png" "no $name figures: $(why_missing "$name" "" "$driver")"
        return 0
    fi
    line=${LINES[i]}
    a=$(value "$key_a" "$line") b=$(value "$key_b" "$line")
    # A thousandfold gap (busy-polling) would leave one bar invisible on a linear axis.
    awk -v a="$a" -v b="$b" 'BEGIN { exit !(a > 0 && b > 0 && (a / b > 30 || b / a > 30)) }' &&
        logscale='set logscale y'
    local ms_a ms_b
    ms_a=$(p99_text "$(value "$p99_a" "$line")") ms_b=$(p99_text "$(value "$p99_b" "$line")")
    title+="\\n{/*0.75 $(group "$(value vms "$line")") httpd VMs; ratio $(value ratio "$line") ($goal_text)}"
    title+="\\n{/*0.7 $(quote "$(provenance "$i")$(disturbed "$i")")}"
    draw "$png" "$(provenance "$i")" "$COMMON
\$bars << EOD
0 $a \"$label_a\" \"$ms_a\" \"$(group "$a") req/s\"
1 $b \"$label_b\" \"$ms_b\" \"$(group "$b") req/s\"
EOD
set title \"$title\"
set ylabel \"throughput (requests/s$([[ -n $logscale ]] && echo ", log scale"))\"
set xrange [-0.7:1.7]
$([[ -n $logscale ]] && echo "$logscale; set format y '%.0f'; $(log_range "$a" "$b")" ||
        echo 'set yrange [0:*]')
set offsets 0, 0, graph 0.12, 0
set boxwidth 0.55
set xtics scale 0
set bmargin 4
plot \$bars using 1:2:xticlabels(stringcolumn(3).\"\\n\".stringcolumn(4)) notitle \
        with boxes fs solid 0.35 border lc rgb \"black\" lc rgb \"black\", \
     \$bars using 1:2:5 notitle with labels offset 0, 0.8"
}

# Memory per VM on each platform: the monitor's VMs against that platform's floor, at the largest N.
plot_memory() {
    local png=denali-memory-per-vm.png p i x=0 line data='' tics='' floor_name
    local -a used=() missing=()
    for p in $(platforms_of 'scale_[a-z0-9]+'); do
        if ! i=$(latest "scale_$p" "$p" mem_kib_per_vm floor_mem_kib_per_vm); then
            missing+=("$p: $(why_missing "scale_$p" "$p" bench/scale.sh)")
            continue
        fi
        used+=("$i")
        line=${LINES[i]}
        case $p in
        kvm) floor_name="bare KVM VMs (raw\\\\_scale)" ;;
        process) floor_name="bare processes (idle\\\\_procs)" ;;
        *) floor_name=floor ;;
        esac
        data+="$x $(value mem_kib_per_vm "$line") $(value floor_mem_kib_per_vm "$line")"$'\n'
        tics+="${tics:+, }\"$p platform\\n{/*0.8 N = $(group "$(value n "$line")");"
        tics+=" floor: $floor_name}\" $x"
        x=$((x + 1))
    done
    if ((${#used[@]} == 0)); then
        ((${#missing[@]} > 0)) || missing=("$(why_missing scale "" bench/scale.sh)")
        skipped "$png" "no scale figures: $(joined "; " "${missing[@]}")"
        return 0
    fi
    local title="Host memory per idle VM on each platform"
    title+="\\n{/*0.75 MemAvailable's drop per VM with N VMs idling in one monitor, against the"
    title+=" platform's floor in the same run}"
    title+="\\n{/*0.7 $(quote "$(provenance "${used[@]}")")}"
    draw "$png" "$(provenance "${used[@]}")" "$COMMON
\$mem << EOD
$data
EOD
set title \"$title\"
set ylabel \"memory per VM (KiB)\"
set xrange [-0.7:$x - 0.3]
$(awk 'NF >= 3 && ($2 < 0 || $3 < 0) { n = 1 } END { exit !n }' <<<"$data" &&
        echo 'set yrange [*:*]; set xzeroaxis lt 1 lc rgb "black"' || echo 'set yrange [0:*]')
set offsets 0, 0, graph 0.15, 0
set xtics ($tics) scale 0
set boxwidth 0.3
set key below center horizontal nobox spacing 1.5
set bmargin 7
$( ((${#missing[@]} == 0)) || printf '%s\n' "set label \"not measured:\\n$(label_lines "${missing[@]}")\" at graph 0.02, graph 0.95 left font \",10\"")
plot \$mem using (\$1 - 0.17):2 title \"Denali\" with boxes fs solid 0.35 border lc rgb \"black\" lc rgb \"black\", \
     \$mem using (\$1 + 0.17):3 title \"floor: the same VMs with no monitor\" \
        with boxes fs pattern 2 border lc rgb \"black\" lc rgb \"black\", \
     \$mem using (\$1 - 0.17):2:(sprintf(\"%.0f\", \$2)) notitle with labels offset 0, 0.8, \
     \$mem using (\$1 + 0.17):3:(sprintf(\"%.0f\", \$3)) notitle with labels offset 0, 0.8"
}

plot_throughput
plot_pair denali-batched-vs-immediate.png web_batch bench/web_batch.sh \
    rps_batch "batched events" rps_immediate "immediate events" p99_batch_us p99_immediate_us \
    "Batched against immediate virtual interrupts (--net-events)" "goal >= $(value goal "$(
        i=$(latest web_batch "" rps_batch) && echo "${LINES[i]}")")"
plot_pair denali-idle-vs-busy.png web_idle bench/web_idle.sh \
    rps_idle "idle with timeout" rps_busy "busy polling" p99_idle_us p99_busy_us \
    "VMs that idle with a timeout against VMs that busy-poll" "goal >= $(value goal "$(
        i=$(latest web_idle "" rps_idle) && echo "${LINES[i]}")")"
plot_memory

for png in "${WROTE[@]}"; do
    echo "plots: wrote $png"
done
for s in "${SKIPPED[@]}"; do
    echo "plots: skipped $s"
done
((${#WROTE[@]} > 0)) || echo "plots: no figure drawn from $RESULTS"
((ERRORS == 0)) || exit 1
exit 0
