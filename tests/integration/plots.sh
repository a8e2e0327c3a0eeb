#!/usr/bin/env bash
# Integration test: bench/plots.sh draws PNGs from kept summary lines and says what it skipped and why.
# shellcheck source=tests/lib/tap.sh
. "$(dirname "$0")/../lib/tap.sh"
tap_tmpdir
cd "$DENALI_ROOT" || exit 1

# A results file as the drivers keep it: kvm skipped everywhere, process measured by web_scale,
# web_idle and scale, with an older web_scale run that the newer one must replace; no web_batch.
RESULTS=$TAP_TMP/summary.txt
cat >"$RESULTS" <<'EOF'
# bench-results date=2026-11-30T09:00:00Z commit=0000001 host=fixture cpus=2 mem_mib=4096 source=web_scale.sh 1 10
BENCH web_scale ratio=0.100 platform=process rps_1=1000 exits_per_req_1=0.1 rps_10=100 exits_per_req_10=1 ratio_10=0.100 concurrency=64 goal=0.80 pass=0
# bench-results date=2026-12-01T10:00:00Z commit=abc1234 host=fixture cpus=2 mem_mib=4096 source=run-all.sh: bench/web_scale.sh 1 10 100
BENCH web_scale ratio=NA platform=kvm goal=0.80 pass=NA skipped="fixture: no kvm"
BENCH web_scale ratio=NA platform=process rps_1=52900 exits_per_req_1=0.050 rps_10=31000 exits_per_req_10=0.4 ratio_10=0.586 rps_100=21000 exits_per_req_100=0.9 ratio_100=0.397 errors=0 concurrency=64 goal=0.80 pass=0
# bench-results date=2026-12-01T11:00:00Z commit=abc1234 host=fixture cpus=2 mem_mib=4096 source=web_idle.sh 50
BENCH web_idle ratio=900 vms=50 rps_idle=27000 rps_busy=30 p99_idle_us=4800 p99_busy_us=2100000 cpu_idle=1.2 cpu_busy=2 errors_idle=0 errors_busy=0 goal=2 pass=1
# bench-results date=2026-12-01T12:00:00Z commit=abc1234 host=fixture cpus=2 mem_mib=4096 source=scale.sh 100
BENCH scale_kvm ratio=NA platform=kvm goal=1.3 pass=NA skipped="fixture: no kvm"
BENCH scale_process ratio=1.53 platform=process n=100 workers=2 boot_ms=230 floor_boot_ms=150 mem_kib_per_vm=116.0 floor_mem_kib_per_vm=101.0 mem_over_floor_kib=15 idle_cpu_frac=0.04 floor_idle_cpu_frac=0.05 goal=1.3 pass=0
BENCH hypercall_process ratio=1.25 platform=process denali_ns=15000.0 floor_ns=12000.0 goal=1.2 pass=0
EOF
OUT=$TAP_TMP/figures

# is_png FILE: FILE starts with the PNG signature (\x89 P N G \r \n \x1a \n).
is_png() {
    [[ -s $1 && $(head -c 8 "$1" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]]
}

check_output_contains "--help prints the usage" "Usage: bench/plots.sh [RESULTS [OUTDIR]]" \
    bench/plots.sh --help
check_run "a missing results file is a clear error, exit 1" 1 \
    "plots: error: no results file $TAP_TMP/none.txt" \
    bench/plots.sh "$TAP_TMP/none.txt" "$OUT"
check_run "an unreadable results path (a directory) is an error, exit 1" 1 \
    "plots: error: cannot read results file $TAP_TMP" \
    bench/plots.sh "$TAP_TMP" "$OUT"
check_run "an unknown option is refused" 1 "unknown option '--bogus'" bench/plots.sh --bogus
check_run "a missing gnuplot is a clear error, exit 1" 1 \
    "plots: error: $TAP_TMP/no-gnuplot is missing (scripts/install-deps.sh installs gnuplot-nox)" \
    env GNUPLOT="$TAP_TMP/no-gnuplot" bench/plots.sh "$RESULTS" "$OUT"
# A gnuplot that fails: the figure is an error, not a silent skip.
printf '#!/bin/sh\ncat >/dev/null\necho "fake gnuplot: broken" >&2\nexit 1\n' >"$TAP_TMP/bad-gnuplot"
chmod +x "$TAP_TMP/bad-gnuplot"
check_run "a failing gnuplot is reported, exit 1" 1 "plots: error: gnuplot failed to draw" \
    env GNUPLOT="$TAP_TMP/bad-gnuplot" bench/plots.sh "$RESULTS" "$TAP_TMP/broken"

if ! command -v gnuplot >/dev/null; then
    skip "figures drawn from the fixture" "gnuplot is not installed (scripts/install-deps.sh)"
    finish
fi

check_status "draws from the fixture, exit 0 although web_batch is missing" 0 \
    bench/plots.sh "$RESULTS" "$OUT"
log=$TAP_OUTPUT
for figure in throughput-vs-vms idle-vs-busy memory-per-vm; do
    png=$OUT/denali-$figure.png
    if is_png "$png"; then
        ok "denali-$figure.png is a PNG"
    else
        not_ok "denali-$figure.png is a PNG"
        diag "$(ls -l "$png" 2>&1)"
    fi
    check_output_contains "denali-$figure.png is reported as written" "plots: wrote $png" \
        printf '%s\n' "$log"
done
check_output_contains "throughput is drawn from the newer web_scale run, not the older" \
    "plots: wrote $OUT/denali-throughput-vs-vms.png (from commit abc1234, 2026-12-01, fixture (2 CPUs))" \
    printf '%s\n' "$log"
if [[ -e $OUT/denali-batched-vs-immediate.png ]]; then
    not_ok "no batched-vs-immediate figure without web_batch lines"
else
    ok "no batched-vs-immediate figure without web_batch lines"
fi
check_output_contains "the missing driver is reported as skipped, with what to run" \
    "plots: skipped denali-batched-vs-immediate.png: no web_batch figures: no web_batch line (run bench/web_batch.sh)" \
    printf '%s\n' "$log"

# A file with no figures at all: every figure skipped with its reason, still exit 0.
EMPTY=$TAP_TMP/skipped-only.txt
cat >"$EMPTY" <<'EOF'
BENCH web_scale ratio=NA platform=kvm goal=0.80 pass=NA skipped="fixture: no kvm"
BENCH web_batch ratio=NA pass=0 error="fixture: monitor failed"
EOF
check_run "only skipped and error lines: nothing drawn, exit 0" 0 "plots: no figure drawn" \
    bench/plots.sh "$EMPTY" "$TAP_TMP/none-drawn"
log=$TAP_OUTPUT
check_output_contains "a skipped platform's reason is given" \
    "plots: skipped denali-throughput-vs-vms.png: no web_scale figures: kvm: skipped: fixture: no kvm" \
    printf '%s\n' "$log"
check_output_contains "a driver's error is given" \
    "plots: skipped denali-batched-vs-immediate.png: no web_batch figures: error: fixture: monitor failed" \
    printf '%s\n' "$log"
if compgen -G "$TAP_TMP/none-drawn/*.png" >/dev/null; then
    not_ok "no PNG written when there are no figures"
else
    ok "no PNG written when there are no figures"
fi
finish
