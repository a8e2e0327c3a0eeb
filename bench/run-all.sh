#!/usr/bin/env bash
# Runs every benchmark (hypercall, boot, scale) and ends with their BENCH summary lines.
# Usage: bench/run-all.sh   (BENCH_QUICK=1: a smaller scale set, for a quick look)
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

if [[ ${BENCH_QUICK:-0} == 1 ]]; then
    SCALE_COUNTS=(100 1000)
else
    SCALE_COUNTS=(1000 5000 10000)
fi

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

echo "######## summary"
printf '%s\n' "${summaries[@]}"
exit $failed
