#!/usr/bin/env bash
# Draws bench/cliff.sh's data as a PNG with gnuplot: throughput against N, in core and with paging.
# Usage: bench/plot_cliff.sh [DATA [PNG]]
#   DATA defaults to CLIFF_DATA or build/bench-results/cliff.dat, PNG to docs/denali-cliff.png.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

DATA=${1:-${CLIFF_DATA:-build/bench-results/cliff.dat}}
PNG=${2:-docs/denali-cliff.png}

fail() {
    echo "plot_cliff: $*" >&2
    exit 1
}

command -v gnuplot >/dev/null ||
    fail "gnuplot is missing (scripts/install-deps.sh installs gnuplot-nox)"
[[ -r $DATA ]] || fail "no data file $DATA (run bench/cliff.sh first)"
# The settings line bench/cliff.sh writes: "# platform=... ws_mib=W ... limit_mib=L ...".
settings=$(grep -m 1 '^# platform=' "$DATA")
setting() {
    grep -o "\(^\| \)$1=[^ ]*" <<<"$settings" | head -n 1 | sed 's/^ *[^=]*=//'
}
ws=$(setting ws_mib) limit=$(setting limit_mib) platform=$(setting platform)
zipf_s=$(setting zipf_s) conc=$(setting concurrency) size=$(setting size) date=$(setting date)
[[ $ws =~ ^[0-9]+$ && $limit =~ ^[0-9]+$ ]] || fail "$DATA has no ws_mib= and limit_mib= settings"
n_max=$(awk '!/^#/ && NF { if ($1 > m) m = $1 } END { print m + 0 }' "$DATA")
((n_max > 0)) || fail "$DATA has no data rows"
n_limit=$(awk -v l="$limit" -v w="$ws" 'BEGIN { printf "%.2f", l / w }')
# Where the fleet's guest RAM in core reaches L: each VM holds more than W (its image, network
# stack and rings), so the cliff can begin left of N x W = L. From the in-core column (8) per VM.
n_fit=$(awk -v l="$limit" '!/^#/ && NF >= 8 && $8 + 0 > 0 { s += $8 / $1; c++ }
    END { if (c) printf "%.2f", l / (s / c) }' "$DATA")
fit_marker=
if [[ -n $n_fit ]]; then
    fit_marker="set arrow from $n_fit, graph 0 to $n_fit, graph 1 nohead dt 1 lw 0.5 lc rgb 'black'
set label 'guest RAM in core = L' at first $n_fit, graph 0.05 offset -0.6, 0 right front"
fi
# pngcairo (antialiased, black and white) where gnuplot has it, else libgd's png.
terminal='pngcairo size 900,640 font "sans,12" monochrome'
gnuplot -e 'set terminal pngcairo' 2>/dev/null || terminal='png size 900,640'
title="The Denali cliff: web throughput against the number of VMs"
title+="\n{/*0.8 each VM serves from a working set of W = $ws MiB;"
title+=" with paging, all guest RAM is limited to L = $limit MiB}"
title+="\n{/*0.7 Zipf s = $zipf_s over the VMs, $conc requests in flight, $size-byte documents;"
title+=" $platform platform; $date}"

mkdir -p "$(dirname "$PNG")" || fail "cannot create $(dirname "$PNG")"
gnuplot <<EOF || fail "gnuplot failed"
set terminal $terminal
set output "$PNG"
set title "$title" offset 0, 0.5
set xlabel "VMs (N)"
set ylabel "throughput (requests/s)"
set x2label "overcommit (N × W / L)"
set link x2 via x * $ws / $limit. inverse x * $limit. / $ws
set x2tics 0.25 nomirror
set xtics nomirror
set ytics nomirror
set border 3 + 4
set grid ytics lt 0 lc rgb "#bbbbbb"
set yrange [0:*]
set xrange [0:$n_max * 1.08]
set key below center horizontal nobox spacing 1.2 samplen 3 width -6
set tmargin 8
set bmargin 6
set offsets 0, 0, graph 0.22, 0
set arrow from $n_limit, graph 0 to $n_limit, graph 1 nohead dt 3 lw 1.5 lc rgb "black"
set label "N × W = L" at first $n_limit, graph 0.95 offset 0.6, 0 left front
$fit_marker
plot "$DATA" using 1:3 title "in core (no limit)" \
        with linespoints lt 1 lw 2 pt 6 ps 1.4 lc rgb "black", \
     "$DATA" using 1:4 title "with paging (--mem-limit L, --swap)" \
        with linespoints lt 1 dt 2 lw 2 pt 5 ps 1.2 lc rgb "black"
EOF
echo "plot_cliff: $PNG from $DATA"
