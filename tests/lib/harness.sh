# Booting guests for integration scripts: runs build/denali with captured output, on top of tests/lib/tap.sh.
# shellcheck shell=bash
# shellcheck source=tests/lib/tap.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/tap.sh"
# Run by hand, a script follows the platform `denali platforms` says auto picks, as the monitor will.
if [ -z "${DENALI_PLATFORM:-}" ]; then
    DENALI_PLATFORM=$("$DENALI" platforms 2>/dev/null | sed -n 's/^auto: \([a-z]*\).*/\1/p')
    export DENALI_PLATFORM
fi
GUESTS="$DENALI_ROOT/build/guests"
TEST_GUESTS="$DENALI_ROOT/build/tests/guests"
tap_tmpdir
WORK=$TAP_TMP

# fail NAME REASON...: a failing case, with the reasons and the end of the last boot's output.
fail() {
    not_ok "$1"
    shift
    local line
    for line in "$@"; do diag "$line"; done
    if [ -s "$WORK/out" ]; then
        diag "--- last output ---"
        tail -n 15 "$WORK/out" | sed 's/^/#   /'
    fi
}

# boot ARGS...: runs `denali run ARGS...`, output (stdout and stderr) in $WORK/out, status in $STATUS.
boot() {
    STATUS=0
    timeout 240 "$DENALI" run "$@" >"$WORK/out" 2>&1 </dev/null || STATUS=$?
}

# expect NAME STATUS PATTERN...: the last boot exited STATUS and its output matches every PATTERN (grep -E).
expect() {
    local name=$1 status=$2
    shift 2
    if [ "$STATUS" != "$status" ]; then
        fail "$name" "exit status $STATUS, expected $status"
        return
    fi
    local pattern
    for pattern in "$@"; do
        if ! grep -Eq -- "$pattern" "$WORK/out"; then
            fail "$name" "no line matches: $pattern"
            return
        fi
    done
    ok "$name"
}

# count_lines PATTERN: how many output lines of the last boot match PATTERN.
count_lines() {
    grep -Ec -- "$1" "$WORK/out" || true
}

# stat_of NAME: a field of the last boot's denali-stats line (run with --stats).
stat_of() {
    grep -o "denali-stats:.*" "$WORK/out" | tail -n 1 | grep -o "$1=[0-9]*" | cut -d= -f2
}
