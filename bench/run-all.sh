#!/usr/bin/env bash
# Runs every benchmark (hypercall, boot, scale, web, LAN) and ends with their BENCH summary lines.
# Usage: bench/run-all.sh   (BENCH_QUICK=1: smaller scale sets, for a quick look)
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

summaries=()
failed=0
LOG=$(mktemp /tmp/denali-bench-all.XXXXXX)
trap 'rm -f "$LOG"' EXIT
run_one() {
    local status line
    echo "######## $*"
    "$@" | tee "$LOG"
    status=${PIPESTATUS[0]}
    [[ $status -eq 0 ]] || failed=1
    line=$(grep '^BENCH ' "$LOG" | tail -n 1)
    [[ -n $line ]] || line="BENCH $(basename "$1" .sh) ratio=NA pass=0 error=\"no summary line\""
    summaries+=("$line")
}

run_one bench/hypercall.sh
run_one bench/boot.sh
run_one bench/scale.sh "${SCALE_COUNTS[@]}"
run_one bench/web_scale.sh "${WEB_COUNTS[@]}"
run_one bench/web_batch.sh
run_one bench/web_idle.sh
run_one bench/web_native.sh
run_one bench/lan_bulk.sh

echo "######## summary"
printf '%s\n' "${summaries[@]}"
exit $failed
