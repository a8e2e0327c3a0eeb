#!/usr/bin/env bash
# Fuzzes the daemon's create-request parser (tests/fuzz/fuzz_create_request.c, libFuzzer with
# AddressSanitizer and UndefinedBehaviorSanitizer) for a bounded time from the seed corpus in
# tests/fuzz/corpus; any crash, leak, sanitizer report or abort fails the case.
set -u
. "$(dirname "$0")/../lib/tap.sh"
tap_tmpdir

FUZZER="$DENALI_ROOT/build/tests/fuzz/fuzz_create_request"
SEEDS="$DENALI_ROOT/tests/fuzz/corpus"
SECONDS_TO_FUZZ=${DENALI_FUZZ_SECONDS:-20}

if [ ! -x "$FUZZER" ]; then
    not_ok "$FUZZER exists (run make first; it needs clang)"
    finish
fi
# New inputs go to a scratch corpus; the seeds in the tree are only read.
mkdir -p "$TAP_TMP/corpus"
TAP_TIMEOUT=$((SECONDS_TO_FUZZ + 60))
check_run "fuzz_create_request runs ${SECONDS_TO_FUZZ}s without a crash" 0 "Done" \
    "$FUZZER" -max_total_time="$SECONDS_TO_FUZZ" -timeout=10 -rss_limit_mb=1024 \
    -artifact_prefix="$TAP_TMP/" "$TAP_TMP/corpus" "$SEEDS"
crashes=$(find "$TAP_TMP" -maxdepth 1 -name 'crash-*' -o -maxdepth 1 -name 'leak-*' -o -maxdepth 1 -name 'timeout-*' | wc -l)
[ "$crashes" = 0 ] && ok "no crash, leak or timeout artifact" ||
    not_ok "no crash, leak or timeout artifact ($crashes written)"
finish
