#!/usr/bin/env bash
# Runs every benchmark (hypercall, boot, scale, web, paging, LAN) and ends with all their BENCH lines
# and the kvm-vs-process table (bench/platforms.sh) built from them.
# Usage: bench/run-all.sh   (BENCH_QUICK=1: smaller scale sets, for a quick look; WEB_SCALE_10K=1:
# web_scale also at N = 10000). Exits 1 when any driver did; bench/README.md lists what runs.
# Every BENCH line is also appended to BENCH_RESULTS (build/bench-results/summary.txt), for
# bench/plots.sh.
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

if [[ ${BENCH_QUICK:-0} == 1 ]]; then
    SCALE_COUNTS=(100 1000)
    WEB_COUNTS=(1 10 100)
else
    SCALE_COUNTS=(1000 5000 10000)
    WEB_COUNTS=(1 10 100 1000)
fi
[[ ${WEB_SCALE_10K:-0} == 1 ]] && WEB_COUNTS+=(10000)

# Every driver's lines are kept here, each driver's after its own header comment (bench/plots.sh
# reads them); the drivers themselves keep none, so that none is kept twice.
RESULTS=$BENCH_RESULTS
summaries=()
failed=0
LOG=$(mktemp /tmp/denali-bench-all.XXXXXX)
trap 'rm -f "$LOG"' EXIT
run_one() {
    local status
    local -a lines
    echo "######## $*"
    BENCH_RESULTS='' "$@" | tee "$LOG"
    status=${PIPESTATUS[0]}
    [[ $status -eq 0 ]] || failed=1
    # Every BENCH line: a driver may judge several figures, or several platforms, one per line.
    mapfile -t lines < <(grep '^BENCH ' "$LOG")
    ((${#lines[@]} > 0)) || lines=("BENCH $(basename "$1" .sh) ratio=NA pass=0 error=\"no summary line\"")
    summaries+=("${lines[@]}")
    BENCH_SOURCE="run-all.sh: ${DENALI_PLATFORM:+DENALI_PLATFORM=$DENALI_PLATFORM }$*" BENCH_RESULTS_HEADER_DONE='' BENCH_RESULTS=$RESULTS bench_keep "${lines[@]}"
}

run_one bench/hypercall.sh
run_one bench/boot.sh
run_one bench/clone.sh
run_one bench/clone_share.sh
run_one bench/balloon.sh
run_one bench/hibernate.sh
run_one bench/oversubscribe.sh
run_one bench/long_tail.sh 1000
run_one bench/cliff.sh
run_one bench/scale.sh "${SCALE_COUNTS[@]}"
# web_scale measures one platform per run: once per platform (a missing one gives a skipped line).
for p in $BENCH_PLATFORMS; do
    DENALI_PLATFORM=$p run_one bench/web_scale.sh "${WEB_COUNTS[@]}"
done
run_one bench/web_batch.sh
run_one bench/web_idle.sh
run_one bench/web_native.sh
run_one bench/lan_bulk.sh
run_one bench/disk.sh
run_one bench/disk_web.sh
run_one bench/api.sh

echo "######## summary"
printf '%s\n' "${summaries[@]}"
printf '%s\n' "${summaries[@]}" >"$LOG"
echo "######## platforms"
bench/platforms.sh "$LOG"
exit $failed
